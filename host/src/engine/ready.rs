//! The execution seam: [`Executor`], and the [`ReadyTask`]s the engine hands it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::invoke::{Invocation, InvokeOptions};
use crate::limits::Limits;
use crate::module::Task;

use super::future::Node;
use super::graph;

/// Where an [`Engine`](crate::Engine) runs the tasks whose arguments are ready.
///
/// The engine resolves dependencies, limits and records; an executor only runs. It is
/// given ready tasks in batches by [`start`](Executor::start), which must return at once
/// (queue them, send them, hand them to threads), and completes each later, from any
/// thread, with [`ReadyTask::complete`]. The engine's own executors are
/// [`LocalExecutor`](crate::LocalExecutor) (threads of this process),
/// [`ProcessExecutor`](crate::ProcessExecutor) (worker processes) and
/// [`RedisExecutor`](crate::RedisExecutor) (workers anywhere, through Redis).
pub trait Executor: Send + Sync {
    /// Takes `tasks` to run; returns without waiting for them.
    fn start(&self, tasks: Vec<ReadyTask>);

    /// Called once when the engine stops, after every task has ended: stop threads and
    /// processes. Tasks started afterwards may be cancelled. The default does nothing.
    fn shutdown(&self) {}
}

/// One task whose arguments are ready, with its limits resolved, owned by an
/// [`Executor`] until it completes it.
///
/// Run it only if [`claim`](ReadyTask::claim) says so (it may have been cancelled while
/// queued), then [`complete`](ReadyTask::complete) it with its [`Invocation`]. A ready
/// task dropped without completing fails with a `HostError` (or, unclaimed, is
/// cancelled), so a task the executor loses never leaves the engine waiting.
pub struct ReadyTask {
    node: Arc<Node>,
    task: Task,
    args: Args,
    options: Arc<ResolvedOptions>,
    state: Claim,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    Unclaimed,
    Claimed,
    Finished,
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
    pub(crate) fn new(
        node: Arc<Node>,
        task: Task,
        args: Args,
        options: Arc<ResolvedOptions>,
    ) -> ReadyTask {
        ReadyTask {
            node,
            task,
            args,
            options,
            state: Claim::Unclaimed,
        }
    }

    /// The task's UUID, as in its record.
    pub fn id(&self) -> &str {
        &self.node.id
    }

    /// The task to run.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// Its arguments, with every parent's value in place.
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

    /// Marks the task as running, and says whether to run it: `false` when it was
    /// cancelled while queued, or the engine is shutting down with `cancel_futures`
    /// (the task is then completed as cancelled, and the executor just drops it).
    pub fn claim(&mut self) -> bool {
        if self.state != Claim::Unclaimed {
            return self.state == Claim::Claimed;
        }
        if !self.node.claim() {
            self.state = Claim::Finished;
            return false;
        }
        self.state = Claim::Claimed;
        if self.node.shared.cancelling.load(Ordering::Relaxed) {
            self.finish(Err(graph::shutdown_cancelled()), None);
            return false;
        }
        true
    }

    /// Completes the task with its outcome. Children it makes ready go to the executor
    /// in one batch.
    pub fn complete(mut self, invocation: Invocation) {
        self.claim();
        self.finish(invocation.result, Some(invocation.execution));
    }

    /// Fails the task without an execution record (the executor could not run it).
    pub fn fail(mut self, error: TaskError) {
        self.claim();
        self.finish(Err(error), None);
    }

    fn finish(
        &mut self,
        outcome: Result<crate::Value, TaskError>,
        execution: Option<crate::ExecutionInfo>,
    ) {
        if self.state == Claim::Claimed {
            self.state = Claim::Finished;
            graph::finish(self.node.clone(), outcome, execution);
        }
    }
}

impl Drop for ReadyTask {
    fn drop(&mut self) {
        match self.state {
            Claim::Finished => {}
            Claim::Unclaimed => {
                if self.node.claim() {
                    self.state = Claim::Claimed;
                    self.finish(
                        Err(TaskError::new(
                            ErrorKind::Cancelled,
                            "the executor was shut down before the task started",
                        )),
                        None,
                    );
                }
            }
            Claim::Claimed => self.finish(
                Err(TaskError::new(
                    ErrorKind::HostError,
                    "the executor lost the task without completing it",
                )),
                None,
            ),
        }
    }
}

impl std::fmt::Debug for ReadyTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyTask")
            .field("id", &self.node.id)
            .field("task", &self.task.name())
            .finish_non_exhaustive()
    }
}
