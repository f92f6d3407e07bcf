//! `wasmtaps report RUN_DIR`: summarise a run's `tasks.jsonl` and write `report.html`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{RunDigest, render_html};
use crate::terminal::{terminal_line, terminal_text};
use anyhow::{Context, bail};
use clap::Args as ClapArgs;

#[derive(ClapArgs)]
pub(crate) struct ReportArgs {
    /// The run directory holding the task records (wasmtaps' or TaPS's).
    run_dir: PathBuf,
    /// Where to write the HTML report [default: RUN_DIR/report.html].
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The task-record file's name inside RUN_DIR.
    #[arg(long, value_name = "NAME", default_value = "tasks.jsonl")]
    records: PathBuf,
}

pub(crate) fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    if !a.run_dir.is_dir() {
        bail!(
            "run directory {} does not exist or is not a directory",
            a.run_dir.display()
        );
    }
    let path = a.run_dir.join(&a.records);
    let (digest, stats) = RunDigest::from_file(&path)?;
    if let Some(message) = stats.skipped_message() {
        eprintln!("wasmtaps: {}: {}", path.display(), terminal_line(&message));
    }
    if digest.timeline.seen() == 0 && stats.skipped > 0 {
        bail!("{} holds no task record", path.display());
    }
    // Exception types in the records are whatever the tasks (or the file) said.
    print!("{}", terminal_text(&digest.summary.summary().to_string()));
    let output = a.output.unwrap_or_else(|| a.run_dir.join("report.html"));
    let page = render_html(&digest, &stats, &path.display().to_string());
    std::fs::write(&output, page).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!("wasmtaps: wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
