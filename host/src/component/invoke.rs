//! One component invocation: a fresh instance, the arguments mapped to WIT values, the
//! call, the result mapped back, every phase timed as for core modules.

use std::time::Instant;

use wasmtime::component::{Type, Val};
use wasmtime::{Store, Trap, WasmBacktrace};

use super::exports::ComponentCode;
use super::failure::{js_exception, python_exception, returned_error, rust_panic};
use super::lift::{LiftError, lift};
use super::lower::lower_args;
use super::store::ComponentState;
use crate::args::Args;
use crate::failure::{AbiViolation, ErrorKind, TaskError};
use crate::invoke::{InvokeOptions, Phases};
use crate::limits::Limits;
use crate::module::Task;
use crate::runtime::Runtime;
use crate::store::CapturedOutput;
use crate::value::Value;

impl Runtime {
    /// Runs a component's task in a fresh instance: WASI preview 2 with no files but the
    /// caller's read-only mounts, no environment, no arguments and no network; clocks and
    /// random as for core modules.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_component(
        &self,
        task: &Task,
        code: &ComponentCode,
        args: &Args,
        options: &InvokeOptions,
        limits: &Limits,
        phases: &mut Phases,
        (stdout, stderr): (&CapturedOutput, &CapturedOutput),
    ) -> Result<Value, TaskError> {
        let entry = &code.tasks[task.index];
        let spare = self.take_spare(task, options, limits);
        let (mut store, instance, spare_output) = match spare {
            Some(spare) => {
                let (store, instance, output) = spare.start(self, limits, (stdout, stderr))?;
                (store, instance, Some(output))
            }
            None => {
                let deadline = limits.timeout.and_then(|t| Instant::now().checked_add(t));
                let (store, instance) = self.instantiate_fresh(
                    code,
                    limits,
                    &options.read_only_dirs,
                    (stdout, stderr),
                    deadline,
                )?;
                let instance = instance
                    .map_err(|e| classify(&e, store.data().limiter.task.hit.as_ref(), stderr))?;
                (store, instance, None)
            }
        };
        // A spare captured its output itself; the invocation gets it when the call is over.
        let stderr = spare_output.as_ref().map_or(stderr, |o| o.stderr());
        let fail = |store: &Store<ComponentState>, e: &wasmtime::Error| {
            classify(e, store.data().limiter.task.hit.as_ref(), stderr)
        };

        phases.mark(Phases::INPUT_START);
        let encoded: usize = args
            .positional()
            .iter()
            .map(|v| v.as_msgpack().len())
            .chain(
                args.keyword()
                    .iter()
                    .map(|(k, v)| k.len() + v.as_msgpack().len()),
            )
            .sum();
        if encoded as u64 > limits.max_argument_bytes {
            return Err(TaskError::new(
                ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
                format!(
                    "the encoded arguments are {encoded} bytes, over the limit of {} bytes",
                    limits.max_argument_bytes
                ),
            ));
        }
        let params = lower_args(task.name(), &entry.ty, args)
            .map_err(|m| TaskError::new(ErrorKind::ArgumentError, m))?;
        let func = instance.get_func(&mut store, entry.export).ok_or_else(|| {
            TaskError::new(
                ErrorKind::HostError,
                "a listed export is missing from the instance",
            )
        })?;
        let result_ty = entry.ty.results().next();
        let mut results = vec![Val::Bool(false); usize::from(result_ty.is_some())];
        phases.mark(Phases::INPUT_END);

        phases.mark(Phases::TASK_START);
        let called = func.call(&mut store, &params, &mut results);
        phases.mark(Phases::TASK_END);
        let fuel = hostcall_fuel(limits.max_result_bytes);
        called.map_err(|e| {
            if result_over_hostcall_fuel(&e) {
                TaskError::new(
                    ErrorKind::Abi(AbiViolation::ResultTooLarge),
                    format!(
                        "the result is over the limit of {} bytes: its values would take \
                         more than the {fuel} bytes the host lifts for that limit",
                        limits.max_result_bytes
                    ),
                )
            } else {
                fail(&store, &e)
            }
        })?;
        drop(params);

        phases.mark(Phases::RESULT_START);
        let limit = limits.max_result_bytes;
        let bytes = match (results.first(), result_ty) {
            (Some(Val::Result(Err(error))), Some(Type::Result(_))) => {
                return Err(returned_error(error.as_deref()));
            }
            (Some(Val::Result(Ok(Some(value)))), Some(Type::Result(ty))) => match ty.ok() {
                Some(ok) => lift(value, &ok, limit),
                None => Ok(vec![0xc0]),
            },
            (Some(Val::Result(Ok(None))), Some(Type::Result(_))) | (None, _) => Ok(vec![0xc0]),
            (Some(value), Some(ty)) => lift(value, &ty, limit),
            (Some(_), None) => Ok(vec![0xc0]),
        }
        .map_err(|e| match e {
            LiftError::TooLarge { limit } => TaskError::new(
                ErrorKind::Abi(AbiViolation::ResultTooLarge),
                format!("the result is over the limit of {limit} bytes"),
            ),
            LiftError::Unsupported(what) => TaskError::new(
                ErrorKind::HostError,
                format!("the task returned a {what}, which has no MessagePack form"),
            ),
        })?;
        drop(results);
        drop(store);
        phases.mark(Phases::RESULT_END);
        Ok(Value::from_trusted(bytes))
    }
}

