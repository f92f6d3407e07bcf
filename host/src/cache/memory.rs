//! The runtime's compiled modules, by content hash, capped in total size: loading a
//! module compiled before is free, and a long-lived runtime that meets an endless
//! stream of different modules keeps only the most recently used ones.

use std::sync::Mutex;

use lru::LruCache;

use crate::module::{Code, TaskModule};

/// Loaded modules by the SHA-256 of their wasm, least recently used evicted first once
/// their total weight passes the cap. Evicting a module only forgets it: tasks and
/// futures holding it keep it alive.
pub(crate) struct ModuleCache {
    inner: Mutex<Inner>,
    /// Told the hash of each module the cache forgets.
    on_forget: Box<OnForget>,
}

/// What a [`ModuleCache`] calls with the hash of each module it forgets.
type OnForget = dyn Fn(&[u8; 32]) + Send + Sync;

struct Inner {
    modules: LruCache<[u8; 32], (TaskModule, u64)>,
    bytes: u64,
    max_bytes: u64,
}

/// What a runtime's in-memory module cache holds (from
/// [`Runtime::module_cache_stats`](crate::Runtime::module_cache_stats)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleCacheStats {
    /// Modules held.
    pub modules: usize,
    /// Their total weight: wasm bytes plus compiled code and data.
    pub bytes: u64,
    /// The cap on `bytes`.
    pub max_bytes: u64,
}

impl ModuleCache {
    /// A cache of at most `max_bytes`, calling `on_forget` with the hash of each module
    /// it evicts.
    pub(crate) fn new(
        max_bytes: u64,
        on_forget: impl Fn(&[u8; 32]) + Send + Sync + 'static,
    ) -> ModuleCache {
        ModuleCache {
            on_forget: Box::new(on_forget),
            inner: Mutex::new(Inner {
                modules: LruCache::unbounded(),
                bytes: 0,
                max_bytes,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The module with this hash, marked as just used.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<TaskModule> {
        self.lock().modules.get(hash).map(|(m, _)| m.clone())
    }

    /// Whether the module with this hash is kept (without marking it used).
    pub(crate) fn contains(&self, hash: &[u8; 32]) -> bool {
        self.lock().modules.contains(hash)
    }

    /// Keeps `module` (unless a module with its hash is already kept, which is returned
    /// instead), then evicts the least recently used others until the total fits. A
    /// module heavier than the whole cap is returned but not kept.
    pub(crate) fn insert(&self, hash: [u8; 32], module: TaskModule) -> TaskModule {
        let mut inner = self.lock();
        if let Some((found, _)) = inner.modules.get(&hash) {
            return found.clone();
        }
        let weight = weight(&module);
        if weight > inner.max_bytes {
            return module;
        }
        inner.modules.put(hash, (module.clone(), weight));
        inner.bytes += weight;
        let mut forgotten = Vec::new();
        while inner.bytes > inner.max_bytes {
            match inner.modules.pop_lru() {
                Some((evicted, (_, w))) => {
                    inner.bytes -= w;
                    forgotten.push(evicted);
                }
                None => break,
            }
        }
        drop(inner);
        for hash in &forgotten {
            (self.on_forget)(hash);
        }
        module
    }

    pub(crate) fn stats(&self) -> ModuleCacheStats {
        let inner = self.lock();
        ModuleCacheStats {
            modules: inner.modules.len(),
            bytes: inner.bytes,
            max_bytes: inner.max_bytes,
        }
    }
}

/// What a loaded module costs to keep: its wasm and its compiled image.
fn weight(module: &TaskModule) -> u64 {
    let image = match &module.inner.code {
        Code::Core(core) => core.pre.module().image_range(),
        Code::Component(component) => component.pre.component().image_range(),
    };
    (module.wasm_bytes().len() + (image.end as usize - image.start as usize)) as u64
}
