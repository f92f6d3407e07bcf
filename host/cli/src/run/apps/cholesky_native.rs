//! `wasmtaps run cholesky --native`: the same tiled factorisation through the same engine
//! (DAG, MessagePack tiles, records, `--workers` threads), with each task's body — the
//! very function the guest's `#[task]` exports, compiled natively — called on this
//! process's threads instead of in a fresh wasm instance. The difference between the two
//! runs is the sandbox: instantiation, copying the tiles in and out of linear memory, and
//! the wasm code itself.

use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use serde_bytes::ByteBuf;
use wasmtaps::engine::{Executor, ReadyTask, RunningTask};
use wasmtaps::{ErrorKind, ExecutionInfo, Invocation, PhaseDurations, TaskError, Value};
use wasmtaps_example_apps::cholesky;

/// Runs the cholesky app's four tasks natively on its own threads.
pub(crate) struct NativeExecutor {
    ready: Mutex<Option<Sender<ReadyTask>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl NativeExecutor {
    /// Starts `threads` threads (at least one).
    ///
    /// # Errors
    /// A thread cannot be spawned.
    pub(crate) fn start(threads: usize) -> std::io::Result<NativeExecutor> {
        let (sender, receiver) = crossbeam_channel::unbounded::<ReadyTask>();
        let handles = (0..threads.max(1))
            .map(|i| {
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("wasmtaps-native-{i}"))
                    .spawn(move || serve(&receiver))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(NativeExecutor {
            ready: Mutex::new(Some(sender)),
            threads: Mutex::new(handles),
        })
    }
}

impl Executor for NativeExecutor {
    fn start(&self, tasks: Vec<ReadyTask>) {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = ready.as_ref() {
            for task in tasks {
                // A send fails only once every thread is gone; the task, dropped
                // unclaimed, is then cancelled.
                let _ = sender.send(task);
            }
        }
    }

    fn shutdown(&self) {
        drop(self.ready.lock().unwrap_or_else(|e| e.into_inner()).take());
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn serve(ready: &Receiver<ReadyTask>) {
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    for task in ready {
        if let Some(running) = task.claim() {
            let invocation = run(&running, &hostname);
            running.complete(invocation);
        }
    }
}

/// Seconds since the Unix epoch, as the records keep them.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs one task and times its phases as the wasm path does: decoding the arguments,
/// the task's function, encoding its value.
fn run(running: &RunningTask, hostname: &str) -> Invocation {
    let start = unix_now();
    let clock = Instant::now();
    let tiles: Result<Vec<ByteBuf>, TaskError> = running
        .args()
        .positional()
        .iter()
        .map(|v| {
            v.decode::<ByteBuf>().map_err(|e| {
                TaskError::new(
                    ErrorKind::ArgumentError,
                    format!("a tile is not bytes: {e}"),
                )
            })
        })
        .collect();
    let decoded = unix_now();
    let decoded_at = clock.elapsed();
    let value = tiles.and_then(|tiles| call(running.task().name(), tiles));
    let called = unix_now();
    let called_at = clock.elapsed();
    let result = value.and_then(|tile| {
        Value::encode(&tile).map_err(|e| TaskError::new(ErrorKind::HostError, e.to_string()))
    });
    let end = unix_now();
    let end_at = clock.elapsed();
    Invocation {
        result,
        execution: ExecutionInfo {
            hostname: hostname.to_owned(),
            execution_start_time: start,
            execution_end_time: end,
            task_start_time: decoded,
            task_end_time: called,
            input_transform_start_time: start,
            input_transform_end_time: decoded,
            result_transform_start_time: called,
            result_transform_end_time: end,
            durations: Some(PhaseDurations {
                input_transform: decoded_at,
                task: called_at - decoded_at,
                result_transform: end_at - called_at,
                execution: end_at,
            }),
        },
        stdout: Vec::new(),
        stderr: Vec::new(),
        output_dropped: 0,
    }
}

/// Calls the task `name`'s function on `tiles`.
fn call(name: &str, tiles: Vec<ByteBuf>) -> Result<ByteBuf, TaskError> {
    let arity = match name {
        "potrf" => 1,
        "trsm" | "syrk" => 2,
        "gemm" => 3,
        other => {
            return Err(TaskError::new(
                ErrorKind::HostError,
                format!("--native runs only the cholesky tasks, not {other}()"),
            ));
        }
    };
    if tiles.len() != arity {
        return Err(TaskError::new(
            ErrorKind::ArgumentError,
            format!("{name}() takes {arity} tiles, not {}", tiles.len()),
        ));
    }
    let mut tiles = tiles.into_iter();
    let mut next = || tiles.next().unwrap_or_default();
    Ok(match name {
        "potrf" => cholesky::potrf(next()).map_err(|e| {
            TaskError::new(
                ErrorKind::GuestError("NotPositiveDefinite".into()),
                e.to_string(),
            )
        })?,
        "trsm" => cholesky::trsm(next(), next()),
        "syrk" => cholesky::syrk(next(), next()),
        _ => cholesky::gemm(next(), next(), next()),
    })
}
