//! Progress while a run goes: a bar on a terminal, periodic lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use wasmtaps::Engine;

use super::choices::ProgressMode;
use super::rundir::RunLog;

/// Reports progress from a background thread until dropped. Dropping it wakes the thread
/// at once (it waits on a channel, not in a sleep), so a run does not pay for a tick at
/// its end.
pub(crate) struct Progress {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows progress as `mode` says; `total` is the number of tasks expected.
    pub(crate) fn start(
        mode: ProgressMode,
        engine: &Engine,
        total: u64,
        log: Arc<RunLog>,
    ) -> Progress {
        let bar = match mode {
            ProgressMode::Bar => true,
            ProgressMode::Lines => false,
            ProgressMode::None => {
                return Progress {
                    stop: None,
                    thread: None,
                };
            }
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let engine = engine.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let tick = if bar {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(2)
            };
            let mut last_line = Instant::now();
            let mut stopping = false;
            loop {
                let stats = engine.stats();
                let elapsed = started.elapsed().as_secs_f64().max(1e-9);
                let rate = stats.completed as f64 / elapsed;
                let left = total.saturating_sub(stats.completed);
                let eta = if rate > 0.0 {
                    format!("{:.0}s", left as f64 / rate)
                } else {
                    "?".into()
                };
                let text = format!(
                    "{}/{} tasks done, {} failed, {:.0} tasks/s, ETA {eta}",
                    stats.completed, total, stats.failed, rate
                );
                if bar {
                    let width = 30usize;
                    let filled = if total == 0 {
                        width
                    } else {
                        (stats.completed.min(total) as usize * width) / total as usize
                    };
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r[{}{}] {text}   ",
                        "#".repeat(filled),
                        " ".repeat(width - filled)
                    );
                    if stopping {
                        let _ = writeln!(err);
                    }
                } else if stopping || last_line.elapsed() >= tick {
                    log.line(format!("progress: {text}"));
                    last_line = Instant::now();
                }
                if stopping {
                    break;
                }
                let wait = if bar {
                    tick
                } else {
                    Duration::from_millis(100)
                };
                // Woken at once when the `Progress` is dropped (the sender goes away):
                // one last report, then done.
                stopping = !matches!(stopped.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
            }
        });
        Progress {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
