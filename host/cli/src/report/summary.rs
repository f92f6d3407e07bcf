//! [`RunSummary`]: counts, wall time, throughput and phase-duration percentiles of a run,
//! added up one record at a time by a [`SummaryBuilder`] in memory that does not grow with
//! the number of tasks.

use std::collections::BTreeMap;
use std::fmt;

use super::durations::Durations;
use super::phase::Phase;
use wasmtaps::TaskInfo;

/// Percentiles of one [`Phase`]'s durations over the tasks that have it.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseStats {
    /// Which phase.
    pub phase: Phase,
    /// How many tasks had this phase (see [`Phase::duration`]).
    pub count: u64,
    /// Median duration in seconds (nearest rank, within 0.05 %); 0 when `count` is 0.
    pub median: f64,
    /// 99th-percentile duration in seconds (nearest rank, within 0.05 %); 0 when `count`
    /// is 0.
    pub p99: f64,
    /// Longest duration in seconds, exact; 0 when `count` is 0.
    pub max: f64,
    /// Whether every duration came from the worker's monotonic clock (in-process records
    /// of this run), not from two `f64` timestamps quantised to [`RunSummary::resolution`].
    pub precise: bool,
}

impl PhaseStats {
    fn of(phase: Phase, durations: &Durations, quantised: u64) -> PhaseStats {
        PhaseStats {
            phase,
            count: durations.count(),
            median: durations.quantile(0.50),
            p99: durations.quantile(0.99),
            max: durations.max(),
            precise: durations.count() > 0 && quantised == 0,
        }
    }
}

/// The most distinct exception types [`RunSummary::failures`] names; failures of further
/// types are counted under [`OTHER_TYPES`], so a file with millions of made-up types
/// cannot grow the summary.
pub const MAX_FAILURE_TYPES: usize = 100;

/// The [`RunSummary::failures`] key of failures beyond [`MAX_FAILURE_TYPES`] types.
pub const OTHER_TYPES: &str = "(other types)";

/// The longest exception type kept, in characters; longer ones are cut and end in `…`.
const MAX_TYPE_CHARS: usize = 80;

/// What a run's task records add up to: the summary `wasmtaps report` prints and puts at
/// the top of `report.html`.
///
/// `Display` renders it as an aligned text table.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Number of task records.
    pub tasks: u64,
    /// Tasks with `success: true`.
    pub succeeded: u64,
    /// Tasks with `success: false`.
    pub failed: u64,
    /// Tasks with no `success` yet (still running when the file was written).
    pub unfinished: u64,
    /// Failed tasks by exception type (`"unknown"` when a failure has no exception), at
    /// most [`MAX_FAILURE_TYPES`] types plus [`OTHER_TYPES`].
    pub failures: BTreeMap<String, u64>,
    /// Tasks that were never executed (no `execution`), such as cancelled tasks or tasks
    /// whose dependency failed.
    pub not_executed: u64,
    /// First `submit_time` → last `received_time`, in seconds; `None` without any
    /// received task.
    pub wall_time: Option<f64>,
    /// Received tasks per second of wall time; `None` when the wall time is unknown or 0.
    pub throughput: Option<f64>,
    /// One entry per [`Phase::ALL`], in that order.
    pub phases: Vec<PhaseStats>,
    /// The spacing of the records' `f64` Unix-second timestamps at the largest one seen
    /// (2^-22 s ≈ 238 ns between 2004 and 2038), the finest step any duration can show;
    /// `None` without timestamps.
    pub resolution: Option<f64>,
}

/// Adds up task records one at a time into a [`RunSummary`] and the [`Durations`] of
/// every phase.
#[derive(Clone, Debug)]
pub struct SummaryBuilder {
    tasks: u64,
    succeeded: u64,
    failed: u64,
    unfinished: u64,
    failures: BTreeMap<String, u64>,
    not_executed: u64,
    first_submit: f64,
    last_received: f64,
    received: u64,
    largest_time: f64,
    durations: Vec<Durations>,
    /// Per phase, how many of its durations came from `f64` timestamps.
    quantised: Vec<u64>,
}

impl Default for SummaryBuilder {
    fn default() -> Self {
        SummaryBuilder {
            tasks: 0,
            succeeded: 0,
            failed: 0,
            unfinished: 0,
            failures: BTreeMap::new(),
            not_executed: 0,
            first_submit: f64::INFINITY,
            last_received: f64::NEG_INFINITY,
            received: 0,
            largest_time: 0.0,
            durations: Phase::ALL.iter().map(|_| Durations::default()).collect(),
            quantised: vec![0; Phase::ALL.len()],
        }
    }
}

