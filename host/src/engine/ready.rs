//! The execution seam: [`Executor`], the [`ReadyTask`]s the engine hands it, and the
//! [`RunningTask`] each becomes once an executor claims it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::info::ExecutionInfo;
use crate::invoke::{Invocation, InvokeOptions};
use crate::limits::Limits;
use crate::module::Task;
use crate::value::Value;

use super::future::Node;
use super::graph;

/// Where an [`Engine`](crate::Engine) runs the tasks whose arguments are ready.
///
/// The engine resolves dependencies, limits and records; an executor only runs. It is
/// given ready tasks in batches by [`start`](Executor::start), which must return at once
/// (queue them, send them, hand them to threads). For each, later and on any thread, it
/// [`claim`](ReadyTask::claim)s the task — which fails if the task was cancelled while
/// queued — runs it, and [`complete`](RunningTask::complete)s it. The engine's own
/// executors are [`LocalExecutor`](crate::LocalExecutor) (threads of this process),
/// [`ProcessExecutor`](crate::ProcessExecutor) (worker processes) and
/// [`RedisExecutor`](crate::RedisExecutor) (workers anywhere, through Redis).
pub trait Executor: Send + Sync {
    /// Takes `tasks` to run; returns without waiting for them.
    fn start(&self, tasks: Vec<ReadyTask>);

    /// Called once when the engine stops, after every task has ended: stop threads and
    /// processes. Tasks started afterwards may be cancelled. The default does nothing.
    fn shutdown(&self) {}
}

/// A task whose arguments are ready, handed to an [`Executor`] to run.
///
/// Dropped without being claimed, it is cancelled, so a task an executor loses never
/// leaves the engine waiting.
pub struct ReadyTask {
    node: Option<Arc<Node>>,
}

/// A task an executor has claimed: its arguments, with every parent's value in place,
/// and its limits, resolved once by the engine. Complete it with its [`Invocation`];
/// dropped without completing, it fails with a `HostError`.
pub struct RunningTask {
    node: Arc<Node>,
    task: Task,
    args: Args,
    options: Arc<ResolvedOptions>,
    finished: bool,
}

/// The options of a task, resolved once by the engine: its limits against the engine's
/// runtime (defaults and maximums), and the same as exact overrides for
/// [`Runtime::invoke`](crate::Runtime::invoke).
#[derive(Debug)]
pub(crate) struct ResolvedOptions {
    pub(crate) limits: Limits,
    pub(crate) invoke: InvokeOptions,
}

impl ResolvedOptions {
    pub(crate) fn new(limits: Limits) -> ResolvedOptions {
        ResolvedOptions {
            invoke: InvokeOptions {
                limits: (&limits).into(),
                ..InvokeOptions::default()
            },
            limits,
        }
    }
}

impl ReadyTask {
    pub(crate) fn new(node: Arc<Node>) -> ReadyTask {
        ReadyTask { node: Some(node) }
    }

    /// The task's UUID, as in its record.
    pub fn id(&self) -> &str {
        self.node.as_ref().map_or("", |n| n.id.as_str())
    }

    /// Marks the task as running and hands it over with its arguments; `None` when it
    /// was cancelled while queued, or the engine is shutting down with `cancel_futures`
    /// (it is then completed as cancelled, and there is nothing to run).
    pub fn claim(mut self) -> Option<RunningTask> {
        let node = self.node.take()?;
        let Some(job) = node.claim_job()? else {
            let error = TaskError::new(ErrorKind::HostError, "a ready task without its job");
            graph::finish(node, Err(error), None);
            return None;
        };
        let mut args = Args::from_values(
            job.positional
                .into_iter()
                .map(|v| v.expect("a ready task has all its arguments")),
        );
        for (name, value) in job.keyword {
            args.push_kwarg(name, value.expect("a ready task has all its arguments"));
        }
        let running = RunningTask {
            node,
            task: job.task,
            args,
            options: job.options,
            finished: false,
        };
        if running.node.shared.cancelling.load(Ordering::Relaxed) {
            running.fail(graph::shutdown_cancelled());
            return None;
        }
        Some(running)
    }
}

impl Drop for ReadyTask {
    fn drop(&mut self) {
        if let Some(node) = self.node.take()
            && node.claim()
        {
            let error = TaskError::new(
                ErrorKind::Cancelled,
                "the executor was shut down before the task started",
            );
            graph::finish(node, Err(error), None);
        }
    }
}

impl RunningTask {
    /// The task's UUID, as in its record.
    pub fn id(&self) -> &str {
        &self.node.id
    }

    /// The task to run.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// Its arguments.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Its limits, resolved against the engine's runtime.
    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// The options to pass to [`Runtime::invoke`](crate::Runtime::invoke): the resolved
    /// limits as exact overrides.
    pub fn invoke_options(&self) -> &InvokeOptions {
        &self.options.invoke
    }

    /// Completes the task with its outcome. Children it makes ready go to the executor
    /// in one batch.
    pub fn complete(mut self, invocation: Invocation) {
        self.finish(invocation.result, Some(invocation.execution));
    }

    /// Fails the task without an execution record (the executor could not run it).
    pub fn fail(mut self, error: TaskError) {
        self.finish(Err(error), None);
    }

    fn finish(&mut self, outcome: Result<Value, TaskError>, execution: Option<ExecutionInfo>) {
        if !self.finished {
            self.finished = true;
            graph::finish(self.node.clone(), outcome, execution);
        }
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.finish(
            Err(TaskError::new(
                ErrorKind::HostError,
                "the executor lost the task without completing it",
            )),
            None,
        );
    }
}

impl std::fmt::Debug for ReadyTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyTask")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RunningTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTask")
            .field("id", &self.node.id)
            .field("task", &self.task.name())
            .finish_non_exhaustive()
    }
}
