//! The store of one component invocation, and the linker that gives components WASI
//! preview 2 with nothing granted.

use std::time::Instant;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, StoreContextMut, Trap};
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::sync::io::poll::{self, HostPollable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::store::TaskLimiter;

/// The most core instances, memories and tables one component instance may create.
/// A Python component (componentize-py) instantiates 14 to 38 core instances.
pub(crate) const MAX_CORE_INSTANCES: u32 = 64;
/// See [`MAX_CORE_INSTANCES`]: the most memories one component instance may define.
pub(crate) const MAX_MEMORIES: u32 = 8;
/// See [`MAX_CORE_INSTANCES`]: the most tables one component instance may define.
pub(crate) const MAX_TABLES: u32 = 64;

/// The monotonic clock interface as wasmtime-wasi's linker names it (a guest's import of
/// any 0.2 version resolves to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";
/// The poll interface as wasmtime-wasi's linker names it.
const POLL: &str = "wasi:io/poll@0.2.12";
/// The filesystem types interface as wasmtime-wasi's linker names it.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// What lives in the `wasmtime::Store` of one component invocation.
pub(crate) struct ComponentState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: ComponentLimiter,
    /// When the invocation's deadline passes, if it has one.
    pub(crate) deadline: Option<Instant>,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The task's memory and table limits over everything one component instance holds: a
/// component has several core instances, so the limits apply to the sum of its memories
/// and of its tables (for a core module, with one of each, that is the same thing).
pub(crate) struct ComponentLimiter {
    pub(crate) task: TaskLimiter,
    memory_bytes: u64,
    table_elements: u64,
}

impl ComponentLimiter {
    pub(crate) fn new(task: TaskLimiter) -> Self {
        ComponentLimiter {
            task,
            memory_bytes: 0,
            table_elements: 0,
        }
    }
}

/// `total` after one of its parts grows from `current` to `desired`.
fn regrown(total: u64, current: usize, desired: usize) -> u64 {
    total
        .saturating_sub(current as u64)
        .saturating_add(desired as u64)
}

impl ResourceLimiter for ComponentLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = regrown(self.memory_bytes, current, desired);
        let limit = self.task.memory_bytes;
        let allowed = self.task.check(
            "memory",
            usize::try_from(total).unwrap_or(usize::MAX),
            limit,
        )?;
        if allowed {
            self.memory_bytes = total;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = regrown(self.table_elements, current, desired);
        let limit = self.task.table_elements;
        let allowed =
            self.task
                .check("table", usize::try_from(total).unwrap_or(usize::MAX), limit)?;
        if allowed {
            self.table_elements = total;
        }
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES as usize
    }

    fn tables(&self) -> usize {
        MAX_TABLES as usize
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES as usize
    }
}

/// The linker for every component: wasmtime-wasi's WASI preview 2 (what a guest may
/// reach is decided per invocation by its `WasiCtx`, which grants nothing), with waits
/// that honour the task's deadline.
///
/// wasmtime interrupts running wasm at the deadline, but not a guest blocked in a host
/// call: a guest sleeping through `pollable.block` would hold its worker for as long as
/// it asked. So the monotonic clock's `subscribe-*` never wait past the deadline, and
/// `pollable.block` and `poll` interrupt the guest when they return after it (the
/// sandbox has nothing else to wait on: stdin is empty, output never blocks, there are
/// no sockets, and in a read-only mount `open-at` opens only regular files and
/// directories, whose reads never block; see mounts.rs).
///
/// Unknown imports are never defined as traps here: their stubs would shadow the
/// semver-matched WASI definitions.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<ComponentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, ComponentState>, (nanos,): (u64,)| {
            let nanos = within_deadline(nanos, store.data().deadline);
            let resource: Resource<DynPollable> =
                monotonic_clock::Host::subscribe_duration(&mut store.data_mut().clocks(), nanos)?;
            Ok((resource,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, ComponentState>, (when,): (u64,)| {
            let now = monotonic_clock::Host::now(&mut store.data_mut().clocks())?;
            let nanos = within_deadline(when.saturating_sub(now), store.data().deadline);
            let resource: Resource<DynPollable> =
                monotonic_clock::Host::subscribe_duration(&mut store.data_mut().clocks(), nanos)?;
            Ok((resource,))
        },
    )?;
    let mut poll = linker.instance(POLL)?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, ComponentState>, (pollable,): (Resource<DynPollable>,)| {
            HostPollable::block(&mut store.data_mut().table, pollable)?;
            stop_if_past(store.data().deadline)
        },
    )?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, ComponentState>,
         (pollables,): (Vec<Resource<DynPollable>>,)| {
            let ready = poll::Host::poll(&mut store.data_mut().table, pollables)?;
            stop_if_past(store.data().deadline)?;
            Ok((ready,))
        },
    )?;
    linker
        .instance(FILESYSTEM_TYPES)?
        .func_wrap("[method]descriptor.open-at", crate::mounts::open_at)?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// After a wait: interrupts the guest (a `Timeout`) if its deadline has passed, as the
/// epoch check would have had it been running wasm.
fn stop_if_past(deadline: Option<Instant>) -> wasmtime::Result<()> {
    match deadline {
        Some(deadline) if Instant::now() >= deadline => Err(wasmtime::Error::new(Trap::Interrupt)),
        _ => Ok(()),
    }
}

/// A wait of `nanos`, cut short at `deadline`.
fn within_deadline(nanos: u64, deadline: Option<Instant>) -> u64 {
    match deadline {
        None => nanos,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let left = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
            nanos.min(left)
        }
    }
}
