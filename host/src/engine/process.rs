//! Worker processes: the engine's tasks run in child processes, one address space each.
//!
//! Fresh instances on several threads of one process scale poorly (the kernel serialises
//! one process's memory-mapping work; on two cores two threads ran at 0.9–1.3× one
//! thread), while separate processes scale (1.5–2.75×). So the engine can dispatch to
//! worker processes that speak a small protocol on their stdin and stdout:
//!
//! - a frame is a little-endian `u32` length and that many bytes of MessagePack;
//! - the engine sends [`Request`]s, the worker answers each with a [`Reply`], in order;
//! - a module's bytes travel with the first request for it on each worker; later
//!   requests name it by its SHA-256;
//! - up to [`WINDOW`] requests are in flight per worker, and a worker flushes its replies
//!   whenever it has no request waiting, so both sides work in batches.
//!
//! [`serve_worker_process`] is the worker side; `wasmtaps worker-process` runs it.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, TryRecvError};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::info::{ExceptionInfo, ExecutionInfo, unix_now};
use crate::invoke::{Invocation, InvokeOptions, ReadOnlyDir};
use crate::limits::{LimitOverrides, Limits};
use crate::module::TaskModule;
use crate::runtime::Runtime;
use crate::wire::{self, WireLimits, read_frame, write_frame};

use super::Shared;
use super::executor::Message;
use super::future::{Job, Node, Stage};
use super::graph;

/// Requests in flight per worker process.
pub(crate) const WINDOW: usize = 32;

/// How to start a worker process: a program and its arguments.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    program: PathBuf,
    args: Vec<String>,
}

