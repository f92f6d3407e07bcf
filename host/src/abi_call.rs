//! A task module's ABI exports in an instance: its memory, and calls to `_initialize`,
//! `wasmtaps_alloc` and the tasks without wasmtime's per-call type check.
//!
//! Loading a module checks each of these exports' signatures once (`module.rs`,
//! `signature_is`). `Func::typed` would check again on every call, and its check looks
//! the function's type up in the engine's type registry: it takes the registry's lock,
//! counts a reference to the engine-wide entry and drops it again. That was ~3% of a
//! no-op task's CPU, and its cache lines are written by every worker thread's core,
//! which made it the largest single cost of running two threads instead of one
//! (BENCHMARKS.md, session 6). `Func::call_unchecked` calls without it.

use wasmtime::{Extern, Func, Instance, Memory, ModuleExport, Store, ValRaw};

use crate::failure::{ErrorKind, TaskError};
use crate::store::StoreState;

/// The function that `export` names in `instance`.
pub(crate) fn export_func(
    store: &mut Store<StoreState>,
    instance: &Instance,
    export: &ModuleExport,
) -> Result<Func, TaskError> {
    validated_export(store, instance, export, Extern::into_func)
}

/// The memory that `export` names in `instance`.
pub(crate) fn export_memory(
    store: &mut Store<StoreState>,
    instance: &Instance,
    export: &ModuleExport,
) -> Result<Memory, TaskError> {
    validated_export(store, instance, export, Extern::into_memory)
}

/// An export that loading the module checked to be there and of kind `T`.
fn validated_export<T>(
    store: &mut Store<StoreState>,
    instance: &Instance,
    export: &ModuleExport,
    kind: fn(Extern) -> Option<T>,
) -> Result<T, TaskError> {
    instance
        .get_module_export(&mut *store, export)
        .and_then(kind)
        .ok_or_else(|| {
            TaskError::new(
                ErrorKind::HostError,
                "a validated export is missing from the instance",
            )
        })
}

/// `_initialize: () -> ()`, a function of an instance in `store`.
pub(crate) fn call_initialize(store: &mut Store<StoreState>, func: Func) -> wasmtime::Result<()> {
    call(store, func, &mut [])
}

/// `wasmtaps_alloc: (i32) -> i32`, a function of an instance in `store`.
pub(crate) fn call_alloc(
    store: &mut Store<StoreState>,
    func: Func,
    len: i32,
) -> wasmtime::Result<i32> {
    let mut slots = [ValRaw::i32(len)];
    call(store, func, &mut slots)?;
    Ok(slots[0].get_i32())
}

/// A task export, `(i32, i32) -> i64`, a function of an instance in `store`.
pub(crate) fn call_task(
    store: &mut Store<StoreState>,
    func: Func,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i64> {
    let mut slots = [ValRaw::i32(ptr), ValRaw::i32(len)];
    call(store, func, &mut slots)?;
    Ok(slots[0].get_i64())
}

/// Calls `func` with its parameters in `slots`, leaving its results there.
///
/// Callers pass only functions of instances in `store`, found through a `ModuleExport`
/// of the instance's own module, whose signature loading checked to be the one the
/// caller's slots are laid out for (no references among them).
fn call(store: &mut Store<StoreState>, func: Func, slots: &mut [ValRaw]) -> wasmtime::Result<()> {
    // SAFETY: `func` belongs to an instance in `store` and its type is the one `slots`
    // hold parameters and room for results of (see above): `call_unchecked`'s contract.
    unsafe { func.call_unchecked(&mut *store, slots as *mut [ValRaw]) }
}
