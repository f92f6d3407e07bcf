//! [`Runtime`]: the wasmtime engine, configured for one fresh instance per invocation,
//! with its [`RuntimeBuilder`], the [`CompileBudget`] it compiles modules within and its
//! module cache's [`ModuleCacheStats`].

pub use crate::cache::ModuleCacheStats;
pub use crate::survey::CompileBudget;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig,
};

use crate::cache::{DiskCache, ModuleCache};
use crate::component::{self, ComponentState, Spares};
use crate::limits::{LimitError, LimitOverrides, Limits};
use crate::store::StoreState;

/// Runs task invocations, each in a fresh wasm instance.
///
/// A `Runtime` owns a wasmtime engine with a pooling instance allocator (copy-on-write
/// memory images, so a fresh instance costs microseconds), the linker that provides WASI
/// (no preopened directories, no environment, no network) and the `wasmtaps.panic` import,
/// a cache of compiled modules keyed by content hash, and a thread that advances the epoch
/// used for wall-clock deadlines. Clone it freely: clones share everything.
///
/// # Examples
/// ```
/// use wasmtaps::{Args, Runtime, Value};
/// let runtime = Runtime::new()?;
/// let module = runtime.load_wat("adder", r#"(module
///     (memory (export "memory") 1)
///     (global $next (mut i32) (i32.const 1024))
///     (func (export "wasmtaps_alloc") (param $len i32) (result i32)
///         (local $p i32)
///         (local.set $p (global.get $next))
///         (global.set $next (i32.add (global.get $next) (local.get $len)))
///         (local.get $p))
///     ;; Returns {"ok": 7} whatever the input.
///     (data (i32.const 16) "\81\a2ok\07")
///     (func (export "wasmtaps_task_seven") (param i32 i32) (result i64)
///         (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 5))))"#)?;
/// let task = module.task("seven")?;
/// let outcome = runtime.invoke(&task, &Args::new(), &Default::default());
/// assert_eq!(outcome.result?.decode::<i64>()?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    /// Runs core modules.
    pub(crate) engine: Engine,
    /// Runs components: a pool sized for them, with its own reset mode.
    pub(crate) component_engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    pub(crate) component_linker: wasmtime::component::Linker<ComponentState>,
    pub(crate) defaults: Limits,
    pub(crate) maximum: Limits,
    pub(crate) budget: CompileBudget,
    pub(crate) fuel_metering: bool,
    pub(crate) epoch_tick: Duration,
    pub(crate) disk_cache: Option<DiskCache>,
    pub(crate) modules: ModuleCache,
    /// Components' spare instances, made ahead of the calls that take them.
    pub(crate) spares: Spares,
    pub(crate) hostname: Arc<str>,
    ticker_stop: Arc<AtomicBool>,
    /// How it was built, for [`Runtime::with_fuel_metering`].
    builder: RuntimeBuilder,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        self.spares.stop();
    }
}

/// Configures a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    defaults: Limits,
    maximum: Limits,
    budget: CompileBudget,
    fuel_metering: bool,
    max_wasm_stack: usize,
    epoch_tick: Duration,
    epoch_interruption: bool,
    instance_slots: u32,
    spare_instances: bool,
    spare_instances_above: Duration,
    keep_resident: usize,
    cache_dir: Option<PathBuf>,
    cache_dir_max_bytes: u64,
    map_cache_artifacts: bool,
    loaded_modules_max_bytes: u64,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            defaults: Limits::DEFAULT,
            maximum: Limits::MAXIMUM,
            budget: CompileBudget::DEFAULT,
            fuel_metering: false,
            max_wasm_stack: 512 << 10,
            epoch_tick: Duration::from_millis(1),
            epoch_interruption: true,
            instance_slots: 256,
            spare_instances: true,
            spare_instances_above: Duration::from_micros(100),
            keep_resident: 1 << 20,
            cache_dir: None,
            cache_dir_max_bytes: 1 << 30,
            map_cache_artifacts: false,
            loaded_modules_max_bytes: 512 << 20,
        }
    }
}

/// The runtime could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The default limits exceed the maximums.
    #[error("default limits are above the maximums")]
    Limits(#[from] LimitError),
    /// wasmtime rejected the configuration.
    #[error("cannot configure wasmtime: {0:#}")]
    Engine(wasmtime::Error),
}