impl WorkerCommand {
    /// Runs `program` with `args`; it must serve the protocol on stdin and stdout, as
    /// `wasmtaps worker-process` does (or any program calling [`serve_worker_process`]).
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

/// One task for a worker process.
#[derive(Serialize, Deserialize)]
struct Request {
    module: ByteBuf,
    wasm: Option<ByteBuf>,
    task: String,
    positional: Vec<ByteBuf>,
    keyword: Vec<(String, ByteBuf)>,
    /// Fully resolved: every limit is set, so the worker applies exactly these.
    limits: WireLimits,
    dirs: Vec<(String, String)>,
}

/// What a worker process answers.
#[derive(Serialize, Deserialize)]
struct Reply {
    ok: Option<ByteBuf>,
    error: Option<ExceptionInfo>,
    execution: ExecutionInfo,
}

/// The largest request a worker process reads: the engine is its parent, so this only
/// keeps a corrupted length from being believed.
const MAX_REQUEST_BYTES: u64 = u32::MAX as u64;

/// The largest reply the engine reads from a worker process: the largest result any
/// limits allow, plus room for the failure and execution records.
const MAX_REPLY_BYTES: u64 = Limits::MAXIMUM.max_result_bytes + (1 << 20);

/// Serves worker-process requests on stdin, answering on stdout, until stdin closes.
///
/// Each task runs in a fresh instance of `runtime` (or, for a request with a fuel limit,
/// of a runtime with fuel metering, built on first use).
///
/// # Errors
/// When stdin or stdout fail (the engine went away mid-frame).
pub fn serve_worker_process(runtime: Runtime) -> std::io::Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let mut metered: Option<Runtime> = None;
    let mut modules: HashMap<(Vec<u8>, bool), TaskModule> = HashMap::new();
    let mut wasm_by_hash: HashMap<Vec<u8>, Arc<[u8]>> = HashMap::new();
    while let Some(request) = read_frame::<Request>(&mut input, MAX_REQUEST_BYTES)? {
        let reply = serve_one(
            &runtime,
            &mut metered,
            &mut modules,
            &mut wasm_by_hash,
            request,
        );
        write_frame(&mut output, &reply)?;
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()
}

fn serve_one(
    runtime: &Runtime,
    metered: &mut Option<Runtime>,
    modules: &mut HashMap<(Vec<u8>, bool), TaskModule>,
    wasm_by_hash: &mut HashMap<Vec<u8>, Arc<[u8]>>,
    request: Request,
) -> Reply {
    let failed = |kind: ErrorKind, message: String| {
        let error = TaskError::new(kind, message);
        Reply::from(Invocation::failed_before_start(
            error,
            runtime.hostname(),
            unix_now(),
        ))
    };
    let limits = LimitOverrides::from(&request.limits);
    let fuel = limits.fuel.is_some();
    let chosen = if fuel {
        match metered {
            Some(r) => r.clone(),
            None => match Runtime::builder().fuel_metering(true).build() {
                Ok(r) => metered.insert(r).clone(),
                Err(e) => {
                    return failed(
                        ErrorKind::HostError,
                        format!("worker cannot meter fuel: {e}"),
                    );
                }
            },
        }
    } else {
        runtime.clone()
    };
    let hash = request.module.into_vec();
    if let Some(wasm) = request.wasm {
        wasm_by_hash.insert(hash.clone(), wasm.into_vec().into());
    }
    let module = match modules.get(&(hash.clone(), fuel)) {
        Some(m) => m.clone(),
        None => {
            let Some(wasm) = wasm_by_hash.get(&hash) else {
                return failed(
                    ErrorKind::HostError,
                    "the worker process was never sent this module".into(),
                );
            };
            match chosen.load_bytes("module", wasm) {
                Ok(m) => modules.entry((hash, fuel)).or_insert(m).clone(),
                Err(e) => {
                    return failed(
                        ErrorKind::HostError,
                        format!("the worker cannot load the module: {e}"),
                    );
                }
            }
        }
    };
    let task = match module.task(&request.task) {
        Ok(t) => t,
        Err(e) => return failed(ErrorKind::HostError, e.to_string()),
    };
    let mut args = Args::new();
    for bytes in request.positional {
        match wire::value(bytes) {
            Ok(v) => args.push(v),
            Err(e) => return failed(ErrorKind::ArgumentError, e),
        }
    }
    for (name, bytes) in request.keyword {
        match wire::value(bytes) {
            Ok(v) => args.push_kwarg(name, v),
            Err(e) => return failed(ErrorKind::ArgumentError, e),
        }
    }
    let options = InvokeOptions {
        limits,
        read_only_dirs: request
            .dirs
            .into_iter()
            .map(|(host, guest)| ReadOnlyDir {
                host_path: host.into(),
                guest_path: guest,
            })
            .collect(),
    };
    Reply::from(chosen.invoke(&task, &args, &options))
}

impl From<Invocation> for Reply {
    fn from(invocation: Invocation) -> Reply {
        let (ok, error) = match invocation.result {
            Ok(value) => (Some(ByteBuf::from(value.as_msgpack().to_vec())), None),
            Err(error) => (None, Some(error.to_exception_info())),
        };
        Reply {
            ok,
            error,
            execution: invocation.execution,
        }
    }
}

/// The engine side of one worker process.
struct Worker {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    known: HashSet<[u8; 32]>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `count` dispatcher threads, each driving one worker process.
pub(crate) fn spawn_dispatchers(
    shared: &Arc<Shared>,
    queue: &Receiver<Message>,
    count: usize,
    command: &WorkerCommand,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    // Start one worker now, so a command that cannot run fails the build, not the tasks.
    let mut first = Some(start(command)?);
    (0..count)
        .map(|i| {
            let shared = shared.clone();
            let queue = queue.clone();
            let command = command.clone();
            let worker = if i == 0 { first.take() } else { None };
            std::thread::Builder::new()
                .name(format!("wasmtaps-dispatch-{i}"))
                .spawn(move || dispatch(&shared, &queue, &command, worker))
        })
        .collect()
}

fn start(command: &WorkerCommand) -> std::io::Result<Worker> {
    let mut child = command.spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("the worker process has no pipes"));
    };
    Ok(Worker {
        child,
        input: BufWriter::new(stdin),
        output: BufReader::new(stdout),
        known: HashSet::new(),
    })
}

/// Takes the job of a queued task (marking it running); `None` if it was cancelled.
fn take_job(node: &Node) -> Option<Job> {
    let mut state = node.lock();
    if state.stage != Stage::Queued {
        return None;
    }
    state.stage = Stage::Running;
    state.job.take()
}

