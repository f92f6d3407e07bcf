//! The worker side of [`ProcessExecutor`](super::ProcessExecutor):
//! [`serve_worker_process`], which `wasmtaps worker-process` runs.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::sync::Arc;

use crate::failure::{ErrorKind, TaskError};
use crate::invoke::ReadOnlyDir;
use crate::limits::Limits;
use crate::runtime::Runtime;

use super::serve::JobRunner;
use super::store::Store;
use super::wire::{Job, Reply, read_frame, write_frame};

/// The largest job a worker process reads: the engine is its parent, so this only keeps
/// a corrupted length from being believed.
const MAX_JOB_BYTES: u64 = u32::MAX as u64;

/// The largest reply the engine reads from a worker process: the largest result any
/// limits allow, plus room for the failure, the output and the execution record.
pub(crate) const MAX_REPLY_BYTES: u64 =
    Limits::MAXIMUM.max_result_bytes + 2 * Limits::MAXIMUM.max_output_bytes + (1 << 20);

/// Serves jobs from a [`ProcessExecutor`](super::ProcessExecutor) on stdin, answering on
/// stdout in order, until stdin closes.
///
/// Each task runs in a fresh instance of `runtime` (a job with a fuel limit in a sibling
/// runtime with fuel metering, built on first use). A module's bytes arrive with the
/// first job that needs it; later jobs name it by hash.
///
/// Replies are flushed whenever no job is waiting, so they travel in batches; with a
/// runtime without epoch interruption (whose deadlines the engine's watchdog enforces
/// from outside, see [`ProcessExecutor::with_deadline_watchdog`](super::ProcessExecutor::with_deadline_watchdog)),
/// each reply is flushed at once, so that the engine never takes a finished task for
/// the one still running.
///
/// # Errors
/// When stdin or stdout fail, or a frame does not decode (the engine went away
/// mid-frame, or something else is writing to the pipe).
pub fn serve_worker_process(runtime: Runtime) -> std::io::Result<()> {
    serve(runtime, None)
}

/// [`serve_worker_process`] for an engine that passes values by reference
/// ([`ProcessExecutor::with_transformer`](super::ProcessExecutor::with_transformer)):
/// a job's arguments that it vouches for are read from `store`, and a result above the
/// job's threshold is written there. The store comes from the worker's own
/// configuration (`wasmtaps worker-process --store ...`), never from a message.
///
/// # Errors
/// As [`serve_worker_process`].
pub fn serve_worker_process_with_store(
    runtime: Runtime,
    store: Arc<dyn Store>,
) -> std::io::Result<()> {
    serve(runtime, Some(store))
}

/// Failure injection (TaPS's `worker-killed`) and crash-recovery tests:
/// [`serve_worker_process`], or [`serve_worker_process_with_store`] with `store`, except
/// that the process kills itself (SIGKILL) when a job for the task named `task` arrives,
/// after flushing the replies before it, as a task that crashed its worker would. The
/// name comes from the process's own command line (`wasmtaps worker-process
/// --killed-at-task`), never from a message.
///
/// # Errors
/// As [`serve_worker_process`].
#[doc(hidden)]
pub fn serve_worker_process_killed_at_task(
    runtime: Runtime,
    store: Option<Arc<dyn Store>>,
    task: &str,
) -> std::io::Result<()> {
    serve_until(runtime, store, Some(task))
}

fn serve(runtime: Runtime, store: Option<Arc<dyn Store>>) -> std::io::Result<()> {
    serve_until(runtime, store, None)
}

fn serve_until(
    runtime: Runtime,
    store: Option<Arc<dyn Store>>,
    killed_at_task: Option<&str>,
) -> std::io::Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let flush_each_reply = !runtime.epoch_interruption();
    let runner = JobRunner::new(runtime, store);
    // Bytes of every module sent, by hash: the module cache may evict a compiled
    // module, and the engine sends the bytes only once.
    let mut modules: HashMap<String, Arc<[u8]>> = HashMap::new();
    while let Some(mut job) = read_frame::<Job>(&mut input, MAX_JOB_BYTES)? {
        if let Some(wasm) = job.wasm.take() {
            modules.insert(job.module_hash.clone(), wasm.into_vec().into());
        }
        if killed_at_task == Some(job.task.as_str()) {
            output.flush()?;
            tracing::error!(
                "worker process: killed at task {:?} (as configured)",
                job.task
            );
            // SAFETY: kill(2) with this process's own id and a constant signal.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            std::process::abort();
        }
        let dirs = job
            .dirs
            .iter()
            .map(|(host, guest)| ReadOnlyDir {
                host_path: host.into(),
                guest_path: guest.clone(),
            })
            .collect();
        let fetch = || {
            modules
                .get(&job.module_hash)
                .map(|bytes| bytes.to_vec())
                .ok_or_else(|| {
                    TaskError::new(
                        ErrorKind::HostError,
                        "the worker process was never sent this module",
                    )
                })
        };
        let (invocation, stored) = runner.run(&job, dirs, fetch);
        write_frame(&mut output, &Reply::new(&job.id, invocation, stored))?;
        if flush_each_reply || input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()
}
