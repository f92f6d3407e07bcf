//! One invocation: a fresh instance, the arguments in, the call, the result out, timed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::{Caller, Extern, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::abi_call::{call_alloc, call_initialize, call_task, export_func, export_memory};
use crate::args::Args;
use crate::failure::{AbiViolation, ErrorKind, TaskError};
use crate::info::{ExecutionInfo, PhaseClock, PhaseDurations};
use crate::limits::{LimitOverrides, Limits};
use crate::module::{Code, Task};
use crate::runtime::Runtime;
use crate::store::{CapturedOutput, StoreState, TaskLimiter};
use crate::value::Value;

/// Options for one invocation.
#[derive(Clone, Debug, Default)]
pub struct InvokeOptions {
    /// Changes to the runtime's default limits.
    pub limits: LimitOverrides,
    /// Host directories the task may read, each mounted read-only at a guest path.
    /// Empty by default: a task sees no files at all.
    pub read_only_dirs: Vec<ReadOnlyDir>,
}

/// A host directory made readable to one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOnlyDir {
    /// The directory on the host.
    pub host_path: PathBuf,
    /// Where the guest sees it, such as `/data`.
    pub guest_path: String,
}

/// The outcome of one invocation.
#[derive(Debug)]
pub struct Invocation {
    /// The task's value, or why it failed.
    pub result: Result<Value, TaskError>,
    /// When each phase ran (kept for failures too).
    pub execution: ExecutionInfo,
    /// What the guest wrote to stdout, up to the limit.
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr, up to the limit.
    pub stderr: Vec<u8>,
    /// Output bytes dropped beyond the limit (stdout and stderr together).
    pub output_dropped: u64,
}

impl Invocation {
    /// A failure before any phase ran (seen by an executor, not a guest): every phase
    /// starts and ends at the moment of failure, after `start`.
    pub(crate) fn failed_before_start(error: TaskError, hostname: &str, start: f64) -> Invocation {
        let now = crate::info::unix_now().max(start);
        Invocation {
            result: Err(error),
            execution: ExecutionInfo {
                hostname: hostname.to_owned(),
                execution_start_time: start,
                execution_end_time: now,
                task_start_time: now,
                task_end_time: now,
                input_transform_start_time: now,
                input_transform_end_time: now,
                result_transform_start_time: now,
                result_transform_end_time: now,
                durations: None,
            },
            stdout: Vec::new(),
            stderr: Vec::new(),
            output_dropped: 0,
        }
    }
}

/// Where an invocation has got to; every stamp taken is kept, as time since the start
/// on the monotonic clock.
pub(crate) struct Phases {
    clock: PhaseClock,
    stamps: [Option<Duration>; 6],
}

impl Phases {
    pub(crate) const INPUT_START: usize = 0;
    pub(crate) const INPUT_END: usize = 1;
    pub(crate) const TASK_START: usize = 2;
    pub(crate) const TASK_END: usize = 3;
    pub(crate) const RESULT_START: usize = 4;
    pub(crate) const RESULT_END: usize = 5;

    pub(crate) fn mark(&mut self, phase: usize) {
        self.stamps[phase] = Some(self.clock.elapsed());
    }

    /// The record's `f64` times and the precise [`PhaseDurations`] from the same stamps.
    fn finish(self, hostname: &str) -> ExecutionInfo {
        let end = self.clock.elapsed();
        let mut last = Duration::ZERO;
        let mut filled = [Duration::ZERO; 6];
        for (slot, stamp) in filled.iter_mut().zip(self.stamps) {
            // A phase never reached starts and ends when the execution stopped.
            *slot = stamp.unwrap_or(end).max(last);
            last = *slot;
        }
        let end = end.max(last);
        let at = |offset: Duration| self.clock.at(offset);
        ExecutionInfo {
            hostname: hostname.to_owned(),
            execution_start_time: self.clock.start_time(),
            execution_end_time: at(end),
            input_transform_start_time: at(filled[Self::INPUT_START]),
            input_transform_end_time: at(filled[Self::INPUT_END]),
            task_start_time: at(filled[Self::TASK_START]),
            task_end_time: at(filled[Self::TASK_END]),
            result_transform_start_time: at(filled[Self::RESULT_START]),
            result_transform_end_time: at(filled[Self::RESULT_END]),
            durations: Some(PhaseDurations {
                input_transform: filled[Self::INPUT_END] - filled[Self::INPUT_START],
                task: filled[Self::TASK_END] - filled[Self::TASK_START],
                result_transform: filled[Self::RESULT_END] - filled[Self::RESULT_START],
                execution: end,
            }),
        }
    }
}

