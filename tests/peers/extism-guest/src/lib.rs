//! The example tasks the peers benchmark runs, as an Extism plugin. Each mirrors the
//! function of the same name in `examples/tasks`; input and output are raw bytes (no
//! MessagePack), the way Extism plugins usually exchange bytes.

use extism_pdk::{FnResult, plugin_fn};

/// Does nothing (`examples/tasks` `noop`).
#[plugin_fn]
pub fn noop() -> FnResult<()> {
    Ok(())
}

/// The input bytes reversed (`examples/tasks` `reverse_bytes`).
#[plugin_fn]
pub fn reverse_bytes(data: Vec<u8>) -> FnResult<Vec<u8>> {
    let mut data = data;
    data.reverse();
    Ok(data)
}

/// The 64-bit FNV-1a hash of the input, as 8 little-endian bytes (`examples/tasks`
/// `checksum`).
#[plugin_fn]
pub fn checksum(data: Vec<u8>) -> FnResult<Vec<u8>> {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Ok(hash.to_le_bytes().to_vec())
}
