//! Compiling modules, with an optional on-disk cache of precompiled artifacts.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use wasmtime::Module;

use crate::module::LoadError;
use crate::runtime::Runtime;

/// Compiles `wasm`, or loads its precompiled form from the runtime's cache directory.
///
/// A cache file that fails to load (truncated, or from another wasmtime build) is
/// replaced by a fresh compilation; a cache that cannot be written is skipped.
pub(crate) fn compile(
    runtime: &Runtime,
    name: &str,
    hash: &[u8; 32],
    wasm: &[u8],
) -> Result<Module, LoadError> {
    let engine = &runtime.inner.engine;
    let path = cache_path(runtime, hash);
    if let Some(path) = &path {
        // Read into memory rather than map the file: a cache file truncated by someone
        // else while mapped would kill the process with SIGBUS.
        if let Ok(bytes) = std::fs::read(path) {
            // SAFETY: the cache directory is trusted by configuration (see
            // `RuntimeBuilder::cache_dir`), and files are only ever written there by
            // `Module::serialize` of an engine with the same compatibility hash, which is
            // part of the file name; wasmtime checks the header and version.
            if let Ok(module) = unsafe { Module::deserialize(engine, &bytes) } {
                return Ok(module);
            }
        }
    }
    let module = Module::new(engine, wasm).map_err(|e| LoadError::Compile {
        name: name.to_owned(),
        reason: format!("{e:#}"),
    })?;
    if let Some(path) = path
        && let Ok(bytes) = module.serialize()
    {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(module)
}

fn cache_path(runtime: &Runtime, hash: &[u8; 32]) -> Option<PathBuf> {
    let dir = runtime.inner.cache_dir.as_ref()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    runtime
        .inner
        .engine
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Some(dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish())))
}