fn dispatch(
    shared: &Arc<Shared>,
    queue: &Receiver<Message>,
    command: &WorkerCommand,
    mut worker: Option<Worker>,
) {
    loop {
        let mut batch: Vec<(Arc<Node>, Job)> = Vec::new();
        let mut stop = false;
        match queue.recv() {
            Ok(Message::Run(node)) => {
                if let Some(job) = take_job(&node) {
                    batch.push((node, job));
                }
            }
            Ok(Message::Stop) | Err(_) => return,
        }
        while batch.len() < WINDOW {
            match queue.try_recv() {
                Ok(Message::Run(node)) => {
                    if let Some(job) = take_job(&node) {
                        batch.push((node, job));
                    }
                }
                Ok(Message::Stop) => {
                    stop = true;
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if shared.cancelling.load(Ordering::Relaxed) {
            for (node, _) in batch {
                graph::finish(node, Err(graph::shutdown_cancelled()), None, None);
            }
        } else if !batch.is_empty() {
            run_batch(shared, command, &mut worker, batch);
        }
        if stop {
            return;
        }
    }
}

/// Sends a batch to the worker process and completes each task with its reply. If the
/// process dies, the tasks still in flight fail with a `HostError` and the next batch
/// starts a new process.
fn run_batch(
    shared: &Shared,
    command: &WorkerCommand,
    worker: &mut Option<Worker>,
    batch: Vec<(Arc<Node>, Job)>,
) {
    let fail = |node: Arc<Node>, message: String| {
        graph::finish(
            node,
            Err(TaskError::new(ErrorKind::HostError, message)),
            None,
            None,
        );
    };
    if worker.is_none() {
        match start(command) {
            Ok(w) => *worker = Some(w),
            Err(e) => {
                for (node, _) in batch {
                    fail(node, format!("cannot start a worker process: {e}"));
                }
                return;
            }
        }
    }
    let Some(w) = worker.as_mut() else { return };
    let mut sent: Vec<Arc<Node>> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for (node, job) in batch {
        if broken.is_some() {
            fail(node, broken.clone().unwrap_or_default());
            continue;
        }
        let limits = match shared.runtime.limits_for(&job.options.limits) {
            Ok(l) => l,
            Err(e) => {
                graph::finish(
                    node,
                    Err(TaskError::new(ErrorKind::InvalidLimits, e.to_string())),
                    None,
                    None,
                );
                continue;
            }
        };
        let module = job.task.module();
        let hash = module.inner.hash;
        let request = Request {
            module: ByteBuf::from(hash.to_vec()),
            wasm: (!w.known.contains(&hash)).then(|| ByteBuf::from(module.wasm_bytes().to_vec())),
            task: job.task.name().to_owned(),
            positional: job
                .positional
                .into_iter()
                .map(|v| ByteBuf::from(v.map(|v| v.as_msgpack().to_vec()).unwrap_or_default()))
                .collect(),
            keyword: job
                .keyword
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        ByteBuf::from(v.map(|v| v.as_msgpack().to_vec()).unwrap_or_default()),
                    )
                })
                .collect(),
            limits: WireLimits::from(&LimitOverrides::from(&limits)),
            dirs: job
                .options
                .read_only_dirs
                .iter()
                .map(|d| (d.host_path.display().to_string(), d.guest_path.clone()))
                .collect(),
        };
        match write_frame(&mut w.input, &request) {
            Ok(()) => {
                w.known.insert(hash);
                sent.push(node);
            }
            Err(e) => {
                broken = Some(format!("the worker process stopped taking tasks: {e}"));
                fail(node, broken.clone().unwrap_or_default());
            }
        }
    }
    if broken.is_none()
        && let Err(e) = w.input.flush()
    {
        broken = Some(format!("the worker process stopped taking tasks: {e}"));
    }
    for node in sent {
        if let Some(reason) = &broken {
            fail(node, reason.clone());
            continue;
        }
        match read_frame::<Reply>(&mut w.output, MAX_REPLY_BYTES) {
            Ok(Some(reply)) => {
                let outcome = match (reply.ok, reply.error) {
                    (Some(bytes), None) => wire::value(bytes).map_err(|e| {
                        TaskError::new(
                            ErrorKind::HostError,
                            format!("the worker process sent a malformed result: {e}"),
                        )
                    }),
                    (_, Some(info)) => Err(TaskError::from(&info)),
                    (None, None) => Err(TaskError::new(
                        ErrorKind::HostError,
                        "the worker process sent an empty reply",
                    )),
                };
                graph::finish(node, outcome, Some(reply.execution), None);
            }
            Ok(None) | Err(_) => {
                let status = w
                    .child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "no reply".into());
                broken = Some(format!(
                    "the worker process exited while running the task ({status})"
                ));
                fail(node, broken.clone().unwrap_or_default());
            }
        }
    }
    if broken.is_some() {
        *worker = None;
    }
}