impl RuntimeBuilder {
    /// Limits applied to every invocation unless overridden (default [`Limits::DEFAULT`]).
    pub fn default_limits(mut self, limits: Limits) -> Self {
        self.defaults = limits;
        self
    }

    /// Limits no invocation may exceed, whatever it asks for (default [`Limits::MAXIMUM`]).
    /// `maximum.memory_bytes` also sizes each pooled memory slot.
    pub fn maximum_limits(mut self, limits: Limits) -> Self {
        self.maximum = limits;
        self
    }

    /// How large a module, and any one function in it, may be compiled (default
    /// [`CompileBudget::DEFAULT`]). Larger modules are refused with
    /// [`LoadError::ModuleTooLarge`](crate::LoadError::ModuleTooLarge),
    /// [`LoadError::FunctionTooLarge`](crate::LoadError::FunctionTooLarge) or
    /// [`LoadError::TooManyLocals`](crate::LoadError::TooManyLocals) before Cranelift
    /// sees them.
    pub fn compile_budget(mut self, budget: CompileBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Whether wasm code counts fuel, which fuel limits need. Default: off unless the
    /// default or maximum limits set fuel. Metering is engine-wide and costs compute-bound
    /// guests dearly (a tight loop ran about 4× slower with it here; see BENCHMARKS.md), so
    /// it is opt-in; wall-clock deadlines work without it.
    pub fn fuel_metering(mut self, enable: bool) -> Self {
        self.fuel_metering = enable;
        self
    }

    /// The wasm call stack available to each invocation (default 512 KiB). This is
    /// engine-wide in wasmtime, so it cannot vary per invocation.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// How often deadlines are checked (default 1 ms). A deadline is measured against the
    /// clock, never counted in ticks: it never fires early and fires within about one
    /// tick after it passes.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_micros(100));
        self
    }

    /// Whether compiled wasm checks the deadline on every loop back-edge and function entry
    /// (default on). Off, loops run unguarded (a matrix multiply ran 1.6–1.8× faster here)
    /// and **this runtime no longer stops wasm code at its deadline**: only WASI sleeps
    /// are still cut short. Turn it off only where something outside enforces deadlines,
    /// as a [`ProcessExecutor`](crate::ProcessExecutor) does for its worker processes
    /// (`wasmtaps worker-process --deadline-mode process`): it kills a worker whose task
    /// overruns its timeout. Memory, table and fuel limits are unaffected.
    pub fn epoch_interruption(mut self, enable: bool) -> Self {
        self.epoch_interruption = enable;
        self
    }

    /// How many instances may be alive at once (default 256). Each slot reserves address
    /// space for one memory of `maximum.memory_bytes`; core modules and components have
    /// a pool each, and a component with two memories takes two of its pool's slots.
    pub fn instance_slots(mut self, slots: u32) -> Self {
        self.instance_slots = slots.max(1);
        self
    }

    /// Whether a component task's next instance is made ahead of the call that takes it
    /// (default on). A call's critical path is then only the call: a Python no-op's
    /// instantiation (about 260 µs) happens on the runtime's spare thread while the
    /// previous call runs. That thread runs at the lowest priority (nice 19): on busy
    /// cores calls mostly instantiate their own, as without spares, and spares take next
    /// to no CPU from running tasks. Each call still gets a fresh instance, made with its limits:
    /// a spare serves one call, only a call with the same limits and no read-only
    /// directories takes it, and a spare that failed to instantiate turns spares off for
    /// its component under those limits. At most one spare per (component, limits) and at most a quarter of
    /// [`instance_slots`](RuntimeBuilder::instance_slots) (16 at most) exist at once;
    /// a module the runtime forgets drops its spares. The record's phases start when the
    /// call takes the spare: the spare's instantiation, made before, is not in them.
    /// Core modules, which instantiate in microseconds, never have spares, nor do
    /// components that instantiate faster than
    /// [`spare_instances_above`](RuntimeBuilder::spare_instances_above).
    pub fn spare_instances(mut self, enable: bool) -> Self {
        self.spare_instances = enable;
        self
    }

