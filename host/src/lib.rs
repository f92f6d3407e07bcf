//! wasmtaps: a WebAssembly sandboxed task host with the task semantics of TaPS.
//!
//! Task authors write ordinary functions, mark them with `#[task]` from the
//! `wasmtaps-guest` SDK (or implement the language-neutral ABI in `docs/abi.md`), and
//! compile them to a wasm module. The host runs every invocation in a fresh, limited
//! wasm instance, passes arguments and results as MessagePack, times each phase as TaPS's
//! `ExecutionInfo` defines, and turns every failure into an `ExceptionInfo`.
//!
//! ```
//! use wasmtaps::{Args, Runtime};
//! let runtime = Runtime::new()?;
//! let module = runtime.load_wat("const", r#"(module
//!     (memory (export "memory") 1)
//!     (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
//!     (data (i32.const 16) "\81\a2ok\2a")   ;; {"ok": 42}
//!     (func (export "wasmtaps_task_answer") (param i32 i32) (result i64)
//!         (i64.const 0x0000001000000005)))"#)?;
//! let outcome = runtime.invoke(&module.task("answer")?, &Args::new(), &Default::default());
//! assert_eq!(outcome.result?.decode::<u32>()?, 42);
//! assert!(outcome.execution.task_end_time >= outcome.execution.task_start_time);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Core concepts, at the crate root:
//! - [`Runtime`]: the configured wasmtime engine, module cache and limits.
//! - [`TaskModule`] and [`Task`]: a validated module and one task in it. A WebAssembly
//!   component (Python through componentize-py, JavaScript through jco, Rust through
//!   wit-bindgen) is a task module too: its exported functions are its tasks, their
//!   arguments and results mapped between MessagePack and WIT types
//!   ([`TaskModule::is_component`], [`Task::signature`]).
//! - [`Args`] and [`Value`]: MessagePack-encoded arguments and results.
//! - [`Limits`] and [`LimitOverrides`]: what one invocation may use.
//! - [`Invocation`]: one run's result, [`ExecutionInfo`] and captured output.
//! - [`TaskError`]: why a task failed, as [`ExceptionInfo`] in records ([`TaskInfo`]).
//! - [`Engine`]: submits tasks and returns [`TaskFuture`]s; futures passed as arguments
//!   ([`Arg`]) make dependencies; [`wait`], [`as_completed`] and [`Engine::map`] work on
//!   many; every task is recorded through a [`RecordSink`].
//! - [`Executor`]: where ready tasks run — [`LocalExecutor`] (threads, the default),
//!   [`ProcessExecutor`] (worker processes) or [`RedisExecutor`] (workers anywhere).
//!
//! The rest is in modules: [`engine`] (builder, statistics, typed calls), [`remote`]
//! (worker processes and Redis: workers, stores, secrets), [`runtime`] (builder, compile
//! budget, cache), [`value`] and [`abi`].
#![deny(missing_docs)]

#[doc(hidden)]
#[path = "fuzz_api.rs"]
pub mod __fuzz;
pub mod abi;
mod abi_call;
mod args;
mod cache;
mod component;
pub mod engine;
mod envelope;
mod failure;
mod info;
mod invoke;
mod json;
mod limits;
mod load_error;
mod manifest;
mod module;
mod mounts;
mod msgpack;
mod poll;
pub mod remote;
pub mod runtime;
mod store;
mod survey;
mod terminal;
pub mod value;
mod wasi_misuse;

// The vocabulary of a program that runs tasks; the rest is in the public modules above.
pub use args::{Args, JsonArgsError};
pub use engine::{
    Arg, Engine, EngineError, Executor, FutureError, LocalExecutor, ReadyTask, RecordCollector,
    RecordSink, ReturnWhen, RunningTask, TaskFuture, TypedFuture, TypedTask, as_completed, wait,
};
pub use failure::{ErrorKind, TaskError};
pub use info::{ExceptionInfo, ExecutionInfo, PhaseDurations, TaskInfo, TaskResult};
pub use invoke::{Invocation, InvokeOptions, ReadOnlyDir};
pub use limits::{LimitError, LimitOverrides, Limits};
pub use module::{LoadError, Task, TaskModule};
pub use remote::{ProcessExecutor, RedisExecutor, WorkerCommand};
pub use runtime::{Runtime, RuntimeBuilder, RuntimeError};
pub use value::{Value, ValueError};
