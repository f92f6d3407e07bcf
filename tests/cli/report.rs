//! `wasmtaps report RUN_DIR`: the text summary, the HTML timeline, TaPS-written records,
//! bad input, and the page as headless Chromium draws it.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use wasmtaps::{Args, ExceptionInfo, InvokeOptions, Runtime, TaskInfo};

use crate::support::{unix_now, wasmtaps};

/// The timeline's `task` phase colour (`.t` in the page's CSS).
const TASK_RGB: [u8; 3] = [0x1f, 0x77, 0xb4];

/// Tasks in [`real_run`]: 8 `add`, 8 `spin`, 1 `fail_panic`, and 1 cancelled.
const REAL_TASKS: usize = 18;

/// Runs `wasmtaps report ARGS...`.
fn report<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let args = args.into_iter().map(|a| a.as_ref().to_owned());
    wasmtaps(std::iter::once(OsString::from("report")).chain(args))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `records` as a `tasks.jsonl`.
fn write_records(path: &Path, records: &[TaskInfo]) -> Result<()> {
    let mut out = String::new();
    for r in records {
        out.push_str(&serde_json::to_string(r)?);
        out.push('\n');
    }
    Ok(std::fs::write(path, out)?)
}

/// A real run directory: the example module's tasks, submitted up front and run by two
/// worker threads through the wasmtaps runtime, plus one task cancelled before it ran.
fn real_run() -> Result<tempfile::TempDir> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let mut queue = VecDeque::new();
    for i in 0..8i64 {
        queue.push_back(("add", Args::new().arg(&i)?.arg(&1i64)?, unix_now()));
        queue.push_back(("spin", Args::new().arg(&3_000_000u64)?, unix_now()));
    }
    queue.push_back(("fail_panic", Args::new().arg("boom")?, unix_now()));
    let queue = Mutex::new(queue);
    let records = Mutex::new(Vec::new());
    let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let job = queue.lock().unwrap().pop_front();
                        let Some((name, args, submit_time)) = job else {
                            return Ok(());
                        };
                        let task = module.task(name)?;
                        let outcome = runtime.invoke(&task, &args, &InvokeOptions::default());
                        let exception =
                            outcome.result.as_ref().err().map(|e| e.to_exception_info());
                        records.lock().unwrap().push(TaskInfo {
                            task_id: uuid_like(),
                            name: name.to_owned(),
                            parent_task_ids: vec![],
                            submit_time,
                            received_time: Some(unix_now()),
                            success: Some(exception.is_none()),
                            exception,
                            execution: Some(outcome.execution),
                        });
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker thread panicked"))
            .collect()
    });
    outcomes.into_iter().collect::<Result<()>>()?;
    let mut records = records.into_inner().unwrap();
    assert_eq!(records.len(), REAL_TASKS - 1);
    let now = unix_now();
    records.push(TaskInfo {
        task_id: uuid_like(),
        name: "add".into(),
        parent_task_ids: vec![records[0].task_id.clone()],
        submit_time: now - 0.001,
        received_time: Some(now),
        success: Some(false),
        exception: Some(ExceptionInfo {
            kind: "Cancelled".into(),
            message: "the task was cancelled before it ran".into(),
            traceback: None,
        }),
        execution: None,
    });
    let dir = tempfile::tempdir()?;
    write_records(&dir.path().join("tasks.jsonl"), &records)?;
    Ok(dir)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn report_summarises_a_real_run() -> Result<()> {
    let dir = real_run()?;
    let out = report([dir.path()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(
        stdout.contains("tasks       18 (16 succeeded, 2 failed, 0 unfinished; 1 never executed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("failed      Cancelled 1, GuestPanic 1"),
        "{stdout}"
    );
    for phase in [
        "queue",
        "input transform",
        "task",
        "result transform",
        "execution",
        "received lag",
    ] {
        assert!(stdout.contains(&format!("\n{phase} ")), "{phase}: {stdout}");
    }
    assert!(stdout.contains("tasks/s"), "{stdout}");

    let html = std::fs::read_to_string(dir.path().join("report.html"))?;
    assert_eq!(html.matches("<g class=\"task\">").count(), REAL_TASKS);
    assert_eq!(html.matches("<rect class=\"fail\"").count(), 1, "the panic");
    assert_eq!(
        html.matches("<rect class=\"nf\"").count(),
        1,
        "the cancelled task"
    );
    assert!(html.contains("not executed"));
    assert!(html.contains("#1"), "two workers ran concurrently");
    assert!(
        html.contains("GuestPanic: boom"),
        "exception in the tooltip"
    );
    assert_eq!(html.matches("<svg class=\"hist\"").count(), 6);
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    Ok(())
}

/// Lines as TaPS's `JSONRecordLogger` writes them (`dataclasses.asdict(TaskInfo)`), with
/// an executor's extra `worker` key and an extra key inside `execution`.
const TAPS_RECORDS: &str = r#"{"task_id": "6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0001", "name": "generate", "parent_task_ids": [], "submit_time": 1717000000.0, "received_time": 1717000001.5, "success": true, "exception": null, "execution": {"hostname": "node1", "execution_start_time": 1717000000.1, "execution_end_time": 1717000001.4, "task_start_time": 1717000000.3, "task_end_time": 1717000001.2, "input_transform_start_time": 1717000000.1, "input_transform_end_time": 1717000000.3, "result_transform_start_time": 1717000001.2, "result_transform_end_time": 1717000001.4, "pid": 4242}, "worker": "worker-0"}
{"task_id": "6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0002", "name": "generate", "parent_task_ids": [], "submit_time": 1717000000.0, "received_time": 1717000002.0, "success": false, "exception": {"type": "ValueError", "message": "bad input", "traceback": "Traceback (most recent call last):\n  ..."}, "execution": {"hostname": "node1", "execution_start_time": 1717000000.2, "execution_end_time": 1717000001.9, "task_start_time": 1717000000.4, "task_end_time": 1717000001.8, "input_transform_start_time": 1717000000.2, "input_transform_end_time": 1717000000.4, "result_transform_start_time": 1717000001.8, "result_transform_end_time": 1717000001.9}, "worker": "worker-1"}
this line is not JSON
{"task_id": "6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0003", "name": "reduce", "parent_task_ids": ["6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0001", "6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0002"], "submit_time": 1717000000.0, "received_time": 1717000002.1, "success": false, "exception": {"type": "FutureDependencyError", "message": "a parent task failed", "traceback": null}, "execution": null}
{"task_id": "6d1f4a4e-1c1e-4b5a-9c57-0f3c1b2a0004", "name": "gene"#;

#[test]
fn report_reads_taps_records_and_skips_bad_lines() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("taps.jsonl"), TAPS_RECORDS)?;
    let output = dir.path().join("out").with_extension("html");
    let out = report([
        dir.path().as_os_str(),
        "--records".as_ref(),
        "taps.jsonl".as_ref(),
        "--output".as_ref(),
        output.as_os_str(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(
        stdout.contains("tasks       3 (1 succeeded, 2 failed, 0 unfinished; 1 never executed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FutureDependencyError 1, ValueError 1"),
        "{stdout}"
    );
    assert!(stdout.contains("wall time   2.10 s"), "{stdout}");
    assert!(stderr.contains("skipped 2 of 5 lines"), "{stderr}");
    assert!(stderr.contains("line 3:"), "{stderr}");
    assert!(stderr.contains("line 5: partial last line"), "{stderr}");
    let html = std::fs::read_to_string(&output)?;
    assert_eq!(html.matches("<g class=\"task\">").count(), 3);
    assert!(html.contains("node1 / worker-0") && html.contains("node1 / worker-1"));
    assert!(html.contains("skipped 2 of 5 lines"));
    assert!(!dir.path().join("report.html").exists());
    Ok(())
}

#[test]
fn report_names_a_missing_run_directory_or_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("no-such-run");
    let out = report([&missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&missing.display().to_string()),
        "{}",
        text(&out.stderr)
    );

    let out = report([dir.path()]);
    assert_eq!(out.status.code(), Some(2));
    let file = dir.path().join("tasks.jsonl");
    assert!(
        text(&out.stderr).contains(&format!("cannot read {}", file.display())),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&file, "garbage\n{\"also\": \"not a record\"}\n")?;
    let out = report([dir.path()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("skipped 2 of 2 lines"), "{stderr}");
    assert!(stderr.contains("holds no task record"), "{stderr}");
    Ok(())
}

/// Runs headless Chromium on `page` and returns the screenshot's path.
fn screenshot(page: &Path, dir: &Path) -> Result<PathBuf> {
    let png = dir.join("report.png");
    let profile = tempfile::tempdir()?;
    let mut child = match Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,900")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("chromium is not installed: run scripts/install-browser")
        }
        Err(e) => return Err(e).context("starting chromium"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            bail!("chromium took over 120 s to take the screenshot");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(status.success(), "chromium failed: {status}");
    ensure!(png.exists(), "chromium wrote no screenshot");
    Ok(png)
}

#[test]
fn report_timeline_is_drawn_in_headless_chromium() -> Result<()> {
    let dir = real_run()?;
    let out = report([dir.path()]);
    ensure!(out.status.success(), "{}", text(&out.stderr));
    let png = screenshot(&dir.path().join("report.html"), dir.path())?;
    if let Some(keep) = std::env::var_os("WASMTAPS_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep)?;
    }

    let decoder = png::Decoder::new(std::fs::File::open(&png)?);
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels)?;
    let channels = frame.color_type.samples();
    ensure!(
        channels >= 3,
        "unexpected PNG colour type {:?}",
        frame.color_type
    );
    let close = |p: &[u8], rgb: [u8; 3]| p.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 3);
    let task_pixels = pixels[..frame.buffer_size()]
        .chunks_exact(channels)
        .filter(|p| close(&p[..3], TASK_RGB))
        .count();
    // The histograms draw the task colour translucent, so only the timeline matches it.
    assert!(
        task_pixels > 2_000,
        "only {task_pixels} pixels of the task colour in {}x{} screenshot",
        frame.width,
        frame.height
    );
    Ok(())
}

#[test]
fn report_escapes_exception_types_for_the_terminal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let evil = "Evil\u{1b}[2J\u{9b}1m\u{202e}";
    let mut records = String::new();
    for (i, ty) in [evil, evil, "ValueError"].iter().enumerate() {
        records.push_str(&serde_json::to_string(&serde_json::json!({
            "task_id": format!("task-{i}"),
            "name": "t",
            "parent_task_ids": [],
            "submit_time": 1.0,
            "received_time": 2.0,
            "success": false,
            "exception": {"type": ty, "message": "m", "traceback": null},
            "execution": null,
        }))?);
        records.push('\n');
    }
    std::fs::write(dir.path().join("tasks.jsonl"), records)?;
    let out = report([dir.path().as_os_str()]);
    let stdout = text(&out.stdout);
    ensure!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        !stdout.contains(['\u{1b}', '\u{9b}', '\u{202e}']),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("Evil\\u{1b}[2J\\u{9b}1m\\u{202e} 2"),
        "{stdout}"
    );
    Ok(())
}
