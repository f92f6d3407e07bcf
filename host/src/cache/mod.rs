//! Compiled modules and components: kept in memory by content hash ([`ModuleCache`]) and, optionally, on
//! disk as precompiled artifacts ([`DiskCache`]).

mod disk;
mod memory;
mod trust;

pub(crate) use disk::{DiskCache, Lookup};
pub(crate) use memory::ModuleCache;
pub use memory::ModuleCacheStats;

use wasmtime::Module;
use wasmtime::component::Component;

use crate::module::LoadError;
use crate::runtime::Runtime;

/// Compiles `wasm`, or loads its precompiled form from the runtime's cache directory.
///
/// A cache file that is refused (not private, not bound to this wasm and engine,
/// truncated, from another wasmtime build) is replaced by a fresh compilation, with a
/// warning; a cache that cannot be written is skipped, with a warning.
pub(crate) fn compile(
    runtime: &Runtime,
    name: &str,
    hash: &[u8; 32],
    wasm: &[u8],
) -> Result<Module, LoadError> {
    let engine = &runtime.inner.engine;
    let disk = runtime.inner.disk_cache.as_ref();
    if let Some(disk) = disk {
        match disk.load(engine, hash) {
            Lookup::Hit(module) => return Ok(module),
            Lookup::Miss => {}
            Lookup::Refused(why) => {
                tracing::warn!("module cache: not using a cached artifact for {name}: {why}");
            }
        }
    }
    let module = Module::new(engine, wasm).map_err(|e| LoadError::Compile {
        name: name.to_owned(),
        reason: format!("{e:#}"),
    })?;
    if let Some(disk) = disk
        && let Err(why) = disk.store(hash, &module)
    {
        tracing::warn!("module cache: not caching {name}: {why}");
    }
    Ok(module)
}

/// Compiles the component `wasm`, or loads its precompiled form from the runtime's cache
/// directory, exactly as [`compile`] does for core modules.
pub(crate) fn compile_component(
    runtime: &Runtime,
    name: &str,
    hash: &[u8; 32],
    wasm: &[u8],
) -> Result<Component, LoadError> {
    let engine = &runtime.inner.component_engine;
    let disk = runtime.inner.disk_cache.as_ref();
    if let Some(disk) = disk {
        match disk.load_component(engine, hash) {
            Lookup::Hit(component) => return Ok(component),
            Lookup::Miss => {}
            Lookup::Refused(why) => {
                tracing::warn!("module cache: not using a cached artifact for {name}: {why}");
            }
        }
    }
    let component = Component::new(engine, wasm).map_err(|e| LoadError::Compile {
        name: name.to_owned(),
        reason: format!("{e:#}"),
    })?;
    if let Some(disk) = disk
        && let Err(why) = disk.store_component(hash, &component)
    {
        tracing::warn!("module cache: not caching {name}: {why}");
    }
    Ok(component)
}
