//! The Rust rows: wasmtaps (on the shared pool, and through its own engine), Extism, raw
//! wasmtime and native Rust. The Python rows live in `python_pools.py`.
//!
//! Every row but `wasmtaps-engine` runs on the same [`Pool`], so the rows differ only in
//! what a worker does with a task; `wasmtaps-engine` adds what the engine costs on top
//! (futures, the dependency graph, its own dispatch), and is the only row whose chain is
//! submitted at once and driven by dependencies.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use wasmtaps::{Arg, Args, Engine, InvokeOptions, Limits, Runtime, Task, TaskFuture, Value};
use wasmtime::{InstancePre, Linker, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::pool::{Call, Pool};
use crate::{EXTISM_WASM, Kind, Payload, WORKERS};

/// Every row, in table order: (name, what it is).
pub const ROWS: &[(&str, &str)] = &[
    (
        "wasmtaps",
        "wasmtaps `Runtime::invoke`, fresh instance per task, on the shared pool",
    ),
    (
        "wasmtaps-engine",
        "wasmtaps `Engine` (its own dispatch, futures, dependency graph), fresh instance per task",
    ),
    ("extism-fresh", "Extism 1.13, fresh plugin per call"),
    (
        "extism-reused",
        "Extism 1.13, one plugin per worker, reused",
    ),
    (
        "wasmtime-fresh",
        "raw wasmtime, fresh instance per call, same pooling",
    ),
    (
        "wasmtime-reused",
        "raw wasmtime, one instance per worker, reused",
    ),
    ("native", "native Rust, same function, thread pool"),
    ("python-threads", "Python `ThreadPoolExecutor`"),
    ("python-processes", "Python `ProcessPoolExecutor`"),
];

/// A task submitted to a row.
pub enum Pending {
    /// On a [`Pool`].
    Channel(Receiver<Payload>),
    /// On the wasmtaps engine.
    Engine(TaskFuture, Kind),
}

impl Pending {
    /// Blocks until the result is in the caller's hands, as bytes.
    pub fn wait(self) -> Payload {
        match self {
            Pending::Channel(rx) => rx.recv().expect("worker died"),
            Pending::Engine(future, kind) => {
                decoded(kind, future.result(None).expect("wasmtaps task failed"))
            }
        }
    }
}

/// A wasmtaps result as the bytes every row hands back: a `bin` is read where it is.
fn decoded(kind: Kind, value: Value) -> Payload {
    match kind {
        Kind::Noop => Payload::Owned(Vec::new()),
        Kind::Reverse => Payload::bin(value),
        Kind::Checksum => {
            Payload::Owned(value.decode::<u64>().expect("u64").to_le_bytes().to_vec())
        }
    }
}

/// One peer: runs tasks with [`WORKERS`] workers.
pub trait Row {
    /// Submits one task on `input`.
    fn submit(&self, kind: Kind, input: Arc<Payload>) -> Pending;

    /// Runs `n` tasks, each on its parent's result; returns when each result reached
    /// the caller, and the last result. Without a dependency graph the caller waits for
    /// each result and submits the next task with it.
    fn chain(&self, kind: Kind, input: Arc<Payload>, n: usize) -> (Vec<Instant>, Payload) {
        let mut done = Vec::with_capacity(n);
        let mut data = input;
        for _ in 0..n {
            data = Arc::new(self.submit(kind, data).wait());
            done.push(Instant::now());
        }
        let last = Arc::try_unwrap(data).unwrap_or_else(|d| Payload::Owned(d.to_vec()));
        (done, last)
    }
}

/// The row called `name` (not the Python rows).
pub fn make_row(name: &str) -> anyhow::Result<Box<dyn Row>> {
    Ok(match name {
        "wasmtaps" => Box::new(PoolRow(wasmtaps_pool()?)),
        "wasmtaps-engine" => Box::new(EngineRow::new()?),
        "extism-fresh" => Box::new(PoolRow(extism_pool(false)?)),
        "extism-reused" => Box::new(PoolRow(extism_pool(true)?)),
        "wasmtime-fresh" => Box::new(PoolRow(wasmtime_pool(false)?)),
        "wasmtime-reused" => Box::new(PoolRow(wasmtime_pool(true)?)),
        "native" => Box::new(PoolRow(native_pool())),
        _ => anyhow::bail!("no Rust row called {name:?}"),
    })
}

/// The wasmtaps runtime of the benchmark: defaults, except that arguments and results
/// may be 64 MiB plus their MessagePack framing and memory 1 GiB (the 64 MiB workload).
pub fn runtime() -> anyhow::Result<Runtime> {
    Ok(Runtime::builder()
        .default_limits(Limits {
            memory_bytes: 1 << 30,
            max_argument_bytes: 256 << 20,
            max_result_bytes: 256 << 20,
            ..Limits::DEFAULT
        })
        .build()?)
}

/// wasmtaps through its engine: every task in a fresh, limited instance.
pub struct EngineRow {
    engine: Engine,
    tasks: [Task; 3],
}

impl EngineRow {
    /// An engine with [`WORKERS`] workers over the example task module.
    pub fn new() -> anyhow::Result<EngineRow> {
        let runtime = runtime()?;
        let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
        let tasks = [
            module.task("noop")?,
            module.task("reverse_bytes")?,
            module.task("checksum")?,
        ];
        let engine = Engine::builder(runtime).workers(WORKERS).build()?;
        Ok(EngineRow { engine, tasks })
    }

    fn task(&self, kind: Kind) -> &Task {
        &self.tasks[kind as usize]
    }
}

impl Row for EngineRow {
    fn submit(&self, kind: Kind, input: Arc<Payload>) -> Pending {
        let args = match kind {
            Kind::Noop => vec![],
            Kind::Reverse | Kind::Checksum => {
                vec![Arg::from(input.shared_bin())]
            }
        };
        Pending::Engine(self.engine.submit(self.task(kind), args, vec![]), kind)
    }

    /// Submits the whole chain at once, each task taking its parent's future; the
    /// engine starts each child when its parent ends.
    fn chain(&self, kind: Kind, input: Arc<Payload>, n: usize) -> (Vec<Instant>, Payload) {
        let Pending::Engine(first, _) = self.submit(kind, input) else {
            unreachable!()
        };
        let mut futures = vec![first];
        for _ in 1..n {
            let parent = Arg::from(futures.last().expect("not empty"));
            futures.push(self.engine.submit(self.task(kind), vec![parent], vec![]));
        }
        let last = futures.pop().expect("not empty");
        let mut done: Vec<Instant> = futures
            .into_iter()
            .map(|f| {
                f.result(None).expect("wasmtaps task failed");
                Instant::now()
            })
            .collect();
        let output = Pending::Engine(last, kind).wait();
        done.push(Instant::now());
        (done, output)
    }
}

/// A peer that runs on a [`Pool`].
pub struct PoolRow(Pool);

impl Row for PoolRow {
    fn submit(&self, kind: Kind, input: Arc<Payload>) -> Pending {
        Pending::Channel(self.0.submit(kind, input))
    }
}

/// wasmtaps without its engine: `Runtime::invoke` on the shared pool, a fresh limited
/// instance per task, arguments and result as MessagePack through the wasmtaps ABI: the
/// input a `Value::from_bin` sharing the caller's buffer, the result's `bin` read in
/// place.
fn wasmtaps_pool() -> anyhow::Result<Pool> {
    let runtime = runtime()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let tasks = [
        module.task("noop")?,
        module.task("reverse_bytes")?,
        module.task("checksum")?,
    ];
    Ok(Pool::new(WORKERS, move || {
        let (runtime, tasks) = (runtime.clone(), tasks.clone());
        let options = InvokeOptions::default();
        Box::new(move |kind: Kind, input: &Arc<Payload>| {
            let args = match kind {
                Kind::Noop => Args::new(),
                Kind::Reverse | Kind::Checksum => Args::from_values([input.shared_bin()]),
            };
            let outcome = runtime.invoke(&tasks[kind as usize], &args, &options);
            decoded(kind, outcome.result.expect("wasmtaps task failed"))
        }) as Call
    }))
}

/// Native Rust: the example task functions called directly on the caller's bytes
/// (they borrow their input, as the wasm tasks do).
fn native_pool() -> Pool {
    use wasmtaps_example_tasks::{basics, bytes};
    Pool::new(WORKERS, || {
        Box::new(|kind: Kind, input: &Arc<Payload>| match kind {
            Kind::Noop => {
                basics::noop();
                Payload::Owned(Vec::new())
            }
            Kind::Reverse => Payload::Native(bytes::reverse_bytes(input)),
            Kind::Checksum => Payload::Owned(bytes::checksum(input).to_le_bytes().to_vec()),
        }) as Call
    })
}

/// Extism with its own guest (`extism-guest/`), compiled once; a fresh plugin per call
/// or one plugin per worker reused for every call. (This is what `extism::Pool` hands
/// out; the pool itself is not shared across threads here because its handles are
/// `Rc`s.)
fn extism_pool(reuse: bool) -> anyhow::Result<Pool> {
    use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
    let wasm = std::fs::read(EXTISM_WASM)?;
    let compile = move || {
        let manifest = Manifest::new([Wasm::data(wasm.clone())]);
        CompiledPlugin::new(PluginBuilder::new(manifest).with_wasi(true))
    };
    // Fail here, not in a worker, if the plugin does not load.
    Plugin::new_from_compiled(&compile()?)?;
    Ok(Pool::new(WORKERS, move || {
        let compiled = compile().expect("compile the Extism guest");
        let mut reused = reuse.then(|| Plugin::new_from_compiled(&compiled).expect("plugin"));
        Box::new(move |kind: Kind, input: &Arc<Payload>| {
            let mut fresh;
            let plugin = match &mut reused {
                Some(plugin) => plugin,
                None => {
                    fresh = Plugin::new_from_compiled(&compiled).expect("plugin");
                    &mut fresh
                }
            };
            Payload::Owned(
                plugin
                    .call::<&[u8], Vec<u8>>(kind.task_name(), input)
                    .expect("Extism call failed"),
            )
        }) as Call
    }))
}

/// Raw wasmtime on the wasmtaps runtime's engine (same pooling, copy-on-write images,
/// epoch interruption), running the example module through the wasmtaps ABI by hand:
/// `wasmtaps_alloc`, write `[[args], {}]` as MessagePack, call, read the `{"ok": v}`
/// envelope. A fresh instance (with `_initialize`) per call, or one per worker reused.
fn wasmtime_pool(reuse: bool) -> anyhow::Result<Pool> {
    let runtime = runtime()?;
    let engine = runtime.engine().clone();
    let module = wasmtime::Module::from_file(&engine, wasmtaps_example_artifacts::TASKS_WASM)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s)?;
    linker.func_wrap("wasmtaps", "panic", |_: i32, _: i32| {})?;
    let pre = linker.instantiate_pre(&module)?;
    Ok(Pool::new(WORKERS, move || {
        // The runtime's epoch thread keeps ticking while the pool lives.
        let _keep = &runtime;
        let pre = pre.clone();
        let engine = engine.clone();
        let mut reused = reuse.then(|| instantiate(&engine, &pre));
        Box::new(move |kind: Kind, input: &Arc<Payload>| {
            let (mut store, instance) = match reused.take() {
                Some(live) => live,
                None => instantiate(&engine, &pre),
            };
            let output = call_abi(&mut store, &instance, kind, input);
            if reuse {
                reused = Some((store, instance));
            }
            output
        }) as Call
    }))
}

