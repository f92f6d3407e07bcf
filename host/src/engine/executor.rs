//! The engine's worker threads, each handing one ready task at a time to the
//! [`Executor`]: by default [`LocalExecutor`], which runs it in this process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::invoke::{Invocation, InvokeOptions};
use crate::module::Task;
use crate::runtime::Runtime;

use super::Shared;
use super::future::{Node, Stage};
use super::graph;

/// Where an [`Engine`](crate::Engine) runs a task whose arguments are ready.
///
/// Each engine worker thread calls [`execute`](Executor::execute) for one task at a time
/// and blocks until it returns, so an executor that runs tasks elsewhere (such as
/// `RedisExecutor`) is given as many engine workers as tasks it should keep in flight.
/// Like [`Runtime::invoke`], `execute` never fails as a Rust call: every problem is in
/// [`Invocation::result`].
pub trait Executor: Send + Sync {
    /// Runs `task` once with `args` and `options`, and returns its outcome.
    fn execute(&self, task: &Task, args: &Args, options: &InvokeOptions) -> Invocation;
}

/// Runs each task in a fresh instance in this process ([`Runtime::invoke`]).
#[derive(Clone)]
pub struct LocalExecutor {
    runtime: Runtime,
}

impl LocalExecutor {
    /// An executor that invokes tasks with `runtime`.
    pub fn new(runtime: Runtime) -> LocalExecutor {
        LocalExecutor { runtime }
    }
}

impl Executor for LocalExecutor {
    fn execute(&self, task: &Task, args: &Args, options: &InvokeOptions) -> Invocation {
        self.runtime.invoke(task, args, options)
    }
}

/// A message on the run queue.
pub(crate) enum Message {
    /// Run this task (skipped if it was cancelled meanwhile).
    Run(Arc<Node>),
    /// Exit the worker loop.
    Stop,
}

/// Starts `count` worker threads reading the run queue.
pub(crate) fn spawn_workers(
    shared: &Arc<Shared>,
    queue: &Receiver<Message>,
    count: usize,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..count)
        .map(|i| {
            let shared = shared.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("wasmtaps-worker-{i}"))
                .spawn(move || worker(&shared, &queue))
        })
        .collect()
}

fn worker(shared: &Shared, queue: &Receiver<Message>) {
    // A child made ready by the task this worker just finished runs here next, without
    // a trip through the queue.
    let mut next: Option<Arc<Node>> = None;
    loop {
        let node = match next.take() {
            Some(node) => node,
            None => match queue.recv() {
                Ok(Message::Run(node)) => node,
                Ok(Message::Stop) | Err(_) => return,
            },
        };
        run(shared, node, &mut next);
    }
}

fn run(shared: &Shared, node: Arc<Node>, next: &mut Option<Arc<Node>>) {
    let job = {
        let mut state = node.lock();
        if state.stage != Stage::Queued {
            return;
        }
        state.stage = Stage::Running;
        state.job.take().expect("a queued task has its job")
    };
    if shared.cancelling.load(Ordering::Relaxed) {
        drop(job);
        graph::finish(node, Err(graph::shutdown_cancelled()), None, Some(next));
        return;
    }
    let mut args = Args::from_values(
        job.positional
            .into_iter()
            .map(|v| v.expect("a ready task has all its arguments")),
    );
    for (name, value) in job.keyword {
        args.push_kwarg(name, value.expect("a ready task has all its arguments"));
    }
    // `invoke` does not fail, but a bug in it must not kill the worker and leave the
    // task unfinished for ever.
    let invoke = || shared.executor.execute(&job.task, &args, &job.options);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(invoke)) {
        Ok(invocation) => {
            drop(args);
            graph::finish(
                node,
                invocation.result,
                Some(invocation.execution),
                Some(next),
            );
        }
        Err(_) => {
            let error = TaskError::new(ErrorKind::HostError, "the host panicked running the task");
            graph::finish(node, Err(error), None, Some(next));
        }
    }
}
