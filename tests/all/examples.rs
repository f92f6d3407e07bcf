//! The SDK-built example module through the runtime: values, kwargs, errors, limits, WASI.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;
use serde_bytes::ByteBuf;
use wasmtaps::{
    Args, ErrorKind, Invocation, InvokeOptions, LimitOverrides, ReadOnlyDir, Runtime, TaskModule,
};

fn tasks() -> Result<(Runtime, TaskModule)> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = match RUNTIME.get() {
        Some(r) => r.clone(),
        None => RUNTIME
            .get_or_init(|| {
                Runtime::builder()
                    .fuel_metering(true)
                    .build()
                    .expect("runtime")
            })
            .clone(),
    };
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    Ok((runtime, module))
}

fn run(task: &str, args: Args, limits: LimitOverrides) -> Result<Invocation> {
    let (runtime, module) = tasks()?;
    let options = InvokeOptions {
        limits,
        ..InvokeOptions::default()
    };
    Ok(runtime.invoke(&module.task(task)?, &args, &options))
}

fn value<T: serde::de::DeserializeOwned>(task: &str, args: Args) -> Result<T> {
    Ok(run(task, args, LimitOverrides::default())?
        .result?
        .decode()?)
}

fn failure(task: &str, args: Args, limits: LimitOverrides) -> Result<wasmtaps::TaskError> {
    match run(task, args, limits)?.result {
        Ok(v) => anyhow::bail!("{task} succeeded with {v:?}"),
        Err(e) => Ok(e),
    }
}

#[test]
fn the_manifest_lists_every_task_with_its_parameters() -> Result<()> {
    let (_, module) = tasks()?;
    assert!(module.has_manifest());
    assert_eq!(
        module.task("add")?.params(),
        Some(&["a".to_owned(), "b".to_owned()][..])
    );
    // `#[task(name = "sum_list")] fn sum` is exported under its new name only.
    assert!(module.task("sum_list").is_ok());
    assert!(module.task("sum").is_err());
    Ok(())
}

#[test]
fn values_round_trip_through_the_guest() -> Result<()> {
    assert_eq!(value::<i64>("add", Args::new().arg(&40)?.arg(&2)?)?, 42);
    assert_eq!(
        value::<i64>("add", Args::new().kwarg("b", &2)?.kwarg("a", &40)?)?,
        42
    );
    assert_eq!(
        value::<i64>("sum_list", Args::new().arg(&vec![1, 2, 3])?)?,
        6
    );
    assert_eq!(
        value::<String>("greet", Args::new().arg("Ada")?)?,
        wasmtaps_example_tasks::basics::greet("Ada".into())
    );
    let counts: std::collections::BTreeMap<String, u64> =
        value("word_count", Args::new().arg("to be or not to be")?)?;
    assert_eq!(counts.get("to"), Some(&2));
    assert_eq!(counts.get("or"), Some(&1));
    let () = value("noop", Args::new())?;
    Ok(())
}

#[test]
fn bytes_travel_as_messagepack_bin() -> Result<()> {
    let data = ByteBuf::from((0u8..=255).cycle().take(100_000).collect::<Vec<u8>>());
    let reversed: ByteBuf = value("reverse_bytes", Args::new().arg(&data)?)?;
    let mut expected = data.to_vec();
    expected.reverse();
    assert_eq!(reversed.as_slice(), expected.as_slice());
    assert_eq!(
        value::<u64>("checksum", Args::new().arg(&data)?)?,
        wasmtaps_example_tasks::bytes::fnv1a(&data)
    );
    let made: ByteBuf = value("make_bytes", Args::new().arg(&(1u64 << 20))?)?;
    assert_eq!(made.len(), 1 << 20);
    Ok(())
}

