//! [`TaskFuture`]: the handle to a submitted task, and the shared state behind it.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::failure::{ErrorKind, TaskError};
use crate::info::{ExecutionInfo, TaskInfo};
use crate::module::Task;
use crate::value::{Value, ValueError};

use super::Shared;

/// Why [`TaskFuture::result`] returned no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FutureError {
    /// The wait timed out; the task may still be running.
    #[error("timed out waiting for the task")]
    Timeout,
    /// The task was cancelled before it ran.
    #[error("the task was cancelled")]
    Cancelled,
    /// The task failed (including a failed parent: [`ErrorKind::DependencyError`]).
    #[error(transparent)]
    Failed(TaskError),
    /// The task succeeded, but its result does not decode into the requested type.
    #[error("cannot decode the task's result")]
    Decode(#[source] ValueError),
}

impl FutureError {
    /// Whether the wait timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, FutureError::Timeout)
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, FutureError::Cancelled)
    }

    pub(crate) fn from_task(error: &TaskError) -> FutureError {
        if error.is_cancelled() {
            FutureError::Cancelled
        } else {
            FutureError::Failed(error.clone())
        }
    }
}

/// The handle to one submitted task.
///
/// Returned at once by [`Engine::submit`](crate::Engine::submit). Clone it freely: clones
/// share one state. Pass it as an argument of another submission to make that task its
/// child. Await it in async code, or block on [`result`](TaskFuture::result).
///
/// Dropping every clone does not cancel the task: it still runs and is recorded, and its
/// result is freed as soon as its children have received it.
#[derive(Clone)]
pub struct TaskFuture {
    pub(crate) node: Arc<Node>,
}

/// Where an argument's value goes once its parent finishes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    Positional(usize),
    Keyword(usize),
    /// Item `.1` of the list `.0` of [`Job::lists`].
    ListItem(usize, usize),
}

/// A [`List`](super::Arg::List) argument still waiting for some of its items.
pub(crate) struct PendingList {
    /// Where the encoded list goes.
    pub(crate) target: Slot,
    pub(crate) items: Vec<Option<Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Waiting for parents.
    Waiting,
    /// In the run queue.
    Queued,
    /// Claimed by a worker (or by `cancel`, which completes it at once).
    Running,
    /// Finished, failed or cancelled.
    Done,
}

/// What a worker needs to run the task; dropped as soon as it starts.
pub(crate) struct Job {
    pub(crate) task: Task,
    pub(crate) positional: Vec<Option<Value>>,
    pub(crate) keyword: Vec<(String, Option<Value>)>,
    /// List arguments with futures among their items.
    pub(crate) lists: Vec<PendingList>,
    pub(crate) options: Arc<super::ready::ResolvedOptions>,
    /// Parents not yet finished, plus one while the submission is being registered.
    pub(crate) missing: usize,
}

pub(crate) struct State {
    pub(crate) stage: Stage,
    pub(crate) job: Option<Job>,
    pub(crate) outcome: Option<Result<Value, TaskError>>,
    pub(crate) execution: Option<ExecutionInfo>,
    pub(crate) received_time: Option<f64>,
    /// Children waiting for this task's value.
    pub(crate) children: Vec<(Arc<Node>, Slot)>,
    pub(crate) wakers: Vec<Waker>,
    /// Threads blocked on [`Node::done`]: it is notified only when there are some, as a
    /// notification is a system call whether or not anyone waits.
    pub(crate) blocked: u32,
}

/// One task's shared state. The engine holds it only while the task is unfinished.
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) parent_ids: Vec<String>,
    pub(crate) submit_time: f64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: Mutex<State>,
    pub(crate) done: Condvar,
    /// Set when `stage` becomes `Done` (under the lock): read without the lock by
    /// [`TaskFuture::done`] and by waiters that spin before they block on `done`.
    pub(crate) finished: AtomicBool,
}

impl Node {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves a task that has not started (waiting or queued) to `Running`, so that
    /// nothing else starts or completes it, and drops its job; `false` if it already
    /// started or ended. Whoever claims a task must then finish it
    /// ([`graph::finish`](super::graph::finish)).
    pub(crate) fn claim(&self) -> bool {
        self.claim_job().is_some()
    }

    /// [`claim`](Node::claim), handing over the job: `Some(job)` if the task was
    /// claimed now (`job` is `None` for a task created failed), `None` if it already
    /// started or ended.
    pub(crate) fn claim_job(&self) -> Option<Option<Job>> {
        let mut state = self.lock();
        match state.stage {
            Stage::Waiting | Stage::Queued => {
                state.stage = Stage::Running;
                Some(state.job.take())
            }
            Stage::Running | Stage::Done => None,
        }
    }

