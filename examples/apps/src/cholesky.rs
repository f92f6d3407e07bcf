//! The four kernels of a tiled Cholesky factorisation, on square tiles of `f64` passed as
//! little-endian bytes (row-major).
//!
//! For tiles k ≤ i, j: `L[k][k] = potrf(A[k][k])`, `L[i][k] = trsm(L[k][k], A[i][k])`,
//! `A[i][i] -= syrk(L[i][k])`, `A[i][j] -= gemm(L[i][k], L[j][k])`.
//!
//! The kernels are the same source natively and in the wasm guest (`register_blocked`:
//! register blocks of two-lane sums, a form both LLVM and Cranelift keep in
//! registers); only gemm's block width differs, each target's fastest.

mod f64x2;
mod register_blocked;

use std::borrow::Cow;

use wasmtaps_guest::serde_bytes::ByteBuf;
use wasmtaps_guest::task;

/// Decodes a tile.
pub fn tile(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Encodes a tile.
pub fn bytes(tile: &[f64]) -> ByteBuf {
    ByteBuf::from(bytemuck::cast_slice::<f64, u8>(tile).to_vec())
}

/// A tile's bytes as `f64`s: borrowed in place when they can be (a little-endian target,
/// 8-byte aligned, as the allocator's blocks are), else decoded into a copy.
pub fn view(bytes: &[u8]) -> Cow<'_, [f64]> {
    match bytemuck::try_cast_slice::<u8, f64>(bytes) {
        Ok(tile) if cfg!(target_endian = "little") => Cow::Borrowed(tile),
        _ => Cow::Owned(tile(bytes)),
    }
}

/// Runs `f` on the tile in `bytes` as `f64`s, in place when it can be (see [`view`]),
/// else on a copy that is then written back.
pub fn update<R>(bytes: &mut [u8], f: impl FnOnce(&mut [f64]) -> R) -> R {
    if cfg!(target_endian = "little")
        && let Ok(tile) = bytemuck::try_cast_slice_mut::<u8, f64>(bytes)
    {
        return f(tile);
    }
    let mut copy = tile(bytes);
    let result = f(&mut copy);
    for (chunk, x) in bytes.chunks_exact_mut(8).zip(copy) {
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    result
}

fn side(len: usize) -> usize {
    (len as f64).sqrt().round() as usize
}

/// Overwrites a diagonal tile `A` with its Cholesky factor: lower-triangular `L` with
/// `L·Lᵀ = A` (the upper triangle set to zero).
///
/// Column by column, left-looking; below the diagonal, four rows at a time share one
/// pass over the column's row of `L` (see `register_blocked`).
pub fn potrf_native(a: &mut [f64]) -> Result<(), NotPositiveDefinite> {
    register_blocked::potrf(a)
}

/// Overwrites `B` with `X`, the solution of `X · Lᵀ = B` (`L` lower-triangular).
///
/// Column by column, two at a time; four rows of `X` share one pass over the two
/// columns' rows of `L` (see `register_blocked`).
pub fn trsm_native(l: &[f64], x: &mut [f64]) {
    register_blocked::trsm(l, x);
}

/// `C ← C - A·Bᵀ`.
///
/// In register blocks of four rows of `C` by three columns in wasm, four natively,
/// each block one pass over its rows of `A` and of `B` (see `register_blocked`).
pub fn gemm_native(c: &mut [f64], a: &[f64], b: &[f64]) {
    use register_blocked::{GEMM_ROWS_A, GEMM_ROWS_B};
    register_blocked::gemm::<GEMM_ROWS_A, GEMM_ROWS_B>(c, a, b);
}

/// The diagonal tile is not positive definite.
#[derive(Debug)]
pub struct NotPositiveDefinite {
    /// The column where the pivot was not positive.
    pub column: usize,
}

impl std::fmt::Display for NotPositiveDefinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tile is not positive definite (column {})", self.column)
    }
}

// The tasks compute in the buffer of their first argument and return it: no tile is
// copied in the guest beyond what decoding the arguments does.

/// Task: `L[k][k] = potrf(A[k][k])`.
#[task]
pub fn potrf(mut a: ByteBuf) -> Result<ByteBuf, NotPositiveDefinite> {
    update(&mut a, potrf_native)?;
    Ok(a)
}

/// Task: `L[i][k] = A[i][k] · L[k][k]⁻ᵀ`.
#[task]
pub fn trsm(l: ByteBuf, mut a: ByteBuf) -> ByteBuf {
    let l = view(&l);
    update(&mut a, |x| trsm_native(&l, x));
    a
}

/// Task: `A[i][i] - L[i][k]·L[i][k]ᵀ`.
#[task]
pub fn syrk(mut a: ByteBuf, l: ByteBuf) -> ByteBuf {
    let l = view(&l);
    update(&mut a, |c| gemm_native(c, &l, &l));
    a
}

