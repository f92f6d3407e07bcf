//! The peers benchmark's criterion view: one no-op task and one 1 KiB round trip, each
//! submitted and awaited, on every Rust row (the full table, with the Python pools,
//! peak RSS and the other workloads, is `scripts/bench-peers`).
//!
//! Run: `cargo bench --manifest-path tests/peers/Cargo.toml`

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use wasmtaps_peers::{Kind, Payload, ROWS, make_row, pattern};

fn bench(c: &mut Criterion) {
    for (group, kind, bytes) in [("noop", Kind::Noop, 0), ("bytes_1k", Kind::Reverse, 1024)] {
        let mut g = c.benchmark_group(group);
        let input = Arc::new(Payload::Owned(pattern(bytes)));
        for (name, _) in ROWS.iter().filter(|r| !r.0.starts_with("python")) {
            let row = make_row(name).expect("row");
            g.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
                b.iter(|| black_box(row.submit(kind, input.clone()).wait()))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
