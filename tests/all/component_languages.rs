//! Python and JavaScript tasks: the example components `examples/python`
//! (componentize-py) and `examples/js` (componentize-qjs), built by
//! `scripts/build-polyglot python|js` once per test process; a missing toolchain fails
//! the test with the install command (`scripts/install-guest-toolchains python|js`).

use std::path::PathBuf;
use std::time::Duration;

use crate::support;
use anyhow::{Context, Result, bail};
use serde_bytes::ByteBuf;
use wasmtaps::{
    Arg, Args, Engine, ErrorKind, InvokeOptions, LimitOverrides, Runtime, TaskError, TaskModule,
    Value,
};

/// The component of `language`, built by `scripts/build-polyglot` once per process.
fn component_path(language: &str) -> Result<PathBuf> {
    support::build_polyglot(language, &format!("{language}/apps.wasm"))
}

fn runtime() -> Runtime {
    support::component_runtime()
}

fn python() -> Result<TaskModule> {
    component("python")
}

fn component(language: &str) -> Result<TaskModule> {
    let path = component_path(language)?;
    runtime()
        .load_file(&path)
        .with_context(|| format!("loading {}", path.display()))
}

fn call(task: &str, args: Args, limits: LimitOverrides) -> Result<Result<Value, TaskError>> {
    let module = python()?;
    let options = InvokeOptions {
        limits,
        ..InvokeOptions::default()
    };
    Ok(runtime()
        .invoke(&module.task(task)?, &args, &options)
        .result)
}

fn failure(task: &str, args: Args, limits: LimitOverrides) -> Result<TaskError> {
    match call(task, args, limits)? {
        Ok(v) => bail!("{task} returned {v:?} instead of failing"),
        Err(e) => Ok(e),
    }
}

#[test]
fn an_uncaught_python_exception_keeps_its_class_message_and_traceback() -> Result<()> {
    let e = failure(
        "fail-uncaught",
        Args::new().arg("nope")?,
        LimitOverrides::default(),
    )?;
    assert_eq!(e.kind(), &ErrorKind::GuestError("KeyError".into()), "{e}");
    assert_eq!(e.message(), "'nope'");
    let traceback = e.traceback().context("a traceback")?;
    assert!(
        traceback.starts_with("Traceback (most recent call last):"),
        "{traceback}"
    );
    assert!(traceback.contains("in fail_uncaught"), "{traceback}");
    // A caught exception returned through `result` is the task's exception too.
    let e = failure(
        "fail-caught",
        Args::new().arg("it broke")?,
        LimitOverrides::default(),
    )?;
    assert_eq!(
        (e.type_name(), e.message()),
        ("InjectedFailure", "it broke")
    );
    Ok(())
}

#[test]
fn while_true_pass_is_stopped_by_the_deadline() -> Result<()> {
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(300)),
        ..LimitOverrides::default()
    };
    let e = failure("spin", Args::new(), limits.clone())?;
    assert!(e.is_timeout(), "{e}");
    // time.sleep(3600) too: the guest blocks in WASI, where only the host can wake it.
    let args = Args::new()
        .arg(&Vec::<ByteBuf>::new())?
        .arg(&1)?
        .arg(&3600.0)?;
    let e = failure("synthetic", args, limits)?;
    assert!(e.is_timeout(), "{e}");
    Ok(())
}

#[test]
fn a_huge_bytearray_is_stopped_by_the_memory_limit() -> Result<()> {
    let limits = LimitOverrides {
        memory_bytes: Some(64 << 20),
        ..LimitOverrides::default()
    };
    let e = failure("hog", Args::new().arg(&(256u64 << 20))?, limits.clone())?;
    assert_eq!(e.kind(), &ErrorKind::MemoryLimitExceeded, "{e}");
    // A smaller one fits, in a fresh instance of the same component.
    let held = call("hog", Args::new().arg(&(1u64 << 20))?, limits)??;
    assert_eq!(held.decode::<u64>()?, 1 << 20);
    Ok(())
}

#[test]
fn a_python_result_over_the_limit_is_result_too_large() -> Result<()> {
    // `synthetic` returns `bytes` (a `list<u8>`): 8 MiB would take more host values than
    // the host lifts for a 1 MiB limit, 2 MiB lift but encode past it.
    let limits = LimitOverrides {
        max_result_bytes: Some(1 << 20),
        ..LimitOverrides::default()
    };
    for size in [8u64 << 20, 2 << 20] {
        let args = Args::new()
            .arg(&Vec::<ByteBuf>::new())?
            .arg(&size)?
            .arg(&0.0)?;
        let e = failure("synthetic", args, limits.clone())?;
        assert_eq!(e.type_name(), "ResultTooLarge", "{size}: {e}");
    }
    let args = Args::new()
        .arg(&Vec::<ByteBuf>::new())?
        .arg(&1000u64)?
        .arg(&0.0)?;
    let bytes: ByteBuf = call("synthetic", args, limits)??.decode()?;
    assert_eq!(bytes.len(), 1000);
    Ok(())
}

