//! [`LocalExecutor`]: ready tasks run on threads of this process, each in a fresh
//! instance ([`Runtime::invoke`]).

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, RecvError, Sender, TryRecvError};
use crossbeam_utils::Backoff;

use crate::failure::{ErrorKind, TaskError};
use crate::remote::{ByReference, Transformer};
use crate::runtime::Runtime;

use super::ready::{Executor, ReadyTask};

/// Runs ready tasks on a pool of threads of this process, each invocation in a fresh
/// instance of its runtime. The engine's default executor.
///
/// A task made ready by the task a thread just finished runs next on that same thread,
/// without a trip through the shared queue.
pub struct LocalExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    /// Tasks, and one `None` per thread to stop it.
    queue: Sender<Option<ReadyTask>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    count: usize,
}

thread_local! {
    /// On a worker thread: the executor it belongs to (its `Inner`'s address) …
    static OWNER: Cell<usize> = const { Cell::new(0) };
    /// … and the task it runs next.
    static NEXT: RefCell<Option<ReadyTask>> = const { RefCell::new(None) };
}

impl LocalExecutor {
    /// Starts `threads` threads (at least one) that invoke tasks with `runtime`.
    ///
    /// # Errors
    /// When a thread cannot be started.
    pub fn new(runtime: Runtime, threads: usize) -> std::io::Result<LocalExecutor> {
        LocalExecutor::start(runtime, threads, None)
    }

    /// [`LocalExecutor::new`], passing the values `transformer`'s filter accepts by
    /// reference, as TaPS's transformer does on its thread pool: an argument is stored
    /// and read back from the store in the input-transform phase (only references this
    /// run minted are resolved), a result the filter accepts is stored in the
    /// result-transform phase and its children and caller get the reference
    /// ([`Transformer::resolve`] reads it), and a guest result shaped like a reference
    /// fails its task. Dropping the executor evicts what this run stored.
    ///
    /// # Errors
    /// As [`LocalExecutor::new`].
    pub fn with_transformer(
        runtime: Runtime,
        threads: usize,
        transformer: Transformer,
    ) -> std::io::Result<LocalExecutor> {
        LocalExecutor::start(
            runtime,
            threads,
            Some(Arc::new(ByReference::new(transformer))),
        )
    }

    fn start(
        runtime: Runtime,
        threads: usize,
        by_reference: Option<Arc<ByReference>>,
    ) -> std::io::Result<LocalExecutor> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let count = threads.max(1);
        let inner = Arc::new(Inner {
            runtime,
            queue: tx,
            threads: Mutex::new(Vec::with_capacity(count)),
            count,
        });
        for i in 0..count {
            let worker = Worker {
                runtime: inner.runtime.clone(),
                owner: Arc::as_ptr(&inner) as usize,
                queue: rx.clone(),
                by_reference: by_reference.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("wasmtaps-worker-{i}"))
                .spawn(move || worker.run())?;
            inner
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(handle);
        }
        Ok(LocalExecutor { inner })
    }

    /// How many threads run tasks.
    pub fn threads(&self) -> usize {
        self.inner.count
    }

    /// Stops taking tasks and waits for the threads to finish the ones they have. Tasks
    /// started afterwards are cancelled. The engine calls this when it shuts down.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Inner {
    fn stop(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for _ in &threads {
            let _ = self.queue.send(None);
        }
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

impl Executor for LocalExecutor {
    fn start(&self, tasks: Vec<ReadyTask>) {
        let mut tasks = tasks.into_iter();
        let owner = Arc::as_ptr(&self.inner) as usize;
        if OWNER.with(Cell::get) == owner {
            NEXT.with(|next| {
                let mut next = next.borrow_mut();
                if next.is_none() {
                    *next = tasks.next();
                }
            });
        }
        for task in tasks {
            // Fails only once every thread has exited; the task is then dropped, which
            // cancels it.
            let _ = self.inner.queue.send(Some(task));
        }
    }

    fn shutdown(&self) {
        self.inner.stop();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("threads", &self.inner.count)
            .finish()
    }
}

/// How many rounds of [`Backoff`] an idle worker polls its queue before it sleeps (each
/// round a few microseconds of spinning and yielding).
const IDLE_POLL_ROUNDS: usize = 4;

/// One worker thread.
struct Worker {
    runtime: Runtime,
    owner: usize,
    queue: Receiver<Option<ReadyTask>>,
    by_reference: Option<Arc<ByReference>>,
}

impl Worker {
    fn run(self) {
        OWNER.with(|o| o.set(self.owner));
        loop {
            let task = match NEXT.with(|next| next.borrow_mut().take()) {
                Some(task) => task,
                None => match self.next_task() {
                    Ok(Some(task)) => task,
                    Ok(None) | Err(_) => return,
                },
            };
            self.run_one(task);
        }
    }

    /// The next task from the queue. A worker that has just finished one first polls
    /// for a while (spinning, then yielding: crossbeam's `Backoff`, longer than the
    /// channel's own) before it sleeps: a caller running tasks one at a time submits the
    /// next a few microseconds after the last ended, and waking a sleeping worker costs
    /// more than that.
    fn next_task(&self) -> Result<Option<ReadyTask>, RecvError> {
        for _ in 0..IDLE_POLL_ROUNDS {
            let backoff = Backoff::new();
            while !backoff.is_completed() {
                match self.queue.try_recv() {
                    Ok(message) => return Ok(message),
                    Err(TryRecvError::Disconnected) => return Err(RecvError),
                    Err(TryRecvError::Empty) => backoff.snooze(),
                }
            }
        }
        self.queue.recv()
    }

    fn run_one(&self, task: ReadyTask) {
        let Some(task) = task.claim() else {
            return;
        };
        // `invoke` does not fail, but a bug in it must not kill the worker and leave
        // the task unfinished for ever.
        let invoke = || match &self.by_reference {
            None => self
                .runtime
                .invoke(task.task(), task.args(), task.invoke_options()),
            Some(by_reference) => by_reference.run_local(&self.runtime, &task),
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(invoke)) {
            Ok(invocation) => task.complete(invocation),
            Err(_) => task.fail(TaskError::new(
                ErrorKind::HostError,
                "the host panicked running the task",
            )),
        }
    }
}
