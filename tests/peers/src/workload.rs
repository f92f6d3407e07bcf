//! The workloads, and how a row is driven through one and measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Payload, Row, fnv1a, pattern};

/// Which task a workload runs: the same logic in every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `noop()`: no input, no output.
    Noop,
    /// `reverse_bytes(data)`: returns the input reversed.
    Reverse,
    /// `checksum(data)`: 64-bit FNV-1a of the input (8 little-endian bytes).
    Checksum,
}

impl Kind {
    /// The task's name in `examples/tasks`, the Extism guest and `python_pools.py`.
    pub fn task_name(self) -> &'static str {
        match self {
            Kind::Noop => "noop",
            Kind::Reverse => "reverse_bytes",
            Kind::Checksum => "checksum",
        }
    }
}

/// How the tasks of a workload depend on each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One task at a time: submit, wait for the result, repeat.
    Sequential,
    /// Each task takes its parent's result as its input.
    Chain,
    /// All tasks submitted at once, then all results awaited.
    Independent,
}

impl Shape {
    /// The name `python_pools.py` takes.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Sequential => "sequential",
            Shape::Chain => "chain",
            Shape::Independent => "independent",
        }
    }
}

/// One workload of the table.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Its name on the command line and in the table.
    pub name: &'static str,
    /// What the table says it is.
    pub description: &'static str,
    /// The task.
    pub kind: Kind,
    /// Input bytes of each task (of the first task for a chain).
    pub bytes: usize,
    /// Tasks measured in the Rust rows.
    pub tasks: usize,
    /// Tasks measured in the Python rows (fewer where pure Python is slow).
    pub python_tasks: usize,
    /// Dependencies.
    pub shape: Shape,
}

/// The workloads, in table order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "noop",
        description: "no-op task, one at a time",
        kind: Kind::Noop,
        bytes: 0,
        tasks: 2_000,
        python_tasks: 2_000,
        shape: Shape::Sequential,
    },
    Workload {
        name: "bytes-1k",
        description: "1 KiB in, the same 1 KiB reversed out, one at a time",
        kind: Kind::Reverse,
        bytes: 1 << 10,
        tasks: 2_000,
        python_tasks: 2_000,
        shape: Shape::Sequential,
    },
    Workload {
        name: "bytes-1m",
        description: "1 MiB in, 1 MiB reversed out, one at a time",
        kind: Kind::Reverse,
        bytes: 1 << 20,
        tasks: 200,
        python_tasks: 200,
        shape: Shape::Sequential,
    },
    Workload {
        name: "bytes-64m",
        description: "64 MiB in, 64 MiB reversed out, one at a time",
        kind: Kind::Reverse,
        bytes: 64 << 20,
        tasks: 5,
        python_tasks: 5,
        shape: Shape::Sequential,
    },
    Workload {
        name: "hash-1m",
        description: "compute: 64-bit FNV-1a over 1 MiB, one at a time",
        kind: Kind::Checksum,
        bytes: 1 << 20,
        tasks: 200,
        python_tasks: 20,
        shape: Shape::Sequential,
    },
    Workload {
        name: "chain-1000",
        description: "chain of 1000 dependent tasks, each reversing its parent's 1 KiB",
        kind: Kind::Reverse,
        bytes: 1 << 10,
        tasks: 1_000,
        python_tasks: 1_000,
        shape: Shape::Chain,
    },
    Workload {
        name: "independent-100k",
        description: "100,000 independent no-op tasks, all submitted, then all awaited",
        kind: Kind::Noop,
        bytes: 0,
        tasks: 100_000,
        python_tasks: 100_000,
        shape: Shape::Independent,
    },
];

/// What the caller measured over one workload.
#[derive(Clone, Debug, Default)]
pub struct Measurement {
    /// Tasks measured.
    pub tasks: usize,
    /// Wall time of the measured tasks, in seconds.
    pub seconds: f64,
    /// Median per-task latency, in microseconds.
    pub median_us: f64,
    /// 99th-percentile per-task latency, in microseconds.
    pub p99_us: f64,
}

