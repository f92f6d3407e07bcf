//! [`ProcessExecutor`]: the engine's tasks run in child processes, one address space
//! each.
//!
//! Fresh instances on several threads of one process scale poorly (the kernel serialises
//! one process's memory-mapping work; on two cores two threads ran at 0.9–1.3× one
//! thread), while separate processes scale (1.5–2.75×). The protocol, on the child's
//! stdin and stdout:
//!
//! - a frame is a little-endian `u32` length and that many bytes of MessagePack
//!   (`remote/wire.rs`);
//! - the engine sends [`Job`]s, the worker answers each with a [`Reply`], in order;
//! - a module's bytes travel with the first job for it on each worker; later jobs name it
//!   by its SHA-256;
//! - up to [`WINDOW`] jobs are in flight per worker; the engine flushes whenever its
//!   queue is empty, and a worker flushes its replies whenever it has no job waiting, so
//!   both sides work in batches.
//!
//! With [`ProcessExecutor::with_deadline_watchdog`], for workers whose runtime runs wasm
//! without epoch interruption (`wasmtaps worker-process --deadline-mode process`, which
//! also answers each task at once rather than in batches), a watchdog enforces each task's
//! deadline from outside the worker: when the task a
//! worker is running is still unanswered [`WATCHDOG_GRACE`] after its timeout, measured
//! from when the worker could start it (its previous answer was read, or it was sent;
//! plus [`WATCHDOG_COMPILE_ALLOWANCE`] when its job brings the module to compile), the
//! process is killed and replaced, that task fails as a `Timeout`, and the worker's other
//! unanswered tasks are sent again to its replacement.
//!
//! [`serve_worker_process`](super::serve_worker_process) is the worker side.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::engine::{Executor, ReadyTask};

use super::process_slot::{Process, Slot};
use super::transform::{ByReference, Transformer};

/// Jobs in flight per worker process.
pub(crate) const WINDOW: usize = 32;

/// How long past a task's timeout the watchdog waits for the worker's own answer before
/// it kills the worker process.
pub(crate) const WATCHDOG_GRACE: Duration = Duration::from_millis(20);

/// Added to the watchdog's deadline for a task whose job brings its module to the process
/// (the first of that module there): the worker compiles it, or loads it from the cache
/// directory, before the task's own deadline starts.
pub(crate) const WATCHDOG_COMPILE_ALLOWANCE: Duration = Duration::from_secs(10);

/// How to start a worker process: a program and its arguments.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    program: PathBuf,
    args: Vec<String>,
}

impl WorkerCommand {
    /// Runs `program` with `args`; it must serve the protocol on stdin and stdout, as
    /// `wasmtaps worker-process` does (or any program calling
    /// [`serve_worker_process`](crate::remote::serve_worker_process)).
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        WorkerCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    pub(super) fn spawn(&self) -> std::io::Result<Child> {
        Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
    }
}

/// Runs ready tasks in worker processes (`wasmtaps worker-process`, or any program
/// calling [`serve_worker_process`](crate::remote::serve_worker_process)), each in a fresh
/// instance there.
///
/// Each process has a sender thread, which writes jobs as they come (up to 32
/// unanswered), and a reader thread, which completes them from the replies. Each
/// process compiles a module on first use, or loads it from its runtime's cache
/// directory. A process that exits fails the tasks it had in flight with a `HostError`
/// and is replaced. Deadlines are enforced by the workers themselves, unless built with
/// [`with_deadline_watchdog`](ProcessExecutor::with_deadline_watchdog).
pub struct ProcessExecutor {
    queue: Mutex<Option<Sender<ReadyTask>>>,
    slots: Mutex<Vec<JoinHandle<()>>>,
    processes: usize,
}

impl ProcessExecutor {
    /// Starts `processes` worker processes (at least one) with `command`.
    ///
    /// # Errors
    /// When the first process or a thread cannot be started (so a command that cannot
    /// run fails here, not task by task).
    pub fn new(command: WorkerCommand, processes: usize) -> std::io::Result<ProcessExecutor> {
        Self::configured(command, processes, false, None)
    }