    /// Spare instances are made only for components whose fresh instantiation takes
    /// longer than this (default 100 µs; measured on each fresh instantiation, so a
    /// component's first call never finds a spare). Handing a spare over costs a wake-up
    /// of the spare thread and the instance's move between cores, which a cheap
    /// instantiation does not repay: a WAT component's 4.7 µs call took 11–24 µs with
    /// spares, while a Python call that finds one ready takes ~0.1 ms instead of
    /// ~0.37 ms. `Duration::ZERO` makes spares for every component from its first call.
    pub fn spare_instances_above(mut self, threshold: Duration) -> Self {
        self.spare_instances_above = threshold;
        self
    }

    /// The most spare instances this configuration keeps at once.
    fn max_spares(&self) -> usize {
        if self.spare_instances {
            (self.instance_slots / 4).min(MAX_SPARES) as usize
        } else {
            0
        }
    }

    /// Bytes at the start of each memory slot that stay resident between instances and
    /// are reset by copying instead of unmapping (default 1 MiB). Larger values trade a
    /// memset for page faults.
    pub fn keep_resident(mut self, bytes: usize) -> Self {
        self.keep_resident = bytes;
        self
    }

    /// Keeps precompiled modules in this directory, so a module is compiled once per
    /// machine rather than once per process.
    ///
    /// Its files are native code, so the directory must be private: it is created `0700`
    /// if missing, and one that another user owns or that its group or others can write
    /// (or that lies below such a directory, unless sticky like `/tmp`) is not used — the
    /// runtime compiles instead and logs a warning ([`Runtime::cache_dir`] is then `None`).
    /// Each file is bound to the SHA-256 of its wasm and to the engine configuration and
    /// is checked before it is loaded.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The most the cache directory's artifacts may take on disk (default 1 GiB); the
    /// least recently used are deleted past it.
    pub fn cache_dir_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_dir_max_bytes = bytes;
        self
    }

    /// Whether precompiled modules from the cache directory are mapped rather than read
    /// (default off). Mapped, a process touches only the pages of an artifact it needs
    /// (a warm `wasmtaps call` of a Python task reads a fraction of its 35 MB artifact,
    /// and copies none of it), but a cache file truncated while mapped kills the
    /// process with `SIGBUS`. Only this user and root can write the cache's files and
    /// wasmtaps never writes one in place, so only they could; turn it on for
    /// short-lived processes, as `wasmtaps call` does, not for long-lived workers.
    pub fn map_cache_artifacts(mut self, enable: bool) -> Self {
        self.map_cache_artifacts = enable;
        self
    }

    /// The most the compiled modules kept in memory may weigh, wasm plus compiled code
    /// (default 512 MiB); the least recently used are forgotten past it, so a long-lived
    /// runtime meeting endless new modules stays bounded. Modules still in use by a task
    /// stay alive; a forgotten module is compiled (or read from the cache directory)
    /// again when next loaded.
    pub fn loaded_modules_max_bytes(mut self, bytes: u64) -> Self {
        self.loaded_modules_max_bytes = bytes;
        self
    }

    /// The pool core modules are instantiated from: one memory and one table per
    /// instance slot, no components.
    fn core_pool(&self) -> PoolingAllocationConfig {
        let slots = self.instance_slots;
        let mut pool = self.pool_limits();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .total_component_instances(0);
        pool
    }

    /// The pool components are instantiated from. A component holds several core
    /// instances and tables (a Python component: 14 to 38 core instances, 2 tables up to
    /// ~5.7k elements, one memory of ~12.4 MiB), so each slot has room for several.
    /// Memories stay one per slot, as for core modules: each reserves address space for
    /// `maximum.memory_bytes`, so a component with two memories (QuickJS) halves how
    /// many can be alive at once rather than doubling every runtime's reservation.
    ///
    /// Slots are reset with `PAGEMAP_SCAN` where the kernel has it (Linux 6.7+): it
    /// resets only the pages an instance touched, which pays off for components' large
    /// initial memories. It is not used for core modules, whose tiny no-op instances
    /// it slowed (see BENCHMARKS.md).
    fn component_pool(&self) -> PoolingAllocationConfig {
        let slots = self.instance_slots;
        let mut pool = self.pool_limits();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
            .total_memories(slots)
            .total_tables(slots.saturating_mul(TABLES_PER_SLOT))
            .max_core_instances_per_component(component::MAX_CORE_INSTANCES)
            .max_memories_per_component(component::MAX_MEMORIES)
            .max_tables_per_component(component::MAX_TABLES)
            .pagemap_scan(Enabled::Auto);
        pool
    }

    /// What every pool shares: slot sizes from the maximum limits, what stays resident
    /// between instances, and no stacks for async calls, which nothing makes (without
    /// that, every engine maps 1,000 of them and protects a guard page in each: 2,000
    /// system calls and mappings at start-up, 3–4 ms of a warm `wasmtaps call`).
    fn pool_limits(&self) -> PoolingAllocationConfig {
        let mut pool = PoolingAllocationConfig::new();
        pool.max_memory_size(usize::try_from(self.maximum.memory_bytes).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(self.maximum.table_elements).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(self.keep_resident)
            .table_keep_resident(self.keep_resident)
            .total_stacks(0);
        pool
    }

    fn engine(
        &self,
        pool: PoolingAllocationConfig,
        fuel_metering: bool,
    ) -> Result<Engine, RuntimeError> {
        let mut config = Config::new();
        config
            .epoch_interruption(self.epoch_interruption)
            .consume_fuel(fuel_metering)
            .max_wasm_stack(self.max_wasm_stack)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Engine::new(&config).map_err(RuntimeError::Engine)
    }

    /// Builds the runtime and starts its epoch thread.
    ///
    /// # Errors
    /// When the defaults exceed the maximums or wasmtime rejects the configuration. A
    /// cache directory that cannot be created or trusted is not an error: the runtime
    /// compiles without it and logs why.
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        let builder = self.clone();
        self.defaults
            .with_overrides(&LimitOverrides::default(), &self.maximum)?;
        let fuel_metering =
            self.fuel_metering || self.defaults.fuel.is_some() || self.maximum.fuel.is_some();
        let engine = self.engine(self.core_pool(), fuel_metering)?;
        let component_engine = self.engine(self.component_pool(), fuel_metering)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut StoreState| &mut s.wasi)
            .map_err(RuntimeError::Engine)?;
        linker
            .func_wrap("wasmtaps", "panic", crate::invoke::report_panic)
            .map_err(RuntimeError::Engine)?;
        linker.allow_shadowing(true);
        linker
            .func_wrap(
                "wasi_snapshot_preview1",
                "poll_oneoff",
                crate::poll::poll_oneoff,
            )
            .map_err(RuntimeError::Engine)?;
        linker
            .func_wrap(
                "wasi_snapshot_preview1",
                "random_get",
                crate::wasi_misuse::random_get,
            )
            .map_err(RuntimeError::Engine)?;
        linker
            .func_wrap(
                "wasi_snapshot_preview1",
                "path_open",
                crate::mounts::path_open,
            )
            .map_err(RuntimeError::Engine)?;
        linker.allow_shadowing(false);
        let component_linker =
            component::linker(&component_engine).map_err(RuntimeError::Engine)?;
        let disk_cache = self.cache_dir.as_deref().and_then(|dir| {
            DiskCache::open(
                dir,
                self.cache_dir_max_bytes,
                &engine,
                self.map_cache_artifacts,
            )
            .inspect_err(|why| {
                tracing::warn!(
                    "module cache: not using {}: {why}; modules will be compiled in \
                         every process",
                    dir.display()
                );
            })
            .ok()
        });
        let spares = Spares::new(self.max_spares(), self.spare_instances_above);
        let modules = {
            let spares = spares.clone();
            ModuleCache::new(self.loaded_modules_max_bytes, move |hash| {
                spares.forget(hash)
            })
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(
            [engine.clone(), component_engine.clone()],
            self.epoch_tick,
            ticker_stop.clone(),
        );
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                component_engine,
                linker,
                component_linker,
                defaults: self.defaults,
                maximum: self.maximum,
                budget: self.budget,
                fuel_metering,
                epoch_tick: self.epoch_tick,
                disk_cache,
                modules,
                spares,
                hostname: gethostname::gethostname().to_string_lossy().into(),
                ticker_stop,
                builder,
            }),
        })
    }
}

