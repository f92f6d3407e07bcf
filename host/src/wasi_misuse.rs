//! WASI calls the guest got wrong, recorded as its fault (`WasiMisuse`), never `HostError`.
//!
//! wasmtime-wasi's preview 1 traps when a guest passes a pointer outside its memory or
//! flag bits a call does not define; those traps carry a `wiggle::GuestError`, which
//! [`TaskError::from_wasm`](crate::failure::TaskError::from_wasm) classifies by downcast.
//! Its `random_get` refuses more than 64 MiB with an untyped error, so it is replaced
//! here by one that refuses the same requests with a [`WasiMisuse`].

use wasmtime::{Caller, Extern};
use wasmtime_wasi::Rng;

use crate::store::StoreState;

/// The most bytes one `random_get` call may ask for: wasmtime-wasi's own limit.
pub(crate) const MAX_RANDOM_BYTES: u64 = wasmtime_wasi::random::DEFAULT_MAX_SIZE;

/// A WASI call the guest made that no correct guest makes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WasiMisuse {
    /// `random_get` asked for more than [`MAX_RANDOM_BYTES`].
    #[error(
        "random_get asked for {requested} bytes, over the limit of {MAX_RANDOM_BYTES} bytes per call"
    )]
    RandomTooLarge { requested: u64 },
    /// `random_get`'s buffer is not inside the guest's memory.
    #[error(
        "random_get's buffer at {ptr:#x} with length {len} lies outside the guest's {memory} bytes of memory"
    )]
    RandomOutOfBounds { ptr: u32, len: u32, memory: usize },
    /// The module exports no memory for the call to write to.
    #[error("{call} was called by a module that exports no memory")]
    NoMemory { call: &'static str },
}

/// `random_get(buf, buf_len) -> errno`: fills the guest's buffer from a generator seeded
/// like wasmtime-wasi's default (`wasmtime_wasi::thread_rng`), writing straight into guest
/// memory; a request over the limit or outside memory traps with a [`WasiMisuse`].
pub(crate) fn random_get(
    mut caller: Caller<'_, StoreState>,
    buf: i32,
    buf_len: i32,
) -> wasmtime::Result<i32> {
    let (ptr, len) = (buf as u32, buf_len as u32);
    if u64::from(len) > MAX_RANDOM_BYTES {
        return Err(WasiMisuse::RandomTooLarge {
            requested: len.into(),
        }
        .into());
    }
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(WasiMisuse::NoMemory { call: "random_get" }.into());
    };
    let data = memory.data_mut(&mut caller);
    let size = data.len();
    let start = ptr as usize;
    let dest = start
        .checked_add(len as usize)
        .and_then(|end| data.get_mut(start..end))
        .ok_or(WasiMisuse::RandomOutOfBounds {
            ptr,
            len,
            memory: size,
        })?;
    wasmtime_wasi::thread_rng().fill_bytes(dest);
    Ok(0)
}