    /// Like [`new`](ProcessExecutor::new), for workers that run wasm without deadline
    /// checks (`wasmtaps worker-process --deadline-mode process`, or a runtime built with
    /// [`RuntimeBuilder::epoch_interruption(false)`](crate::runtime::RuntimeBuilder::epoch_interruption)):
    /// the engine enforces deadlines. A task still unanswered 20 ms past its timeout
    /// (measured from when the worker could start it; plus 10 s if it brought its module
    /// to the process, which compiles it first) gets its process killed and replaced; it fails as a `Timeout`, and the
    /// process's other unanswered tasks run again in the replacement. The workers must
    /// answer each task as soon as it ends (as `--deadline-mode process` does), or a
    /// finished task waiting in a batch may be taken for a late one.
    ///
    /// # Errors
    /// As [`new`](ProcessExecutor::new).
    pub fn with_deadline_watchdog(
        command: WorkerCommand,
        processes: usize,
    ) -> std::io::Result<ProcessExecutor> {
        Self::configured(command, processes, true, None)
    }

    /// [`ProcessExecutor::new`], passing the values `transformer`'s filter accepts by
    /// reference, as TaPS's transformer does on any executor: an argument is stored
    /// before its job is sent and the job lists the keys it vouches for; a worker resolves
    /// only those, from its own store, which must be the same (`wasmtaps worker-process
    /// --store dir:PATH` or `--store redis --redis URL`, or
    /// [`serve_worker_process_with_store`](crate::remote::serve_worker_process_with_store)), and
    /// stores a result above the threshold there. A reply may report one stored key, its
    /// own result's, and its result may refer to no other. Dropping the executor evicts
    /// what this run stored.
    ///
    /// # Errors
    /// As [`ProcessExecutor::new`].
    pub fn with_transformer(
        command: WorkerCommand,
        processes: usize,
        transformer: Transformer,
    ) -> std::io::Result<ProcessExecutor> {
        Self::configured(command, processes, false, Some(transformer))
    }

    /// The general form: with the [deadline watchdog](ProcessExecutor::with_deadline_watchdog)
    /// or not, and with a [transformer](ProcessExecutor::with_transformer) or not.
    ///
    /// # Errors
    /// As [`ProcessExecutor::new`].
    pub fn configured(
        command: WorkerCommand,
        processes: usize,
        deadline_watchdog: bool,
        transformer: Option<Transformer>,
    ) -> std::io::Result<ProcessExecutor> {
        let watchdog = deadline_watchdog;
        let by_reference = transformer.map(|t| Arc::new(ByReference::new(t)));
        let processes = processes.max(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut first = Some(Process::start(&command)?);
        let slots = (0..processes)
            .map(|i| {
                let (resend, resent) = crossbeam_channel::unbounded();
                let slot = Slot {
                    command: command.clone(),
                    by_reference: by_reference.clone(),
                    queue: rx.clone(),
                    resend,
                    resent,
                    watchdog,
                    process: if i == 0 { first.take() } else { None },
                };
                std::thread::Builder::new()
                    .name(format!("wasmtaps-process-{i}"))
                    .spawn(move || slot.run())
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(ProcessExecutor {
            queue: Mutex::new(Some(tx)),
            slots: Mutex::new(slots),
            processes,
        })
    }

    /// How many worker processes run tasks.
    pub fn processes(&self) -> usize {
        self.processes
    }
}

impl Executor for ProcessExecutor {
    fn start(&self, tasks: Vec<ReadyTask>) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = queue.as_ref() {
            for task in tasks {
                let _ = queue.send(task);
            }
        }
    }

    /// Closes the queue, lets each process finish what it has, and waits for them.
    fn shutdown(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        for slot in std::mem::take(&mut *self.slots.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = slot.join();
        }
    }
}

impl Drop for ProcessExecutor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for ProcessExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessExecutor")
            .field("processes", &self.processes)
            .finish()
    }
}
