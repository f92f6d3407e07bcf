//! `wasmtaps call` and `wasmtaps inspect`: JSON out, exit statuses, clear errors.

use std::process::{Command, Output};

use anyhow::Result;
use serde_json::Value as Json;

fn wasmtaps(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmtaps"))
        .args(args)
        .output()
        .expect("the wasmtaps binary runs")
}

fn tasks() -> &'static str {
    wasmtaps_example_artifacts::TASKS_WASM
}

fn json(out: &Output) -> Result<Json> {
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn call_prints_the_value_and_a_taps_record() -> Result<()> {
    let out = wasmtaps(&["call", tasks(), "add", "--args", "[40, 2]"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out)?;
    assert_eq!(doc["value"], 42);
    let info = &doc["info"];
    assert_eq!(info["name"], "add");
    assert_eq!(info["success"], true);
    assert!(info["exception"].is_null());
    assert_eq!(info["parent_task_ids"], serde_json::json!([]));
    for field in [
        "hostname",
        "execution_start_time",
        "execution_end_time",
        "task_start_time",
        "task_end_time",
        "input_transform_start_time",
        "input_transform_end_time",
        "result_transform_start_time",
        "result_transform_end_time",
    ] {
        assert!(
            !info["execution"][field].is_null(),
            "missing execution.{field}"
        );
    }
    let record: wasmtaps::TaskInfo = serde_json::from_value(info.clone())?;
    assert!(record.received_time.unwrap_or_default() >= record.submit_time);
    Ok(())
}

#[test]
fn call_maps_kwargs_and_captures_stdout() -> Result<()> {
    let out = wasmtaps(&["call", tasks(), "add", "--kwargs", r#"{"b": 2, "a": 40}"#]);
    assert_eq!(json(&out)?["value"], 42);
    let out = wasmtaps(&["call", tasks(), "print_lines", "--args", r#"[2, "hi"]"#]);
    assert_eq!(json(&out)?["stdout"], "hi\nhi\n");
    Ok(())
}

#[test]
fn a_failed_task_exits_1_and_still_prints_its_record() -> Result<()> {
    let out = wasmtaps(&["call", tasks(), "parse_int", "--args", r#"["forty-two"]"#]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out)?;
    assert!(doc["value"].is_null());
    assert_eq!(doc["info"]["success"], false);
    assert_eq!(doc["info"]["exception"]["type"], "ParseIntError");
    let out = wasmtaps(&[
        "call",
        tasks(),
        "spin",
        "--args",
        "[1000000000000]",
        "--timeout",
        "0.05",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)?["info"]["exception"]["type"], "Timeout");
    let out = wasmtaps(&[
        "call",
        tasks(),
        "spin",
        "--args",
        "[1000000000000]",
        "--fuel",
        "10000",
    ]);
    assert_eq!(json(&out)?["info"]["exception"]["type"], "OutOfFuel");
    let out = wasmtaps(&[
        "call",
        tasks(),
        "alloc_bytes",
        "--args",
        "[100000000]",
        "--memory-limit",
        "16MiB",
    ]);
    assert_eq!(
        json(&out)?["info"]["exception"]["type"],
        "MemoryLimitExceeded"
    );
    Ok(())
}

#[test]
fn usage_and_load_errors_exit_2_naming_the_problem() -> Result<()> {
    let cases: [(&[&str], &str); 6] = [
        (
            &["call", "/no/such/module.wasm", "add"],
            "/no/such/module.wasm",
        ),
        (&["call", tasks(), "no_such_task"], "no_such_task"),
        (&["call", tasks(), "add", "--args", "{not json"], "--args"),
        (
            &["call", tasks(), "add", "--args", r#"{"a": 1}"#],
            "JSON array",
        ),
        (
            &["call", tasks(), "add", "--memory-limit", "lots"],
            "--memory-limit",
        ),
        (
            &["call", tasks(), "add", "--memory-limit", "64GiB"],
            "memory_bytes",
        ),
    ];
    for (args, named) in cases {
        let out = wasmtaps(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?}: {stderr} should name {named}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a record");
    }
    let junk = tempfile::NamedTempFile::new()?;
    std::fs::write(junk.path(), b"definitely not wasm")?;
    let out = wasmtaps(&["inspect", &junk.path().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a wasm module"));
    Ok(())
}

#[test]
fn inspect_lists_tasks_and_parameters() -> Result<()> {
    let out = wasmtaps(&["inspect", tasks(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out)?;
    assert_eq!(doc["abi"], 1);
    assert_eq!(doc["manifest"], true);
    let add = doc["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "add"))
        .expect("add is listed");
    assert_eq!(add["params"], serde_json::json!(["a", "b"]));
    let text = wasmtaps(&["inspect", tasks()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("add(a, b)"));
    Ok(())
}
