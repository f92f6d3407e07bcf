//! The task module behind `wasmtaps run`: the tasks of TaPS's benchmark applications.
//!
//! - [`synthetic`]: the synthetic app's task (bytes in, bytes out, an optional sleep).
//! - [`failures`]: tasks that fail in each way the failures app injects.
//! - [`mapreduce`]: word counting map and reduce tasks.
//! - [`cholesky`]: the four tile kernels of a tiled Cholesky factorisation.
//!
//! Build: `cargo build -p wasmtaps-example-apps --target wasm32-wasip1 --profile guest`
//! (or any build of `wasmtaps-example-artifacts`).

pub mod cholesky;
pub mod failures;
pub mod mapreduce;
pub mod synthetic;