impl Measurement {
    /// From per-task latencies and the total wall time.
    pub fn new(mut latencies: Vec<Duration>, total: Duration) -> Measurement {
        latencies.sort();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1e6
        };
        Measurement {
            tasks: latencies.len(),
            seconds: total.as_secs_f64(),
            median_us: at(0.5),
            p99_us: at(0.99),
        }
    }
}

impl Workload {
    /// Finds a workload by name.
    pub fn named(name: &str) -> Option<Workload> {
        WORKLOADS.iter().copied().find(|w| w.name == name)
    }

    /// The same workload scaled down for the smoke run CI does (`--smoke`): a hundredth
    /// of the tasks, at least 2, so every path runs and a broken row fails quickly.
    pub fn smoke(self) -> Workload {
        Workload {
            tasks: (self.tasks / 100).max(2),
            python_tasks: (self.python_tasks / 100).max(2),
            ..self
        }
    }

    /// Checks a task's result bytes against its input.
    fn check(&self, input: &[u8], output: &[u8], full: bool) {
        match self.kind {
            Kind::Noop => assert!(output.is_empty(), "noop returned {} bytes", output.len()),
            Kind::Reverse => {
                assert_eq!(output.len(), input.len(), "reverse_bytes: wrong length");
                assert_eq!(output.first(), input.last(), "reverse_bytes: wrong result");
                assert_eq!(output.last(), input.first(), "reverse_bytes: wrong result");
                if full {
                    assert!(
                        output.iter().eq(input.iter().rev()),
                        "reverse_bytes: wrong result"
                    );
                }
            }
            Kind::Checksum => {
                assert_eq!(output, fnv1a(input).to_le_bytes(), "checksum: wrong hash")
            }
        }
    }

    /// Runs this workload on `row` after a short warm-up (compilation and first
    /// instances are not measured) and returns what the caller saw. Latency is from
    /// submission to the result being in the caller's hands; for a chain, the time
    /// between one result and the next.
    pub fn run(&self, row: &dyn Row) -> Measurement {
        let input = Arc::new(Payload::Owned(pattern(self.bytes)));
        let warmup = if self.bytes >= 16 << 20 { 1 } else { 20 };
        for i in 0..warmup {
            let output = row.submit(self.kind, input.clone()).wait();
            self.check(&input, &output, i == 0);
        }
        match self.shape {
            Shape::Sequential => {
                let mut latencies = Vec::with_capacity(self.tasks);
                for _ in 0..self.tasks {
                    let start = Instant::now();
                    let output = row.submit(self.kind, input.clone()).wait();
                    latencies.push(start.elapsed());
                    self.check(&input, &output, false);
                }
                let total = latencies.iter().sum();
                Measurement::new(latencies, total)
            }
            Shape::Chain => {
                let start = Instant::now();
                let (done, output) = row.chain(self.kind, input.clone(), self.tasks);
                let total = start.elapsed();
                let expected = if self.tasks.is_multiple_of(2) {
                    input.to_vec()
                } else {
                    input.iter().rev().copied().collect()
                };
                assert!(*output == expected[..], "chain: wrong final result");
                let latencies = std::iter::once(start)
                    .chain(done.iter().copied())
                    .zip(done.iter())
                    .map(|(before, after)| *after - before)
                    .collect();
                Measurement::new(latencies, total)
            }
            Shape::Independent => {
                let start = Instant::now();
                let pending: Vec<_> = (0..self.tasks)
                    .map(|_| (Instant::now(), row.submit(self.kind, input.clone())))
                    .collect();
                let mut latencies = Vec::with_capacity(self.tasks);
                for (submitted, task) in pending {
                    let output = task.wait();
                    latencies.push(submitted.elapsed());
                    self.check(&input, &output, false);
                }
                Measurement::new(latencies, start.elapsed())
            }
        }
    }
}
