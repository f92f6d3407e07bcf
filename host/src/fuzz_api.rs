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

/// Checks `message` as a Redis worker checks a job and as an engine checks a reply:
/// authenticated with `secret` (insecure when `None`), then decoded with bounded memory
/// and validated. With `seal`, the message is signed first, so the decoders behind the
/// tag see arbitrary bytes. Returns the job's and the reply's outcome.
pub fn check_redis_messages(
    secret: Option<&[u8]>,
    seal: bool,
    message: &[u8],
) -> [Result<(), String>; 2] {
    crate::remote::check_messages(secret, seal, message)
}

/// Reads `bytes` as worker-process pipe frames (requests and replies) until they run out,
/// with a frame limit of `max_bytes`; returns how many frames decoded.
pub fn read_pipe_frames(bytes: &[u8], max_bytes: u64) -> usize {
    let mut input = bytes;
    let mut frames = 0;
    while let Ok(Some(value)) =
        crate::remote::wire::read_frame::<rmpv::Value>(&mut input, max_bytes)
    {
        let _ = value;
        frames += 1;
    }
    frames
}
