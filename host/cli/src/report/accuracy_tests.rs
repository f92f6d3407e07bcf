//! The streaming summary against exact percentiles: a generated 1M-line `tasks.jsonl` is
//! read through [`read_records`] into a [`SummaryBuilder`] and every phase's median and p99 is compared
//! with the nearest-rank value of the sorted durations.

use std::io::{BufWriter, Write};

use super::phase::Phase;
use super::read::read_records;
use super::summary::SummaryBuilder;
use wasmtaps::{ExceptionInfo, ExecutionInfo, TaskInfo};

/// Records in the generated file.
const TASKS: usize = 1_000_000;

/// The summary's promise for its medians.
const MEDIAN_TOLERANCE: f64 = 0.01;

/// A duration in seconds spread over six decades (about 1 µs to 1 s), log-uniform.
fn spread(rng: &mut fastrand::Rng) -> f64 {
    10f64.powf(-6.0 + 6.0 * rng.f64())
}

/// Task `i` of a run started at a 2026 Unix time, so its times have 238 ns steps.
fn record(i: usize, rng: &mut fastrand::Rng) -> TaskInfo {
    let submit = 1.78e9 + i as f64 * 1e-5;
    let start = submit + spread(rng);
    let input = start + spread(rng) * 1e-2;
    let task_end = input + spread(rng);
    let result_end = task_end + spread(rng) * 1e-2;
    let end = result_end + 2e-6;
    let failed = i.is_multiple_of(97);
    TaskInfo {
        task_id: format!("{i:032x}"),
        name: "spin".into(),
        parent_task_ids: vec![],
        submit_time: submit,
        // Some lags negative, as clocks of two hosts make them.
        received_time: Some(end + spread(rng) - 1e-4),
        success: Some(!failed),
        exception: failed.then(|| ExceptionInfo {
            kind: format!("Kind{}", i % 3),
            message: "boom".into(),
            traceback: None,
        }),
        execution: Some(ExecutionInfo {
            hostname: "h".into(),
            execution_start_time: start,
            execution_end_time: end,
            task_start_time: input,
            task_end_time: task_end,
            input_transform_start_time: start,
            input_transform_end_time: input,
            result_transform_start_time: task_end,
            result_transform_end_time: result_end,
            durations: None,
        }),
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
fn a_million_streamed_records_give_medians_within_one_percent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tasks.jsonl");
    let mut exact: Vec<Vec<f64>> = Phase::ALL.iter().map(|_| Vec::new()).collect();
    let mut rng = fastrand::Rng::with_seed(14);
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..TASKS {
        let r = record(i, &mut rng);
        // The file holds what serde_json prints; durations are computed from the same f64s.
        for (phase, values) in Phase::ALL.iter().zip(&mut exact) {
            values.extend(phase.duration(&r));
        }
        serde_json::to_writer(&mut out, &r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);

    let mut builder = SummaryBuilder::default();
    let stats = read_records(&path, |info, _| builder.add(&info))?;
    let summary = builder.summary();
    assert_eq!((stats.lines, stats.skipped), (TASKS, 0));
    assert_eq!(summary.tasks, TASKS as u64);
    assert_eq!(summary.failed, TASKS.div_ceil(97) as u64);
    assert_eq!(summary.failures.values().sum::<u64>(), summary.failed);
    for (phase, mut values) in Phase::ALL.into_iter().zip(exact) {
        values.sort_by(f64::total_cmp);
        let stats = summary.phases.iter().find(|s| s.phase == phase).unwrap();
        assert_eq!(stats.count, values.len() as u64, "{phase:?}");
        assert_eq!(
            stats.max,
            *values.last().unwrap(),
            "{phase:?}: max is exact"
        );
        for (name, got, q) in [("median", stats.median, 0.5), ("p99", stats.p99, 0.99)] {
            let want = nearest_rank(&values, q);
            let error = ((got - want) / want).abs();
            assert!(
                error <= MEDIAN_TOLERANCE,
                "{phase:?} {name}: {got} vs exact {want} ({:.3} %)",
                error * 100.0
            );
        }
    }
    Ok(())
}
