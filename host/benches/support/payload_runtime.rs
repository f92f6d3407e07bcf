//! The runtime of the large-payload measurements (`benches/payload.rs` and
//! `examples/payload_cost.rs`).

use wasmtaps::{Limits, Runtime, RuntimeError};

/// A runtime whose default limits admit the payloads measured: 1 GiB of guest memory,
/// arguments and results up to 256 MiB.
pub fn build() -> Result<Runtime, RuntimeError> {
    Runtime::builder()
        .default_limits(Limits {
            memory_bytes: 1 << 30,
            max_argument_bytes: 256 << 20,
            max_result_bytes: 256 << 20,
            ..Limits::DEFAULT
        })
        .build()
}
