//! What the host reads from a task module under ABI v1 (`docs/abi.md`): each task's
//! [`TaskSpec`] from the `wasmtaps.tasks` manifest, and the [`AbiViolation`]s a module or
//! a result can commit, which fail the task as `ErrorKind::Abi`; and, for a WebAssembly
//! component, each exported function that cannot be a task ([`UncallableExport`]).

pub use crate::component::UncallableExport;
pub use crate::failure::AbiViolation;
pub use crate::manifest::TaskSpec;
