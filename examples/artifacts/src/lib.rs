//! Paths of the example task modules, built from source for `wasm32-wasip1` (with
//! the workspace's `guest` profile) by this crate's build script, so tests and
//! benchmarks never depend on a checked-in `.wasm`.
//!
//! ```no_run
//! let module = std::fs::read(wasmtaps_example_artifacts::TASKS_WASM)?;
//! assert_eq!(&module[..4], b"\0asm");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The build needs the target: `rustup target add wasm32-wasip1`. The modules land
//! in `target/guests/wasm32-wasip1/guest/`.

#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

#[cfg(test)]
mod tests;
