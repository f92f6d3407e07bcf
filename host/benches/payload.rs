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
use wasmtaps::{Args, InvokeOptions, Limits, Runtime, Value};
use wasmtime::{Linker, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

fn bench(c: &mut Criterion) {
    let len: usize = std::env::var("WASMTAPS_PAYLOAD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    // The caller's buffer, shared with each argument instead of copied into it.
    let shared = bytes::Bytes::from(data.clone());
    let runtime = Runtime::builder()
        .default_limits(Limits {
            memory_bytes: 1 << 30,
            max_argument_bytes: 256 << 20,
            max_result_bytes: 256 << 20,
            ..Limits::DEFAULT
        })
        .build()
        .expect("runtime");
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

    let engine = runtime.engine();
    let wasm = wasmtime::Module::from_file(engine, wasmtaps_example_artifacts::TASKS_WASM)
        .expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("wasi");
    linker
        .func_wrap("wasmtaps", "panic", |_: i32, _: i32| {})
        .expect("panic import");
    let pre = linker.instantiate_pre(&wasm).expect("pre");
    group.bench_function("wasmtime_fresh", |b| {
        b.iter(|| {
            let mut request = Vec::with_capacity(data.len() + 8);
            request.extend_from_slice(&[0x92, 0x91, 0xc6]);
            request.extend_from_slice(&(data.len() as u32).to_be_bytes());
            request.extend_from_slice(&data);
            request.push(0x80);
            let mut store = Store::new(engine, WasiCtxBuilder::new().build_p1());
            store.set_epoch_deadline(1 << 40);
            let instance = pre.instantiate(&mut store).unwrap();
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ()).unwrap();
            }
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
