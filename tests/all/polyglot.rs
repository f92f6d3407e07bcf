//! Guests written in C, Zig, AssemblyScript and Go (examples/polyglot) through the same
//! runtime and CLI as Rust tasks: values, kwargs through the manifest, guest errors,
//! panics, traps, and a workflow that mixes languages.
//!
//! The modules are built once per test process by `scripts/build-polyglot`; a missing
//! toolchain fails the test with the install command (`scripts/install-guest-toolchains`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support;
use anyhow::{Context, Result, bail};
use serde_bytes::ByteBuf;
use wasmtaps::{
    Arg, Args, Engine, ErrorKind, InvokeOptions, Runtime, TaskError, TaskModule, Value,
};

const LANGUAGES: [&str; 4] = ["c", "zig", "assemblyscript", "go"];

/// The module of `language`, built by `scripts/build-polyglot` once per process.
fn module_path(language: &str) -> Result<PathBuf> {
    support::build_polyglot(language, &format!("{language}.wasm"))
}

fn runtime() -> Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new().expect("runtime"))
        .clone()
}

fn module(language: &str) -> Result<TaskModule> {
    let path = module_path(language)?;
    runtime()
        .load_file(&path)
        .with_context(|| format!("loading {}", path.display()))
}

fn call(module: &TaskModule, task: &str, args: &Args) -> Result<Result<Value, TaskError>> {
    Ok(runtime()
        .invoke(&module.task(task)?, args, &InvokeOptions::default())
        .result)
}

