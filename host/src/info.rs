//! The TaPS task data model: [`TaskInfo`], [`ExecutionInfo`], [`ExceptionInfo`], [`TaskResult`].
//!
//! Field names and meanings follow `taps.engine.task` exactly, so a `tasks.jsonl` written by
//! wasmtaps reads like one written by TaPS. All times are float Unix seconds.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why a task failed: the exception type, its message and a traceback.
///
/// For a wasm trap the traceback holds the wasm backtrace, with function names when the
/// module carries a name section; a guest's error carries the guest's traceback; any
/// other failure `Type: message`. Records written by wasmtaps always have a string here
/// (`Option` only so records from elsewhere with `null` still load). A task that never ran
/// because a parent failed records that parent's exception, as TaPS does. The `type` values wasmtaps produces are listed in
/// `docs/abi.md` and on [`ErrorKind`](crate::ErrorKind).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionInfo {
    /// The exception type, such as `Timeout`, `GuestPanic` or a guest's own error type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable description.
    pub message: String,
    /// The backtrace; always `Some` in the records wasmtaps writes.
    pub traceback: Option<String>,
}

/// When each phase of one execution started and ended, on the worker that ran it.
///
/// ```text
/// + execution_start_time
/// |   (a fresh instance is created)
/// | + input_transform_start_time   resolve, encode and write the arguments
/// | + input_transform_end_time
/// | + task_start_time              the guest call
/// | + task_end_time
/// | + result_transform_start_time  read, validate and decode the result
/// | + result_transform_end_time
/// + execution_end_time
/// ```
///
/// A failed execution keeps the times of every phase it reached; a phase it never reached
/// starts and ends at the moment of the failure, so its duration is zero.
///
/// The times are `f64` Unix seconds as TaPS writes them, which at today's dates are
/// 2^-22 s ≈ 238 ns apart: a duration taken from two of them is quantised to that step.
/// An execution measured in this process also carries [`durations`](Self::durations),
/// the same phases read from the monotonic clock to the nanosecond; they are not part of
/// the TaPS record (never serialised), so a record read back from `tasks.jsonl` has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    /// The host the task ran on.
    pub hostname: String,
    /// The worker began executing the task.
    pub execution_start_time: f64,
    /// The worker finished executing the task.
    pub execution_end_time: f64,
    /// The guest function was called.
    pub task_start_time: f64,
    /// The guest function returned (or trapped).
    pub task_end_time: f64,
    /// Argument resolution and marshalling began.
    pub input_transform_start_time: f64,
    /// The arguments were in guest memory.
    pub input_transform_end_time: f64,
    /// Reading the result began.
    pub result_transform_start_time: f64,
    /// The result was validated and decoded.
    pub result_transform_end_time: f64,
    /// The phases' durations from the worker's monotonic clock, when this execution was
    /// measured by this process and not read from a record; see [`PhaseDurations`].
    #[serde(skip)]
    pub durations: Option<PhaseDurations>,
}

/// How long each phase of one execution took, from the worker's monotonic clock: the
/// precise counterpart of the differences between [`ExecutionInfo`]'s `f64` times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseDurations {
    /// `input_transform_start_time` → `input_transform_end_time`.
    pub input_transform: Duration,
    /// `task_start_time` → `task_end_time`.
    pub task: Duration,
    /// `result_transform_start_time` → `result_transform_end_time`.
    pub result_transform: Duration,
    /// `execution_start_time` → `execution_end_time`.
    pub execution: Duration,
}

/// Everything recorded about one task: one line of `tasks.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Unique UUID of the task, chosen by the engine.
    pub task_id: String,
    /// The task's name (the function name unless renamed).
    pub name: String,
    /// UUIDs of the tasks whose futures were arguments, in argument order.
    pub parent_task_ids: Vec<String>,
    /// When the task was submitted.
    pub submit_time: f64,
    /// When the engine learned that the task had ended.
    pub received_time: Option<f64>,
    /// Whether the task completed without an exception.
    pub success: Option<bool>,
    /// Why the task failed.
    pub exception: Option<ExceptionInfo>,
    /// How the execution went, if the task was executed at all.
    pub execution: Option<ExecutionInfo>,
}

/// A task's value together with how its execution went.
#[derive(Clone, Debug)]
pub struct TaskResult<R> {
    /// The value the task function returned.
    pub value: R,
    /// Task execution information.
    pub info: ExecutionInfo,
}

/// The current time as float Unix seconds.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Wall-clock stamps derived from one reading of the system clock plus a monotonic
/// clock, so the phases of one execution are ordered even if the system clock jumps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PhaseClock {
    base_unix: f64,
    base: Instant,
}

impl PhaseClock {
    pub(crate) fn start() -> Self {
        PhaseClock {
            base_unix: unix_now(),
            base: Instant::now(),
        }
    }

    /// Time since [`start`](Self::start), on the monotonic clock.
    pub(crate) fn elapsed(&self) -> Duration {
        self.base.elapsed()
    }

    /// The Unix time `offset` after the start.
    pub(crate) fn at(&self, offset: Duration) -> f64 {
        self.base_unix + offset.as_secs_f64()
    }

    pub(crate) fn start_time(&self) -> f64 {
        self.base_unix
    }
}
