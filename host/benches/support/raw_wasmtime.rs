//! Raw wasmtime running the example task module through the wasmtaps ABI by hand, for
//! the benches (and `examples/payload_cost.rs`) that measure wasmtaps beside it on the
//! same engine.

use wasmtime::{Engine, Instance, InstancePre, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

/// The example task module (`wasmtaps_example_artifacts::TASKS_WASM`) compiled on
/// `engine` and linked with WASI preview 1 and the SDK's `wasmtaps::panic` import, ready
/// to instantiate.
pub fn example_module(engine: &Engine) -> wasmtime::Result<InstancePre<WasiP1Ctx>> {
    let module = Module::from_file(engine, wasmtaps_example_artifacts::TASKS_WASM)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s)?;
    linker.func_wrap("wasmtaps", "panic", |_: i32, _: i32| {})?;
    linker.instantiate_pre(&module)
}

/// A fresh store and instance of `pre`, initialised (`_initialize`, when the module has
/// one): no fuel (the default runtime meters none, and `set_fuel` on an engine without
/// it is an error), the epoch deadline far off.
pub fn fresh_instance(
    pre: &InstancePre<WasiP1Ctx>,
) -> wasmtime::Result<(Store<WasiP1Ctx>, Instance)> {
    let mut store = Store::new(pre.module().engine(), WasiCtxBuilder::new().build_p1());
    store.set_epoch_deadline(1 << 40);
    let instance = pre.instantiate(&mut store)?;
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ())?;
    }
    Ok((store, instance))
}
