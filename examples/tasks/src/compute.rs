//! Kernels for limits and benchmarks: CPU (fuel, timeouts), memory and stack.

use std::hint::black_box;

use wasmtaps_guest::task;

/// Runs `iterations` rounds of xorshift; the result depends on every round, so the
/// loop cannot be optimised away or shortened.
#[task]
pub fn spin(iterations: u64) -> u64 {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..iterations {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state = state.wrapping_add(i);
    }
    state
}

/// Allocates `len` bytes, writes every one, and returns their wrapping sum. An
/// allocation the memory limit refuses aborts the call (a trap).
#[task]
pub fn alloc_bytes(len: u64) -> u64 {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut bytes = vec![0u8; len];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    // Keep the writes: the optimiser must not fold the sum into a formula.
    let bytes = black_box(bytes);
    bytes
        .iter()
        .fold(0u64, |sum, byte| sum.wrapping_add(u64::from(*byte)))
}

/// Recurses `depth` times (not a tail call: each level uses the result of the next)
/// and returns a value that depends on every level. A depth beyond the host's stack
/// limit overflows the wasm call stack. The frames keep their state in wasm locals,
/// not the shadow stack in linear memory.
#[task]
pub fn recurse(depth: u64) -> u64 {
    recurse_inner(depth)
}

#[inline(never)]
fn recurse_inner(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let below = recurse_inner(depth - 1);
    // `below` is used twice and mixed with `depth`, which defeats tail-recursion
    // elimination with an accumulator.
    (below ^ (below >> 3)).wrapping_mul(31).wrapping_add(depth)
}

/// Multiplies two deterministic `n`×`n` f64 matrices (seeded by `seed`) and returns
/// the sum of the product's elements.
#[task]
pub fn matmul(n: u32, seed: u64) -> f64 {
    let n = n as usize;
    let mut state = seed;
    let mut next = move || {
        // A 64-bit LCG (Knuth's MMIX constants); the top 53 bits make a float in [0, 1).
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let a: Vec<f64> = (0..n * n).map(|_| next()).collect();
    let b: Vec<f64> = (0..n * n).map(|_| next()).collect();
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_depends_on_iterations() {
        assert_eq!(spin(0), 0x9e37_79b9_7f4a_7c15);
        assert_ne!(spin(1000), spin(1001));
        assert_eq!(spin(1000), spin(1000));
    }

    #[test]
    fn alloc_bytes_checksums() {
        assert_eq!(alloc_bytes(0), 0);
        assert_eq!(alloc_bytes(3), 3);
        assert_eq!(alloc_bytes(251), (0..251).sum());
    }

    #[test]
    fn recurse_is_deterministic() {
        assert_eq!(recurse(0), 1);
        // depth 1: below = 1, (1 ^ 0) * 31 + 1
        assert_eq!(recurse(1), 32);
        assert_ne!(recurse(100), recurse(101));
    }

    #[test]
    fn matmul_of_small_matrices() {
        assert_eq!(matmul(0, 1), 0.0);
        let once = matmul(8, 42);
        assert_eq!(once, matmul(8, 42));
        assert_ne!(once, matmul(8, 43));
        // Elements are in [0, 1): each of the n² products is below n.
        assert!(once > 0.0 && once < 8.0 * 64.0);
    }
}
