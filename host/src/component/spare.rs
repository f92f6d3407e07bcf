//! Spare instances: a component task's next instance, made before the call that takes it.
//!
//! Instantiating a Python component costs about 260 µs, most of it wasmtime resolving the
//! `ref.func`s of componentize-py's dynamic-linking start functions. So after a call
//! takes (or misses) the spare instance of its component and limits, the runtime's spare
//! thread makes the next one, while the call runs; the next call of that task starts
//! with its instance ready when there was a free core to make it.
//!
//! Only components that instantiate slowly get spares
//! ([`RuntimeBuilder::spare_instances_above`], default 100 µs, measured on each fresh
//! instantiation): handing a spare over costs a wake-up of the spare thread and the
//! store's move between cores, which a component instantiating in microseconds (a Rust
//! or WAT one) does not repay.
//!
//! What makes this safe:
//! - A spare is consumed by exactly one call and never reused: each call still gets a
//!   fresh instance, only made a little earlier.
//! - A spare is made with the limits of the call that asked for it (memory, tables, fuel,
//!   output capture, result size) and only a call with equal limits takes it; WASI grants
//!   nothing to a spare, so a call given read-only directories never takes one.
//! - At most one spare per (component, limits), at most [`RuntimeBuilder::spare_instances`]
//!   of them in all (a spare holds one of the pool's instance slots), none for a module
//!   the runtime's module cache has forgotten (forgetting a module drops its spares), and
//!   all dropped with the runtime.
//! - The spare thread runs at the lowest priority, so spares take next to no CPU from
//!   running tasks, and a call never waits for it: a call that finds its spare still
//!   being made instantiates its own, and the spare serves a later call. (Waiting for a
//!   thread at nice 19 is a priority inversion: on busy cores it cost Python bags 5–20% of
//!   their throughput, BENCHMARKS.md.)
//! - A spare's instantiation has a deadline (the task's timeout, at most
//!   [`MAKE_DEADLINE`]); a component whose spare fails to instantiate gets no more spares
//!   under those limits (its calls instantiate fresh, and fail there with the failure
//!   named as always).
//!
//! [`RuntimeBuilder::spare_instances`]: crate::RuntimeBuilder::spare_instances
//! [`RuntimeBuilder::spare_instances_above`]: crate::RuntimeBuilder::spare_instances_above

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use wasmtime::component::Instance;
use wasmtime::{PoolConcurrencyLimitError, Store};

use super::exports::ComponentCode;
use super::store::ComponentState;
use crate::failure::TaskError;
use crate::invoke::{InvokeOptions, ReadOnlyDir};
use crate::limits::Limits;
use crate::module::{Code, Task, TaskModule};
use crate::runtime::{Runtime, RuntimeInner};
use crate::store::CapturedOutput;

/// The longest a spare may take to instantiate; past it, the component gets no spares.
pub(crate) const MAKE_DEADLINE: Duration = Duration::from_secs(10);

/// How many failed (module, limits) are remembered, so that they get no more spares.
const MAX_REFUSED: usize = 64;

/// One pre-made instance of a component, with the store it lives in and the output it
/// captured while instantiating.
pub(crate) struct Spare {
    store: Store<ComponentState>,
    instance: Instance,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

/// The runtime's spares and the thread that makes them. Clones share everything.
#[derive(Clone)]
pub(crate) struct Spares {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the spare thread: a request was queued, or the runtime is gone.
    requested: Condvar,
    /// The most spares (ready or being made) at once; 0 turns spares off.
    max: usize,
    /// Spares are made only for components whose fresh instantiation took longer.
    above: Duration,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// What the spare thread is asked to make, oldest first.
    queue: VecDeque<Request>,
    /// The (module, limits) whose spare failed to instantiate: they get no more (the
    /// last [`MAX_REFUSED`]).
    refused: VecDeque<([u8; 32], Limits)>,
    thread: bool,
    stopped: bool,
}

/// The spare of one (component, limits).
struct Slot {
    hash: [u8; 32],
    limits: Limits,
    state: SlotState,
}

enum SlotState {
    /// Asked for, not made yet.
    Making,
    Ready(Box<Spare>),
}

struct Request {
    module: TaskModule,
    limits: Limits,
}

impl Slot {
    fn is(&self, hash: &[u8; 32], limits: &Limits) -> bool {
        &self.hash == hash && &self.limits == limits
    }
}

impl Spares {
    /// Spares for a runtime keeping at most `max` of them (0: none), for components
    /// whose instantiation takes longer than `above`.
    pub(crate) fn new(max: usize, above: Duration) -> Spares {
        Spares {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                requested: Condvar::new(),
                max,
                above,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many spares are ready to be taken.
    pub(crate) fn ready(&self) -> usize {
        self.lock()
            .slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Ready(_)))
            .count()
    }

