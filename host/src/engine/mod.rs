//! The task engine: submits tasks, tracks their dependencies, hands ready tasks to an
//! [`Executor`] and records every task. Its builder, statistics and the helpers for many
//! futures ([`AsCompleted`], [`MapResults`]) and typed calls ([`ArgOf`], [`CallArgs`])
//! are here; the names a program uses most are also at the crate root.

mod arg;
mod collective;
mod future;
mod graph;
mod local;
mod ready;
mod record;
mod typed;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::failure::{ErrorKind, TaskError};
use crate::info::TaskInfo;
use crate::limits::LimitOverrides;
use crate::load_error::LoadError;
use crate::module::Task;
use crate::runtime::Runtime;

pub use arg::Arg;
pub use collective::{AsCompleted, MapResults, ReturnWhen, as_completed, wait};
pub use future::{FutureError, TaskFuture};
pub use local::LocalExecutor;
pub use ready::{Executor, ReadyTask, RunningTask};
pub use record::{RecordCollector, RecordObserver, RecordSink};
pub use typed::{ArgOf, CallArgs, TypedFuture, TypedTask};

use future::Node;
use ready::ResolvedOptions;
use record::RecordMessage;

/// Runs tasks, each invocation in a fresh wasm instance: on a pool of threads of this
/// process by default, or on any [`Executor`] (worker processes, Redis workers).
///
/// [`submit`](Engine::submit) returns a [`TaskFuture`] at once. Futures passed as
/// arguments make the new task a child: it waits without occupying a worker, receives
/// its parents' results directly, and starts as soon as its last parent ends; if a
/// parent fails, it never runs and fails with a `DependencyError` naming the parent.
/// Every task, whatever its fate, is recorded exactly once to the [`RecordSink`].
///
/// Clones share one engine. Dropping the last clone is
/// [`shutdown(true, false)`](Engine::shutdown): it waits for every submitted task and
/// flushes the records.
///
/// # Examples
/// ```
/// use wasmtaps::{Arg, Engine, Runtime};
/// let runtime = Runtime::new()?;
/// let module = runtime.load_wat("inc", r#"(module
///     (memory (export "memory") 1)
///     (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
///     ;; [[n], {}] at ptr for 0 <= n < 127: returns {"ok": n + 1}
///     (func (export "wasmtaps_task_inc") (param $p i32) (param $n i32) (result i64)
///         (i32.store (i32.const 16) (i32.const 0x6b6fa281))
///         (i32.store8 (i32.const 20)
///             (i32.add (i32.load8_u offset=2 (local.get $p)) (i32.const 1)))
///         (i64.const 0x0000001000000005)))"#)?;
/// let inc = module.task("inc")?;
/// let engine = Engine::builder(runtime).workers(2).build()?;
/// let first = engine.submit(&inc, vec![Arg::encode(&1)?], vec![]);
/// let second = engine.submit(&inc, vec![first.clone().into()], vec![]);
/// assert_eq!(second.result(None)?.decode::<i64>()?, 3);
/// assert_eq!(second.parent_task_ids(), [first.task_id().to_owned()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    worker_count: usize,
}

/// What workers, futures and the engine handle share.
pub(crate) struct Shared {
    pub(crate) runtime: Runtime,
    executor: Arc<dyn Executor>,
    records: Option<Sender<RecordMessage>>,
    /// The engine's default limits, and the same resolved against the runtime.
    default_limits: LimitOverrides,
    defaults: Arc<ResolvedOptions>,
    /// Submitted tasks not yet ended and recorded.
    outstanding: AtomicUsize,
    /// Counts for [`Engine::stats`].
    pub(crate) submitted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    max_outstanding: usize,
    blocked_submitters: AtomicUsize,
    idle: Mutex<()>,
    idle_changed: Condvar,
    /// Shut down with `cancel_futures`: tasks not yet started are cancelled.
    pub(crate) cancelling: AtomicBool,
    /// Shut down: new submissions are cancelled at once.
    pub(crate) closed: AtomicBool,
}

