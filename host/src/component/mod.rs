//! WebAssembly components as task modules.
//!
//! A component's tasks are its exported functions: the component's own (`add`,
//! `word-count`) and those of the interfaces it exports (`pkg:iface/func`), typed by WIT.
//! Arguments arrive as MessagePack `[args, kwargs]` like every task's, and the host maps
//! them onto the function's WIT types before the guest runs ([`lower`]), and the result
//! back to MessagePack ([`lift`]). Each call gets a fresh instance from a pre-linked
//! [`InstancePre`](wasmtime::component::InstancePre), with WASI preview 2 granting
//! nothing ([`store`]), made ahead of the call when it can be ([`spare`]), and every failure is named as for core modules, plus the guest
//! language's own meaning where it has one ([`failure`]).

mod exports;
mod failure;
mod instance;
mod invoke;
mod lift;
mod load;
mod lower;
mod spare;
mod store;
mod wit;

pub(crate) use exports::ComponentCode;
pub use exports::UncallableExport;
pub(crate) use spare::Spares;
pub(crate) use store::{ComponentState, MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES, linker};