/// How many bytes of host values wasmtime may build from guest data in one call: the
/// task's result (lifted into `Val`s, about 40 bytes per element, so a `list<u8>` costs
/// 40 times its length) and the data of each WASI call the guest makes. Eight times
/// the result limit, and never less than wasmtime's own default of 128 MiB: with the
/// default 64 MiB result limit a task can return a `list<u8>` of about 12 MiB, and the
/// host holds at most 512 MiB of values for one call. A result whose values would take
/// more is recorded as `ResultTooLarge`, as one whose encoding is over the limit.
pub(super) fn hostcall_fuel(max_result_bytes: u64) -> usize {
    let fuel = max_result_bytes.saturating_mul(8).max(128 << 20);
    usize::try_from(fuel).unwrap_or(usize::MAX)
}

/// Whether wasmtime gave up lifting the task's result because its host values would
/// take more than the hostcall fuel ([`hostcall_fuel`]): a result too large.
///
/// wasmtime does not export that error's type (`HostcallFuelExhausted`), so it is told
/// by its `Debug` form, which is the type's name; the test
/// `a_result_over_the_hostcall_fuel_is_result_too_large` (tests/all/components.rs) fails
/// if a wasmtime upgrade renames it. The same error from a WASI call the guest made (its
/// arguments over the fuel) happens inside wasm, so it carries a wasm backtrace and is
/// not taken for the result.
fn result_over_hostcall_fuel(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<WasmBacktrace>().is_none()
        && error.downcast_ref::<Trap>().is_none()
        && format!("{:?}", error.root_cause()) == "HostcallFuelExhausted"
}

/// Names a failure as for a core module, except that an `unreachable` trap after the
/// guest printed a Python traceback or a JavaScript error is that exception, and after
/// a Rust panic message a `GuestPanic` with that message (as a core module's panic
/// reported through `wasmtaps.panic`).
fn classify(
    error: &wasmtime::Error,
    limit_hit: Option<&crate::store::LimitExceeded>,
    stderr: &CapturedOutput,
) -> TaskError {
    let failure = TaskError::from_wasm(error, None, limit_hit);
    if failure.kind() == &ErrorKind::Trap
        && matches!(
            error.downcast_ref::<Trap>(),
            Some(Trap::UnreachableCodeReached)
        )
    {
        let printed = stderr.snapshot();
        if let Some(exception) = python_exception(&printed).or_else(|| js_exception(&printed)) {
            return exception.into_task_error();
        }
        if let Some(message) = rust_panic(&printed) {
            return TaskError::new(ErrorKind::GuestPanic, message)
                .with_traceback(failure.traceback().map(str::to_owned));
        }
    }
    failure
}