/// The host side of the `wasmtaps.panic(ptr, len)` import.
pub(crate) fn report_panic(mut caller: Caller<'_, StoreState>, ptr: i32, len: i32) {
    const MAX_PANIC_MESSAGE: usize = 16 << 10;
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return;
    };
    let data = memory.data(&caller);
    let start = ptr as u32 as usize;
    let len = (len as u32 as usize).min(MAX_PANIC_MESSAGE);
    let message = match data.get(start..start.saturating_add(len)) {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => format!("guest panicked, but its message at {start:#x}+{len} lies outside memory"),
    };
    caller.data_mut().panic_message.get_or_insert(message);
}

impl Runtime {
    /// Runs `task` once in a fresh instance.
    ///
    /// Never fails as a Rust call: every problem, from limits the runtime refuses to a
    /// hostile guest, is in [`Invocation::result`], and the phases reached are timed.
    pub fn invoke(&self, task: &Task, args: &Args, options: &InvokeOptions) -> Invocation {
        let phases = Phases {
            clock: PhaseClock::start(),
            stamps: [None; 6],
        };
        let limits = self.limits_for(&options.limits);
        let (stdout, stderr) = match &limits {
            Ok(l) => (
                CapturedOutput::new(l.max_output_bytes),
                CapturedOutput::new(l.max_output_bytes),
            ),
            Err(_) => (CapturedOutput::new(0), CapturedOutput::new(0)),
        };
        let mut phases = phases;
        let result = match (limits, &task.module.inner.code) {
            (Ok(limits), Code::Core(_)) => {
                self.run(task, args, options, &limits, &mut phases, &stdout, &stderr)
            }
            (Ok(limits), Code::Component(component)) => self.run_component(
                task,
                component,
                args,
                options,
                &limits,
                &mut phases,
                (&stdout, &stderr),
            ),
            (Err(e), _) => Err(TaskError::new(ErrorKind::InvalidLimits, e.to_string())),
        };
        let execution = phases.finish(&self.inner.hostname);
        let (stdout, out_dropped) = stdout.take();
        let (stderr, err_dropped) = stderr.take();
        Invocation {
            result,
            execution,
            stdout,
            stderr,
            output_dropped: out_dropped + err_dropped,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        task: &Task,
        args: &Args,
        options: &InvokeOptions,
        limits: &Limits,
        phases: &mut Phases,
        stdout: &CapturedOutput,
        stderr: &CapturedOutput,
    ) -> Result<Value, TaskError> {
        let Code::Core(module) = &task.module.inner.code else {
            return Err(TaskError::new(
                ErrorKind::HostError,
                "a component task reached the core-module path",
            ));
        };
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .args(&[task.name()]);
        crate::mounts::preopen(&mut wasi, &options.read_only_dirs)?;
        let mut store = Store::new(
            &self.inner.engine,
            StoreState {
                wasi: wasi.build_p1(),
                limiter: TaskLimiter {
                    memory_bytes: limits.memory_bytes,
                    table_elements: limits.table_elements,
                    hit: None,
                },
                panic_message: None,
                deadline: limits.timeout.and_then(|t| Instant::now().checked_add(t)),
            },
        );
        store.limiter(|s| &mut s.limiter);
        let deadline = store.data().deadline;
        self.arm_store(&mut store, limits, deadline)?;

        let fail = |store: &Store<StoreState>, e: &wasmtime::Error| {
            TaskError::from_wasm(
                e,
                store.data().panic_message.as_deref(),
                store.data().limiter.hit.as_ref(),
            )
        };
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| fail(&store, &e))?;
        if let Some(init) = &module.initialize {
            let init = export_func(&mut store, &instance, init)?;
            call_initialize(&mut store, init).map_err(|e| fail(&store, &e))?;
        }

        phases.mark(Phases::INPUT_START);
        let input = args
            .call_for(task.spec())
            .map_err(|m| TaskError::new(ErrorKind::ArgumentError, m))?;
        let too_large = || {
            TaskError::new(
                ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
                format!(
                    "the encoded arguments are {} bytes, over the limit of {} bytes",
                    input.len(),
                    limits.max_argument_bytes.min(i32::MAX as u64)
                ),
            )
        };
        if input.len() as u64 > limits.max_argument_bytes {
            return Err(too_large());
        }
        // wasmtaps_alloc takes an i32.
        let input_len = i32::try_from(input.len()).map_err(|_| too_large())?;
        let alloc_failed = |m: String| TaskError::new(ErrorKind::Abi(AbiViolation::AllocFailed), m);
        let alloc = export_func(&mut store, &instance, &module.alloc)?;
        let ptr = call_alloc(&mut store, alloc, input_len).map_err(|e| {
            let error = fail(&store, &e);
            if error.kind() == &ErrorKind::Trap {
                alloc_failed(format!(
                    "wasmtaps_alloc({input_len}) trapped: {}",
                    error.message()
                ))
                .with_traceback(error.traceback().map(str::to_owned))
            } else {
                error
            }
        })?;
        if ptr == 0 {
            return Err(alloc_failed(format!(
                "wasmtaps_alloc({input_len}) returned 0"
            )));
        }
        let memory = export_memory(&mut store, &instance, &module.memory)?;
        // The arguments go straight into the guest's buffer: each value is copied once,
        // from where the caller keeps it.
        let start = ptr as u32 as usize;
        let guest = memory.data_mut(&mut store);
        let guest_size = guest.len();
        let buffer = start
            .checked_add(input.len())
            .and_then(|end| guest.get_mut(start..end))
            .ok_or_else(|| {
                alloc_failed(format!(
                    "wasmtaps_alloc({input_len}) returned {start:#x}, which lies outside the guest's {guest_size} bytes of memory"
                ))
            })?;
        input.write_to(buffer);
        drop(input);
        phases.mark(Phases::INPUT_END);

        let func = export_func(&mut store, &instance, &module.task_exports[task.index])?;
        phases.mark(Phases::TASK_START);
        let packed = call_task(&mut store, func, ptr, input_len);
        phases.mark(Phases::TASK_END);
        let packed = packed.map_err(|e| fail(&store, &e))?;

        phases.mark(Phases::RESULT_START);
        let (result_ptr, result_len) = (
            (packed as u64 >> 32) as usize,
            (packed as u64 & 0xffff_ffff) as usize,
        );
        if result_len as u64 > limits.max_result_bytes {
            return Err(TaskError::new(
                ErrorKind::Abi(AbiViolation::ResultTooLarge),
                format!(
                    "the result is {result_len} bytes, over the limit of {} bytes",
                    limits.max_result_bytes
                ),
            ));
        }
        let data = memory.data(&store);
        let bytes = result_ptr
            .checked_add(result_len)
            .and_then(|end| data.get(result_ptr..end))
            .ok_or_else(|| {
                TaskError::new(
                    ErrorKind::Abi(AbiViolation::InvalidResultPointer),
                    format!(
                        "the result at {result_ptr:#x} with length {result_len} lies outside the guest's {} bytes of memory",
                        data.len()
                    ),
                )
            })?;
        let value = crate::envelope::decode(bytes);
        drop(store);
        phases.mark(Phases::RESULT_END);
        value
    }
}