    /// Drops the spares of the module with this hash (the module cache forgot it).
    pub(crate) fn forget(&self, hash: &[u8; 32]) {
        let dropped: Vec<Slot> = {
            let mut state = self.lock();
            state.refused.retain(|(h, _)| h != hash);
            state.queue.retain(|r| &r.module.inner.hash != hash);
            let (gone, kept) = std::mem::take(&mut state.slots)
                .into_iter()
                .partition(|s| &s.hash == hash);
            state.slots = kept;
            gone
        };
        drop(dropped);
    }

    /// Drops the spares that are ready, returning how many there were.
    fn release(&self) -> usize {
        let dropped: Vec<Slot> = {
            let mut state = self.lock();
            let (ready, making) = std::mem::take(&mut state.slots)
                .into_iter()
                .partition(|s| matches!(s.state, SlotState::Ready(_)));
            state.slots = making;
            ready
        };
        dropped.len()
    }

    /// Drops every spare and ends the spare thread (the runtime is being dropped).
    pub(crate) fn stop(&self) {
        let dropped = {
            let mut state = self.lock();
            state.stopped = true;
            state.queue.clear();
            std::mem::take(&mut state.slots)
        };
        self.shared.requested.notify_all();
        drop(dropped);
    }

    /// The spare for `module` under `limits` if one is ready; otherwise `None`, and the
    /// spare thread is asked to make one unless it is already making it. Either way the
    /// next one is asked for.
    fn take(&self, runtime: &Runtime, module: &TaskModule, limits: &Limits) -> Option<Spare> {
        if self.shared.max == 0 || !self.worth_it(module) {
            return None;
        }
        let hash = module.inner.hash;
        // A call never queues behind the spare thread, which may hold the lock while
        // the machine is too busy to run it: spares are for when there is room.
        let mut state = match self.shared.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        if state.stopped || state.refused.iter().any(|(h, l)| h == &hash && l == limits) {
            return None;
        }
        let Some(slot) = state.slots.iter_mut().find(|s| s.is(&hash, limits)) else {
            // None yet: ask for one if there is room and the module is kept.
            if state.slots.len() < self.shared.max && runtime.inner.modules.contains(&hash) {
                state.slots.push(Slot {
                    hash,
                    limits: limits.clone(),
                    state: SlotState::Making,
                });
                self.request(&mut state, runtime, module, limits);
            }
            return None;
        };
        match std::mem::replace(&mut slot.state, SlotState::Making) {
            SlotState::Ready(spare) => {
                self.request(&mut state, runtime, module, limits);
                Some(*spare)
            }
            // Still being made: this call instantiates its own; the spare serves a
            // later one.
            SlotState::Making => None,
        }
    }

    /// Whether `module`'s instantiation is slow enough for a spare to pay: handing a
    /// spare over costs a wake-up of the spare thread and the store's move between
    /// cores (a WAT component's 4.7 µs call took 11–24 µs with spares), which only an
    /// instantiation well above it repays. Until a call has instantiated the component
    /// afresh, its cost is unknown and no spare is made.
    fn worth_it(&self, module: &TaskModule) -> bool {
        if self.shared.above.is_zero() {
            return true;
        }
        let Code::Component(code) = &module.inner.code else {
            return false;
        };
        let nanos = code.instantiate_nanos.load(Ordering::Relaxed);
        nanos != 0 && Duration::from_nanos(nanos) > self.shared.above
    }