/// `kind` cut to [`MAX_TYPE_CHARS`] characters.
fn short_type(kind: &str) -> String {
    match kind.char_indices().nth(MAX_TYPE_CHARS) {
        Some((end, _)) => format!("{}…", &kind[..end]),
        None => kind.to_owned(),
    }
}

/// The distance from `t` to the next larger `f64`.
fn spacing_at(t: f64) -> f64 {
    let t = t.abs();
    if !t.is_finite() || t == 0.0 {
        return 0.0;
    }
    let next = f64::from_bits(t.to_bits() + 1);
    next - t
}

impl SummaryBuilder {
    /// Adds one record.
    pub fn add(&mut self, r: &TaskInfo) {
        self.tasks += 1;
        match r.success {
            Some(true) => self.succeeded += 1,
            Some(false) => {
                self.failed += 1;
                let kind = r.exception.as_ref().map_or("unknown", |e| e.kind.as_str());
                let kind = short_type(kind);
                if let Some(n) = self.failures.get_mut(&kind) {
                    *n += 1;
                } else if self.failures.len() < MAX_FAILURE_TYPES {
                    self.failures.insert(kind, 1);
                } else {
                    *self.failures.entry(OTHER_TYPES.to_owned()).or_default() += 1;
                }
            }
            None => self.unfinished += 1,
        }
        let mut largest = r.submit_time.abs();
        match &r.execution {
            None => self.not_executed += 1,
            Some(e) => {
                for t in [e.execution_start_time, e.execution_end_time] {
                    largest = largest.max(t.abs());
                }
            }
        }
        self.first_submit = self.first_submit.min(r.submit_time);
        if let Some(t) = r.received_time {
            self.last_received = self.last_received.max(t);
            self.received += 1;
            largest = largest.max(t.abs());
        }
        if largest.is_finite() {
            self.largest_time = self.largest_time.max(largest);
        }
        for ((phase, durations), quantised) in Phase::ALL
            .iter()
            .zip(&mut self.durations)
            .zip(&mut self.quantised)
        {
            if let Some((d, precise)) = phase.measure(r) {
                durations.add(d);
                *quantised += u64::from(!precise);
            }
        }
    }

    /// The durations of `phase` added so far.
    pub fn durations(&self, phase: Phase) -> &Durations {
        let index = Phase::ALL
            .iter()
            .position(|&p| p == phase)
            .expect("Phase::ALL holds every phase");
        &self.durations[index]
    }

    /// The summary of the records added so far.
    pub fn summary(&self) -> RunSummary {
        let mut summary = RunSummary {
            tasks: self.tasks,
            succeeded: self.succeeded,
            failed: self.failed,
            unfinished: self.unfinished,
            failures: self.failures.clone(),
            not_executed: self.not_executed,
            wall_time: None,
            throughput: None,
            phases: Phase::ALL
                .iter()
                .zip(&self.durations)
                .zip(&self.quantised)
                .map(|((&p, d), &q)| PhaseStats::of(p, d, q))
                .collect(),
            resolution: (self.largest_time > 0.0).then(|| spacing_at(self.largest_time)),
        };
        if self.received > 0 && self.first_submit.is_finite() {
            let wall = (self.last_received - self.first_submit).max(0.0);
            summary.wall_time = Some(wall);
            summary.throughput = (wall > 0.0).then(|| self.received as f64 / wall);
        }
        summary
    }
}

