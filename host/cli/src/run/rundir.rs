//! The run directory: `config.toml`, `environment.json`, `log.txt`, `tasks.jsonl` and the
//! app's outputs; by default `runs/{name}_{executor}_{timestamp}` as TaPS names it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::choices::{AppName, ExecutorKind};

/// Writes timestamped lines to `log.txt` (and echoes them to stderr).
pub(crate) struct RunLog {
    file: Mutex<File>,
    echo: bool,
}

impl RunLog {
    pub(crate) fn create(dir: &Path, file_name: &str, echo: bool) -> std::io::Result<RunLog> {
        Ok(RunLog {
            file: Mutex::new(File::create(dir.join(file_name))?),
            echo,
        })
    }

    /// Logs one line.
    pub(crate) fn line(&self, message: impl AsRef<str>) {
        let line = format!(
            "[{}] {}",
            timestamp(std::time::SystemTime::now(), true),
            crate::terminal::terminal_line(message.as_ref())
        );
        if self.echo {
            eprintln!("{line}");
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{line}");
    }

    /// Appends `bytes` as they are (a `tracing` event, formatted and escaped already).
    pub(crate) fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(bytes)
    }

    /// Logs text without echoing it (the summary, which goes to stdout).
    pub(crate) fn quiet(&self, text: &str) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{text}");
    }
}

/// The placeholders `[run] dir_format` may use.
const PLACEHOLDERS: [&str; 3] = ["{name}", "{executor}", "{timestamp}"];

/// Checks that `format` uses no placeholder but [`PLACEHOLDERS`] and is not empty.
///
/// # Errors
/// Names the first unknown placeholder.
pub(crate) fn check_dir_format(format: &str) -> Result<(), String> {
    if format.is_empty() {
        return Err("the run directory's format is empty".into());
    }
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("a `{` is not closed")?;
        let placeholder = &rest[open..open + close + 1];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err(format!(
                "unknown placeholder {placeholder}; the placeholders are {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// `format` (TaPS's `[run] dir_format`) with `{name}` the app, `{executor}` the executor
/// as TaPS names it and `{timestamp}` the UTC time, made unique if it exists.
pub(crate) fn default_dir(format: &str, app: AppName, executor: ExecutorKind) -> PathBuf {
    let stamp = timestamp(std::time::SystemTime::now(), false);
    let executor = match executor {
        ExecutorKind::Threads => "thread-pool".to_owned(),
        ExecutorKind::Processes => "process-pool".to_owned(),
        other => other.to_string(),
    };
    let base = PathBuf::from(
        format
            .replace("{name}", &app.to_string())
            .replace("{executor}", &executor)
            .replace("{timestamp}", &stamp),
    );
    let mut dir = base.clone();
    let mut n = 1;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

/// A UTC timestamp: `2026-11-28 02:25:07.123` for logs, `20261128-022507` for names
/// (from humantime's RFC 3339 form, `2026-11-28T02:25:07.123Z`).
pub(crate) fn timestamp(at: std::time::SystemTime, for_log: bool) -> String {
    if for_log {
        humantime::format_rfc3339_millis(at)
            .to_string()
            .trim_end_matches('Z')
            .replacen('T', " ", 1)
    } else {
        humantime::format_rfc3339_seconds(at)
            .to_string()
            .trim_end_matches('Z')
            .replace(['-', ':'], "")
            .replacen('T', "-", 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_832_707);
        assert_eq!(timestamp(at, false), "20261128-022507");
        assert_eq!(
            timestamp(std::time::UNIX_EPOCH, true),
            "1970-01-01 00:00:00.000"
        );
    }
}