    /// Queues the making of a spare, starting the spare thread on first use.
    fn request(&self, state: &mut State, runtime: &Runtime, module: &TaskModule, limits: &Limits) {
        state.queue.push_back(Request {
            module: module.clone(),
            limits: limits.clone(),
        });
        if !state.thread {
            let shared = self.shared.clone();
            let runtime = Arc::downgrade(&runtime.inner);
            let spawned = std::thread::Builder::new()
                .name("wasmtaps-spares".into())
                .spawn(move || make_spares(&shared, &runtime));
            match spawned {
                Ok(_) => state.thread = true,
                Err(e) => {
                    tracing::warn!("no spare instances: cannot start their thread: {e}");
                    state.stopped = true;
                    state.queue.clear();
                    state.slots.clear();
                    return;
                }
            }
        }
        self.shared.requested.notify_one();
    }
}

/// The spare thread: makes each requested spare, until the runtime is dropped.
///
/// It runs at the lowest priority (nice 19): on a core nothing else wants it makes
/// spares at full speed, while on busy cores it gets a sliver, so spares take next to no
/// CPU from running tasks (or anything else on the machine) and calls instantiate their
/// own, as without spares. Not `SCHED_IDLE`, which would stall a caller of
/// [`Spares::forget`] or [`Spares::stop`] for as long as a busy machine keeps a
/// preempted spare thread holding the lock from running.
fn make_spares(shared: &Shared, runtime: &Weak<RuntimeInner>) {
    // SAFETY: `gettid` has no preconditions; with `PRIO_PROCESS` and a thread id,
    // `setpriority` changes that thread only (Linux).
    let lowered = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as _, 19) };
    if lowered != 0 {
        tracing::debug!(
            "spare instances: cannot lower the spare thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
    let lock = || shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let request = {
            let mut state = lock();
            loop {
                if state.stopped {
                    return;
                }
                let Some(request) = state.queue.pop_front() else {
                    state = shared
                        .requested
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                    continue;
                };
                let hash = request.module.inner.hash;
                let slot = state
                    .slots
                    .iter_mut()
                    .find(|s| s.is(&hash, &request.limits));
                if let Some(Slot {
                    state: SlotState::Making,
                    ..
                }) = slot
                {
                    break request;
                }
                // Taken back (its module forgotten) since it was asked for.
            }
        };
        let Some(inner) = runtime.upgrade() else {
            return;
        };
        let made = Runtime { inner }.make_spare(&request.module, &request.limits);
        let hash = request.module.inner.hash;
        let mut state = lock();
        let slot = state
            .slots
            .iter()
            .position(|s| s.is(&hash, &request.limits));
        let unused = match (slot, made) {
            (Some(index), Ok(spare)) => {
                state.slots[index].state = SlotState::Ready(Box::new(spare));
                None
            }
            (Some(index), Err(why)) => {
                tracing::debug!(
                    "no spare instances for {}: instantiating one failed: {}",
                    request.module.name(),
                    why.message()
                );
                state.slots.remove(index);
                if state.refused.len() == MAX_REFUSED {
                    state.refused.pop_front();
                }
                state.refused.push_back((hash, request.limits.clone()));
                None
            }
            (None, made) => made.ok(),
        };
        drop(state);
        // Dropped outside the lock: its instance goes back to the pool.
        drop(unused);
    }
}

impl Runtime {
    /// A spare instance of `task`'s component for a call with `limits` and `options`,
    /// if one is ready (see the module docs); asks for the next one either way.
    pub(crate) fn take_spare(
        &self,
        task: &Task,
        options: &InvokeOptions,
        limits: &Limits,
    ) -> Option<Spare> {
        if !options.read_only_dirs.is_empty() {
            return None;
        }
        self.inner.spares.take(self, &task.module, limits)
    }

