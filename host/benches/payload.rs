//! One `reverse_bytes` round trip of a large byte string (1 MiB by default), two ways,
//! on the same engine (same pooling, same epoch settings):
//! - `runtime_fresh`: `Runtime::invoke` (fresh pooled instance, WASI, limits, timing),
//!   the argument a `Value::from_bin` sharing the caller's buffer, the result read in
//!   place with `Value::as_bin`;
//! - `wasmtime_fresh`: wasmtime's own instantiate-and-call of the same module doing
//!   the same ABI work by hand (one request buffer, written into the guest, the `bin`
//!   copied out into a `Vec`).
//!
//! Run: `cargo bench -p wasmtaps --bench payload` (`WASMTAPS_PAYLOAD_BYTES` sets the
//! size; `cargo bench -p wasmtaps --bench payload -- --test` runs each once).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use wasmtaps::{Args, InvokeOptions, Value};

#[path = "support/payload_runtime.rs"]
mod payload_runtime;
#[path = "support/raw_wasmtime.rs"]
mod raw_wasmtime;

fn bench(c: &mut Criterion) {
    let len: usize = std::env::var("WASMTAPS_PAYLOAD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    // The caller's buffer, shared with each argument instead of copied into it.
    let shared = bytes::Bytes::from(data.clone());
    let runtime = payload_runtime::build().expect("runtime");
    let module = runtime
        .load_file(wasmtaps_example_artifacts::TASKS_WASM)
        .expect("example module");
    let reverse = module.task("reverse_bytes").expect("reverse_bytes task");
    let options = InvokeOptions::default();
    let check = |out: &[u8]| {
        assert_eq!(out.len(), data.len());
        assert_eq!(out.first(), data.last());
    };

    let mut group = c.benchmark_group(format!("reverse_{len}_bytes"));
    group.bench_function("runtime_fresh", |b| {
        b.iter(|| {
            let args = Args::from_values([Value::from_bin(shared.clone()).expect("bin")]);
            let value = runtime
                .invoke(&reverse, &args, &options)
                .result
                .expect("reverse_bytes");
            check(value.as_bin().expect("a bin"));
            black_box(value)
        })
    });

    let pre = raw_wasmtime::example_module(runtime.engine()).expect("example module");
    group.bench_function("wasmtime_fresh", |b| {
        b.iter(|| {
            let mut request = Vec::with_capacity(data.len() + 8);
            request.extend_from_slice(&[0x92, 0x91, 0xc6]);
            request.extend_from_slice(&(data.len() as u32).to_be_bytes());
            request.extend_from_slice(&data);
            request.push(0x80);
            let (mut store, instance) = raw_wasmtime::fresh_instance(&pre).unwrap();
            let alloc = instance
                .get_typed_func::<i32, i32>(&mut store, "wasmtaps_alloc")
                .unwrap();
            let task = instance
                .get_typed_func::<(i32, i32), i64>(&mut store, "wasmtaps_task_reverse_bytes")
                .unwrap();
            let memory = instance.get_memory(&mut store, "memory").unwrap();
            let ptr = alloc.call(&mut store, request.len() as i32).unwrap();
            memory.write(&mut store, ptr as usize, &request).unwrap();
            let packed = task.call(&mut store, (ptr, request.len() as i32)).unwrap() as u64;
            drop(request);
            let (p, l) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
            let envelope = &memory.data(&store)[p..p + l];
            // {"ok": bin 32}: 4 bytes of map and key, 5 of header.
            assert_eq!(&envelope[..5], &[0x81, 0xa2, b'o', b'k', 0xc6]);
            let out = envelope[9..].to_vec();
            drop(store);
            check(&out);
            black_box(out)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
