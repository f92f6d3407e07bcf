//! Which lane of the report's timeline each task is drawn in.
//!
//! A record whose JSON carries a `worker` key (see [`ReadStats::workers`]) is drawn in the
//! lane `hostname / worker`. Records without one are packed per host greedily: sorted by
//! `execution_start_time`, each goes to the lowest-numbered lane of its host that is free
//! by then (`hostname #0`, `#1`, ...), so the number of lanes of a host is its peak
//! concurrency. Tasks that never executed are drawn from submit to received in a last
//! `not executed` lane.
//!
//! [`ReadStats::workers`]: super::ReadStats::workers

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};

use wasmtaps::TaskInfo;

/// The lane of each record, and the lanes' labels in drawing order.
pub(super) struct Lanes {
    pub(super) labels: Vec<String>,
    /// Lane index per record; records that never executed go to the last lane.
    pub(super) of_record: Vec<usize>,
}

/// An execution's end and lane, ordered by end time, for the packing heap.
struct Busy(f64, usize);

impl PartialEq for Busy {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Busy {}
impl PartialOrd for Busy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Busy {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Packs intervals `(start, end)` into the fewest lanes, lowest free lane first; returns
/// the lane of each interval and the number of lanes.
fn pack(intervals: &[(f64, f64)]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (intervals[a], intervals[b]);
        x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1))
    });
    let mut lane_of = vec![0; intervals.len()];
    let mut busy: BinaryHeap<Reverse<Busy>> = BinaryHeap::new();
    let mut free: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    let mut lanes = 0;
    for i in order {
        let (start, end) = intervals[i];
        while let Some(Reverse(top)) = busy.peek()
            && top.0 <= start
        {
            free.push(Reverse(top.1));
            busy.pop();
        }
        let lane = free.pop().map(|Reverse(l)| l).unwrap_or_else(|| {
            lanes += 1;
            lanes - 1
        });
        lane_of[i] = lane;
        busy.push(Reverse(Busy(end.max(start), lane)));
    }
    (lane_of, lanes)
}

pub(super) fn assign_lanes(records: &[TaskInfo], workers: &[Option<String>]) -> Lanes {
    #[derive(Default)]
    struct Host {
        named: BTreeMap<String, Vec<usize>>,
        packed: Vec<usize>,
    }
    let mut hosts: BTreeMap<&str, Host> = BTreeMap::new();
    let mut not_executed = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Some(e) = &r.execution else {
            not_executed.push(i);
            continue;
        };
        let host = hosts.entry(e.hostname.as_str()).or_default();
        match workers.get(i).and_then(Option::as_ref) {
            Some(w) => host.named.entry(w.clone()).or_default().push(i),
            None => host.packed.push(i),
        }
    }
    let mut lanes = Lanes {
        labels: Vec::new(),
        of_record: vec![0; records.len()],
    };
    for (name, host) in hosts {
        for (worker, members) in host.named {
            for i in members {
                lanes.of_record[i] = lanes.labels.len();
            }
            lanes.labels.push(format!("{name} / {worker}"));
        }
        let intervals: Vec<(f64, f64)> = host
            .packed
            .iter()
            .map(|&i| {
                let e = records[i]
                    .execution
                    .as_ref()
                    .expect("packed records executed");
                (e.execution_start_time, e.execution_end_time)
            })
            .collect();
        let (lane_of, count) = pack(&intervals);
        let base = lanes.labels.len();
        for (k, &i) in host.packed.iter().enumerate() {
            lanes.of_record[i] = base + lane_of[k];
        }
        lanes
            .labels
            .extend((0..count).map(|k| format!("{name} #{k}")));
    }
    if !not_executed.is_empty() {
        for &i in &not_executed {
            lanes.of_record[i] = lanes.labels.len();
        }
        lanes.labels.push("not executed".to_owned());
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::executed;

    #[test]
    fn packing_reuses_the_lowest_free_lane() {
        let (lanes, count) = pack(&[(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (2.5, 3.5), (5.0, 6.0)]);
        assert_eq!(lanes, vec![0, 1, 0, 2, 0]);
        assert_eq!(count, 3);
    }

    #[test]
    fn lanes_per_host_worker_and_not_executed() {
        let mut cancelled = executed("a", 0.0, 1.0);
        cancelled.execution = None;
        let records = vec![
            executed("b", 0.0, 2.0),
            executed("a", 0.0, 2.0),
            executed("a", 1.0, 3.0),
            executed("a", 0.0, 9.0),
            cancelled,
        ];
        let workers = vec![None, None, None, Some("w7".to_owned()), None];
        let lanes = assign_lanes(&records, &workers);
        assert_eq!(
            lanes.labels,
            ["a / w7", "a #0", "a #1", "b #0", "not executed"]
        );
        assert_eq!(lanes.of_record, vec![3, 1, 2, 0, 4]);
    }
}
