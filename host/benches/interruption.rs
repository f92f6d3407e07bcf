//! What CPU guards cost compute-bound guests: the example module's `matmul(256)` on plain
//! wasmtime engines with no guard, epoch interruption only (wall-clock deadlines), fuel
//! only, the wasmtaps runtime's engine, and the same function natively — one run.
//!
//! Run: `cargo bench -p wasmtaps --bench interruption`

use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;

/// Calls per row, the best kept: 5, or 1 in `cargo bench -- --test` (CI's smoke run,
/// which only proves the bench still runs).
fn rounds() -> usize {
    if std::env::args().any(|a| a == "--test") {
        1
    } else {
        5
    }
}

/// Best of [`rounds`] calls of `matmul(256, 1)` on one instance of `engine`.
fn best_wasm(engine: &Engine) -> Duration {
    let module = Module::from_file(engine, wasmtaps_example_artifacts::TASKS_WASM).expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("wasi");
    linker
        .func_wrap("wasmtaps", "panic", |_: i32, _: i32| {})
        .expect("panic import");
    let mut store = Store::new(engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
    let _ = store.set_fuel(u64::MAX);
    store.set_epoch_deadline(1 << 40);
    let instance = linker.instantiate(&mut store, &module).expect("instance");
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ()).expect("_initialize");
    }
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut store, "wasmtaps_alloc")
        .expect("alloc");
    let task = instance
        .get_typed_func::<(i32, i32), i64>(&mut store, "wasmtaps_task_matmul")
        .expect("matmul");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let input = rmp_serde::to_vec(&(
        (256u32, 1u64),
        std::collections::BTreeMap::<String, u8>::new(),
    ))
    .expect("input");
    (0..rounds())
        .map(|_| {
            let ptr = alloc
                .call(&mut store, input.len() as i32)
                .expect("alloc call");
            memory
                .write(&mut store, ptr as usize, &input)
                .expect("write");
            let started = Instant::now();
            task.call(&mut store, (ptr, input.len() as i32))
                .expect("matmul call");
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn engine(configure: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::new();
    configure(&mut config);
    Engine::new(&config).expect("engine")
}

fn main() {
    let native = (0..rounds())
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(wasmtaps_example_tasks::compute::matmul(256, 1));
            started.elapsed()
        })
        .min()
        .unwrap_or_default();
    let rows = [
        ("wasm, no CPU guard", best_wasm(&engine(|_| {}))),
        (
            "wasm, epoch interruption (deadlines)",
            best_wasm(&engine(|c| {
                c.epoch_interruption(true);
            })),
        ),
        (
            "wasm, fuel metering",
            best_wasm(&engine(|c| {
                c.consume_fuel(true);
            })),
        ),
        (
            "wasm, wasmtaps runtime engine (default)",
            best_wasm(wasmtaps::Runtime::new().expect("runtime").engine()),
        ),
        (
            "wasm, wasmtaps runtime engine with fuel",
            best_wasm(
                wasmtaps::Runtime::builder()
                    .fuel_metering(true)
                    .build()
                    .expect("runtime")
                    .engine(),
            ),
        ),
    ];
    println!("matmul(256), best of {}:", rounds());
    println!(
        "  {:<42} {:>9.2} ms  1.00x",
        "native",
        native.as_secs_f64() * 1e3
    );
    for (label, time) in rows {
        println!(
            "  {label:<42} {:>9.2} ms  {:.2}x",
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() / native.as_secs_f64()
        );
    }
}
