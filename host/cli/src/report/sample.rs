//! [`TimelineSample`]: the task records the report's timeline draws, chosen while the
//! records stream past: all of them up to [`MAX_BARS`], above that a uniform random sample
//! (reservoir sampling, fixed seed, so a report is reproducible) plus failed tasks.

use wasmtaps::{ExceptionInfo, TaskInfo};

/// The most task bars the timeline draws.
pub const MAX_BARS: usize = 20_000;

/// Of [`MAX_BARS`], how many are kept for failed tasks when a run has more tasks than bars.
const MAX_FAILED_BARS: usize = MAX_BARS / 10;

/// The longest text a sampled record keeps per field, in characters: enough for a lane
/// label or a tooltip, and it bounds the sample's memory whatever the file holds.
const MAX_FIELD_CHARS: usize = 120;

/// The longest exception message a sampled record keeps (the tooltip shows this much).
const MAX_MESSAGE_CHARS: usize = 300;

/// The reservoirs' seed: any constant, so that the same file gives the same page.
const SEED: u64 = 0x7a95_5eed;

/// A record kept for drawing, with its position in the file and its worker key.
#[derive(Clone, Debug)]
pub struct SampledTask {
    /// 0-based position among the records read.
    pub index: u64,
    /// The record, with long texts cut (see [`MAX_FIELD_CHARS`]) and no traceback.
    pub info: TaskInfo,
    /// The record's optional `worker` key.
    pub worker: Option<String>,
}

/// The timeline's records and time span, added one at a time.
#[derive(Debug)]
pub struct TimelineSample {
    rng: fastrand::Rng,
    seen: u64,
    failed_seen: u64,
    all: Vec<SampledTask>,
    failed: Vec<SampledTask>,
    start: f64,
    end: f64,
}

impl Default for TimelineSample {
    fn default() -> Self {
        TimelineSample {
            rng: fastrand::Rng::with_seed(SEED),
            seen: 0,
            failed_seen: 0,
            all: Vec::new(),
            failed: Vec::new(),
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
        }
    }
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `info` with its texts cut to what the timeline shows.
fn trimmed(mut info: TaskInfo) -> TaskInfo {
    info.task_id = cut(&info.task_id, MAX_FIELD_CHARS);
    info.name = cut(&info.name, MAX_FIELD_CHARS);
    info.parent_task_ids = Vec::new();
    info.exception = info.exception.map(|x| ExceptionInfo {
        kind: cut(&x.kind, MAX_FIELD_CHARS),
        message: cut(&x.message, MAX_MESSAGE_CHARS),
        traceback: None,
    });
    if let Some(e) = &mut info.execution {
        e.hostname = cut(&e.hostname, MAX_FIELD_CHARS);
    }
    info
}

/// Offers item number `seen` (0-based) to a reservoir of `capacity` (Algorithm R): every
/// item seen so far stays in it with the same probability.
fn offer(
    reservoir: &mut Vec<SampledTask>,
    capacity: usize,
    seen: u64,
    rng: &mut fastrand::Rng,
    item: impl FnOnce() -> SampledTask,
) {
    if reservoir.len() < capacity {
        reservoir.push(item());
    } else {
        let slot = rng.u64(0..=seen);
        if slot < capacity as u64 {
            reservoir[slot as usize] = item();
        }
    }
}

impl TimelineSample {
    /// Adds the next record of the run.
    pub fn add(&mut self, info: TaskInfo, worker: Option<String>) {
        self.start = self.start.min(info.submit_time);
        self.end = self.end.max(info.submit_time);
        if let Some(t) = info.received_time {
            self.end = self.end.max(t);
        }
        if let Some(e) = &info.execution {
            self.start = self.start.min(e.execution_start_time);
            self.end = self.end.max(e.execution_end_time);
        }
        let index = self.seen;
        let failed = info.success == Some(false);
        let sampled = SampledTask {
            index,
            info: trimmed(info),
            worker: worker.map(|w| cut(&w, MAX_FIELD_CHARS)),
        };
        if failed {
            let seen = self.failed_seen;
            self.failed_seen += 1;
            offer(
                &mut self.failed,
                MAX_FAILED_BARS,
                seen,
                &mut self.rng,
                || sampled.clone(),
            );
        }
        offer(&mut self.all, MAX_BARS, index, &mut self.rng, || sampled);
        self.seen += 1;
    }

    /// How many records were added.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The earliest and latest time of any record, or `None` without records.
    pub fn span(&self) -> Option<(f64, f64)> {
        (self.seen > 0).then_some((self.start, self.end))
    }

    /// The records to draw, in file order: every record when there are at most
    /// [`MAX_BARS`]; otherwise up to [`MAX_BARS`] / 10 failed ones and a uniform random
    /// sample of all records filling the rest, at most [`MAX_BARS`] in all.
    pub fn drawn(&self) -> Vec<&SampledTask> {
        if self.seen <= MAX_BARS as u64 {
            return self.all.iter().collect();
        }
        let mut rng = fastrand::Rng::with_seed(SEED);
        let mut pool: Vec<&SampledTask> = self.all.iter().collect();
        // A random subset of a uniform sample is a uniform sample.
        let keep = MAX_BARS - self.failed.len();
        for i in 0..keep {
            let j = rng.usize(i..pool.len());
            pool.swap(i, j);
        }
        pool.truncate(keep);
        pool.extend(self.failed.iter());
        pool.sort_by_key(|t| t.index);
        pool.dedup_by_key(|t| t.index);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(i: usize, success: bool) -> TaskInfo {
        TaskInfo {
            task_id: format!("t{i}"),
            name: "x".repeat(1000),
            parent_task_ids: vec!["p".into(); 3],
            submit_time: i as f64,
            received_time: Some(i as f64 + 1.0),
            success: Some(success),
            exception: None,
            execution: None,
        }
    }

    #[test]
    fn small_runs_keep_every_record_in_order() {
        let mut s = TimelineSample::default();
        for i in 0..10 {
            s.add(task(i, true), None);
        }
        let drawn: Vec<u64> = s.drawn().iter().map(|t| t.index).collect();
        assert_eq!(drawn, (0..10).collect::<Vec<_>>());
        assert_eq!(s.span(), Some((0.0, 10.0)));
        assert!(s.drawn()[0].info.name.chars().count() <= MAX_FIELD_CHARS + 1);
    }

    #[test]
    fn large_runs_keep_a_spread_sample_and_failed_tasks() {
        let mut s = TimelineSample::default();
        let n = MAX_BARS * 5;
        for i in 0..n {
            s.add(task(i, i % 1000 != 7), None);
        }
        let drawn = s.drawn();
        assert!(drawn.len() <= MAX_BARS && drawn.len() > MAX_BARS - 100);
        let failed = drawn
            .iter()
            .filter(|t| t.info.success == Some(false))
            .count();
        assert_eq!(failed, n / 1000, "every failed task fits its share");
        // Uniform: each fifth of the run holds about a fifth of the sample.
        for fifth in 0..5 {
            let range = (fifth * n / 5) as u64..((fifth + 1) * n / 5) as u64;
            let k = drawn.iter().filter(|t| range.contains(&t.index)).count();
            assert!((3_000..5_000).contains(&k), "fifth {fifth}: {k}");
        }
    }
}
