//! Arbitrary bytes as the messages that cross a process boundary: a Redis job as a
//! worker checks it, a Redis reply as an engine checks it (each unauthenticated, with a
//! secret, and signed first so the decoders behind the tag see arbitrary bytes), and a
//! worker-process pipe stream of frames. None may panic, hang or allocate from a
//! declared length; an unsigned message must never pass a secret's check.
//!
//! Run with `scripts/fuzz wire SECONDS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmtaps::__fuzz::{check_redis_messages, read_pipe_frames};

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let _ = check_redis_messages(None, false, data);
    let [job, reply] = check_redis_messages(Some(SECRET), false, data);
    // Forging a tag is not something a fuzzer can do: only the signed path gets through.
    assert!(job.is_err() && reply.is_err(), "an unsigned message passed authentication");
    let _ = check_redis_messages(Some(SECRET), true, data);
    let _ = read_pipe_frames(data, 1 << 16);
});
