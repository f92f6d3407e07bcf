//! Write [wasmtaps](https://example.invalid/wasmtaps) tasks in Rust.
//!
//! ```
//! use wasmtaps_guest::task;
//!
//! /// Adds two numbers.
//! #[task]
//! pub fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! /// Parses an integer; an `Err` becomes a guest error of type `ParseIntError`.
//! #[task(name = "parse")]
//! pub fn parse_int(text: String) -> Result<i64, std::num::ParseIntError> {
//!     text.trim().parse()
//! }
//!
//! fn main() {
//!     // The functions stay ordinary Rust functions, easy to unit test natively.
//!     assert_eq!(add(1, 2), 3);
//!     assert!(parse_int("x".into()).is_err());
//! }
//! ```
//!
//! Compiled for `wasm32`, each [`#[task]`](task) function becomes an export
//! `wasmtaps_task_<name>` of the guest ABI v1 (see `docs/abi.md` in the repository),
//! plus an entry in the module's `wasmtaps.tasks` manifest section naming its
//! parameters. The SDK itself provides the `wasmtaps_alloc` export and reports
//! panics to the host.
//!
//! # Tasks
//!
//! A task is a free, non-`async` function, generic at most over lifetimes:
//!
//! - Its parameters are plain identifiers whose types implement
//!   [`serde::Deserialize`]: owned types (`String`, `Vec<i64>`, `ByteBuf`), or types
//!   that borrow from the argument buffer without a copy (`&str`, `&[u8]`,
//!   `&serde_bytes::Bytes`, or structs of them). Callers may pass them by position or
//!   by name (keyword arguments); a wrong count, an unknown or repeated name or a value
//!   of the wrong type is reported to the caller as an `ArgumentError` naming the
//!   parameter.
//! - It returns any [`serde::Serialize`] value (`()` and no return type send nil) or
//!   a [`ResultBytes`], or, when the return type is spelled `Result<T, E>` (including
//!   aliases such as `std::io::Result<T>` whose last segment is `Result`), such a `T`
//!   and `E: Display`. An `Err(e)` is sent as an error whose type is the short name of
//!   `E` (`ParseIntError` for `std::num::ParseIntError`) and whose message is
//!   `e.to_string()`.
//! - A panic is reported as `"<message> at <file>:<line>:<col>"` and ends the call
//!   (the host reports a `GuestPanic`).
//!
//! Values travel as MessagePack: structs are sent as maps keyed by field name, and
//! [`serde_bytes::ByteBuf`] (or `#[serde(with = "serde_bytes")]`) as MessagePack
//! `bin` rather than an array of integers:
//!
//! ```
//! use wasmtaps_guest::serde_bytes::ByteBuf;
//! use wasmtaps_guest::task;
//!
//! #[task]
//! pub fn reverse_bytes(data: ByteBuf) -> ByteBuf {
//!     let mut data = data.into_vec();
//!     data.reverse();
//!     ByteBuf::from(data)
//! }
//! # fn main() {}
//! ```
//!
//! # Large values without copies
//!
//! A `&[u8]` (MessagePack `bin` only), `&str` or `&serde_bytes::Bytes` parameter
//! borrows from the argument buffer the host wrote into the instance, and a
//! [`ResultBytes`] returned is handed to the host where it lies, with the result
//! envelope written in the room it keeps in front of the data. A task that reverses
//! 1 MiB then copies it once, into the buffer the host reads:
//!
//! ```
//! use wasmtaps_guest::{ResultBytes, task};
//!
//! #[task]
//! pub fn reverse_bytes(data: &[u8]) -> ResultBytes {
//!     let mut out = ResultBytes::with_capacity(data.len());
//!     out.extend_from_slice(data);
//!     out.reverse();
//!     out
//! }
//!
//! /// Borrowed text: a `&str` parameter is checked as UTF-8, never copied.
//! #[task]
//! pub fn word_count(text: &str) -> usize {
//!     text.split_whitespace().count()
//! }
//! # fn main() {}
//! ```
//!
//! # Building a task module
//!
//! A task module is a `cdylib` for `wasm32-wasip1`; keeping `rlib` too lets its
//! unit tests and other crates call the functions natively.
//!
//! ```toml
//! [package]
//! name = "my-tasks"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! wasmtaps-guest = "0.1"
//!
//! # In the workspace root: small, fast modules, and panics that abort.
//! [profile.guest]
//! inherits = "release"
//! lto = true
//! codegen-units = 1
//! panic = "abort"
//! ```
//!
//! A `build.rs` shrinks the shadow stack from Rust's default of 1 MiB to 64 KiB,
//! which keeps the module's initial memory, and so the cost of each fresh
//! instance, small:
//!
//! ```no_run
//! fn main() {
//!     let target = std::env::var("TARGET").unwrap_or_default();
//!     if target.starts_with("wasm32") {
//!         println!("cargo:rustc-link-arg=-zstack-size=65536");
//!     }
//! }
//! ```
//!
//! The stack comes first in memory, then the module's data, then its heap. When stack
//! and data fit in one 64 KiB wasm page (with room left for the heap a task needs), the
//! whole memory is one page and each fresh instance resets half of what two pages cost:
//! `examples/apps` links a 16 KiB stack for that (a bag of no-ops: about 12% less CPU).
//! A task that overflows its stack traps; it never writes over data.
//!
//! Then build with
//!
//! ```sh
//! rustup target add wasm32-wasip1
//! cargo build --target wasm32-wasip1 --profile guest
//! ```
//!
//! and hand `target/wasm32-wasip1/guest/my_tasks.wasm` to the host.
//!
//! # Cost of a call
//!
//! The host runs every call in a fresh instance, where each 4 KiB page touched costs
//! a page fault. The SDK therefore serves the argument buffer and small results from
//! a static 8 KiB arena and decodes arguments without allocating, so a no-op task
//! touches little more than a page of data and the top of the stack.

