//! The synthetic app's task: consume the parents' bytes, sleep, produce new bytes.

use wasmtaps_guest::serde_bytes::ByteBuf;
use wasmtaps_guest::task;

/// Like TaPS's synthetic `noop_task(*data, output_size, sleep)`: takes the bytes its
/// parents produced, sleeps `sleep` seconds and returns `output_size` pseudo-random bytes
/// derived from its input (so the work depends on every input byte).
#[task]
pub fn synthetic(data: Vec<ByteBuf>, output_size: u64, sleep: f64) -> ByteBuf {
    let mut seed = 0xcbf2_9ce4_8422_2325u64;
    for chunk in &data {
        for &b in chunk.iter() {
            seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    if sleep > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(sleep));
    }
    ByteBuf::from(random_bytes(seed, output_size as usize))
}

/// [`synthetic`] under TaPS's name for it, so `wasmtaps run synthetic` records line up
/// with TaPS's per-app analyses.
#[task]
pub fn noop_task(data: Vec<ByteBuf>, output_size: u64, sleep: f64) -> ByteBuf {
    synthetic(data, output_size, sleep)
}

/// TaPS's warm-up task: does nothing, so its record measures the engine alone.
#[task]
pub fn warmup_task() {}

/// `len` bytes from a xorshift generator seeded with `seed`.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&state.to_le_bytes()[..take]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_has_the_asked_size_and_depends_on_the_input() {
        let a = synthetic(vec![ByteBuf::from(vec![1, 2, 3])], 100, 0.0);
        let b = synthetic(vec![ByteBuf::from(vec![1, 2, 4])], 100, 0.0);
        assert_eq!(a.len(), 100);
        assert_ne!(a, b);
        assert_eq!(synthetic(vec![], 0, 0.0).len(), 0);
    }
}
