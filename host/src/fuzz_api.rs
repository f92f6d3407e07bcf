//! Entry points for the fuzz targets in `tests/fuzz`, re-exported as `wasmtaps::__fuzz`.
//!
//! Not part of the public API: thin wrappers over the parsers that see untrusted bytes,
//! so a fuzz target can reach them without building a module around every input.

use crate::failure::TaskError;
use crate::manifest::{self, TaskSpec};
use crate::value::Value;

/// Decodes `bytes` as the result envelope a guest returns (`{"ok": v}` or `{"err": {..}}`),
/// exactly as [`Runtime::invoke`](crate::Runtime::invoke) does with guest memory.
///
/// # Errors
/// `MalformedResult`, or the guest's own error when the envelope is `{"err": ..}`.
pub fn decode_envelope(bytes: &[u8]) -> Result<Value, TaskError> {
    crate::envelope::decode(bytes)
}

/// Parses the contents of a `wasmtaps.tasks` custom section.
///
/// # Errors
/// What is wrong with the first bad entry.
pub fn parse_manifest(section: &[u8]) -> Result<Vec<TaskSpec>, String> {
    manifest::parse(section)
}

/// Surveys a wasm binary as the loader does before compiling: the concatenated
/// `wasmtaps.tasks` sections and the largest declared initial memory.
///
/// # Errors
/// A framing error (truncated LEB128, a section running past the end, ..).
pub fn custom_sections(wasm: &[u8]) -> Result<(Option<Vec<u8>>, u64), String> {
    let found = crate::survey::survey(wasm)?;
    Ok((found.manifest, found.largest_memory))
}