#![deny(missing_docs)]
// The examples define tasks, which must be module-level items, next to a `main`.
#![allow(clippy::needless_doctest_main)]

mod abi;
mod args;
mod panic;
mod result_bytes;
mod run;
mod wire;

#[cfg(test)]
extern crate self as wasmtaps_guest;
#[cfg(test)]
mod tests;

/// Turns a free function into a task export.
///
/// `#[task]` names the task after the function; `#[task(name = "...")]` chooses
/// another name (ASCII letters, digits and `_`). The function itself is left
/// unchanged. See the [crate documentation](crate) for what a task may take and
/// return.
///
/// # Examples
///
/// ```
/// use wasmtaps_guest::task;
///
/// #[derive(Debug)]
/// pub struct DivisionByZero;
///
/// impl std::fmt::Display for DivisionByZero {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("division by zero")
///     }
/// }
///
/// #[task(name = "div")]
/// pub fn divide(a: i64, b: i64) -> Result<i64, DivisionByZero> {
///     if b == 0 { Err(DivisionByZero) } else { Ok(a / b) }
/// }
/// # fn main() { assert_eq!(divide(6, 3).unwrap(), 2); }
/// ```
pub use wasmtaps_guest_macros::task;

/// The `serde` this crate uses, for `#[derive(Serialize, Deserialize)]` on argument
/// and result types (with `#[serde(crate = "wasmtaps_guest::serde")]` when the task
/// crate does not depend on `serde` itself).
pub use serde;

/// `ByteBuf` and `Bytes`: byte strings sent as MessagePack `bin`.
pub use serde_bytes;

pub use result_bytes::ResultBytes;

/// The guest ABI version this SDK implements (the `abi` of each manifest entry).
pub const ABI_VERSION: u32 = 1;

/// Support for the code `#[task]` generates. Not public API: it changes without
/// notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::{Args, ArgumentError, TaskSpec};
    pub use crate::run::{
        Output, Replied, Reply, TaskReturn, fallible, plain, run_task, short_type_name,
    };

    #[cfg(target_arch = "wasm32")]
    pub use crate::abi::export;
}
