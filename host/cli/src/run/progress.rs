//! Progress while a run goes: an indicatif bar on a terminal, lines in `log.txt` (echoed
//! to stderr) every two seconds otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wasmtaps::Engine;

use super::choices::ProgressMode;
use super::rundir::RunLog;

/// How often the bar is redrawn from the engine's counts.
const BAR_TICK: Duration = Duration::from_millis(200);
/// How often a progress line is logged.
const LINE_TICK: Duration = Duration::from_secs(2);

/// Reports progress from a background thread until dropped. Dropping it wakes the thread
/// at once (it waits on a channel, not in a sleep), so a run does not pay for a tick at
/// its end; the thread shows the final count before it ends.
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
            if bar {
                show_bar(&engine, total, &stopped);
            } else {
                log_lines(&engine, total, &log, &stopped);
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

/// Waits up to `tick` for the [`Progress`] to be dropped; `true` while it is not.
fn running(stopped: &Receiver<()>, tick: Duration) -> bool {
    matches!(stopped.recv_timeout(tick), Err(RecvTimeoutError::Timeout))
}

/// The bar's look, 80 columns at most for runs under a billion tasks:
/// `[#####>                   ] 20150/200000 done, 0 failed, 100546/s, ETA 2s`.
const BAR_TEMPLATE: &str = "[{bar:25}] {pos}/{len} done, {msg}, ETA {eta}";

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(BAR_TEMPLATE)
        .map(|style| style.progress_chars("#> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// An indicatif bar on stderr (drawn only when it is a terminal), updated from the
/// engine's counts until the run ends, then left showing the final count.
fn show_bar(engine: &Engine, total: u64, stopped: &Receiver<()>) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(bar_style());
    let started = Instant::now();
    let update = || {
        let stats = engine.stats();
        let rate = stats.completed as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{} failed, {rate:.0}/s", stats.failed));
        bar.set_position(stats.completed);
    };
    update();
    while running(stopped, BAR_TICK) {
        update();
    }
    update();
    bar.finish();
}

/// A line in the run's log every [`LINE_TICK`], and one with the final count at the end.
fn log_lines(engine: &Engine, total: u64, log: &RunLog, stopped: &Receiver<()>) {
    let started = Instant::now();
    loop {
        let stopping = !running(stopped, LINE_TICK);
        let stats = engine.stats();
        let rate = stats.completed as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let left = total.saturating_sub(stats.completed);
        let eta = if rate > 0.0 {
            format!("{:.0}s", left as f64 / rate)
        } else {
            "?".into()
        };
        log.line(format!(
            "progress: {}/{total} tasks done, {} failed, {rate:.0} tasks/s, ETA {eta}",
            stats.completed, stats.failed
        ));
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid() {
        // Else the bar falls back to indicatif's default look.
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }
}
