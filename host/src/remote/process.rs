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

use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_bytes::ByteBuf;

use crate::engine::{Executor, ReadyTask, RunningTask};
use crate::failure::{ErrorKind, TaskError};

use super::process_server::MAX_REPLY_BYTES;
use super::transform::{ByReference, Transformer};
use super::wire::{Job, Reply, read_frame, write_frame};

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

/// One running worker process, seen from the engine.
struct Process {
    /// Shared with the watchdog, which kills it.
    child: Arc<Mutex<Child>>,
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
            child: Arc::new(Mutex::new(child)),
            input: BufWriter::new(Box::new(stdin)),
            output: Some(BufReader::new(stdout)),
            known: HashSet::new(),
        })
    }
}

impl Process {
    fn child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The tasks a process has been sent and not yet answered, in order.
#[derive(Default)]
struct InFlight {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    tasks: VecDeque<RunningTask>,
    /// For each of `tasks`: whether its job brought the module's bytes.
    brings_module: VecDeque<bool>,
    /// When the first of `tasks` could start: its predecessor's answer was read, or it
    /// was pushed onto an empty window.
    front_since: Option<Instant>,
    /// The process has died (or was killed): nothing more is sent to it.
    dead: bool,
    /// The task the watchdog killed the process for.
    killed_for: Option<String>,
    /// The watchdog is to stop.
    unwatched: bool,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the window is full.
    fn full(&self) -> bool {
        self.lock().tasks.len() >= WINDOW
    }

    /// Waits for room in the window; `false` if the process died meanwhile.
    fn wait_for_room(&self) -> bool {
        let mut guard = self.lock();
        while guard.tasks.len() >= WINDOW && !guard.dead {
            guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        !guard.dead
    }

    /// Adds a sent task; `Err(task)` if the process has died.
    fn push(&self, task: RunningTask, brings_module: bool) -> Result<(), RunningTask> {
        let mut guard = self.lock();
        if guard.dead {
            return Err(task);
        }
        if guard.tasks.is_empty() {
            guard.front_since = Some(Instant::now());
        }
        guard.tasks.push_back(task);
        guard.brings_module.push_back(brings_module);
        drop(guard);
        self.changed.notify_all();
        Ok(())
    }

    /// Takes the first task, which the process has just answered.
    fn pop(&self) -> Option<RunningTask> {
        let mut guard = self.lock();
        let task = guard.tasks.pop_front();
        guard.brings_module.pop_front();
        guard.front_since = Some(Instant::now());
        drop(guard);
        self.changed.notify_all();
        task
    }

    /// Marks the process dead and fails every task it had with `why`.
    fn fail_all(&self, why: &str) {
        let tasks = {
            let mut guard = self.lock();
            guard.dead = true;
            guard.brings_module.clear();
            std::mem::take(&mut guard.tasks)
        };
        self.changed.notify_all();
        for task in tasks {
            task.fail(TaskError::new(ErrorKind::HostError, why));
        }
    }

    /// After the watchdog killed the process: fails the task it was killed for as a
    /// `Timeout` and hands every other unanswered task to `resend`. `false` (and nothing
    /// done) when the watchdog did not kill it.
    fn reclaim_after_kill(&self, resend: &Sender<RunningTask>) -> bool {
        let (killed_for, tasks) = {
            let mut guard = self.lock();
            let Some(killed_for) = guard.killed_for.clone() else {
                return false;
            };
            guard.dead = true;
            guard.brings_module.clear();
            (killed_for, std::mem::take(&mut guard.tasks))
        };
        self.changed.notify_all();
        for task in tasks {
            if task.id() == killed_for {
                let timeout = task.limits().timeout.unwrap_or_default();
                task.fail(TaskError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the task ran past its {timeout:?} deadline: its worker process was \
                         killed at the deadline"
                    ),
                ));
            } else if let Err(unsent) = resend.send(task) {
                unsent.0.fail(TaskError::new(
                    ErrorKind::HostError,
                    "its worker process was killed and the executor has shut down",
                ));
            }
        }
        true
    }

    /// Stops [`watch`].
    fn unwatch(&self) {
        self.lock().unwatched = true;
        self.changed.notify_all();
    }
}

