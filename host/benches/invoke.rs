//! One invocation of the SDK-built no-op task, four ways, in one run:
//! - `runtime_fresh`: `Runtime::invoke` (fresh pooled instance, WASI, limits, timing);
//! - `wasmtime_fresh`: wasmtime's own instantiate-and-call of the same module, on the same
//!   engine (same pooling and epoch settings, fuel off), doing the same ABI work;
//! - `wasmtime_reused`: one instance called again and again (the floor for sandboxing);
//! - `native`: the same Rust function called natively.
//!
//! Run: `cargo bench -p wasmtaps --bench invoke`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use wasmtaps::{Args, InvokeOptions, Runtime};
use wasmtime::Store;
use wasmtime_wasi::p1::WasiP1Ctx;

#[path = "support/raw_wasmtime.rs"]
mod raw_wasmtime;

const NOOP_INPUT: &[u8] = &[0x92, 0x90, 0x80]; // [[], {}]

fn bench(c: &mut Criterion) {
    // WASMTAPS_KEEP_RESIDENT (bytes) tries other pooling settings than the default.
    let mut builder = Runtime::builder();
    if let Some(bytes) = std::env::var("WASMTAPS_KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.keep_resident(bytes);
    }
    let runtime = builder.build().expect("runtime");
    let module = runtime
        .load_file(wasmtaps_example_artifacts::TASKS_WASM)
        .expect("example module");
    let noop = module.task("noop").expect("noop task");
    let args = Args::new();
    let options = InvokeOptions::default();
    assert!(runtime.invoke(&noop, &args, &options).result.is_ok());

    let mut group = c.benchmark_group("noop_invocation");
    group.bench_function("runtime_fresh", |b| {
        b.iter(|| black_box(runtime.invoke(&noop, &args, &options).result.is_ok()))
    });

    let pre = raw_wasmtime::example_module(runtime.engine()).expect("example module");
    let call_once = |store: &mut Store<WasiP1Ctx>, instance: &wasmtime::Instance| {
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut *store, "wasmtaps_alloc")
            .unwrap();
        let task = instance
            .get_typed_func::<(i32, i32), i64>(&mut *store, "wasmtaps_task_noop")
            .unwrap();
        let memory = instance.get_memory(&mut *store, "memory").unwrap();
        let ptr = alloc.call(&mut *store, NOOP_INPUT.len() as i32).unwrap();
        memory.write(&mut *store, ptr as usize, NOOP_INPUT).unwrap();
        let packed = task
            .call(&mut *store, (ptr, NOOP_INPUT.len() as i32))
            .unwrap() as u64;
        let (p, l) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        black_box(memory.data(&*store)[p..p + l].len())
    };
    group.bench_function("wasmtime_fresh", |b| {
        b.iter(|| {
            let (mut store, instance) = raw_wasmtime::fresh_instance(&pre).unwrap();
            call_once(&mut store, &instance)
        })
    });
    let (mut store, instance) = raw_wasmtime::fresh_instance(&pre).unwrap();
    group.bench_function("wasmtime_reused", |b| {
        b.iter(|| call_once(&mut store, &instance))
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            wasmtaps_example_tasks::basics::noop();
            black_box(())
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
