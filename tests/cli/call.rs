//! `wasmtaps call` and `wasmtaps inspect`: JSON out, exit statuses, clear errors.

use std::process::{Command, Output};

use anyhow::Result;
use serde_json::Value as Json;

use crate::support::{self, WASMTAPS, wasmtaps};

fn tasks() -> &'static str {
    wasmtaps_example_artifacts::TASKS_WASM
}

fn json(out: &Output) -> Result<Json> {
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn call_prints_the_value_and_a_taps_record() -> Result<()> {
    let out = wasmtaps(["call", tasks(), "add", "--args", "[40, 2]"]);
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
    for field in crate::support::EXECUTION_FIELDS {
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
    let out = wasmtaps(["call", tasks(), "add", "--kwargs", r#"{"b": 2, "a": 40}"#]);
    assert_eq!(json(&out)?["value"], 42);
    let out = wasmtaps(["call", tasks(), "print_lines", "--args", r#"[2, "hi"]"#]);
    assert_eq!(json(&out)?["stdout"], "hi\nhi\n");
    Ok(())
}

#[test]
fn a_failed_task_exits_1_and_still_prints_its_record() -> Result<()> {
    let out = wasmtaps(["call", tasks(), "parse_int", "--args", r#"["forty-two"]"#]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out)?;
    assert!(doc["value"].is_null());
    assert_eq!(doc["info"]["success"], false);
    assert_eq!(doc["info"]["exception"]["type"], "ParseIntError");
    let out = wasmtaps([
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
    let out = wasmtaps([
        "call",
        tasks(),
        "spin",
        "--args",
        "[1000000000000]",
        "--fuel",
        "10000",
    ]);
    assert_eq!(json(&out)?["info"]["exception"]["type"], "OutOfFuel");
    let out = wasmtaps([
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
    let out = wasmtaps(["inspect", &junk.path().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a wasm module"));
    Ok(())
}

#[test]
fn inspect_lists_tasks_and_parameters() -> Result<()> {
    let out = wasmtaps(["inspect", tasks(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out)?;
    assert_eq!(doc["abi"], 1);
    assert_eq!(doc["manifest"], true);
    let add = doc["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "add"))
        .expect("add is listed");
    assert_eq!(add["params"], serde_json::json!(["a", "b"]));
    let text = wasmtaps(["inspect", tasks()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("add(a, b)"));
    Ok(())
}

/// The element count of the hostile results below: 60 million nils, a 60 MB result.
const NILS: u64 = 60_000_000;

/// `{"err": [nil × NILS]}` at 16 and `{"ok": [nil × NILS]}` at 64 MiB, each filled in by
/// its task, in a 2000-page memory.
const NILS_WAT: &str = r#"(module
  (memory (export "memory") 2000)
  (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 16) "\81\a3err\dd\03\93\87\00")
  (data (i32.const 0x4000000) "\81\a2ok\dd\03\93\87\00")
  (func (export "wasmtaps_task_err_nils") (param i32 i32) (result i64)
    (memory.fill (i32.const 26) (i32.const 0xc0) (i32.const 60000000))
    (i64.const 0x000000100393870a))
  (func (export "wasmtaps_task_ok_nils") (param i32 i32) (result i64)
    (memory.fill (i32.const 0x4000009) (i32.const 0xc0) (i32.const 60000000))
    (i64.const 0x0400000003938709)))"#;

/// What a measured run of the binary printed, and its peak resident memory.
struct Measured {
    code: Option<i32>,
    stdout_len: u64,
    stdout_head: Vec<u8>,
    stdout_tail: Vec<u8>,
    stderr: String,
    max_rss_bytes: u64,
}

/// Runs `wasmtaps ARGS`, counting its stdout rather than keeping it, and reads the child's
/// peak RSS from `wait4`.
fn wasmtaps_measured(args: &[&str]) -> Result<Measured> {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(WASMTAPS)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (mut len, mut head, mut tail) = (0u64, Vec::new(), Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096 - head.len())]);
        }
        tail.extend_from_slice(&buf[..n]);
        let excess = tail.len().saturating_sub(64);
        tail.drain(..excess);
        len += n as u64;
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 only writes to the two pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        reaped == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    Ok(Measured {
        code: std::process::ExitStatus::from_raw(status).code(),
        stdout_len: len,
        stdout_head: head,
        stdout_tail: tail,
        stderr: errors.join().unwrap_or_default(),
        // ru_maxrss is in KiB on Linux.
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
    })
}

#[test]
fn a_huge_result_costs_a_small_multiple_of_its_size() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let module = dir.path().join("nils.wat");
    std::fs::write(&module, NILS_WAT)?;
    let module = module.to_str().expect("a UTF-8 temp path");
    // Decoding the err body into a tree took ~40 bytes per byte (2.4 GB here), printing
    // the ok value through serde_json's tree more; streamed, the host keeps the guest's
    // memory, one copy of the result and a constant.
    let bound = 4 * NILS;

    let run = wasmtaps_measured(&["call", module, "err_nils", "--cache-dir", "none"])?;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        run.stdout_len,
        run.stdout_head.len() as u64,
        "a short record"
    );
    let doc: Json = serde_json::from_slice(&run.stdout_head)?;
    assert_eq!(doc["info"]["exception"]["type"], "MalformedResult");
    assert!(
        run.max_rss_bytes < bound,
        "err: peak RSS {} MB for a {} MB result",
        run.max_rss_bytes >> 20,
        NILS >> 20
    );

    let run = wasmtaps_measured(&["call", module, "ok_nils", "--cache-dir", "none"])?;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout_head.starts_with(b"{\"value\":[null,null,null,"));
    // "null" and a comma per element, less the last comma, plus the rest of the record.
    assert!(run.stdout_len > 5 * NILS, "{} bytes", run.stdout_len);
    assert!(run.stdout_tail.ends_with(b"\"stderr\":\"\"}\n"));
    assert!(
        run.max_rss_bytes < bound,
        "ok: peak RSS {} MB for a {} MB result",
        run.max_rss_bytes >> 20,
        NILS >> 20
    );
    Ok(())
}

/// Text a terminal would act on: an OSC title change, BEL, CR, 8-bit CSI, a bidi override.
const HOSTILE_TEXT: &str = "a\u{1b}]0;owned\u{7}\r\u{9b}2J\u{202e}txt.exe\u{7f}z";

fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

fn msgpack(value: &rmpv::Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value).expect("writing to a Vec");
    bytes
}

/// Tasks that print, fail with and return [`HOSTILE_TEXT`], and one named with it.
fn hostile_text_module(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    use rmpv::Value as V;
    let err = msgpack(&V::Map(vec![(
        "err".into(),
        V::Map(vec![
            ("type".into(), format!("Evil{HOSTILE_TEXT}").into()),
            ("message".into(), HOSTILE_TEXT.into()),
            ("traceback".into(), format!("line 1\n{HOSTILE_TEXT}").into()),
        ]),
    )]));
    let ok = msgpack(&V::Map(vec![(
        "ok".into(),
        V::Map(vec![(HOSTILE_TEXT.into(), HOSTILE_TEXT.into())]),
    )]));
    let body = format!(
        r#"
  (data (i32.const 1024) "{text}")
  (data (i32.const 2048) "{err}")
  (data (i32.const 4096) "{ok}")
  (func (export "wasmtaps_task_fail") (param i32 i32) (result i64)
    (i32.store (i32.const 256) (i32.const 1024))
    (i32.store (i32.const 260) (i32.const {text_len}))
    (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))
    (drop (call $fd_write (i32.const 2) (i32.const 256) (i32.const 1) (i32.const 264)))
    (i64.const {err_result}))
  (func (export "wasmtaps_task_value") (param i32 i32) (result i64) (i64.const {ok_result}))
  (func (export "wasmtaps_task_{name}") (param i32 i32) (result i64) (i64.const {ok_result}))"#,
        text = wat_bytes(HOSTILE_TEXT.as_bytes()),
        text_len = HOSTILE_TEXT.len(),
        err = wat_bytes(&err),
        ok = wat_bytes(&ok),
        err_result = (2048u64 << 32) | err.len() as u64,
        ok_result = (4096u64 << 32) | ok.len() as u64,
        name = wat_bytes(format!("named{HOSTILE_TEXT}").as_bytes()),
    );
    let imports = r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;
    let path = dir.join("hostile-text.wat");
    std::fs::write(&path, support::wat_with_imports(imports, &body))?;
    Ok(path)
}

/// Whether `bytes` hold anything a terminal would act on, other than `\n` (and `\t`).
fn acts_on_terminal(bytes: &[u8]) -> Option<char> {
    String::from_utf8_lossy(bytes).chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// `out` exited with `code` and its stdout holds nothing a terminal would act on.
fn exits_with_terminal_safe_output(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        acts_on_terminal(&out.stdout),
        None,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn guest_text_reaches_the_terminal_escaped() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let module = hostile_text_module(dir.path())?;
    let module = module.to_str().expect("a UTF-8 temp path");

    // call: every string is JSON, and still exactly what the guest said once parsed.
    let out = wasmtaps(["call", module, "fail", "--cache-dir", "none"]);
    exits_with_terminal_safe_output(&out, 1);
    let doc = json(&out)?;
    let exception = &doc["info"]["exception"];
    assert_eq!(exception["type"], format!("Evil{HOSTILE_TEXT}"));
    assert_eq!(exception["message"], HOSTILE_TEXT);
    assert_eq!(exception["traceback"], format!("line 1\n{HOSTILE_TEXT}"));
    assert_eq!(doc["stdout"], HOSTILE_TEXT);
    assert_eq!(doc["stderr"], HOSTILE_TEXT);
    let out = wasmtaps(["call", module, "value", "--cache-dir", "none"]);
    exits_with_terminal_safe_output(&out, 0);
    assert_eq!(json(&out)?["value"][HOSTILE_TEXT], HOSTILE_TEXT);

    // inspect: task names come from the module's exports.
    for args in [&["inspect", module][..], &["inspect", module, "--json"]] {
        let out = wasmtaps(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(acts_on_terminal(&out.stdout), None, "{args:?}: {stdout}");
        assert!(stdout.contains("named"), "{args:?}: {stdout}");
    }
    let out = wasmtaps(["inspect", module]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nameda\\u{1b}]0;owned\\u{7}\\u{d}"));
    Ok(())
}