    /// Registers `waker` to be woken when the task ends. Returns `false` (and keeps
    /// nothing) if it has already ended.
    pub(crate) fn on_done(&self, waker: &Waker) -> bool {
        let mut state = self.lock();
        if state.stage == Stage::Done {
            return false;
        }
        if !state.wakers.iter().any(|w| w.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
        true
    }

    /// Removes a waker registered with [`on_done`](Node::on_done), if still there.
    pub(crate) fn forget_waker(&self, waker: &Waker) {
        self.lock().wakers.retain(|w| !w.will_wake(waker));
    }

    pub(crate) fn info(&self, state: &State) -> TaskInfo {
        TaskInfo {
            task_id: self.id.clone(),
            name: self.name.clone(),
            parent_task_ids: self.parent_ids.clone(),
            submit_time: self.submit_time,
            received_time: state.received_time,
            success: state.outcome.as_ref().map(Result::is_ok),
            exception: match &state.outcome {
                Some(Err(e)) => Some(e.to_exception_info()),
                _ => None,
            },
            execution: state.execution.clone(),
        }
    }

    /// Blocks until the task ends or `deadline` passes; `None` on timeout.
    ///
    /// A task waited for one at a time usually ends a few microseconds later on another
    /// core, and waking a thread blocked on a condition variable costs more than that
    /// (a futex wake-up and the sleeping core's return, 10–30 µs on a virtual machine).
    /// So the waiter first spins and yields briefly (crossbeam's `Backoff`, a few
    /// microseconds in all), as crossbeam's channels do, and only then blocks.
    fn wait(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, State>> {
        if deadline.is_none_or(|d| d > Instant::now()) {
            let backoff = Backoff::new();
            while !self.finished.load(Ordering::Acquire) && !backoff.is_completed() {
                backoff.snooze();
            }
        }
        let mut state = self.lock();
        while state.stage != Stage::Done {
            state.blocked += 1;
            let woken = match deadline {
                None => self.done.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => {
                        self.done
                            .wait_timeout(state, left)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => {
                        state.blocked -= 1;
                        return None;
                    }
                },
            };
            state = woken;
            state.blocked -= 1;
        }
        Some(state)
    }
}

pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 86_400)
}

impl TaskFuture {
    /// The task's UUID, as in its record.
    pub fn task_id(&self) -> &str {
        &self.node.id
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The ids of the parents whose futures were arguments, in argument order
    /// (positional, then keyword values).
    pub fn parent_task_ids(&self) -> &[String] {
        &self.node.parent_ids
    }

    /// Blocks until the task ends, at most `timeout` (`None` waits for ever), and
    /// returns its value.
    ///
    /// # Errors
    /// [`FutureError::Timeout`] if the task has not ended in time (it keeps running);
    /// [`FutureError::Cancelled`] if it was cancelled; [`FutureError::Failed`] if it
    /// failed, or a parent did ([`ErrorKind::DependencyError`]).
    pub fn result(&self, timeout: Option<Duration>) -> Result<Value, FutureError> {
        let state = self
            .node
            .wait(deadline(timeout))
            .ok_or(FutureError::Timeout)?;
        match state.outcome.as_ref() {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(error)) => Err(FutureError::from_task(error)),
            None => unreachable!("a finished task has an outcome"),
        }
    }

    /// Blocks like [`result`](TaskFuture::result) and returns why the task failed, or
    /// `None` if it succeeded. A cancelled task gives its [`ErrorKind::Cancelled`] error.
    ///
    /// # Errors
    /// Only [`FutureError::Timeout`].
    pub fn exception(&self, timeout: Option<Duration>) -> Result<Option<TaskError>, FutureError> {
        let state = self
            .node
            .wait(deadline(timeout))
            .ok_or(FutureError::Timeout)?;
        Ok(state
            .outcome
            .as_ref()
            .and_then(|o| o.as_ref().err().cloned()))
    }

    /// Whether the task has ended (succeeded, failed or been cancelled).
    pub fn done(&self) -> bool {
        self.node.finished.load(Ordering::Acquire)
    }

    /// Whether the task was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(&self.node.lock().outcome, Some(Err(e)) if e.is_cancelled())
    }

    /// Cancels the task if it has not started. A cancelled task never runs; it is
    /// recorded with `success: false` and a `Cancelled` exception, and its children
    /// fail with a dependency error.
    ///
    /// Returns `true` if the task is now cancelled (also when it already was), `false`
    /// if it is running or has ended otherwise.
    pub fn cancel(&self) -> bool {
        if !self.node.claim() {
            // Running, or ended: cancelled only if it ended so.
            return self.cancelled();
        }
        super::graph::finish(
            self.node.clone(),
            Err(TaskError::new(
                ErrorKind::Cancelled,
                "the task was cancelled before it started",
            )),
            None,
        );
        true
    }

    /// The task's record, once it has ended (`None` before).
    pub fn info(&self) -> Option<TaskInfo> {
        let state = self.node.lock();
        (state.stage == Stage::Done).then(|| self.node.info(&state))
    }

    /// The task's value if it has ended, without blocking.
    pub fn try_result(&self) -> Option<Result<Value, TaskError>> {
        self.node.lock().outcome.clone()
    }
}

impl std::future::Future for TaskFuture {
    type Output = Result<Value, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.node.lock();
        if let Some(outcome) = &state.outcome {
            return Poll::Ready(outcome.clone());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl fmt::Debug for TaskFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.node.lock();
        f.debug_struct("TaskFuture")
            .field("task_id", &self.node.id)
            .field("name", &self.node.name)
            .field("stage", &state.stage)
            .finish()
    }
}