/// The most spare component instances a runtime keeps (see
/// [`RuntimeBuilder::spare_instances`]).
const MAX_SPARES: u32 = 16;

/// Core instances per component slot: room for a component's inner instances.
const CORE_INSTANCES_PER_SLOT: u32 = 40;
/// Tables per component slot: a component's shim modules each define one.
const TABLES_PER_SLOT: u32 = 4;

fn spawn_epoch_ticker(engines: [Engine; 2], tick: Duration, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("wasmtaps-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                for engine in &engines {
                    engine.increment_epoch();
                }
            }
        })
        .expect("cannot spawn the epoch thread");
}

impl Runtime {
    /// A runtime with the default configuration.
    ///
    /// # Errors
    /// See [`RuntimeBuilder::build`].
    pub fn new() -> Result<Runtime, RuntimeError> {
        RuntimeBuilder::default().build()
    }

    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The limits every invocation gets unless overridden.
    pub fn default_limits(&self) -> &Limits {
        &self.inner.defaults
    }

    /// The limits no invocation may exceed.
    pub fn maximum_limits(&self) -> &Limits {
        &self.inner.maximum
    }

    /// The defaults with `overrides` applied.
    ///
    /// # Errors
    /// Names an override above the runtime's maximum, or fuel asked for while fuel
    /// metering is off.
    pub fn limits_for(&self, overrides: &LimitOverrides) -> Result<Limits, LimitError> {
        let limits = self
            .inner
            .defaults
            .with_overrides(overrides, &self.inner.maximum)?;
        if limits.fuel.is_some() && !self.inner.fuel_metering {
            return Err(LimitError {
                name: "fuel",
                requested: limits.fuel.unwrap_or_default().to_string(),
                maximum: "unavailable (fuel metering is off in this runtime)".into(),
            });
        }
        Ok(limits)
    }