fn instantiate(
    engine: &wasmtime::Engine,
    pre: &InstancePre<WasiP1Ctx>,
) -> (Store<WasiP1Ctx>, wasmtime::Instance) {
    let mut store = Store::new(engine, WasiCtxBuilder::new().build_p1());
    let _ = store.set_fuel(u64::MAX); // an error when metering is off: nothing to set
    store.set_epoch_deadline(1 << 40);
    let instance = pre.instantiate(&mut store).expect("instantiate");
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ()).expect("_initialize");
    }
    (store, instance)
}

/// One call through the wasmtaps ABI; returns the result as the other rows do.
fn call_abi(
    store: &mut Store<WasiP1Ctx>,
    instance: &wasmtime::Instance,
    kind: Kind,
    input: &[u8],
) -> Payload {
    let mut request = Vec::with_capacity(input.len() + 8);
    request.push(0x92);
    match kind {
        Kind::Noop => request.push(0x90),
        Kind::Reverse | Kind::Checksum => {
            request.push(0x91);
            write_bin_header(&mut request, input.len());
            request.extend_from_slice(input);
        }
    }
    request.push(0x80);
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut *store, "wasmtaps_alloc")
        .expect("wasmtaps_alloc");
    let export = format!("wasmtaps_task_{}", kind.task_name());
    let task = instance
        .get_typed_func::<(i32, i32), i64>(&mut *store, &export)
        .expect("task export");
    let memory = instance.get_memory(&mut *store, "memory").expect("memory");
    let ptr = alloc
        .call(&mut *store, request.len() as i32)
        .expect("alloc");
    assert!(ptr != 0, "guest allocation failed");
    memory
        .write(&mut *store, ptr as usize, &request)
        .expect("write");
    let request_len = request.len() as i32;
    drop(request);
    let packed = task
        .call(&mut *store, (ptr, request_len))
        .expect("task trapped") as u64;
    let (p, l) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let envelope = &memory.data(&*store)[p..p + l];
    let value = envelope
        .strip_prefix(&[0x81, 0xa2, b'o', b'k'])
        .unwrap_or_else(|| panic!("not an ok envelope: {:x?}", &envelope[..l.min(32)]));
    match kind {
        Kind::Noop => {
            assert_eq!(value, [0xc0], "noop returns nil");
            Payload::Owned(Vec::new())
        }
        Kind::Reverse => Payload::Owned(read_bin(value).to_vec()),
        Kind::Checksum => Payload::Owned(read_uint(value).to_le_bytes().to_vec()),
    }
}

fn write_bin_header(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 8 {
        out.extend_from_slice(&[0xc4, len as u8]);
    } else if len < 1 << 16 {
        out.push(0xc5);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn read_bin(value: &[u8]) -> &[u8] {
    let (len, at) = match value[0] {
        0xc4 => (value[1] as usize, 2),
        0xc5 => (u16::from_be_bytes([value[1], value[2]]) as usize, 3),
        0xc6 => (
            u32::from_be_bytes(value[1..5].try_into().expect("4 bytes")) as usize,
            5,
        ),
        other => panic!("not a bin: {other:#x}"),
    };
    &value[at..at + len]
}

fn read_uint(value: &[u8]) -> u64 {
    let be = |n: usize| {
        let mut bytes = [0; 8];
        bytes[8 - n..].copy_from_slice(&value[1..1 + n]);
        u64::from_be_bytes(bytes)
    };
    match value[0] {
        0x00..=0x7f => u64::from(value[0]),
        0xcc => be(1),
        0xcd => be(2),
        0xce => be(4),
        0xcf => be(8),
        other => panic!("not an unsigned integer: {other:#x}"),
    }
}