/// The watchdog: kills `child` when the task it is running is still unanswered
/// [`WATCHDOG_GRACE`] past its timeout. Returns once it has, or when the process dies or
/// [`InFlight::unwatch`] is called.
fn watch(in_flight: &InFlight, child: &Mutex<Child>) {
    let mut guard = in_flight.lock();
    loop {
        if guard.dead || guard.unwatched {
            return;
        }
        let overdue_at = guard.front_since.and_then(|since| {
            let task = guard.tasks.front()?;
            let mut deadline = task.limits().timeout?.checked_add(WATCHDOG_GRACE)?;
            if guard.brings_module.front() == Some(&true) {
                deadline = deadline.checked_add(WATCHDOG_COMPILE_ALLOWANCE)?;
            }
            Some((since.checked_add(deadline)?, task.id().to_owned()))
        });
        let Some((at, id)) = overdue_at else {
            guard = in_flight
                .changed
                .wait(guard)
                .unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let now = Instant::now();
        if now < at {
            guard = in_flight
                .changed
                .wait_timeout(guard, at - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        guard.killed_for = Some(id);
        drop(guard);
        let _ = child.lock().unwrap_or_else(|e| e.into_inner()).kill();
        return;
    }
}

/// One process slot: restarts its process when it dies.
struct Slot {
    command: WorkerCommand,
    by_reference: Option<Arc<ByReference>>,
    queue: Receiver<ReadyTask>,
    /// Tasks to send again: a killed process's unanswered tasks, which were not at fault.
    resend: Sender<RunningTask>,
    resent: Receiver<RunningTask>,
    /// Whether a watchdog kills a process at a task's deadline.
    watchdog: bool,
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

    /// The next task to run, waiting for one (tasks to send again first); `None` once
    /// the queue has closed.
    fn next(&self) -> Option<RunningTask> {
        loop {
            if let Ok(task) = self.resent.try_recv() {
                return Some(task);
            }
            crossbeam_channel::select! {
                recv(self.resent) -> task => {
                    if let Ok(task) = task {
                        return Some(task);
                    }
                }
                recv(self.queue) -> ready => match ready {
                    Ok(ready) => {
                        if let Some(task) = ready.claim() {
                            return Some(task);
                        }
                    }
                    Err(_) => return self.resent.try_recv().ok(),
                },
            }
        }
    }

    /// The next task to run if one is queued now.
    fn try_next(&self) -> Option<RunningTask> {
        if let Ok(task) = self.resent.try_recv() {
            return Some(task);
        }
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
            let (in_flight, resend) = (in_flight.clone(), self.resend.clone());
            let by_reference = self.by_reference.clone();
            std::thread::Builder::new()
                .name("wasmtaps-process-replies".into())
                .spawn(move || read_replies(output, &in_flight, &resend, by_reference.as_deref()))
        };
        let watchdog = {
            let (in_flight, child) = (in_flight.clone(), process.child.clone());
            let enabled = self.watchdog;
            std::thread::Builder::new()
                .name("wasmtaps-process-watchdog".into())
                .spawn(move || {
                    if enabled {
                        watch(&in_flight, &child);
                    }
                })
        };
        let (Ok(reader), Ok(watchdog)) = (reader, watchdog) else {
            // Marked dead, the window stops a watchdog; the process, dropped, is killed and
            // so ends a reader.
            in_flight.fail_all("cannot start a thread");
            process.close_input();
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
                in_flight.unwatch();
                let _ = watchdog.join();
                let _ = process.child().wait();
                return None;
            }
            Err(unsent) => unsent,
        };
        in_flight.unwatch();
        let _ = watchdog.join();
        let _ = process.child().kill();
        // The reader sees the end of the output: it fails (or, after the watchdog's kill,
        // reclaims) what the process had.
        let _ = reader.join();
        let status = process
            .child()
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "unknown status".into());
        in_flight.fail_all(&format!(
            "the worker process exited while running the task ({status})"
        ));
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
    if let Err(task) = in_flight.push(task, first_use) {
        return Err(SendError { task: Some(task) });
    }
    write_frame(&mut process.input, &job)?;
    if first_use {
        process.known.insert(hash);
    }
    Ok(())
}

/// Completes in-flight tasks from the process's replies, in order, until it closes its
/// stdout; then fails whatever is left, or, when the watchdog killed the process,
/// reclaims it (see [`InFlight::reclaim_after_kill`]).
fn read_replies(
    mut output: BufReader<ChildStdout>,
    in_flight: &InFlight,
    resend: &Sender<RunningTask>,
    by_reference: Option<&ByReference>,
) {
    loop {
        let reply = read_frame::<Reply>(&mut output, MAX_REPLY_BYTES);
        if !matches!(reply, Ok(Some(_))) && in_flight.reclaim_after_kill(resend) {
            return;
        }
        let task = in_flight.pop();
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
