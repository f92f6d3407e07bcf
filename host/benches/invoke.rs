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
use wasmtime::{Linker, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

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

    let engine = runtime.engine();
    let wasm_module = wasmtime::Module::from_file(engine, wasmtaps_example_artifacts::TASKS_WASM)
        .expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("wasi");
    linker
        .func_wrap("wasmtaps", "panic", |_: i32, _: i32| {})
        .expect("panic import");
    let pre = linker.instantiate_pre(&wasm_module).expect("pre");
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
    let new_store = || {
        let mut store = Store::new(engine, WasiCtxBuilder::new().build_p1());
        // Fuel metering is off in the default runtime (opt-in), so no fuel is set here
        // either: `set_fuel` on an engine without it is an error.
        store.set_epoch_deadline(1 << 40);
        store
    };
    group.bench_function("wasmtime_fresh", |b| {
        b.iter(|| {
            let mut store = new_store();
            let instance = pre.instantiate(&mut store).unwrap();
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ()).unwrap();
            }
            call_once(&mut store, &instance)
        })
    });
    let mut store = new_store();
    let instance = pre.instantiate(&mut store).unwrap();
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ()).unwrap();
    }
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
