//! What the command line logs: the library's and its own `tracing` events go to stderr
//! (`warn` and up; `-v` adds wasmtaps' `info`, `-vv` its `debug`, `-vvv` its `trace`;
//! `RUST_LOG` overrides all of it, e.g. `RUST_LOG=wasmtaps=debug,redis=info`), with
//! colours only on a terminal. `wasmtaps run` also writes the same events into the run
//! directory's `log.txt`, timestamped like its own lines there. tracing-subscriber
//! escapes control characters in the fields it prints.

use std::io;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::prelude::*;

use crate::run::rundir::{RunLog, timestamp};

/// The installed subscriber; [`Logging::also_to`] adds a run's `log.txt` to it.
#[derive(Clone, Default)]
pub(crate) struct Logging {
    run_log: Arc<OnceLock<Arc<RunLog>>>,
}

impl Logging {
    /// Installs the process's subscriber, `verbose` being how many `-v` were given.
    pub(crate) fn install(verbose: u8) -> Logging {
        let logging = Logging::default();
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .with_target(false)
            .without_time();
        let file = tracing_subscriber::fmt::layer()
            .with_writer(ToRunLog(logging.run_log.clone()))
            .with_ansi(false)
            .with_target(false)
            .with_timer(LogTime);
        // Fails only if a subscriber is already installed (not in this binary).
        let _ = tracing_subscriber::registry()
            .with(filter(verbose))
            .with(stderr)
            .with(file)
            .try_init();
        logging
    }

    /// From now on, every event also goes to `log`'s file. Only the first call has an
    /// effect: a process runs one run.
    pub(crate) fn also_to(&self, log: Arc<RunLog>) {
        let _ = self.run_log.set(log);
    }
}

/// `RUST_LOG` when set (and valid), else the level `-v` flags choose for wasmtaps' own
/// crates, over `warn` for everything.
fn filter(verbose: u8) -> EnvFilter {
    if let Ok(from_env) = EnvFilter::try_from_default_env() {
        return from_env;
    }
    let ours = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("warn,wasmtaps={ours},wasmtaps_cli={ours}"))
}

/// The events' writer for `log.txt`: the run's [`RunLog`] once there is one, nothing
/// before.
struct ToRunLog(Arc<OnceLock<Arc<RunLog>>>);

impl<'a> MakeWriter<'a> for ToRunLog {
    type Writer = RunLogWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RunLogWriter(self.0.get().map(Arc::as_ref))
    }
}

struct RunLogWriter<'a>(Option<&'a RunLog>);

impl io::Write for RunLogWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(log) = self.0 {
            log.append(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `[2026-11-28 02:25:07.123] `, as `log.txt`'s own lines begin.
struct LogTime;

impl FormatTime for LogTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "[{}]", timestamp(std::time::SystemTime::now(), true))
    }
}
