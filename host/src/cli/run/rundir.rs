//! The run directory: `config.toml`, `log.txt`, `tasks.jsonl` and the app's outputs.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
            wasmtaps::terminal_line(message.as_ref())
        );
        if self.echo {
            eprintln!("{line}");
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{line}");
    }

    /// Logs text without echoing it (the summary, which goes to stdout).
    pub(crate) fn quiet(&self, text: &str) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{text}");
    }
}

/// `runs/<app>_<executor>_<UTC timestamp>`, made unique if it exists.
pub(crate) fn default_dir(app: &str, executor: &str) -> PathBuf {
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

/// A UTC timestamp: `2026-11-28 02:25:07.123` for logs, `20261128-022507` for names.
pub(crate) fn timestamp(at: std::time::SystemTime, for_log: bool) -> String {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    if for_log {
        format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{:03}",
            since.subsec_millis()
        )
    } else {
        format!("{y:04}{mo:02}{d:02}-{h:02}{m:02}{s:02}")
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
