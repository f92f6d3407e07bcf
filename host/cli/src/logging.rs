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
use tracing_subscriber::reload;

use crate::run::LogLevel;
use crate::run::rundir::{RunLog, timestamp};

/// The installed subscriber; [`Logging::also_to`] adds a run's `log.txt` to it.
#[derive(Clone, Default)]
pub(crate) struct Logging {
    run_log: Arc<OnceLock<Arc<RunLog>>>,
    /// The filters of stderr and of `log.txt`, which a run's `[logging]` may change;
    /// `None` when `-v` or `RUST_LOG` chose the levels (they win).
    levels: Option<Arc<(SetFilter, SetFilter)>>,
}

/// Replaces one layer's filter (a `reload::Handle`, whose type names the layers below).
type SetFilter = Box<dyn Fn(EnvFilter) + Send + Sync>;

impl Logging {
    /// Installs the process's subscriber, `verbose` being how many `-v` were given.
    pub(crate) fn install(verbose: u8) -> Logging {
        let mut logging = Logging::default();
        let (stderr_filter, stderr_handle) = reload::Layer::new(filter(verbose));
        let (file_filter, file_handle) = reload::Layer::new(filter(verbose));
        let chosen = verbose > 0 || EnvFilter::try_from_default_env().is_ok();
        if !chosen {
            logging.levels = Some(Arc::new((
                Box::new(move |f| drop(stderr_handle.reload(f))),
                Box::new(move |f| drop(file_handle.reload(f))),
            )));
        }
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
            .with(stderr.with_filter(stderr_filter))
            .with(file.with_filter(file_filter))
            .try_init();
        logging
    }

    /// A run's `[logging] level` (stderr) and `file_level` (`log.txt`, default `level`),
    /// for wasmtaps's own events over `warn` for everything; `-v` and `RUST_LOG` win.
    pub(crate) fn set_levels(&self, level: Option<LogLevel>, file_level: Option<LogLevel>) {
        let Some(handles) = &self.levels else { return };
        let directive = |l: LogLevel| format!("warn,wasmtaps={0},wasmtaps_cli={0}", l.directive());
        if let Some(level) = level {
            (handles.0)(EnvFilter::new(directive(level)));
        }
        if let Some(level) = file_level.or(level) {
            (handles.1)(EnvFilter::new(directive(level)));
        }
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
