//! The example task module the host's tests and benchmarks run.
//!
//! Build it (the `wasmtaps-example-artifacts` crate does this for the tests) with
//!
//! ```sh
//! cargo build -p wasmtaps-example-tasks --target wasm32-wasip1 --profile guest
//! ```
//!
//! Every function is an ordinary Rust function too, unit tested natively:
//!
//! ```
//! use wasmtaps_example_tasks::basics::add;
//!
//! assert_eq!(add(1, 2), 3);
//! ```
//!
//! The tasks, by topic:
//!
//! - [`basics`]: `noop`, `add`, `sum_list`, `greet`, `word_count`.
//! - [`bytes`]: `reverse_bytes`, `byte_len`, `make_bytes`, `checksum`.
//! - [`errors`]: `parse_int`, `divide`, `fail_panic`.
//! - [`compute`]: `spin`, `alloc_bytes`, `recurse`, `matmul`.
//! - [`system`]: `print_lines`, `eprint`, `sleep`, `read_file`.

#![deny(missing_docs)]

pub mod basics;
pub mod bytes;
pub mod compute;
pub mod errors;
pub mod system;
