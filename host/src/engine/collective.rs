//! Operations on many futures: [`wait`], [`as_completed`] and [`Engine::map`].

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

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

/// Subscribes to every future; each sends its index once it has ended.
fn subscribe(futures: &[TaskFuture]) -> Receiver<usize> {
    let (tx, rx) = crossbeam_channel::unbounded();
    for (index, future) in futures.iter().enumerate() {
        let waker = Waker::from(Arc::new(IndexWaker {
            index,
            tx: tx.clone(),
        }));
        if !future.node.on_done(&waker) {
            let _ = tx.send(index);
        }
    }
    rx
}

fn failed(future: &TaskFuture) -> bool {
    matches!(future.try_result(), Some(Err(_)))
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
    let rx = subscribe(futures);
    let mut ended = vec![false; futures.len()];
    let mut count = 0;
    let satisfied = |count: usize, any_failed: bool| match return_when {
        ReturnWhen::FirstCompleted => count > 0 || futures.is_empty(),
        ReturnWhen::FirstException => any_failed || count == futures.len(),
        ReturnWhen::AllCompleted => count == futures.len(),
    };
    let mut any_failed = false;
    while !satisfied(count, any_failed) {
        let index = match recv(&rx, deadline) {
            Some(index) => index,
            None => break,
        };
        if !std::mem::replace(&mut ended[index], true) {
            count += 1;
            any_failed |= failed(&futures[index]);
        }
    }
    futures.iter().cloned().partition(TaskFuture::done)
}

fn recv(rx: &Receiver<usize>, deadline: Option<Instant>) -> Option<usize> {
    match deadline {
        Some(deadline) => rx.recv_deadline(deadline).ok(),
        None => rx.recv().ok(),
    }
}

/// Yields futures as they end, at most `timeout` in all (`None`: no limit).
///
/// Each item is a future that has ended. If the timeout passes first, the iterator yields
/// one `Err(FutureError::Timeout)` and then ends; the unfinished futures keep running.
pub fn as_completed(futures: &[TaskFuture], timeout: Option<Duration>) -> AsCompleted {
    AsCompleted {
        rx: subscribe(futures),
        futures: futures.iter().cloned().map(Some).collect(),
        remaining: futures.len(),
        deadline: deadline(timeout),
        timed_out: false,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted {
    rx: Receiver<usize>,
    futures: Vec<Option<TaskFuture>>,
    remaining: usize,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl Iterator for AsCompleted {
    type Item = Result<TaskFuture, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 && !self.timed_out {
            let Some(index) = recv(&self.rx, self.deadline) else {
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
