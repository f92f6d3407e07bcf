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
//! [`serve_worker_process`](super::serve_worker_process) is the worker side.

use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use serde_bytes::ByteBuf;

use crate::engine::{Executor, ReadyTask, RunningTask};
use crate::failure::{ErrorKind, TaskError};

use super::process_server::MAX_REPLY_BYTES;
use super::transform::{ByReference, Transformer};
use super::wire::{Job, Reply, read_frame, write_frame};

/// Jobs in flight per worker process.
pub(crate) const WINDOW: usize = 32;

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

    fn spawn(&self) -> std::io::Result<Child> {
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
/// and is replaced.
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
        ProcessExecutor::start(command, processes, None)
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
        ProcessExecutor::start(
            command,
            processes,
            Some(Arc::new(ByReference::new(transformer))),
        )
    }

    fn start(
        command: WorkerCommand,
        processes: usize,
        by_reference: Option<Arc<ByReference>>,
    ) -> std::io::Result<ProcessExecutor> {
        let processes = processes.max(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut first = Some(Process::start(&command)?);
        let slots = (0..processes)
            .map(|i| {
                let slot = Slot {
                    command: command.clone(),
                    by_reference: by_reference.clone(),
                    queue: rx.clone(),
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

/// One running worker process, seen from the engine.
struct Process {
    child: Child,
    input: BufWriter<Box<dyn Write + Send>>,
    output: Option<BufReader<ChildStdout>>,
    /// Modules whose bytes this process has been sent.
    known: HashSet<String>,
}

impl Process {
    /// Closes the process's stdin (a worker process exits at its end).
    fn close_input(&mut self) {
        let _ = self.input.flush();
        // Replacing the writer drops the pipe.
        self.input = BufWriter::new(Box::new(std::io::sink()));
    }

    fn start(command: &WorkerCommand) -> std::io::Result<Process> {
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the worker process has no pipes"));
        };
        Ok(Process {
            child,
            input: BufWriter::new(Box::new(stdin)),
            output: Some(BufReader::new(stdout)),
            known: HashSet::new(),
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tasks a process has been sent and not yet answered, in order.
#[derive(Default)]
struct InFlight {
    tasks: Mutex<(VecDeque<RunningTask>, bool)>,
    changed: Condvar,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<RunningTask>, bool)> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the window is full.
    fn full(&self) -> bool {
        self.lock().0.len() >= WINDOW
    }

    /// Waits for room in the window; `false` if the process died meanwhile.
    fn wait_for_room(&self) -> bool {
        let mut guard = self.lock();
        while guard.0.len() >= WINDOW && !guard.1 {
            guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        !guard.1
    }

    /// Marks the process dead and fails every task it had with `why`.
    fn fail_all(&self, why: &str) {
        let tasks = {
            let mut guard = self.lock();
            guard.1 = true;
            std::mem::take(&mut guard.0)
        };
        self.changed.notify_all();
        for task in tasks {
            task.fail(TaskError::new(ErrorKind::HostError, why));
        }
    }
}

/// One process slot: restarts its process when it dies.
struct Slot {
    command: WorkerCommand,
    by_reference: Option<Arc<ByReference>>,
    queue: Receiver<ReadyTask>,
    process: Option<Process>,
}

impl Slot {
    fn run(mut self) {
        let mut pending: Option<RunningTask> = None;
        loop {
            let first = match pending.take() {
                Some(task) => task,
                None => match self.next() {
                    Some(task) => task,
                    None => return,
                },
            };
            let process = match self.process.take() {
                Some(p) => p,
                None => match Process::start(&self.command) {
                    Ok(p) => p,
                    Err(e) => {
                        first.fail(TaskError::new(
                            ErrorKind::HostError,
                            format!("cannot start a worker process: {e}"),
                        ));
                        continue;
                    }
                },
            };
            match self.serve(process, first) {
                // The queue closed: the process was shut down cleanly.
                None => return,
                // The process died; the task it could not take goes to the next one.
                Some(task) => pending = task,
            }
        }
    }

    /// The next task to run, waiting for one; `None` once the queue has closed.
    fn next(&self) -> Option<RunningTask> {
        loop {
            if let Some(task) = self.queue.recv().ok()?.claim() {
                return Some(task);
            }
        }
    }

    /// The next task to run if one is queued now.
    fn try_next(&self) -> Option<RunningTask> {
        loop {
            if let Some(task) = self.queue.try_recv().ok()?.claim() {
                return Some(task);
            }
        }
    }

    /// Feeds one process until the queue closes (`None`) or the process dies
    /// (`Some(task not yet sent)`).
    fn serve(&mut self, mut process: Process, first: RunningTask) -> Option<Option<RunningTask>> {
        let in_flight = Arc::new(InFlight::default());
        let Some(output) = process.output.take() else {
            first.fail(TaskError::new(
                ErrorKind::HostError,
                "worker process without stdout",
            ));
            return Some(None);
        };
        let reader = {
            let in_flight = in_flight.clone();
            let by_reference = self.by_reference.clone();
            std::thread::Builder::new()
                .name("wasmtaps-process-replies".into())
                .spawn(move || read_replies(output, &in_flight, by_reference.as_deref()))
        };
        let Ok(reader) = reader else {
            first.fail(TaskError::new(
                ErrorKind::HostError,
                "cannot start a thread",
            ));
            return Some(None);
        };
        let mut next = Some(first);
        let outcome = loop {
            let task = match next.take() {
                Some(task) => task,
                None => {
                    if let Err(e) = process.input.flush() {
                        break Err(SendError::from(e));
                    }
                    match self.next() {
                        Some(task) => task,
                        None => break Ok(()),
                    }
                }
            };
            if let Err(e) = send(&mut process, &in_flight, task, self.by_reference.as_deref()) {
                break Err(e);
            }
            next = self.try_next();
        };
        let unsent = match outcome {
            Ok(()) => {
                // Closing stdin ends the worker once it has answered everything.
                process.close_input();
                let _ = reader.join();
                let _ = process.child.wait();
                return None;
            }
            Err(unsent) => unsent,
        };
        let _ = process.child.kill();
        let status = process
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "unknown status".into());
        in_flight.fail_all(&format!(
            "the worker process exited while running the task ({status})"
        ));
        let _ = reader.join();
        Some(unsent.task)
    }
}

/// Why a job could not be sent, and the task if it was not handed to the process.
struct SendError {
    task: Option<RunningTask>,
}

impl From<std::io::Error> for SendError {
    fn from(_: std::io::Error) -> SendError {
        SendError { task: None }
    }
}

/// Sends one task (if it is still to run) to the process.
fn send(
    process: &mut Process,
    in_flight: &InFlight,
    task: RunningTask,
    by_reference: Option<&ByReference>,
) -> Result<(), SendError> {
    if in_flight.full() {
        // The process answers only what it has received.
        process.input.flush()?;
    }
    if !in_flight.wait_for_room() {
        return Err(SendError { task: Some(task) });
    }
    let module = task.task().module();
    let hash = module.hash();
    let first_use = !process.known.contains(&hash);
    let (args, references) = match by_reference {
        None => (task.args().clone(), Vec::new()),
        Some(by_reference) => match by_reference.transform_args(task.id(), task.args()) {
            Ok(transformed) => transformed,
            Err(e) => {
                task.fail(TaskError::new(
                    ErrorKind::HostError,
                    format!("cannot store an argument by reference: {e}"),
                ));
                return Ok(());
            }
        },
    };
    let job = Job {
        id: task.id().to_owned(),
        module_hash: hash.clone(),
        module_name: module.name().to_owned(),
        wasm: first_use.then(|| ByteBuf::from(module.wasm_bytes().to_vec())),
        task: task.task().name().to_owned(),
        args,
        limits: task.invoke_options().limits.clone(),
        dirs: task
            .invoke_options()
            .read_only_dirs
            .iter()
            .map(|d| (d.host_path.display().to_string(), d.guest_path.clone()))
            .collect(),
        references,
        result_threshold: by_reference.map(ByReference::result_threshold),
        reply_to: String::new(),
        max_deliveries: 0,
    };
    {
        let mut guard = in_flight.lock();
        if guard.1 {
            drop(guard);
            return Err(SendError { task: Some(task) });
        }
        guard.0.push_back(task);
    }
    write_frame(&mut process.input, &job)?;
    if first_use {
        process.known.insert(hash);
    }
    Ok(())
}

/// Completes in-flight tasks from the process's replies, in order, until it closes its
/// stdout; then fails whatever is left.
fn read_replies(
    mut output: BufReader<ChildStdout>,
    in_flight: &InFlight,
    by_reference: Option<&ByReference>,
) {
    loop {
        let reply = read_frame::<Reply>(&mut output, MAX_REPLY_BYTES);
        let task = {
            let mut guard = in_flight.lock();
            let task = guard.0.pop_front();
            drop(guard);
            in_flight.changed.notify_all();
            task
        };
        match (reply, task) {
            (Ok(Some(mut reply)), Some(task)) => {
                if reply.id == task.id() {
                    let stored = std::mem::take(&mut reply.stored);
                    let mut invocation = reply.into_invocation();
                    let checked = match by_reference {
                        Some(b) => b.check_reply(task.id(), &stored, &invocation.result),
                        None if stored.is_empty() => Ok(()),
                        None => Err(TaskError::new(
                            ErrorKind::HostError,
                            "the worker process reports stored objects, but nothing is passed by reference",
                        )),
                    };
                    if let Err(error) = checked {
                        invocation.result = Err(error);
                    }
                    task.complete(invocation);
                } else {
                    task.fail(TaskError::new(
                        ErrorKind::HostError,
                        "the worker process answered out of order",
                    ));
                    break;
                }
            }
            (Ok(Some(_)), None) => break,
            (Ok(None), task) => {
                if let Some(task) = task {
                    task.fail(TaskError::new(
                        ErrorKind::HostError,
                        "the worker process exited while running the task",
                    ));
                }
                break;
            }
            (Err(e), task) => {
                if let Some(task) = task {
                    task.fail(TaskError::new(
                        ErrorKind::HostError,
                        format!("the worker process sent a malformed reply: {e}"),
                    ));
                }
                break;
            }
        }
    }
    in_flight.fail_all("the worker process exited while running the task");
}
