//! [`Phase`]: the spans of a task's life that reports measure.

use wasmtaps::TaskInfo;

/// One span of a task's life that the report measures.
///
/// The four execution phases are those of [`ExecutionInfo`](wasmtaps::ExecutionInfo); the
/// other two are the engine's side of the task: waiting before a worker started it, and
/// the lag between the worker finishing and the engine being told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// `submit_time` → `execution_start_time`: waiting for a worker.
    Queue,
    /// `input_transform_start_time` → `input_transform_end_time`: resolving arguments.
    InputTransform,
    /// `task_start_time` → `task_end_time`: the task function itself.
    Task,
    /// `result_transform_start_time` → `result_transform_end_time`: decoding the result.
    ResultTransform,
    /// `execution_start_time` → `execution_end_time`: everything on the worker.
    Execution,
    /// `execution_end_time` → `received_time`: until the engine learned of the end.
    ReceivedLag,
}

impl Phase {
    /// Every phase, in the order reports list them.
    pub const ALL: [Phase; 6] = [
        Phase::Queue,
        Phase::InputTransform,
        Phase::Task,
        Phase::ResultTransform,
        Phase::Execution,
        Phase::ReceivedLag,
    ];

    /// A short lower-case label, such as `"input transform"`.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Queue => "queue",
            Phase::InputTransform => "input transform",
            Phase::Task => "task",
            Phase::ResultTransform => "result transform",
            Phase::Execution => "execution",
            Phase::ReceivedLag => "received lag",
        }
    }

    /// The two `TaskInfo` fields the phase spans, such as `"submit → start"`.
    pub fn span(self) -> &'static str {
        match self {
            Phase::Queue => "submit → execution start",
            Phase::InputTransform => "input_transform start → end",
            Phase::Task => "task start → end",
            Phase::ResultTransform => "result_transform start → end",
            Phase::Execution => "execution start → end",
            Phase::ReceivedLag => "execution end → received",
        }
    }

    /// How long the phase took for `info`, in seconds, or `None` when the task never ran
    /// (no `execution`) or, for [`Phase::ReceivedLag`], was never received; and whether
    /// it was read from the worker's monotonic clock
    /// ([`ExecutionInfo::durations`](wasmtaps::ExecutionInfo::durations), nanoseconds)
    /// rather than taken between two `f64` timestamps (238 ns steps).
    ///
    /// Durations are not clamped: clocks of different hosts may make a queue or lag
    /// duration negative.
    pub fn measure(self, info: &TaskInfo) -> Option<(f64, bool)> {
        let precise = info.execution.as_ref()?.durations.and_then(|d| match self {
            Phase::InputTransform => Some(d.input_transform),
            Phase::Task => Some(d.task),
            Phase::ResultTransform => Some(d.result_transform),
            Phase::Execution => Some(d.execution),
            Phase::Queue | Phase::ReceivedLag => None,
        });
        match precise {
            Some(d) => Some((d.as_secs_f64(), true)),
            None => self.duration(info).map(|d| (d, false)),
        }
    }

    /// How long the phase took for `info` by its record's `f64` timestamps, in seconds,
    /// or `None` when the task never ran (no `execution`) or, for
    /// [`Phase::ReceivedLag`], was never received.
    ///
    /// Durations are not clamped: clocks of different hosts may make a queue or lag
    /// duration negative.
    pub fn duration(self, info: &TaskInfo) -> Option<f64> {
        let e = info.execution.as_ref()?;
        Some(match self {
            Phase::Queue => e.execution_start_time - info.submit_time,
            Phase::InputTransform => e.input_transform_end_time - e.input_transform_start_time,
            Phase::Task => e.task_end_time - e.task_start_time,
            Phase::ResultTransform => e.result_transform_end_time - e.result_transform_start_time,
            Phase::Execution => e.execution_end_time - e.execution_start_time,
            Phase::ReceivedLag => info.received_time? - e.execution_end_time,
        })
    }
}
