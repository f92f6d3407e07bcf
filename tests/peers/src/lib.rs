//! The peers benchmark (issue 8): the same workloads on wasmtaps and the alternatives a
//! user would otherwise pick, in one run on one machine.
//!
//! Every peer is a [`Row`]: something that runs a [`Kind`] of task on some bytes with
//! [`WORKERS`] workers and hands back the result bytes (a [`Payload`]). [`Workload::run`] drives a row
//! through one workload and measures what the caller sees. `src/main.rs` runs each
//! row/workload pair in its own process (for its peak RSS), several times ([`Runs`]), and
//! writes the report;
//! `benches/peers.rs` is the criterion view of the no-op and 1 KiB rows.

pub mod payload;
pub mod pool;
pub mod rows;
pub mod runs;
pub mod workload;

pub use payload::Payload;
pub use rows::{ROWS, Row, make_row};
pub use runs::Runs;
pub use workload::{Kind, Measurement, WORKLOADS, Workload};

/// Worker threads (or processes) of every row: the engine's default on the 2-core
/// machines the benchmark targets, and the Python pools' `max_workers`.
pub const WORKERS: usize = 2;

include!(concat!(env!("OUT_DIR"), "/extism_guest.rs"));

/// 64-bit FNV-1a, as `examples/tasks` `checksum` computes it.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    wasmtaps_example_tasks::bytes::fnv1a(bytes)
}

/// `len` deterministic bytes (byte `i` is `i % 251`, as `examples/tasks` `make_bytes`).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
