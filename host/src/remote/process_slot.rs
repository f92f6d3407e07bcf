//! The engine side of one worker process slot of a [`ProcessExecutor`](super::ProcessExecutor):
//! the process, its in-flight window, the sender loop, the reply reader and, in deadline
//! mode `process`, the watchdog. A slot replaces its process when it dies.

use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, BufWriter, Write};
use std::process::{Child, ChildStdout};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use serde_bytes::ByteBuf;

use crate::engine::{ReadyTask, RunningTask};
use crate::failure::{ErrorKind, TaskError};

use super::process::{WATCHDOG_COMPILE_ALLOWANCE, WATCHDOG_GRACE, WINDOW, WorkerCommand};
use super::process_server::MAX_REPLY_BYTES;
use super::transform::{self, ByReference};
use super::wire::{Job, Reply, read_frame, write_frame};

/// One running worker process, seen from the engine.
pub(super) struct Process {
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

    pub(super) fn start(command: &WorkerCommand) -> std::io::Result<Process> {
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the worker process has no pipes"));
        };
        widen_pipe(&stdin);
        widen_pipe(&stdout);
        Ok(Process {
            child: Arc::new(Mutex::new(child)),
            input: BufWriter::new(Box::new(stdin)),
            output: Some(BufReader::new(stdout)),
            known: HashSet::new(),
        })
    }
}

/// The size asked for each pipe to a worker process: a job with large arguments (three
/// 128 KiB tiles) then fits while the worker runs the one before, instead of crossing a
/// 64 KiB pipe in pieces, each waiting for the worker to read — which, with one worker,
/// put the transfer between every two executions.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// Asks Linux for a [`PIPE_BYTES`] pipe buffer; where it refuses (above
/// `/proc/sys/fs/pipe-max-size`) or elsewhere, the pipe keeps its size.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ on a pipe this process owns; no memory is passed.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
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
        for task in self.take_all() {
            task.fail(TaskError::new(ErrorKind::HostError, why));
        }
    }

    /// After the watchdog killed the process: fails the task it was killed for as a
    /// `Timeout` and hands every other unanswered task to `resend`. `false` (and nothing
    /// done) when the watchdog did not kill it.
    fn reclaim_after_kill(&self, resend: &Sender<RunningTask>) -> bool {
        let Some(killed_for) = self.lock().killed_for.clone() else {
            return false;
        };
        for task in self.take_all() {
            if task.id() == killed_for {
                let timeout = task.limits().timeout.unwrap_or_default();
                task.fail(TaskError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the task ran past its {timeout:?} deadline: its worker process was \
                         killed at the deadline"
                    ),
                ));
            } else {
                resend_or_fail(resend, task);
            }
        }
        true
    }

    /// After the process died on its own: every task it had not started yet (all but the
    /// one it was running, which the caller fails) goes to `resend`, so the tasks queued
    /// behind a task that killed its worker run on the replacement.
    fn reclaim_unstarted(&self, resend: &Sender<RunningTask>) {
        for task in self.take_all() {
            resend_or_fail(resend, task);
        }
    }

    /// Marks the process dead and takes every task it had.
    fn take_all(&self) -> VecDeque<RunningTask> {
        let tasks = {
            let mut guard = self.lock();
            guard.dead = true;
            guard.brings_module.clear();
            std::mem::take(&mut guard.tasks)
        };
        self.changed.notify_all();
        tasks
    }

    /// Stops [`watch`].
    fn unwatch(&self) {
        self.lock().unwatched = true;
        self.changed.notify_all();
    }
}

/// Hands `task` to the slot's next process, or fails it when the executor has shut down.
fn resend_or_fail(resend: &Sender<RunningTask>, task: RunningTask) {
    if let Err(unsent) = resend.send(task) {
        unsent.0.fail(TaskError::new(
            ErrorKind::HostError,
            "its worker process died and the executor has shut down",
        ));
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
pub(super) struct Slot {
    pub(super) command: WorkerCommand,
    pub(super) by_reference: Option<Arc<ByReference>>,
    pub(super) queue: Receiver<ReadyTask>,
    /// Tasks to send again: a killed process's unanswered tasks, which were not at fault.
    pub(super) resend: Sender<RunningTask>,
    pub(super) resent: Receiver<RunningTask>,
    /// Whether a watchdog kills a process at a task's deadline.
    pub(super) watchdog: bool,
    pub(super) process: Option<Process>,
}

impl Slot {
    pub(super) fn run(mut self) {
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
    if in_flight.full() && process.input.flush().is_err() {
        // The process answers only what it has received; when it cannot receive, the
        // task goes to the next process.
        return Err(SendError { task: Some(task) });
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
                        None => transform::adopt_nothing(&stored).and_then(|own| {
                            transform::check_references(own.as_ref(), &invocation.result)
                        }),
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
                // The process answers in order, one task at a time: the ones behind the
                // task it died on never started.
                in_flight.reclaim_unstarted(resend);
                return;
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