    /// A fresh instance of `code` under `limits`, in a store of its own: the store, and
    /// the instance or why instantiating failed (for the caller to name). Spares never
    /// starve a call of instance slots: when the pool has none left while spares hold
    /// some, the spares are dropped and the call tries once more.
    pub(crate) fn instantiate_fresh(
        &self,
        code: &ComponentCode,
        limits: &Limits,
        dirs: &[ReadOnlyDir],
        output: (&CapturedOutput, &CapturedOutput),
        deadline: Option<Instant>,
    ) -> Result<(Store<ComponentState>, wasmtime::Result<Instance>), TaskError> {
        let mut store = self.component_store(limits, dirs, output, deadline)?;
        let began = Instant::now();
        let instance = code.pre.instantiate(&mut store);
        if instance.is_ok() {
            let nanos = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
            code.instantiate_nanos
                .store(nanos.max(1), Ordering::Relaxed);
        }
        match instance {
            Err(e) if e.is::<PoolConcurrencyLimitError>() && self.inner.spares.release() > 0 => {
                drop(store);
                let mut store = self.component_store(limits, dirs, output, deadline)?;
                let instance = code.pre.instantiate(&mut store);
                Ok((store, instance))
            }
            instance => Ok((store, instance)),
        }
    }

    /// Instantiates a spare of `module`'s component under `limits`, within
    /// [`MAKE_DEADLINE`].
    fn make_spare(&self, module: &TaskModule, limits: &Limits) -> Result<Spare, TaskError> {
        let Code::Component(code) = &module.inner.code else {
            return Err(TaskError::new(
                crate::failure::ErrorKind::HostError,
                "spare instances are made for components only",
            ));
        };
        let stdout = CapturedOutput::new(limits.max_output_bytes);
        let stderr = CapturedOutput::new(limits.max_output_bytes);
        let within = limits
            .timeout
            .map_or(MAKE_DEADLINE, |t| t.min(MAKE_DEADLINE));
        let deadline = Instant::now().checked_add(within);
        // A spare serves only calls without directories (`take_spare`).
        let mut store = self.component_store(limits, &[], (&stdout, &stderr), deadline)?;
        let instance = code
            .pre
            .instantiate(&mut store)
            .map_err(|e| TaskError::from_wasm(&e, None, store.data().limiter.task.hit.as_ref()))?;
        Ok(Spare {
            store,
            instance,
            stdout,
            stderr,
        })
    }
}

impl Spare {
    /// Starts the call that took this spare: its deadline from now, as a fresh
    /// instance's would have started when it was asked for (fuel spent instantiating
    /// stays spent, as for a fresh instance).
    pub(crate) fn start<'a>(
        mut self,
        runtime: &Runtime,
        limits: &Limits,
        into: (&'a CapturedOutput, &'a CapturedOutput),
    ) -> Result<(Store<ComponentState>, Instance, SpareOutput<'a>), TaskError> {
        let deadline = limits.timeout.and_then(|t| Instant::now().checked_add(t));
        self.store.data_mut().deadline = deadline;
        let fuel_left = self.store.get_fuel().ok();
        runtime.arm_store(&mut self.store, limits, deadline)?;
        if let Some(left) = fuel_left {
            self.store.set_fuel(left).map_err(|e| {
                TaskError::new(
                    crate::failure::ErrorKind::HostError,
                    format!("cannot set fuel: {e:#}"),
                )
            })?;
        }
        let output = SpareOutput {
            stdout: self.stdout,
            stderr: self.stderr,
            into,
        };
        Ok((self.store, self.instance, output))
    }
}

/// The output a spare's instance captures, handed to the invocation that took it when
/// the call is over (dropped).
pub(crate) struct SpareOutput<'a> {
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    into: (&'a CapturedOutput, &'a CapturedOutput),
}

impl SpareOutput<'_> {
    /// What the instance has written to stderr so far goes here.
    pub(crate) fn stderr(&self) -> &CapturedOutput {
        &self.stderr
    }
}

impl Drop for SpareOutput<'_> {
    fn drop(&mut self) {
        self.into.0.absorb(&self.stdout);
        self.into.1.absorb(&self.stderr);
    }
}
