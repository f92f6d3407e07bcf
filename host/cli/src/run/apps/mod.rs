//! The applications `wasmtaps run` offers: host-side workflows over the tasks of
//! `examples/apps`.

pub(crate) mod cholesky;
pub(crate) mod cholesky_native;
pub(crate) mod failures;
pub(crate) mod mapreduce;
pub(crate) mod synthetic;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use wasmtaps::{Arg, Engine, ReturnWhen, Task, TaskFuture, TaskModule};

use super::rundir::RunLog;

/// What an app works with.
pub(crate) struct AppContext {
    pub engine: Engine,
    pub module: TaskModule,
    pub log: Arc<RunLog>,
    pub dir: PathBuf,
    /// Resolves results that came back by reference, when values are passed so.
    pub transformer: Option<wasmtaps::remote::Transformer>,
    /// Failures injected into what the app submits (the failures app over another app).
    pub injector: Option<Arc<failures::Injector>>,
}

impl AppContext {
    /// Submits `task` with `args`, or, when failures are injected, maybe a failure in its
    /// place.
    pub(crate) fn submit(&self, task: &Task, args: Vec<Arg>) -> TaskFuture {
        match &self.injector {
            Some(injector) => injector.submit(self, task, args),
            None => self.engine.submit(task, args, vec![]),
        }
    }

    /// The value of a finished task, resolved from the store if it came back by
    /// reference.
    ///
    /// # Errors
    /// The task failed, or its stored value cannot be read.
    pub(crate) fn value(&self, future: &TaskFuture) -> anyhow::Result<wasmtaps::Value> {
        let value = future.result(None)?;
        Ok(match &self.transformer {
            Some(t) => t.resolve(&value)?,
            None => value,
        })
    }

    pub(crate) fn task(&self, name: &str) -> anyhow::Result<Task> {
        // A component implementing the world `apps` (wit/wasmtaps-apps.wit) names the
        // tasks as that world does.
        let standing_in = STANDING_IN
            .iter()
            .find(|(taps, _)| *taps == name)
            .map(|(_, wit)| *wit);
        if let (Err(_), Some(wit)) = (self.module.task(name), standing_in)
            && let Ok(task) = self.module.task(wit)
        {
            return Ok(task);
        }
        self.module.task(name).with_context(|| {
            format!(
                "the task module {} lacks the task `{name}`",
                self.module.name()
            )
        })
    }
}

/// The tasks the apps submit under TaPS's names, and the exports of the WIT world
/// `apps` (wit/wasmtaps-apps.wit) that stand in for them in a component.
const STANDING_IN: [(&str, &str); 3] = [
    ("noop_task", "synthetic"),
    ("map_task", "map-words"),
    ("reduce_task", "reduce-counts"),
];

/// How an app ended.
pub(crate) struct AppOutcome {
    /// Whether the app did what it set out to do (all tasks succeeded, or for the
    /// failures app, every injected failure was recorded as expected).
    pub ok: bool,
    /// App-specific results for the summary.
    pub lines: Vec<String>,
}

/// Waits for every future, returning how many failed.
pub(crate) fn wait_all(futures: &[TaskFuture]) -> usize {
    let (done, _) = wasmtaps::wait(futures, None, ReturnWhen::AllCompleted);
    done.iter()
        .filter(|f| matches!(f.exception(None), Ok(Some(_))))
        .count()
}

/// Encodes a value as an argument (these values always encode).
pub(crate) fn arg<T: serde::Serialize + ?Sized>(value: &T) -> Arg {
    Arg::encode(value).expect("plain data always encodes as MessagePack")
}

/// A small deterministic generator (xorshift64*), so runs are reproducible from a seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}
