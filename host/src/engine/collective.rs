//! Operations on many futures: [`wait`], [`as_completed`] and [`Engine::map`].

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::Backoff;

use crate::module::Task;
use crate::value::Value;

use super::Engine;
use super::arg::Arg;
use super::future::{FutureError, TaskFuture, deadline};

/// When [`wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future ends.
    FirstCompleted,
    /// As soon as any future fails, or when all have ended.
    FirstException,
    /// When all futures have ended.
    AllCompleted,
}

/// Sends its index on a channel when woken.
struct IndexWaker {
    index: usize,
    tx: Sender<usize>,
}

impl Wake for IndexWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.tx.send(self.index);
    }
}

/// A subscription to many futures: each sends its index once it has ended. Dropping it
/// unregisters from the futures that have not ended, so repeated waits with timeouts
/// leave nothing behind.
struct Subscription {
    rx: Receiver<usize>,
    wakers: Vec<(TaskFuture, Waker)>,
}

impl Subscription {
    fn new(futures: &[TaskFuture]) -> Subscription {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut wakers = Vec::new();
        for (index, future) in futures.iter().enumerate() {
            let waker = Waker::from(Arc::new(IndexWaker {
                index,
                tx: tx.clone(),
            }));
            if future.node.on_done(&waker) {
                wakers.push((future.clone(), waker));
            } else {
                let _ = tx.send(index);
            }
        }
        Subscription { rx, wakers }
    }

    /// The index of a future that has ended, or `None` once `deadline` passes.
    fn next(&self, deadline: Option<Instant>) -> Option<usize> {
        match deadline {
            Some(deadline) => self.rx.recv_deadline(deadline).ok(),
            None => self.rx.recv().ok(),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for (future, waker) in &self.wakers {
            future.node.forget_waker(waker);
        }
    }
}

/// Whether `future` has ended in failure (its outcome read in place, not cloned).
fn failed(future: &TaskFuture) -> bool {
    matches!(future.node.lock().outcome, Some(Err(_)))
}

/// Waits for futures, at most `timeout` (`None` waits for ever), until `return_when`
/// holds, and returns them split into `(done, not_done)`, each in the given order.
///
/// A timeout is not an error: the unfinished futures are in `not_done`. The futures keep
/// running either way.
pub fn wait(
    futures: &[TaskFuture],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> (Vec<TaskFuture>, Vec<TaskFuture>) {
    let deadline = deadline(timeout);
    // Already satisfied (a bag that refills as tasks end usually is): no subscription,
    // which would register a waker with every future.
    let satisfied = |count: usize, any_failed: bool| match return_when {
        ReturnWhen::FirstCompleted => count > 0 || futures.is_empty(),
        ReturnWhen::FirstException => any_failed || count == futures.len(),
        ReturnWhen::AllCompleted => count == futures.len(),
    };
    let satisfied_now = || {
        let done = futures.iter().filter(|f| f.done()).count();
        let any_failed = return_when == ReturnWhen::FirstException
            && futures.iter().any(|f| f.done() && failed(f));
        satisfied(done, any_failed)
    };
    if satisfied_now() {
        return futures.iter().cloned().partition(TaskFuture::done);
    }
    // Not yet: spin and yield briefly first (crossbeam's `Backoff`, a few microseconds,
    // as `TaskFuture::result` does). A bag's next task usually ends within that, and a
    // subscription registers a waker with every future and blocks on a channel whose
    // wake-up costs more than the wait.
    if deadline.is_none_or(|d| d > Instant::now()) {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if satisfied_now() {
                return futures.iter().cloned().partition(TaskFuture::done);
            }
        }
    }
    let subscription = Subscription::new(futures);
    let mut ended = vec![false; futures.len()];
    let mut count = 0;
    let mut any_failed = false;
    while !satisfied(count, any_failed) {
        let Some(index) = subscription.next(deadline) else {
            break;
        };
        if !std::mem::replace(&mut ended[index], true) {
            count += 1;
            any_failed |= failed(&futures[index]);
        }
    }
    futures.iter().cloned().partition(TaskFuture::done)
}

/// Yields futures as they end, at most `timeout` in all (`None`: no limit).
///
/// Futures that have already ended come first. Dropping the iterator early unregisters
/// it from the futures; they keep running.
///
/// Each item is a future that has ended. If the timeout passes first, the iterator yields
/// one `Err(FutureError::Timeout)` and then ends; the unfinished futures keep running.
pub fn as_completed(futures: &[TaskFuture], timeout: Option<Duration>) -> AsCompleted {
    AsCompleted {
        subscription: Subscription::new(futures),
        futures: futures.iter().cloned().map(Some).collect(),
        remaining: futures.len(),
        deadline: deadline(timeout),
        timed_out: false,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted {
    subscription: Subscription,
    futures: Vec<Option<TaskFuture>>,
    remaining: usize,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl Iterator for AsCompleted {
    type Item = Result<TaskFuture, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 && !self.timed_out {
            let Some(index) = self.subscription.next(self.deadline) else {
                self.timed_out = true;
                return Some(Err(FutureError::Timeout));
            };
            if let Some(future) = self.futures[index].take() {
                self.remaining -= 1;
                return Some(Ok(future));
            }
        }
        None
    }
}

impl Engine {
    /// Submits `task` once per item of `inputs` (each the positional arguments of one
    /// call) and returns their results in input order.
    ///
    /// Every call is submitted before this returns. `timeout` bounds the whole
    /// iteration, counted from this call: once it passes, each further item is
    /// `Err(FutureError::Timeout)` for a task that has not ended. Dropping the iterator
    /// cancels the calls that have not started.
    pub fn map<I>(&self, task: &Task, inputs: I, timeout: Option<Duration>) -> MapResults
    where
        I: IntoIterator<Item = Vec<Arg>>,
    {
        let deadline = deadline(timeout);
        let futures: Vec<TaskFuture> = inputs
            .into_iter()
            .map(|args| self.submit(task, args, Vec::new()))
            .collect();
        MapResults {
            futures: futures.into_iter(),
            deadline,
        }
    }
}

/// The iterator of [`Engine::map`]: results in input order.
pub struct MapResults {
    futures: std::vec::IntoIter<TaskFuture>,
    deadline: Option<Instant>,
}

impl Iterator for MapResults {
    type Item = Result<Value, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        let future = self.futures.next()?;
        let timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        Some(future.result(timeout))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.futures.size_hint()
    }
}

impl ExactSizeIterator for MapResults {}

impl Drop for MapResults {
    fn drop(&mut self) {
        for future in self.futures.by_ref() {
            future.cancel();
        }
    }
}