impl Runtime {
    /// Gives a fresh store its fuel (when metering) and its deadline: at the deadline
    /// the guest is interrupted, and with no deadline it never is.
    pub(crate) fn arm_store<T: 'static>(
        &self,
        store: &mut Store<T>,
        limits: &Limits,
        deadline: Option<Instant>,
    ) -> Result<(), TaskError> {
        if self.inner.fuel_metering {
            store
                .set_fuel(limits.fuel.unwrap_or(u64::MAX))
                .map_err(|e| {
                    TaskError::new(ErrorKind::HostError, format!("cannot set fuel: {e:#}"))
                })?;
        }
        let tick = self.inner.epoch_tick;
        match deadline {
            Some(deadline) => {
                store.set_epoch_deadline(ticks_towards(deadline, tick));
                store.epoch_deadline_callback(move |_| {
                    Ok(if Instant::now() >= deadline {
                        UpdateDeadline::Interrupt
                    } else {
                        UpdateDeadline::Continue(ticks_towards(deadline, tick))
                    })
                });
            }
            None => {
                store.set_epoch_deadline(NO_DEADLINE_TICKS);
                store.epoch_deadline_trap();
            }
        }
        Ok(())
    }
}

/// How many epoch ticks to wait before looking at the clock again on the way to
/// `deadline`: half the ticks left (at least one), so a ticker that oversleeps makes the
/// check late by at most about one tick, and the check runs a few dozen times per call.
fn ticks_towards(deadline: Instant, tick: Duration) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now());
    let ticks = left.as_nanos() / tick.as_nanos().max(1) / 2;
    u64::try_from(ticks)
        .unwrap_or(NO_DEADLINE_TICKS)
        .clamp(1, NO_DEADLINE_TICKS)
}

/// Ticks that never pass (wasmtime adds them to the current epoch, so not `u64::MAX`).
const NO_DEADLINE_TICKS: u64 = 1 << 62;