    /// Whether this runtime meters fuel (so that limits may set it).
    pub fn fuel_metering(&self) -> bool {
        self.inner.fuel_metering
    }

    /// A runtime configured like this one, with fuel metering on (this one if it is
    /// already). Compiled modules are not shared: fuel metering changes the code.
    pub(crate) fn with_fuel_metering(&self) -> Result<Runtime, RuntimeError> {
        if self.inner.fuel_metering {
            return Ok(self.clone());
        }
        self.inner.builder.clone().fuel_metering(true).build()
    }

    /// How large a module, and a function in it, this runtime compiles.
    pub fn compile_budget(&self) -> &CompileBudget {
        &self.inner.budget
    }

    /// The name of this host, recorded in every `ExecutionInfo`.
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }

    /// Whether wasm code checks deadlines itself (see
    /// [`RuntimeBuilder::epoch_interruption`]).
    pub(crate) fn epoch_interruption(&self) -> bool {
        self.inner.builder.epoch_interruption
    }

    /// The directory compiled modules are cached in, if one was configured and can be
    /// trusted (see [`RuntimeBuilder::cache_dir`]).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.disk_cache.as_ref().map(DiskCache::dir)
    }

    /// Whether components' instance slots are reset page by page: only the pages an
    /// instance wrote are restored, found with Linux's `PAGEMAP_SCAN` (6.7 and later).
    /// Otherwise, and always for core modules, a slot's first
    /// [`keep_resident`](RuntimeBuilder::keep_resident) bytes are restored by copying and
    /// the rest is given back to the kernel. Either way the next instance in the slot
    /// sees none of the previous one's bytes.
    pub fn resets_written_pages_only() -> bool {
        wasmtime::PoolingAllocationConfig::is_pagemap_scan_available()
    }

    /// How many spare component instances are ready to be taken (see
    /// [`RuntimeBuilder::spare_instances`]).
    pub fn spare_instances(&self) -> usize {
        self.inner.spares.ready()
    }

    /// How many compiled modules this runtime keeps in memory, and their weight.
    pub fn module_cache_stats(&self) -> ModuleCacheStats {
        self.inner.modules.stats()
    }

    /// The wasmtime engine core modules run in (components run in a second engine whose
    /// pool is sized for them).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}
