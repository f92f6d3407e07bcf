//! Run reports: read a `tasks.jsonl`, summarise it ([`RunSummary`]) and render it as one
//! self-contained HTML page ([`render_html`]).
//!
//! The reader is forgiving, because a run directory may be read while a run is still
//! writing it, or may come from TaPS: unknown keys are ignored, and lines that are not a
//! task record (a partial last line, garbage) are skipped and counted in [`ReadStats`].

pub(crate) mod command;
mod html;
mod lanes;
mod summary;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use wasmtaps::TaskInfo;

pub(crate) use html::render_html;
pub(crate) use summary::RunSummary;

/// Why a task-record file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// One line of a task-record file that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedLine {
    /// The 1-based line number.
    pub line: usize,
    /// Why it was skipped, such as `"partial last line (EOF while parsing ...)"`.
    pub reason: String,
}

/// How reading a task-record file went, besides the records themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Non-blank lines read.
    pub lines: usize,
    /// Lines skipped because they were not a task record.
    pub skipped: usize,
    /// The first [`ReadStats::MAX_EXAMPLES`] skipped lines and why.
    pub examples: Vec<SkippedLine>,
    /// The optional `worker` key of each record (top level, or inside `execution`),
    /// index-aligned with the records. Empty when no record had one.
    pub workers: Vec<Option<String>>,
}

impl ReadStats {
    /// How many skipped lines [`ReadStats::examples`] keeps.
    pub const MAX_EXAMPLES: usize = 5;

    /// A one-line account of the skipped lines, or `None` when nothing was skipped.
    pub fn skipped_message(&self) -> Option<String> {
        if self.skipped == 0 {
            return None;
        }
        let examples: Vec<String> = self
            .examples
            .iter()
            .map(|s| format!("line {}: {}", s.line, s.reason))
            .collect();
        let more = if self.skipped > self.examples.len() {
            "; ..."
        } else {
            ""
        };
        Some(format!(
            "skipped {} of {} lines: {}{more}",
            self.skipped,
            self.lines,
            examples.join("; ")
        ))
    }
}

/// The optional worker keys of a record, which `TaskInfo` does not carry.
#[derive(Deserialize)]
struct WorkerKeys {
    #[serde(default)]
    worker: Option<WorkerKey>,
    #[serde(default)]
    execution: Option<ExecutionWorker>,
}

#[derive(Deserialize)]
struct ExecutionWorker {
    #[serde(default)]
    worker: Option<WorkerKey>,
}

/// A worker is named by a string, but TaPS executors may use a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum WorkerKey {
    Text(String),
    Number(serde_json::Number),
}

impl WorkerKey {
    fn into_string(self) -> String {
        match self {
            WorkerKey::Text(s) => s,
            WorkerKey::Number(n) => n.to_string(),
        }
    }
}

/// Reads a `tasks.jsonl`: one JSON [`TaskInfo`] per line, as wasmtaps or TaPS write it.
///
/// Blank lines are ignored; lines that do not parse as a task record are skipped and
/// counted in [`ReadStats`] with the reason, which names a partial last line (a file
/// still being written) as such.
///
/// # Errors
///
/// [`ReportError::Read`] when the file cannot be opened or read.
pub fn read_records(path: impl AsRef<Path>) -> Result<(Vec<TaskInfo>, ReadStats), ReportError> {
    let path = path.as_ref();
    let error = |source| ReportError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(error)?;
    if file.metadata().map_err(error)?.is_dir() {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut stats = ReadStats::default();
    let mut any_worker = false;
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(error)? == 0 {
            break;
        }
        number += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        stats.lines += 1;
        match serde_json::from_str::<TaskInfo>(text) {
            Ok(info) => {
                let worker = if text.contains("\"worker\"") {
                    serde_json::from_str::<WorkerKeys>(text)
                        .ok()
                        .and_then(|k| k.worker.or_else(|| k.execution.and_then(|e| e.worker)))
                        .map(WorkerKey::into_string)
                } else {
                    None
                };
                any_worker |= worker.is_some();
                stats.workers.push(worker);
                records.push(info);
            }
            Err(e) => {
                stats.skipped += 1;
                if stats.examples.len() < ReadStats::MAX_EXAMPLES {
                    let reason = if !complete && e.is_eof() {
                        format!("partial last line ({e})")
                    } else {
                        e.to_string()
                    };
                    stats.examples.push(SkippedLine {
                        line: number,
                        reason,
                    });
                }
            }
        }
    }
    if !any_worker {
        stats.workers.clear();
    }
    Ok((records, stats))
}

/// Records for the report's unit tests.
#[cfg(test)]
mod fixtures {
    use wasmtaps::{ExecutionInfo, TaskInfo};

    /// A successful task named `<t>` that ran on `host` from `start` to `end`.
    pub(super) fn executed(host: &str, start: f64, end: f64) -> TaskInfo {
        TaskInfo {
            task_id: format!("{host}-{start}"),
            name: "<t>".into(),
            parent_task_ids: vec![],
            submit_time: 0.0,
            received_time: Some(end),
            success: Some(true),
            exception: None,
            execution: Some(ExecutionInfo {
                hostname: host.into(),
                execution_start_time: start,
                execution_end_time: end,
                task_start_time: start,
                task_end_time: end,
                input_transform_start_time: start,
                input_transform_end_time: start,
                result_transform_start_time: end,
                result_transform_end_time: end,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"task_id":"a","name":"add","parent_task_ids":[],"submit_time":1.0,"received_time":2.0,"success":true,"exception":null,"execution":null,"extra":[1]}"#;

    fn read(text: &str) -> (Vec<TaskInfo>, ReadStats) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        std::fs::write(&path, text).unwrap();
        read_records(&path).unwrap()
    }

    #[test]
    fn skips_garbage_and_names_a_partial_last_line() {
        let (records, stats) = read(&format!("{RECORD}\n\nnot json\n{}", &RECORD[..40]));
        assert_eq!(records.len(), 1);
        assert_eq!((stats.lines, stats.skipped), (3, 2));
        assert_eq!(stats.examples[0].line, 3);
        assert!(stats.examples[1].reason.starts_with("partial last line"));
        assert!(stats.workers.is_empty());
        assert!(stats.skipped_message().unwrap().contains("skipped 2 of 3"));
    }

    #[test]
    fn reads_worker_keys() {
        let with_worker = RECORD.replace(r#""extra""#, r#""worker":"w1","extra""#);
        let (records, stats) = read(&format!("{with_worker}\n{RECORD}\n"));
        assert_eq!(records.len(), 2);
        assert_eq!(stats.workers, vec![Some("w1".to_owned()), None]);
    }

    #[test]
    fn missing_file_names_the_path() {
        let error = read_records("/nonexistent/tasks.jsonl").unwrap_err();
        assert!(error.to_string().contains("/nonexistent/tasks.jsonl"));
    }
}
