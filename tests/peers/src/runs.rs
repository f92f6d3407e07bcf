//! [`Runs`]: one row/workload pair measured in several runs (separate processes), reduced
//! to the median and the best run, so one noisy run on a shared machine moves no figure
//! by itself.

use crate::Measurement;

/// Several runs of one row on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Runs {
    /// Runs measured.
    pub runs: usize,
    /// Tasks measured per run.
    pub tasks: usize,
    /// Median over the runs of tasks/s.
    pub tasks_per_s: f64,
    /// The best run's tasks/s (the highest).
    pub best_tasks_per_s: f64,
    /// Median over the runs of the per-task median latency, in µs.
    pub median_us: f64,
    /// The best run's median latency (the lowest), in µs.
    pub best_median_us: f64,
    /// Median over the runs of the 99th-percentile latency, in µs.
    pub p99_us: f64,
    /// The highest peak RSS of any run, in KiB.
    pub rss_kib: f64,
}

/// The lower median of `values` (any order; not empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

impl Runs {
    /// Reduces runs given as (measurement, peak RSS in KiB); `None` when there are none.
    pub fn of(runs: &[(Measurement, f64)]) -> Option<Runs> {
        let first = runs.first()?;
        let each = |f: fn(&(Measurement, f64)) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let tps = each(|(m, _)| m.tasks as f64 / m.seconds);
        let medians = each(|(m, _)| m.median_us);
        Some(Runs {
            runs: runs.len(),
            tasks: first.0.tasks,
            tasks_per_s: median(tps.clone()),
            best_tasks_per_s: tps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            median_us: median(medians.clone()),
            best_median_us: medians.iter().copied().fold(f64::INFINITY, f64::min),
            p99_us: median(each(|(m, _)| m.p99_us)),
            rss_kib: each(|(_, rss)| *rss)
                .into_iter()
                .fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seconds: f64, median_us: f64, rss: f64) -> (Measurement, f64) {
        let m = Measurement {
            tasks: 100,
            seconds,
            median_us,
            p99_us: median_us * 2.0,
        };
        (m, rss)
    }

    #[test]
    fn median_and_best_of_three() {
        let r = Runs::of(&[
            run(1.0, 10.0, 5.0),
            run(0.5, 30.0, 9.0),
            run(2.0, 20.0, 7.0),
        ])
        .unwrap();
        assert_eq!((r.runs, r.tasks), (3, 100));
        assert_eq!((r.tasks_per_s, r.best_tasks_per_s), (100.0, 200.0));
        assert_eq!((r.median_us, r.best_median_us), (20.0, 10.0));
        assert_eq!((r.p99_us, r.rss_kib), (40.0, 9.0));
        assert_eq!(Runs::of(&[]), None);
    }
}
