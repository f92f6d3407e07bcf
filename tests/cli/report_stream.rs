//! `wasmtaps report` on a run larger than its timeline and with more exception types than
//! its summary names: the page draws a bounded sample, the summary caps the types, and
//! every record is still counted.

use std::fmt::Write as _;

use anyhow::{Result, ensure};

use crate::support::wasmtaps;

/// Records in the generated file: more than the timeline's 20,000 bars.
const TASKS: usize = 50_000;

/// Every `FAILING`-th task fails, each with an exception type of its own.
const FAILING: usize = 100;

/// One TaPS-shaped record; failed ones carry a type no other record has.
fn line(i: usize) -> String {
    let failed = i.is_multiple_of(FAILING);
    let start = 1.78e9 + i as f64 * 1e-3;
    let exception = if failed {
        format!(r#"{{"type": "Kind{i}", "message": "boom", "traceback": null}}"#)
    } else {
        "null".to_owned()
    };
    format!(
        r#"{{"task_id": "t{i}", "name": "spin", "parent_task_ids": [], "submit_time": {start}, "received_time": {end}, "success": {ok}, "exception": {exception}, "execution": {{"hostname": "h", "execution_start_time": {start}, "execution_end_time": {end}, "task_start_time": {start}, "task_end_time": {end}, "input_transform_start_time": {start}, "input_transform_end_time": {start}, "result_transform_start_time": {end}, "result_transform_end_time": {end}}}}}"#,
        end = start + 2e-3,
        ok = !failed,
    )
}

#[test]
fn a_run_larger_than_the_timeline_is_sampled_and_every_record_counted() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut records = String::new();
    for i in 0..TASKS {
        let _ = writeln!(records, "{}", line(i));
    }
    std::fs::write(dir.path().join("tasks.jsonl"), records)?;
    let out = wasmtaps([std::ffi::OsStr::new("report"), dir.path().as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let failed = TASKS / FAILING;
    assert!(
        stdout.contains(&format!(
            "tasks       {TASKS} ({} succeeded, {failed} failed",
            TASKS - failed
        )),
        "{stdout}"
    );
    // 100 types named, the other 400 counted together.
    assert!(stdout.contains("(other types) 400"), "{stdout}");
    assert_eq!(stdout.matches("Kind").count(), 100, "{stdout}");

    let html = std::fs::read_to_string(dir.path().join("report.html"))?;
    let bars = html.matches("<g class=\"task\">").count();
    assert!((19_000..=20_000).contains(&bars), "{bars} bars");
    assert!(html.contains(&format!("Showing {bars} of {TASKS} tasks")));
    // Every failed task fits the failed tasks' share of the bars, so all are drawn.
    assert_eq!(html.matches("failed: Kind").count(), failed);
    // The histograms count every task, not the sample.
    assert!(
        html.contains(&format!("task ({TASKS} tasks)")),
        "histogram counts"
    );
    Ok(())
}