impl RunSummary {
    /// Summarises `records`, in any order.
    #[cfg(test)]
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a TaskInfo>) -> RunSummary {
        let mut builder = SummaryBuilder::default();
        for r in records {
            builder.add(r);
        }
        builder.summary()
    }

    /// The statistics of one phase.
    #[cfg(test)]
    pub fn phase(&self, phase: Phase) -> &PhaseStats {
        self.phases
            .iter()
            .find(|s| s.phase == phase)
            .expect("from_records computes every phase")
    }

    /// The phases taken from `f64` timestamps that show a figure within 100 timestamp
    /// steps of zero, where quantisation moves it by 1 % or more.
    fn quantised_phases(&self) -> Vec<&'static str> {
        let Some(step) = self.resolution else {
            return Vec::new();
        };
        self.phases
            .iter()
            .filter(|s| {
                !s.precise
                    && [s.median, s.p99, s.max]
                        .iter()
                        .any(|v| *v != 0.0 && v.abs() < 100.0 * step)
            })
            .map(|s| s.phase.label())
            .collect()
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
            "{:<18} {:>9} {:>10} {:>10} {:>10}  span",
            "phase", "tasks", "median", "p99", "max"
        )?;
        for s in &self.phases {
            writeln!(
                f,
                "{:<18} {:>9} {:>10} {:>10} {:>10}  {}",
                s.phase.label(),
                s.count,
                human_seconds(s.median),
                human_seconds(s.p99),
                human_seconds(s.max),
                s.phase.span()
            )?;
        }
        let quantised = self.quantised_phases();
        if let Some(step) = self.resolution.filter(|_| !quantised.is_empty()) {
            writeln!(
                f,
                "note        {}: durations between f64 Unix-second timestamps, {} apart at \
                 this date, so figures under {} are off by 1 % or more",
                quantised.join(", "),
                human_seconds(step),
                human_seconds(100.0 * step)
            )?;
        }
        let precise: Vec<&str> = self
            .phases
            .iter()
            .filter(|s| s.precise)
            .map(|s| s.phase.label())
            .collect();
        if !precise.is_empty() {
            writeln!(
                f,
                "note        {}: durations from the workers' monotonic clock (ns)",
                precise.join(", ")
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
                durations: None,
            }),
        }
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
        let close = |got: f64, want: f64| (got - want).abs() <= want * 5e-4;
        assert!(close(s.phase(Phase::Task).median, 2.0));
        assert_eq!(s.phase(Phase::Task).max, 4.0);
        assert_eq!(s.phase(Phase::Queue).median, 1.0, "all equal: min = max");
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
        let s = RunSummary::from_records(std::iter::empty());
        assert_eq!((s.tasks, s.wall_time, s.throughput), (0, None, None));
        assert!(s.to_string().contains("unknown"));
    }

    #[test]
    fn failure_types_are_capped_and_cut() {
        let mut builder = SummaryBuilder::default();
        for i in 0..(MAX_FAILURE_TYPES + 50) {
            let mut r = record(i, 1.0, 1.0, false);
            r.exception.as_mut().unwrap().kind = format!("Kind{i}{}", "x".repeat(200));
            builder.add(&r);
        }
        let s = builder.summary();
        assert_eq!(s.failures.len(), MAX_FAILURE_TYPES + 1);
        assert_eq!(s.failures[OTHER_TYPES], 50);
        assert!(s.failures.keys().all(|k| k.chars().count() <= 81));
    }

    #[test]
    fn sub_microsecond_figures_carry_the_quantisation_note() {
        // A 2026 Unix time: f64 steps of 2^-22 s.
        let t0 = 1.78e9;
        let step = 2f64.powi(-22);
        let fast = record(0, t0, 4.0 * step, true);
        let s = RunSummary::from_records([&fast]);
        assert_eq!(s.resolution, Some(step));
        let text = s.to_string();
        assert!(text.contains("238 ns apart"), "{text}");
        let slow = record(0, 0.0, 1.0, true);
        let text = RunSummary::from_records([&slow]).to_string();
        assert!(!text.contains("apart"), "{text}");
    }

    #[test]
    fn monotonic_durations_are_used_and_said_to_be() {
        let t0 = 1.78e9;
        let step = 2f64.powi(-22);
        let mut fast = record(0, t0, 4.0 * step, true);
        let precise = std::time::Duration::from_nanos(1_000);
        if let Some(e) = fast.execution.as_mut() {
            e.durations = Some(wasmtaps::PhaseDurations {
                input_transform: std::time::Duration::ZERO,
                task: precise,
                result_transform: std::time::Duration::ZERO,
                execution: precise,
            });
        }
        let s = RunSummary::from_records([&fast]);
        let task = s.phase(Phase::Task);
        // The monotonic 1 µs, not the four 238 ns steps of the f64 times.
        assert!((task.max - 1e-6).abs() < 1e-12, "{task:?}");
        assert!(task.precise && !s.phase(Phase::Queue).precise);
        let text = s.to_string();
        assert!(
            text.contains("task, result transform, execution: durations from the workers'"),
            "{text}"
        );
        assert!(!text.contains("between f64"), "{text}");
    }

    #[test]
    fn human_seconds_picks_a_unit() {
        assert_eq!(human_seconds(0.0), "0 s");
        assert_eq!(human_seconds(0.00123), "1.23 ms");
        assert_eq!(human_seconds(12.5), "12.5 s");
        assert_eq!(human_seconds(250e-6), "250 µs");
    }
}