#[test]
fn files_environment_and_sockets_are_out_of_reach() -> Result<()> {
    #[derive(serde::Deserialize, Debug)]
    struct Probe {
        file: String,
        env: String,
        socket: String,
    }
    let report: Probe = call("probe", Args::new(), LimitOverrides::default())??.decode()?;
    for (what, seen) in [
        ("open('/etc/passwd')", &report.file),
        ("os.environ", &report.env),
        ("socket.socket()", &report.socket),
    ] {
        assert!(seen.starts_with("denied: "), "{what}: {seen}");
    }
    Ok(())
}

#[test]
fn python_tasks_take_typed_arguments_and_keywords() -> Result<()> {
    let sum = call(
        "add",
        Args::new().arg(&i64::MAX)?.kwarg("b", &1)?,
        LimitOverrides::default(),
    )??;
    assert_eq!(
        sum.decode::<i64>()?,
        i64::MIN,
        "Python's add wraps like s64"
    );
    let counts: Vec<(String, u64)> = call(
        "map_words",
        Args::new().arg("The cat, the HAT")?,
        LimitOverrides::default(),
    )??
    .decode()?;
    assert_eq!(
        counts,
        [("cat".into(), 1), ("hat".into(), 1), ("the".into(), 2)]
    );
    let e = failure(
        "add",
        Args::new().arg("two")?.arg(&2)?,
        LimitOverrides::default(),
    )?;
    assert_eq!(e.kind(), &ErrorKind::ArgumentError);
    assert_eq!(e.message(), "a: expected s64, got string");
    Ok(())
}

#[test]
fn a_python_task_and_rust_tasks_pass_values_in_an_engine_dag() -> Result<()> {
    let python = python()?;
    let rust = runtime().load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let engine = Engine::builder(runtime()).workers(2).build()?;
    let from_rust = engine.submit(
        &rust.task("add")?,
        vec![Arg::encode(&1)?, Arg::encode(&2)?],
        vec![],
    );
    let from_python = engine.submit(
        &python.task("add")?,
        vec![Arg::from(&from_rust)],
        vec![("b".to_owned(), Arg::encode(&10)?)],
    );
    let total = engine.submit(
        &rust.task("add")?,
        vec![Arg::from(&from_python), Arg::encode(&100)?],
        vec![],
    );
    assert_eq!(total.result(None)?.decode::<i64>()?, 113);
    // Bytes: Python's list<u8> arrives in Rust as MessagePack bin.
    let derived = engine.submit(
        &python.task("synthetic")?,
        vec![
            Arg::encode(&vec![ByteBuf::from(b"abc".to_vec())])?,
            Arg::encode(&7)?,
            Arg::encode(&0.0)?,
        ],
        vec![],
    );
    let measured = engine.submit(&rust.task("byte_len")?, vec![Arg::from(&derived)], vec![]);
    assert_eq!(measured.result(None)?.decode::<u64>()?, 7);
    // A failed Python parent fails its Rust child with DependencyError.
    let failed = engine.submit(
        &python.task("fail_uncaught")?,
        vec![Arg::encode("k")?],
        vec![],
    );
    let child = engine.submit(&rust.task("byte_len")?, vec![Arg::from(&failed)], vec![]);
    assert_eq!(
        child
            .exception(None)?
            .context("the child should fail")?
            .kind(),
        &ErrorKind::DependencyError
    );
    Ok(())
}

#[test]
fn an_uncaught_javascript_error_keeps_its_class_message_and_stack() -> Result<()> {
    let js = component("js")?;
    let outcome = runtime().invoke(
        &js.task("fail_uncaught")?,
        &Args::new().arg("nope")?,
        &InvokeOptions::default(),
    );
    let e = outcome.result.err().context("fail-uncaught should fail")?;
    assert_eq!(e.kind(), &ErrorKind::GuestError("TypeError".into()), "{e}");
    assert!(e.message().contains("nope"), "{e}");
    let stack = e.traceback().context("a stack")?;
    assert!(stack.contains("failUncaught"), "{stack}");
    let sum = runtime()
        .invoke(
            &js.task("add")?,
            &Args::new().arg(&2)?.arg(&3)?,
            &InvokeOptions::default(),
        )
        .result?;
    assert_eq!(sum.decode::<i64>()?, 5);
    Ok(())
}