#[test]
fn borrowed_bytes_in_and_result_bytes_out_need_no_decode() -> Result<()> {
    // `reverse_bytes(data: &[u8]) -> ResultBytes` borrows the argument buffer and hands
    // its result buffer over; the caller reads the result as a slice of the value.
    let data: Vec<u8> = (0u8..=250).cycle().take(3 << 20).collect();
    // The argument shares the caller's buffer (`Value::from_bin`) or is encoded; both
    // reach the guest the same.
    for arg in [
        wasmtaps::Value::from_bin(data.clone())?,
        wasmtaps::Value::encode(serde_bytes::Bytes::new(&data))?,
    ] {
        let result = run(
            "reverse_bytes",
            Args::from_values([arg]),
            LimitOverrides::default(),
        )?
        .result?;
        let reversed = result.as_bin().expect("the result is a bin");
        assert!(reversed.iter().eq(data.iter().rev()));
    }
    // A str's bytes are bytes too; an empty bin is fine.
    let from_text = run(
        "reverse_bytes",
        Args::new().arg("abc")?,
        LimitOverrides::default(),
    )?;
    assert_eq!(from_text.result?.as_bin(), Some(&b"cba"[..]));
    let empty = run(
        "reverse_bytes",
        Args::new().arg(serde_bytes::Bytes::new(b""))?,
        LimitOverrides::default(),
    )?;
    assert_eq!(empty.result?.as_bin(), Some(&[][..]));
    Ok(())
}

#[test]
fn a_borrowed_parameter_refuses_what_is_not_its_bytes() -> Result<()> {
    // An array of integers is not a bin: a borrowed `&[u8]` cannot take it, and says so.
    let error = failure(
        "reverse_bytes",
        Args::new().arg(&vec![1u8, 2, 3])?,
        LimitOverrides::default(),
    )?;
    assert_eq!(error.type_name(), "ArgumentError");
    assert!(
        error
            .message()
            .starts_with("reverse_bytes() argument 'data' (parameter 1): invalid type: sequence"),
        "{error}"
    );
    assert!(error.message().contains("`ByteBuf`"), "{error}");
    let error = failure("checksum", Args::new().arg(&7)?, LimitOverrides::default())?;
    assert_eq!(error.type_name(), "ArgumentError");
    // A bin that declares more bytes than it holds never becomes an argument.
    let lying = wasmtaps::Value::from_msgpack(vec![0xc6, 0x00, 0x10, 0x00, 0x00, 1, 2, 3]);
    assert!(lying.is_err(), "a truncated bin was accepted");
    Ok(())
}

#[test]
fn a_compute_kernel_matches_the_native_function() -> Result<()> {
    let wasm: f64 = value("matmul", Args::new().arg(&64)?.arg(&7)?)?;
    assert_eq!(wasm, wasmtaps_example_tasks::compute::matmul(64, 7));
    Ok(())
}

#[test]
fn a_returned_err_keeps_its_type_name_and_message() -> Result<()> {
    let error = failure(
        "parse_int",
        Args::new().arg("forty-two")?,
        LimitOverrides::default(),
    )?;
    assert_eq!(error.kind(), &ErrorKind::GuestError("ParseIntError".into()));
    assert_eq!(error.message(), "invalid digit found in string");
    let error = failure(
        "divide",
        Args::new().arg(&1)?.arg(&0)?,
        LimitOverrides::default(),
    )?;
    assert_eq!(error.type_name(), "DivisionByZero");
    Ok(())
}

#[test]
fn a_panic_is_reported_with_its_message_and_location() -> Result<()> {
    let error = failure(
        "fail_panic",
        Args::new().arg("the sky fell")?,
        LimitOverrides::default(),
    )?;
    assert!(error.is_panic(), "{error}");
    assert!(error.message().starts_with("the sky fell at "), "{error}");
    assert!(error.message().contains("errors.rs"), "{error}");
    let traceback = error.traceback().expect("a panic has a wasm backtrace");
    assert!(traceback.contains("fail_panic"), "{traceback}");
    Ok(())
}

#[test]
fn wrong_arguments_are_an_argument_error() -> Result<()> {
    let error = failure(
        "add",
        Args::new().arg("one")?.arg(&2)?,
        LimitOverrides::default(),
    )?;
    assert_eq!(error.type_name(), "ArgumentError");
    assert!(error.message().contains('a'), "{error}");
    let error = failure("add", Args::new().arg(&1)?, LimitOverrides::default())?;
    assert_eq!(error.type_name(), "ArgumentError");
    assert!(error.message().contains("'b'"), "{error}");
    Ok(())
}

