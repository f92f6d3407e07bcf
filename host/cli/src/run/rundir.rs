//! The run directory: `config.toml`, `log.txt`, `tasks.jsonl` and the app's outputs.

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
    pub(crate) fn create(dir: &Path, echo: bool) -> std::io::Result<RunLog> {
        Ok(RunLog {
            file: Mutex::new(File::create(dir.join("log.txt"))?),
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

/// `runs/<app>_<executor>_<UTC timestamp>`, made unique if it exists.
pub(crate) fn default_dir(app: AppName, executor: ExecutorKind) -> PathBuf {
    let stamp = timestamp(std::time::SystemTime::now(), false);
    let base = PathBuf::from("runs").join(format!("{app}_{executor}_{stamp}"));
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