/// Runs `check` for every language, reporting all failures together.
fn each_language(check: impl Fn(&str, &TaskModule) -> Result<()>) -> Result<()> {
    let mut failures = Vec::new();
    for language in LANGUAGES {
        if let Err(e) = module(language).and_then(|m| check(language, &m)) {
            failures.push(format!("{language}: {e:#}"));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n\n"));
    }
    Ok(())
}

fn value<T: serde::de::DeserializeOwned>(module: &TaskModule, task: &str, args: Args) -> Result<T> {
    match call(module, task, &args)? {
        Ok(v) => Ok(v.decode()?),
        Err(e) => bail!("{task} failed: {} {}", e.type_name(), e.message()),
    }
}

fn failure(module: &TaskModule, task: &str, args: Args) -> Result<TaskError> {
    match call(module, task, &args)? {
        Ok(v) => bail!("{task} succeeded with {:?}", v.to_json()),
        Err(e) => Ok(e),
    }
}

#[test]
fn every_language_has_a_manifest_naming_the_parameters() -> Result<()> {
    each_language(|_, module| {
        assert!(module.has_manifest());
        assert_eq!(
            module.task("add")?.params(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        for task in [
            "word_count",
            "parse_int",
            "reverse_bytes",
            "noop",
            "crash",
            "trap",
        ] {
            module.task(task)?;
        }
        Ok(())
    })
}

#[test]
fn add_takes_positional_and_keyword_arguments() -> Result<()> {
    each_language(|_, module| {
        assert_eq!(
            value::<i64>(module, "add", Args::new().arg(&1)?.arg(&2)?)?,
            3
        );
        assert_eq!(
            value::<i64>(
                module,
                "add",
                Args::new().arg(&-40_000_000_000i64)?.arg(&2)?
            )?,
            -39_999_999_998
        );
        assert_eq!(
            value::<i64>(module, "add", Args::new().kwarg("b", &2)?.kwarg("a", &40)?)?,
            42
        );
        assert_eq!(
            value::<i64>(module, "add", Args::new().arg(&40)?.kwarg("b", &2)?)?,
            42
        );
        Ok(())
    })
}

#[test]
fn word_count_returns_a_map() -> Result<()> {
    each_language(|_, module| {
        let counts: BTreeMap<String, u64> =
            value(module, "word_count", Args::new().arg("to be or not to be")?)?;
        let expected: BTreeMap<String, u64> = [("to", 2), ("be", 2), ("or", 1), ("not", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(counts, expected);
        let empty: BTreeMap<String, u64> =
            value(module, "word_count", Args::new().kwarg("text", "  ")?)?;
        assert!(empty.is_empty());
        Ok(())
    })
}

#[test]
fn bytes_travel_as_messagepack_bin() -> Result<()> {
    each_language(|_, module| {
        for len in [0usize, 3, 300, 100_000] {
            let data = ByteBuf::from((0u8..=255).cycle().take(len).collect::<Vec<u8>>());
            let reversed: ByteBuf = value(module, "reverse_bytes", Args::new().arg(&data)?)?;
            let mut expected = data.to_vec();
            expected.reverse();
            assert_eq!(reversed.as_slice(), expected.as_slice(), "{len} bytes");
        }
        Ok(())
    })
}

#[test]
fn a_guest_error_keeps_its_type_and_message() -> Result<()> {
    each_language(|_, module| {
        assert_eq!(
            value::<i64>(module, "parse_int", Args::new().arg("-1234")?)?,
            -1234
        );
        let error = failure(module, "parse_int", Args::new().arg("forty-two")?)?;
        assert_eq!(error.kind(), &ErrorKind::GuestError("ParseError".into()));
        assert!(error.is_guest_error());
        assert_eq!(error.message(), "invalid digit found in string");
        let info = error.to_exception_info();
        assert_eq!(info.kind, "ParseError");
        Ok(())
    })
}

#[test]
fn argument_mistakes_are_argument_errors() -> Result<()> {
    each_language(|language, module| {
        // The host checks counts and names against the manifest before the guest runs.
        let missing = failure(module, "add", Args::new().arg(&1)?)?;
        assert_eq!(
            missing.kind(),
            &ErrorKind::ArgumentError,
            "{}",
            missing.message()
        );
        let unknown = failure(module, "add", Args::new().arg(&1)?.kwarg("c", &2)?)?;
        assert_eq!(unknown.kind(), &ErrorKind::ArgumentError);
        // A wrong type is the guest's to find; the host passes its ArgumentError through.
        let wrong = failure(module, "add", Args::new().arg(&1)?.arg("two")?)?;
        assert_eq!(wrong.type_name(), "ArgumentError", "{language}");
        assert!(
            wrong.message().contains("'b' (parameter 2)"),
            "{language}: {}",
            wrong.message()
        );
        let wrong = failure(module, "reverse_bytes", Args::new().arg("text")?)?;
        assert_eq!(wrong.type_name(), "ArgumentError");
        assert!(
            wrong.message().contains("expected bytes"),
            "{language}: {}",
            wrong.message()
        );
        Ok(())
    })
}

#[test]
fn a_panic_is_a_guest_panic_and_a_trap_is_a_trap() -> Result<()> {
    each_language(|language, module| {
        let panic = failure(module, "crash", Args::new())?;
        assert_eq!(
            panic.kind(),
            &ErrorKind::GuestPanic,
            "{language}: {}",
            panic.message()
        );
        assert!(
            panic
                .message()
                .contains("crash: the task gave up on purpose"),
            "{language}: {}",
            panic.message()
        );
        assert_eq!(panic.to_exception_info().kind, "GuestPanic");
        let trap = failure(module, "trap", Args::new())?;
        assert_eq!(
            trap.kind(),
            &ErrorKind::Trap,
            "{language}: {}",
            trap.message()
        );
        assert_eq!(trap.to_exception_info().kind, "Trap");
        Ok(())
    })
}

#[test]
fn noop_returns_nil() -> Result<()> {
    each_language(|_, module| {
        let () = value(module, "noop", Args::new())?;
        Ok(())
    })
}

/// C (`word_count`, `add`) feeds Rust (`add`) feeds Zig (`add`, by keyword): one value
/// crosses three languages' MessagePack readers and writers.
#[test]
fn a_workflow_mixes_languages() -> Result<()> {
    let c = module("c")?;
    let zig = module("zig")?;
    let rust = runtime().load_file(wasmtaps_example_artifacts::TASKS_WASM)?;

    // C: count the words.
    let counts = call(&c, "word_count", &Args::new().arg("a b a c a")?)?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let counts_map: BTreeMap<String, i64> = counts.decode()?;
    assert_eq!(counts_map.get("a"), Some(&3));

    // C again: its value feeds the next call unchanged.
    let a = call(
        &c,
        "add",
        &Args::new().arg(&counts_map["a"])?.arg(&counts_map["b"])?,
    )?
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    // Rust: add the C result to the C count of "c".
    let mut args = Args::from_values([a]);
    args.push(Value::encode(&counts_map["c"])?);
    let b = call(&rust, "add", &args)?.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(b.decode::<i64>()?, 5);

    // Zig: the Rust result, by keyword through Zig's manifest.
    let mut args = Args::new().kwarg("b", &100)?;
    args.push_kwarg("a", b);
    let total = call(&zig, "add", &args)?.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(total.decode::<i64>()?, 105);

    // And the other two languages close the loop: Go reverses what AssemblyScript did.
    let (assemblyscript, go) = (module("assemblyscript")?, module("go")?);
    let data = ByteBuf::from(b"polyglot".to_vec());
    let once = call(&assemblyscript, "reverse_bytes", &Args::new().arg(&data)?)?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let twice = call(&go, "reverse_bytes", &Args::from_values([once]))?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(twice.decode::<ByteBuf>()?.as_slice(), b"polyglot");
    Ok(())
}

/// The same chain through the engine: C's `add` feeds Rust's `add` feeds Zig's `add` (by
/// keyword) as futures, and a failing Go parent fails its AssemblyScript child with a
/// `DependencyError`.
#[test]
fn an_engine_workflow_mixes_languages() -> Result<()> {
    let (c, zig, go, assemblyscript) = (
        module("c")?,
        module("zig")?,
        module("go")?,
        module("assemblyscript")?,
    );
    let rust = runtime().load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let engine = Engine::builder(runtime()).workers(2).build()?;
    let counts = engine.submit(&c.task("word_count")?, vec![Arg::encode("a b a")?], vec![]);
    let from_c = engine.submit(
        &c.task("add")?,
        vec![Arg::encode(&1)?, Arg::encode(&2)?],
        vec![],
    );
    let from_rust = engine.submit(
        &rust.task("add")?,
        vec![Arg::from(&from_c), Arg::encode(&10)?],
        vec![],
    );
    let from_zig = engine.submit(
        &zig.task("add")?,
        vec![],
        vec![
            ("b".to_owned(), Arg::encode(&100)?),
            ("a".to_owned(), Arg::from(&from_rust)),
        ],
    );
    let total: i64 = from_zig.result(None)?.decode()?;
    assert_eq!(total, 113);
    let counts: BTreeMap<String, u64> = counts.result(None)?.decode()?;
    assert_eq!(counts.get("a"), Some(&2));

    let failed = engine.submit(&go.task("parse_int")?, vec![Arg::encode("x")?], vec![]);
    let child = engine.submit(
        &assemblyscript.task("reverse_bytes")?,
        vec![Arg::from(&failed)],
        vec![],
    );
    let error = failed
        .exception(None)?
        .context("go parse_int should fail")?;
    assert_eq!(error.type_name(), "ParseError");
    let error = child.exception(None)?.context("the child should fail")?;
    assert_eq!(error.kind(), &ErrorKind::DependencyError);
    Ok(())
}

/// `target/<profile>/wasmtaps` beside this test executable (`target/<profile>/deps/..`),
/// built first if it is missing.
fn cli() -> Result<PathBuf> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("test executable has no target/<profile> directory")?;
        let binary = profile_dir.join(format!("wasmtaps{}", std::env::consts::EXE_SUFFIX));
        if !binary.exists() {
            let target_dir = profile_dir.parent().ok_or("no target directory")?;
            let status = Command::new(env!("CARGO"))
                .args(["build", "--release", "-p", "wasmtaps-cli"])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(support::repo())
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() || !binary.exists() {
                return Err(format!(
                    "cargo build --release -p wasmtaps-cli did not make {}",
                    binary.display()
                ));
            }
        }
        Ok(binary)
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

fn cli_call(language: &str, task: &str, args: &str) -> Result<(i32, serde_json::Value)> {
    let output = Command::new(cli()?)
        .arg("call")
        .arg(module_path(language)?)
        .arg(task)
        .args(["--args", args])
        .output()?;
    let json = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{language} {task}: stdout is not JSON:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((output.status.code().unwrap_or(-1), json))
}

#[test]
fn the_cli_calls_every_language() -> Result<()> {
    for language in LANGUAGES {
        let (code, out) = cli_call(language, "add", "[1, 2]")?;
        assert_eq!(
            (code, &out["value"]),
            (0, &serde_json::json!(3)),
            "{language}: {out}"
        );
        let (code, out) = cli_call(language, "word_count", r#"["x y x"]"#)?;
        assert_eq!(code, 0, "{language}: {out}");
        assert_eq!(
            out["value"],
            serde_json::json!({"x": 2, "y": 1}),
            "{language}"
        );
        let (code, out) = cli_call(language, "parse_int", r#"["nope"]"#)?;
        assert_eq!(code, 1, "{language}: {out}");
        assert_eq!(
            out["info"]["exception"]["type"], "ParseError",
            "{language}: {out}"
        );
        let (code, out) = cli_call(language, "trap", "[]")?;
        assert_eq!(code, 1, "{language}: {out}");
        assert_eq!(
            out["info"]["exception"]["type"], "Trap",
            "{language}: {out}"
        );
    }
    Ok(())
}