impl Shared {
    /// Hands tasks that just became ready to the executor, in one batch.
    pub(crate) fn start(&self, nodes: Vec<Arc<Node>>) {
        self.executor
            .start(nodes.into_iter().map(ReadyTask::new).collect());
    }

    /// Hands a finished task to the record writer, which counts it finished once
    /// written (at once without a sink).
    pub(crate) fn record(&self, node: Arc<Node>) {
        match &self.records {
            Some(records) => {
                if records.send(RecordMessage::Task(node)).is_err() {
                    self.task_finished();
                }
            }
            None => self.task_finished(),
        }
    }

    /// Counts a new task. At `max_outstanding` unfinished tasks, first blocks until they
    /// have fallen to three quarters of that, so that blocked submitters are woken once
    /// per batch rather than once per finished task.
    pub(crate) fn admit(&self) {
        if self.outstanding.load(Ordering::SeqCst) >= self.max_outstanding {
            let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            self.blocked_submitters.fetch_add(1, Ordering::SeqCst);
            while self.outstanding.load(Ordering::SeqCst) > self.low_water() {
                guard = self
                    .idle_changed
                    .wait(guard)
                    .unwrap_or_else(|e| e.into_inner());
            }
            self.blocked_submitters.fetch_sub(1, Ordering::SeqCst);
        }
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    fn low_water(&self) -> usize {
        self.max_outstanding - self.max_outstanding / 4
    }

    pub(crate) fn task_finished(&self) {
        let before = self.outstanding.fetch_sub(1, Ordering::SeqCst);
        let crossed_low_water =
            before == self.low_water() + 1 && self.blocked_submitters.load(Ordering::SeqCst) > 0;
        if before == 1 || crossed_low_water {
            let _guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            self.idle_changed.notify_all();
        }
    }

    fn wait_idle(&self) {
        let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while self.outstanding.load(Ordering::SeqCst) != 0 {
            guard = self
                .idle_changed
                .wait(guard)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Configures an [`Engine`].
#[derive(Clone)]
pub struct EngineBuilder {
    runtime: Runtime,
    workers: usize,
    limits: LimitOverrides,
    records: RecordSink,
    observer: Option<RecordObserver>,
    max_outstanding: usize,
    executor: Option<Arc<dyn Executor>>,
}

/// Task counts of an engine; see [`Engine::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks that have ended (succeeded, failed or cancelled).
    pub completed: u64,
    /// Tasks that ended without a value.
    pub failed: u64,
}

/// The engine could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The record file cannot be opened.
    #[error("cannot open the record file {path}")]
    RecordFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start an engine thread")]
    Thread(#[source] std::io::Error),
    /// The default limits exceed the runtime's maximums.
    #[error(transparent)]
    Limits(#[from] crate::limits::LimitError),
}

impl EngineBuilder {
    /// Threads of the default [`LocalExecutor`], each running one invocation at a time
    /// (default: the number of cores). With another [`executor`](EngineBuilder::executor)
    /// this is only reported by [`Engine::worker_count`].
    pub fn workers(mut self, count: usize) -> Self {
        self.workers = count.max(1);
        self
    }

    /// Limits for every task submitted without its own (default: the runtime's
    /// defaults). Per-submission overrides in [`Engine::submit_with`] take precedence
    /// field by field.
    pub fn default_limits(mut self, limits: LimitOverrides) -> Self {
        self.limits = limits;
        self
    }

    /// Appends every task's record to this file as JSON lines.
    pub fn record_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.records = RecordSink::File(path.into());
        self
    }

    /// Where records go (default [`RecordSink::None`]).
    pub fn record_sink(mut self, sink: RecordSink) -> Self {
        self.records = sink;
        self
    }

    /// Calls `observe` with every task's record, on the engine's record thread, as it
    /// goes to the [`RecordSink`] (also with [`RecordSink::None`]). The record's
    /// [`ExecutionInfo::durations`](crate::ExecutionInfo::durations) are there when the
    /// executor measured them, so an observer can add up phases more precisely than the
    /// written record's `f64` times allow. A slow observer slows the record thread, not
    /// the workers; [`shutdown`](Engine::shutdown) with `wait` returns only once every
    /// record has been observed.
    pub fn on_record(mut self, observe: impl Fn(&TaskInfo) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observe));
        self
    }

    /// How many submitted tasks may be unfinished at once before
    /// [`submit`](Engine::submit) blocks until one ends (default 65,536). This bounds
    /// the memory of a run that submits faster than the workers execute.
    pub fn max_outstanding(mut self, count: usize) -> Self {
        self.max_outstanding = count.max(1);
        self
    }

    /// Where tasks run (default: a [`LocalExecutor`] with the engine's runtime and
    /// [`workers`](EngineBuilder::workers) threads). The engine still resolves
    /// dependencies, resolves every task's limits against its runtime and records every
    /// task; the executor runs tasks whose arguments are ready, and is
    /// [shut down](Executor::shutdown) with the engine.
    pub fn executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Starts the workers and the record writer.
    ///
    /// # Errors
    /// When the record file cannot be opened, a thread cannot start, or the default
    /// limits exceed the runtime's maximums.
    pub fn build(self) -> Result<Engine, EngineError> {
        let defaults = Arc::new(ResolvedOptions::new(self.runtime.limits_for(&self.limits)?));
        let (records, writer) = match record::start(&self.records, self.observer) {
            Ok(Some((tx, handle))) => (Some(tx), Some(handle)),
            Ok(None) => (None, None),
            Err(source) => {
                let RecordSink::File(path) = self.records else {
                    return Err(EngineError::Thread(source));
                };
                return Err(EngineError::RecordFile { path, source });
            }
        };
        let executor: Arc<dyn Executor> = match self.executor {
            Some(executor) => executor,
            None => Arc::new(
                LocalExecutor::new(self.runtime.clone(), self.workers)
                    .map_err(EngineError::Thread)?,
            ),
        };
        let shared = Arc::new(Shared {
            runtime: self.runtime,
            executor,
            records,
            default_limits: self.limits,
            defaults,
            outstanding: AtomicUsize::new(0),
            submitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            max_outstanding: self.max_outstanding,
            blocked_submitters: AtomicUsize::new(0),
            idle: Mutex::new(()),
            idle_changed: Condvar::new(),
            cancelling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Ok(Engine {
            inner: Arc::new(EngineInner {
                shared,
                writer: Mutex::new(writer),
                worker_count: self.workers,
            }),
        })
    }
}

impl Engine {
    /// Starts configuring an engine that runs tasks with `runtime`.
    pub fn builder(runtime: Runtime) -> EngineBuilder {
        EngineBuilder {
            runtime,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: LimitOverrides::default(),
            records: RecordSink::None,
            observer: None,
            max_outstanding: 1 << 16,
            executor: None,
        }
    }

    /// Submits `task` with positional and keyword arguments, with the engine's default
    /// limits, and returns its future at once.
    ///
    /// Future arguments make the task a child of theirs (see [`Engine`]). The call only
    /// blocks when [`max_outstanding`](EngineBuilder::max_outstanding) tasks are
    /// unfinished. After [`shutdown`](Engine::shutdown) the task is cancelled at once.
    pub fn submit(
        &self,
        task: &Task,
        positional: Vec<Arg>,
        keyword: Vec<(String, Arg)>,
    ) -> TaskFuture {
        let shared = &self.inner.shared;
        graph::submit(shared, task, positional, keyword, shared.defaults.clone())
    }

    /// Like [`submit`](Engine::submit), with `limits` overriding the engine's default
    /// limits field by field. Limits above the runtime's maximums fail the task with
    /// `InvalidLimits`.
    pub fn submit_with(
        &self,
        task: &Task,
        positional: Vec<Arg>,
        keyword: Vec<(String, Arg)>,
        limits: &LimitOverrides,
    ) -> TaskFuture {
        let shared = &self.inner.shared;
        match shared
            .runtime
            .limits_for(&limits.or(&shared.default_limits))
        {
            Ok(resolved) => {
                let options = Arc::new(ResolvedOptions::new(resolved));
                graph::submit(shared, task, positional, keyword, options)
            }
            Err(e) => graph::submit_failed(
                shared,
                task,
                TaskError::new(ErrorKind::InvalidLimits, e.to_string()),
            ),
        }
    }

    /// Records a task named `name` whose module could not be loaded, failed at once
    /// with `error`: `LinkError` when the module imports something the host does not
    /// provide ([`LoadError::Import`], [`LoadError::Link`]; TaPS records its `import`
    /// failure as such a task), `HostError` for any other reason. The task is counted,
    /// recorded and can be waited on like any other, so a run that meets a module it
    /// cannot load accounts for the task instead of losing it.
    pub fn submit_unloadable(&self, name: &str, error: &LoadError) -> TaskFuture {
        let kind = match error {
            LoadError::Import { .. } | LoadError::Link { .. } => ErrorKind::LinkError,
            _ => ErrorKind::HostError,
        };
        graph::submit_failed_named(
            &self.inner.shared,
            name,
            TaskError::new(kind, error.to_string()),
        )
    }

    /// The runtime the engine runs tasks with.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.shared.runtime
    }

    /// How many workers run tasks: the default executor's threads, or the number given
    /// to [`EngineBuilder::workers`] for another executor.
    pub fn worker_count(&self) -> usize {
        self.inner.worker_count
    }

    /// How many tasks were submitted, have ended, and have failed (failures include
    /// dependency failures and cancellations), since the engine started.
    pub fn stats(&self) -> EngineStats {
        let shared = &self.inner.shared;
        EngineStats {
            submitted: shared.submitted.load(Ordering::Relaxed),
            completed: shared.completed.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
        }
    }

    /// Submitted tasks that have not ended yet.
    pub fn outstanding(&self) -> usize {
        self.inner.shared.outstanding.load(Ordering::SeqCst)
    }

    /// Blocks until every record of a task that ended before this call has been handed
    /// to the sink (for a file: written to the OS).
    pub fn flush_records(&self) {
        if let Some(records) = &self.inner.shared.records {
            let (tx, rx) = crossbeam_channel::bounded(1);
            if records.send(RecordMessage::Flush(tx)).is_ok() {
                let _ = rx.recv_timeout(Duration::from_secs(60));
            }
        }
    }

    /// Stops accepting tasks: later submissions are cancelled at once. With
    /// `cancel_futures`, tasks that have not started are cancelled (and recorded so)
    /// instead of run. With `wait`, blocks until every task has ended, the workers have
    /// exited and every record is flushed; without it, that happens when the last clone
    /// of the engine is dropped. Tasks submitted after the record writer has stopped are
    /// cancelled but not recorded.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let shared = &self.inner.shared;
        if cancel_futures {
            shared.cancelling.store(true, Ordering::SeqCst);
        }
        shared.closed.store(true, Ordering::SeqCst);
        if wait {
            self.inner.stop();
        }
    }
}

impl EngineInner {
    fn stop(&self) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::SeqCst);
        shared.wait_idle();
        shared.executor.shutdown();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(records), Some(writer)) = (&shared.records, writer) {
            let _ = records.send(RecordMessage::Stop);
            let _ = writer.join();
        }
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("workers", &self.inner.worker_count)
            .field("outstanding", &self.outstanding())
            .finish()
    }
}