/// Task: `A[i][j] - L[i][k]·L[j][k]ᵀ`.
#[task]
pub fn gemm(mut a: ByteBuf, li: ByteBuf, lj: ByteBuf) -> ByteBuf {
    let (li, lj) = (view(&li), view(&lj));
    update(&mut a, |c| gemm_native(c, &li, &lj));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric positive definite `n`×`n` matrix (diagonally dominant).
    fn spd(n: usize) -> Vec<f64> {
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] =
                    1.0 / (1.0 + (i as f64 - j as f64).abs()) + ((i * 7 + j * 7) % 5) as f64 * 0.01;
            }
        }
        for i in 0..n {
            for j in 0..i {
                let m = (a[i * n + j] + a[j * n + i]) / 2.0;
                a[i * n + j] = m;
                a[j * n + i] = m;
            }
            a[i * n + i] += n as f64;
        }
        a
    }

    /// `-(X·Xᵀ)` through the kernel under test.
    fn minus_x_xt(x: &[f64]) -> Vec<f64> {
        let mut back = vec![0.0; x.len()];
        gemm_native(&mut back, x, x);
        back
    }

    #[test]
    fn potrf_then_l_lt_is_a() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let mut l = a;
        potrf_native(&mut l).unwrap();
        for (x, y) in minus_x_xt(&l).iter().zip(a) {
            assert!((-x - y).abs() < 1e-12);
        }
        assert!(potrf_native(&mut [-1.0]).is_err());
        let identity = [1.0, 0.0, 0.0, 1.0];
        let mut x = identity;
        trsm_native(&l, &mut x);
        // X · Lᵀ = I.
        let mut residual = identity;
        gemm_native(&mut residual, &x, &l);
        assert!(residual.iter().all(|r| r.abs() < 1e-12), "{residual:?}");
    }

    /// Sizes with and without a remainder past the blocks of four.
    #[test]
    fn blocked_kernels_solve_their_equations() {
        for n in [1, 3, 4, 5, 8, 13, 16, 17, 18, 19] {
            let a = spd(n);
            let mut l = a.clone();
            potrf_native(&mut l).unwrap();
            for (i, (x, y)) in minus_x_xt(&l).iter().zip(&a).enumerate() {
                assert!((-x - y).abs() < 1e-10, "potrf n={n} at {i}: {} vs {y}", -x);
                if i % n > i / n {
                    assert_eq!(l[i], 0.0, "L is lower-triangular");
                }
            }
            let b: Vec<f64> = (0..n * n).map(|i| (i % 11) as f64 - 5.0).collect();
            let mut x = b.clone();
            trsm_native(&l, &mut x);
            // X · Lᵀ = B, i.e. B - X·Lᵀ = 0.
            let mut residual = b.clone();
            gemm_native(&mut residual, &x, &l);
            for (i, r) in residual.iter().enumerate() {
                assert!(r.abs() < 1e-10, "trsm n={n} at {i}: residual {r}");
            }
        }
    }

    /// gemm's register block is 4×3 in the wasm guest and 4×4 natively: every entry is
    /// the same sum in the same order whatever the block, so the results are equal bit
    /// for bit (and the tests above, run natively, hold for the guest's shape too).
    #[test]
    fn gemm_blocks_of_every_shape_agree_bit_for_bit() {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 24, 31] {
            let a: Vec<f64> = (0..n * n).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
            let b: Vec<f64> = (0..n * n).map(|i| ((i * 53) % 97) as f64 / 3.0).collect();
            let c0: Vec<f64> = (0..n * n).map(|i| i as f64).collect();
            let gemm_with = |f: fn(&mut [f64], &[f64], &[f64])| {
                let mut c = c0.clone();
                f(&mut c, &a, &b);
                c
            };
            let wasm = gemm_with(register_blocked::gemm::<4, 3>);
            assert_eq!(gemm_with(register_blocked::gemm::<4, 4>), wasm, "n={n}");
            assert_eq!(gemm_with(register_blocked::gemm::<1, 1>), wasm, "n={n}");
            assert_eq!(gemm_with(gemm_native), wasm, "n={n}");
            for (i, x) in wasm.iter().enumerate() {
                let (r, col) = (i / n, i % n);
                let dot: f64 = (0..n).map(|k| a[r * n + k] * b[col * n + k]).sum();
                let expected = c0[i] - dot;
                assert!(
                    (x - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                    "n={n} at {i}: {x} vs {expected}"
                );
            }
        }
    }

    /// The tasks give the same tile whether their buffers can be used in place or not
    /// (a byte buffer one byte into an allocation is not aligned for `f64`).
    #[test]
    fn tasks_agree_in_place_and_on_copies() {
        let n = 9;
        let a = bytes(&spd(n));
        let shifted = |b: &[u8]| -> Vec<u8> { [&[0u8][..], b].concat() };
        let l = potrf(a.clone()).unwrap();
        let mut unaligned = shifted(&a);
        update(&mut unaligned[1..], potrf_native).unwrap();
        assert_eq!(&unaligned[1..], &l[..]);
        assert!(matches!(view(&a), Cow::Borrowed(_)) || cfg!(target_endian = "big"));
        assert!(matches!(view(&unaligned[1..]), Cow::Owned(_)));

        let b = bytes(&(0..n * n).map(|i| (i % 7) as f64).collect::<Vec<_>>());
        let expected = gemm(b.clone(), l.clone(), a.clone());
        let (l_copy, a_copy) = (shifted(&l), shifted(&a));
        let mut out = shifted(&b);
        update(&mut out[1..], |c| {
            gemm_native(c, &view(&l_copy[1..]), &view(&a_copy[1..]))
        });
        assert_eq!(&out[1..], &expected[..]);
        assert_eq!(trsm(l.clone(), b.clone()).len(), b.len());
        assert_eq!(syrk(b.clone(), l).len(), b.len());
    }
}
