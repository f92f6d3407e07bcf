//! The four kernels of a tiled Cholesky factorisation, on square tiles of `f64` passed as
//! little-endian bytes (row-major).
//!
//! For tiles k ≤ i, j: `L[k][k] = potrf(A[k][k])`, `L[i][k] = trsm(L[k][k], A[i][k])`,
//! `A[i][i] -= syrk(L[i][k])`, `A[i][j] -= gemm(L[i][k], L[j][k])`.

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
/// Column by column (left-looking, so column `j` reads only columns `< j`, already
/// final); below the diagonal, four rows at a time share one pass over the column's row
/// of `L` (see [`dot4`]).
pub fn potrf_native(a: &mut [f64]) -> Result<(), NotPositiveDefinite> {
    let n = side(a.len());
    for j in 0..n {
        let d = {
            let lj = &a[j * n..j * n + j];
            a[j * n + j] - dot(lj, lj)
        };
        if d <= 0.0 || !d.is_finite() {
            return Err(NotPositiveDefinite { column: j });
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        let below = j + 1..n;
        let blocked = below.start + below.len() / 4 * 4;
        for i in (below.start..blocked).step_by(4) {
            let sums = dot4(&a[j * n..j * n + j], rows4(a, n, i, j));
            for (r, s) in sums.into_iter().enumerate() {
                a[(i + r) * n + j] = (a[(i + r) * n + j] - s) / d;
            }
        }
        for i in blocked..n {
            let s = dot(&a[i * n..i * n + j], &a[j * n..j * n + j]);
            a[i * n + j] = (a[i * n + j] - s) / d;
        }
        a[j * n + j + 1..(j + 1) * n].fill(0.0);
    }
    Ok(())
}

/// Overwrites `B` with `X`, the solution of `X · Lᵀ = B` (`L` lower-triangular).
///
/// Column by column, four rows of `X` at a time share one pass over the column's row of
/// `L` (see [`dot4`]).
pub fn trsm_native(l: &[f64], x: &mut [f64]) {
    let n = side(l.len());
    let blocked = n - n % 4;
    for r in (0..blocked).step_by(4) {
        for c in 0..n {
            let sums = dot4(&l[c * n..c * n + c], rows4(x, n, r, c));
            for (i, s) in sums.into_iter().enumerate() {
                x[(r + i) * n + c] = (x[(r + i) * n + c] - s) / l[c * n + c];
            }
        }
    }
    for r in blocked..n {
        for c in 0..n {
            let s = x[r * n + c] - dot(&x[r * n..r * n + c], &l[c * n..c * n + c]);
            x[r * n + c] = s / l[c * n + c];
        }
    }
}

/// The first `len` entries of rows `first..first + 4` of the `n`-wide matrix `m`.
fn rows4(m: &[f64], n: usize, first: usize, len: usize) -> [&[f64]; 4] {
    [0, 1, 2, 3].map(|r| &m[(first + r) * n..(first + r) * n + len])
}

/// `C ← C - A·Bᵀ`.
///
/// Four output columns at a time: four dot products of a row of `A` with four rows of
/// `B` in one pass (see [`dot4`]).
pub fn gemm_native(c: &mut [f64], a: &[f64], b: &[f64]) {
    let n = side(c.len());
    let blocked = n - n % 4;
    for i in 0..n {
        let a_row = &a[i * n..(i + 1) * n];
        let c_row = &mut c[i * n..(i + 1) * n];
        for j in (0..blocked).step_by(4) {
            let sums = dot4(a_row, rows4(b, n, j, n));
            for (x, s) in c_row[j..j + 4].iter_mut().zip(sums) {
                *x -= s;
            }
        }
        for (j, x) in c_row.iter_mut().enumerate().skip(blocked) {
            *x -= dot(a_row, &b[j * n..(j + 1) * n]);
        }
    }
}

/// Lanes of the running sums: each sum is split over `LANES` consecutive `k`, so the
/// lanes of one sum are independent and sit side by side — the shape of a SIMD register
/// (two `f64` in wasm's `v128` or SSE2's `xmm`, and two of those per sum here), which
/// the compiler fills without reordering any one lane's additions.
const LANES: usize = 4;

/// A dot product in [`LANES`] running sums.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let body = a.len() - a.len() % LANES;
    let mut sums = [0.0f64; LANES];
    for (x, y) in a[..body]
        .chunks_exact(LANES)
        .zip(b[..body].chunks_exact(LANES))
    {
        for l in 0..LANES {
            sums[l] += x[l] * y[l];
        }
    }
    let tail: f64 = a[body..].iter().zip(&b[body..]).map(|(x, y)| x * y).sum();
    lanes_sum(sums) + tail
}

/// The dot products of `a` with four rows, in one pass over `a`: per step, [`LANES`]
/// entries of `a` meet the same entries of each row, so sixteen independent
/// multiply-adds share each load of `a`; two steps per loop iteration, so the
/// per-iteration cost (a bounds check natively, the deadline check wasmtime puts on
/// every loop back-edge in wasm) is paid once per thirty-two.
fn dot4(a: &[f64], rows: [&[f64]; 4]) -> [f64; 4] {
    let n = a.len();
    let body = n - n % LANES;
    let rows = rows.map(|r| &r[..n]);
    let mut sums = [[0.0f64; LANES]; 4];
    let mut k = 0;
    // Each lane adds in the same order as it would one step at a time.
    let unrolled = n - n % (2 * LANES);
    while k < unrolled {
        let x0: [f64; LANES] = a[k..k + LANES].try_into().unwrap_or([0.0; LANES]);
        let x1: [f64; LANES] = a[k + LANES..k + 2 * LANES]
            .try_into()
            .unwrap_or([0.0; LANES]);
        for (sum, row) in sums.iter_mut().zip(rows) {
            let y0: [f64; LANES] = row[k..k + LANES].try_into().unwrap_or([0.0; LANES]);
            let y1: [f64; LANES] = row[k + LANES..k + 2 * LANES]
                .try_into()
                .unwrap_or([0.0; LANES]);
            for l in 0..LANES {
                sum[l] += x0[l] * y0[l];
            }
            for l in 0..LANES {
                sum[l] += x1[l] * y1[l];
            }
        }
        k += 2 * LANES;
    }
    while k < body {
        let x: &[f64; LANES] = a[k..k + LANES].try_into().unwrap_or(&[0.0; LANES]);
        for (sum, row) in sums.iter_mut().zip(rows) {
            let y: &[f64; LANES] = row[k..k + LANES].try_into().unwrap_or(&[0.0; LANES]);
            for l in 0..LANES {
                sum[l] += x[l] * y[l];
            }
        }
        k += LANES;
    }
    let mut out = [0.0; 4];
    for ((o, sum), row) in out.iter_mut().zip(sums).zip(rows) {
        let tail: f64 = a[body..].iter().zip(&row[body..]).map(|(x, y)| x * y).sum();
        *o = lanes_sum(sum) + tail;
    }
    out
}

fn lanes_sum(sums: [f64; LANES]) -> f64 {
    (sums[0] + sums[2]) + (sums[1] + sums[3])
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