#[test]
fn compute_is_stopped_by_fuel_and_by_the_deadline() -> Result<()> {
    let fuel = LimitOverrides {
        fuel: Some(100_000),
        ..LimitOverrides::default()
    };
    assert!(failure("spin", Args::new().arg(&u64::MAX)?, fuel)?.is_out_of_fuel());
    let deadline = LimitOverrides {
        timeout: Some(Duration::from_millis(50)),
        ..LimitOverrides::default()
    };
    assert!(failure("spin", Args::new().arg(&u64::MAX)?, deadline.clone())?.is_timeout());
    // A guest blocked in a WASI sleep is interrupted at the deadline too, while a sleep
    // that ends before the deadline just returns.
    assert!(failure("sleep", Args::new().arg(&30.0)?, deadline.clone())?.is_timeout());
    let short = run("sleep", Args::new().arg(&0.01)?, deadline)?;
    assert!(short.result.is_ok(), "{:?}", short.result);
    assert!(short.execution.task_end_time - short.execution.task_start_time >= 0.01);
    Ok(())
}

#[test]
fn allocation_beyond_the_memory_limit_fails_cleanly() -> Result<()> {
    let limits = LimitOverrides {
        memory_bytes: Some(8 << 20),
        ..LimitOverrides::default()
    };
    let error = failure(
        "alloc_bytes",
        Args::new().arg(&(64u64 << 20))?,
        limits.clone(),
    )?;
    assert_eq!(error.kind(), &ErrorKind::MemoryLimitExceeded, "{error}");
    // Within the limit the same task succeeds.
    let ok = run("alloc_bytes", Args::new().arg(&(1u64 << 20))?, limits)?;
    assert!(ok.result.is_ok());
    Ok(())
}

#[test]
fn deep_recursion_is_a_stack_overflow() -> Result<()> {
    let error = failure(
        "recurse",
        Args::new().arg(&10_000_000u64)?,
        LimitOverrides::default(),
    )?;
    assert!(
        matches!(error.kind(), ErrorKind::StackOverflow | ErrorKind::Trap),
        "{error}"
    );
    Ok(())
}

#[test]
fn stdout_and_stderr_are_captured_per_invocation() -> Result<()> {
    let outcome = run(
        "print_lines",
        Args::new().arg(&3)?.arg("hello")?,
        LimitOverrides::default(),
    )?;
    assert_eq!(outcome.result?.decode::<u64>()?, 3);
    assert_eq!(String::from_utf8(outcome.stdout)?, "hello\nhello\nhello\n");
    let outcome = run(
        "eprint",
        Args::new().arg("oops")?,
        LimitOverrides::default(),
    )?;
    assert!(String::from_utf8(outcome.stderr)?.contains("oops"));
    Ok(())
}

#[test]
fn files_are_invisible_unless_a_directory_is_opened_read_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("greeting.txt"), "hi from the host")?;
    let (runtime, module) = tasks()?;
    let read = module.task("read_file")?;
    let args = Args::new().arg("/data/greeting.txt")?;
    let denied = runtime.invoke(&read, &args, &InvokeOptions::default());
    assert!(denied.result.is_err(), "no directory is visible by default");
    let options = InvokeOptions {
        read_only_dirs: vec![ReadOnlyDir {
            host_path: dir.path().to_owned(),
            guest_path: "/data".into(),
        }],
        ..InvokeOptions::default()
    };
    let allowed = runtime.invoke(&read, &args, &options);
    assert_eq!(allowed.result?.decode::<String>()?, "hi from the host");
    Ok(())
}

#[test]
fn every_phase_is_timed_in_order() -> Result<()> {
    let outcome = run(
        "add",
        Args::new().arg(&1)?.arg(&2)?,
        LimitOverrides::default(),
    )?;
    let e = &outcome.execution;
    let stamps = [
        e.execution_start_time,
        e.input_transform_start_time,
        e.input_transform_end_time,
        e.task_start_time,
        e.task_end_time,
        e.result_transform_start_time,
        e.result_transform_end_time,
        e.execution_end_time,
    ];
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    assert!(e.execution_end_time > e.execution_start_time);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    assert!(
        (now - e.execution_start_time).abs() < 600.0,
        "times are Unix seconds"
    );
    Ok(())
}
