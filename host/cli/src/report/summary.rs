//! [`RunSummary`]: counts, wall time, throughput and phase-duration percentiles of a run.

use std::collections::BTreeMap;
use std::fmt;

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
    /// (no `execution`) or, for [`Phase::ReceivedLag`], was never received.
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

/// Percentiles of one [`Phase`]'s durations over the tasks that have it.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseStats {
    /// Which phase.
    pub phase: Phase,
    /// How many tasks had this phase (see [`Phase::duration`]).
    pub count: usize,
    /// Median duration in seconds (nearest rank); 0 when `count` is 0.
    pub median: f64,
    /// 99th-percentile duration in seconds (nearest rank); 0 when `count` is 0.
    pub p99: f64,
    /// Longest duration in seconds; 0 when `count` is 0.
    pub max: f64,
}

impl PhaseStats {
    /// Statistics of `phase` over `records`.
    pub fn compute(phase: Phase, records: &[TaskInfo]) -> PhaseStats {
        let mut durations: Vec<f64> = records.iter().filter_map(|r| phase.duration(r)).collect();
        durations.sort_by(f64::total_cmp);
        PhaseStats {
            phase,
            count: durations.len(),
            median: percentile(&durations, 0.50),
            p99: percentile(&durations, 0.99),
            max: durations.last().copied().unwrap_or(0.0),
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted `values`; 0 when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a run's task records add up to: the summary `wasmtaps report` prints and puts at
/// the top of `report.html`.
///
/// `Display` renders it as an aligned text table.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Number of task records.
    pub tasks: usize,
    /// Tasks with `success: true`.
    pub succeeded: usize,
    /// Tasks with `success: false`.
    pub failed: usize,
    /// Tasks with no `success` yet (still running when the file was written).
    pub unfinished: usize,
    /// Failed tasks by exception type (`"unknown"` when a failure has no exception).
    pub failures: BTreeMap<String, usize>,
    /// Tasks that were never executed (no `execution`), such as cancelled tasks or tasks
    /// whose dependency failed.
    pub not_executed: usize,
    /// First `submit_time` → last `received_time`, in seconds; `None` without any
    /// received task.
    pub wall_time: Option<f64>,
    /// Received tasks per second of wall time; `None` when the wall time is unknown or 0.
    pub throughput: Option<f64>,
    /// One entry per [`Phase::ALL`], in that order.
    pub phases: Vec<PhaseStats>,
}

impl RunSummary {
    /// Summarises `records`, in any order.
    pub fn from_records(records: &[TaskInfo]) -> RunSummary {
        let mut summary = RunSummary {
            tasks: records.len(),
            succeeded: 0,
            failed: 0,
            unfinished: 0,
            failures: BTreeMap::new(),
            not_executed: 0,
            wall_time: None,
            throughput: None,
            phases: Phase::ALL
                .iter()
                .map(|&p| PhaseStats::compute(p, records))
                .collect(),
        };
        let mut first_submit = f64::INFINITY;
        let mut last_received = f64::NEG_INFINITY;
        let mut received = 0usize;
        for r in records {
            match r.success {
                Some(true) => summary.succeeded += 1,
                Some(false) => {
                    summary.failed += 1;
                    let kind = r.exception.as_ref().map_or("unknown", |e| e.kind.as_str());
                    *summary.failures.entry(kind.to_owned()).or_default() += 1;
                }
                None => summary.unfinished += 1,
            }
            if r.execution.is_none() {
                summary.not_executed += 1;
            }
            first_submit = first_submit.min(r.submit_time);
            if let Some(t) = r.received_time {
                last_received = last_received.max(t);
                received += 1;
            }
        }
        if received > 0 && first_submit.is_finite() {
            let wall = (last_received - first_submit).max(0.0);
            summary.wall_time = Some(wall);
            summary.throughput = (wall > 0.0).then(|| received as f64 / wall);
        }
        summary
    }

    /// The statistics of one phase.
    #[cfg(test)]
    pub fn phase(&self, phase: Phase) -> &PhaseStats {
        self.phases
            .iter()
            .find(|s| s.phase == phase)
            .expect("from_records computes every phase")
    }
}

/// Formats seconds with a unit that keeps three significant digits: `1.23 ms`.
pub(crate) fn human_seconds(seconds: f64) -> String {
    let magnitude = seconds.abs();
    let (value, unit) = if magnitude == 0.0 {
        return "0 s".to_owned();
    } else if magnitude < 1e-6 {
        (seconds * 1e9, "ns")
    } else if magnitude < 1e-3 {
        (seconds * 1e6, "µs")
    } else if magnitude < 1.0 {
        (seconds * 1e3, "ms")
    } else {
        (seconds, "s")
    };
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.decimals$} {unit}")
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tasks       {} ({} succeeded, {} failed, {} unfinished; {} never executed)",
            self.tasks, self.succeeded, self.failed, self.unfinished, self.not_executed
        )?;
        if !self.failures.is_empty() {
            let by_type: Vec<String> = self
                .failures
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            writeln!(f, "failed      {}", by_type.join(", "))?;
        }
        match self.wall_time {
            Some(wall) => writeln!(
                f,
                "wall time   {} (first submit → last received)",
                human_seconds(wall)
            )?,
            None => writeln!(f, "wall time   unknown (no task was received)")?,
        }
        match self.throughput {
            Some(rate) => writeln!(f, "throughput  {rate:.1} tasks/s")?,
            None => writeln!(f, "throughput  unknown")?,
        }
        writeln!(
            f,
            "{:<18} {:>7} {:>10} {:>10} {:>10}  span",
            "phase", "tasks", "median", "p99", "max"
        )?;
        for s in &self.phases {
            writeln!(
                f,
                "{:<18} {:>7} {:>10} {:>10} {:>10}  {}",
                s.phase.label(),
                s.count,
                human_seconds(s.median),
                human_seconds(s.p99),
                human_seconds(s.max),
                s.phase.span()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtaps::{ExceptionInfo, ExecutionInfo};

    fn record(id: usize, start: f64, task: f64, success: bool) -> TaskInfo {
        TaskInfo {
            task_id: format!("t{id}"),
            name: "t".into(),
            parent_task_ids: vec![],
            submit_time: 0.0,
            received_time: Some(start + task + 0.5),
            success: Some(success),
            exception: (!success).then(|| ExceptionInfo {
                kind: "GuestPanic".into(),
                message: "boom".into(),
                traceback: None,
            }),
            execution: Some(ExecutionInfo {
                hostname: "h".into(),
                execution_start_time: start,
                execution_end_time: start + task,
                task_start_time: start,
                task_end_time: start + task,
                input_transform_start_time: start,
                input_transform_end_time: start,
                result_transform_start_time: start + task,
                result_transform_end_time: start + task,
            }),
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn counts_failures_wall_time_and_phases() {
        let records: Vec<TaskInfo> = (0..4)
            .map(|i| record(i, 1.0, 1.0 + i as f64, i != 3))
            .collect();
        let s = RunSummary::from_records(&records);
        assert_eq!((s.tasks, s.succeeded, s.failed), (4, 3, 1));
        assert_eq!(s.failures["GuestPanic"], 1);
        assert_eq!(s.wall_time, Some(5.5));
        assert_eq!(s.phase(Phase::Task).median, 2.0);
        assert_eq!(s.phase(Phase::Task).max, 4.0);
        assert_eq!(s.phase(Phase::Queue).median, 1.0);
        assert_eq!(s.phase(Phase::ReceivedLag).p99, 0.5);
        let text = s.to_string();
        assert!(text.contains("GuestPanic 1"), "{text}");
    }

    #[test]
    fn one_record_summary() {
        let task = TaskInfo {
            task_id: "a".into(),
            name: "add".into(),
            parent_task_ids: vec![],
            submit_time: 100.0,
            received_time: Some(102.0),
            success: Some(true),
            exception: None,
            execution: None,
        };
        let summary = RunSummary::from_records(&[task]);
        assert_eq!((summary.tasks, summary.succeeded), (1, 1));
        assert_eq!(summary.wall_time, Some(2.0));
        assert!(summary.to_string().contains("tasks"));
    }

    #[test]
    fn empty_run_has_no_wall_time() {
        let s = RunSummary::from_records(&[]);
        assert_eq!((s.tasks, s.wall_time, s.throughput), (0, None, None));
        assert!(s.to_string().contains("unknown"));
    }

    #[test]
    fn human_seconds_picks_a_unit() {
        assert_eq!(human_seconds(0.0), "0 s");
        assert_eq!(human_seconds(0.00123), "1.23 ms");
        assert_eq!(human_seconds(12.5), "12.5 s");
        assert_eq!(human_seconds(250e-6), "250 µs");
    }
}
