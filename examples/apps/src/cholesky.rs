//! The four kernels of a tiled Cholesky factorisation, on square tiles of `f64` passed as
//! little-endian bytes (row-major).
//!
//! For tiles k ≤ i, j: `L[k][k] = potrf(A[k][k])`, `L[i][k] = trsm(L[k][k], A[i][k])`,
//! `A[i][i] -= syrk(L[i][k])`, `A[i][j] -= gemm(L[i][k], L[j][k])`.

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
    ByteBuf::from(
        tile.iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

fn side(len: usize) -> usize {
    (len as f64).sqrt().round() as usize
}

/// Cholesky factor of a diagonal tile: lower-triangular `L` with `L·Lᵀ = A`.
///
/// Column by column; below the diagonal, four rows at a time share one pass over the
/// column's row of `L` (as [`gemm_native`] does), so each loop iteration does eight
/// independent multiply-adds.
pub fn potrf_native(a: &[f64]) -> Result<Vec<f64>, NotPositiveDefinite> {
    let n = side(a.len());
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let lj = &l[j * n..j * n + j];
        let d = a[j * n + j] - dot(lj, lj);
        if d <= 0.0 || !d.is_finite() {
            return Err(NotPositiveDefinite { column: j });
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        let below = j + 1..n;
        let blocked = below.start + below.len() / 4 * 4;
        for i in (below.start..blocked).step_by(4) {
            let sums = dot4(&l[j * n..j * n + j], rows4(&l, n, i, j));
            for (r, s) in sums.into_iter().enumerate() {
                l[(i + r) * n + j] = (a[(i + r) * n + j] - s) / d;
            }
        }
        for i in blocked..n {
            let s = a[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            l[i * n + j] = s / d;
        }
    }
    Ok(l)
}

/// Solves `X · Lᵀ = B` for `X` (`L` lower-triangular).
///
/// Column by column, four rows of `X` at a time share one pass over the column's row of
/// `L` (as [`gemm_native`] does), so each loop iteration does eight independent
/// multiply-adds.
pub fn trsm_native(l: &[f64], b: &[f64]) -> Vec<f64> {
    let n = side(l.len());
    let mut x = b.to_vec();
    let blocked = n - n % 4;
    for r in (0..blocked).step_by(4) {
        for c in 0..n {
            let sums = dot4(&l[c * n..c * n + c], rows4(&x, n, r, c));
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
    x
}

/// The first `len` entries of rows `first..first + 4` of the `n`-wide matrix `m`.
fn rows4(m: &[f64], n: usize, first: usize, len: usize) -> [&[f64]; 4] {
    [0, 1, 2, 3].map(|r| &m[(first + r) * n..(first + r) * n + len])
}

/// `C - A·Bᵀ`.
///
/// Four output columns at a time, each with two running sums over alternate `k`, so each
/// loop iteration does eight independent multiply-adds: the loop pipelines, vectorises
/// where the target allows, and pays a per-iteration cost (a bounds check natively, an
/// interruption check in wasm) once per eight products.
pub fn gemm_native(c: &[f64], a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = side(c.len());
    let mut out = c.to_vec();
    let blocked = n - n % 4;
    for i in 0..n {
        let a_row = &a[i * n..(i + 1) * n];
        let out_row = &mut out[i * n..(i + 1) * n];
        for j in (0..blocked).step_by(4) {
            let rows = [
                &b[j * n..(j + 1) * n],
                &b[(j + 1) * n..(j + 2) * n],
                &b[(j + 2) * n..(j + 3) * n],
                &b[(j + 3) * n..(j + 4) * n],
            ];
            let sums = dot4(a_row, rows);
            for (x, s) in out_row[j..j + 4].iter_mut().zip(sums) {
                *x -= s;
            }
        }
        for (j, x) in out_row.iter_mut().enumerate().skip(blocked) {
            *x -= a_row
                .iter()
                .zip(&b[j * n..(j + 1) * n])
                .map(|(p, q)| p * q)
                .sum::<f64>();
        }
    }
    out
}

/// A dot product with four partial sums (see [`gemm_native`] for why).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let quads = a.len() - a.len() % 4;
    let mut sums = [0.0f64; 4];
    for (x, y) in a[..quads].chunks_exact(4).zip(b[..quads].chunks_exact(4)) {
        sums[0] += x[0] * y[0];
        sums[1] += x[1] * y[1];
        sums[2] += x[2] * y[2];
        sums[3] += x[3] * y[3];
    }
    let tail: f64 = a[quads..].iter().zip(&b[quads..]).map(|(x, y)| x * y).sum();
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// The dot products of `a` with four rows, with two partial sums per row.
fn dot4(a: &[f64], rows: [&[f64]; 4]) -> [f64; 4] {
    let n = a.len();
    let pairs = n - n % 2;
    let mut even = [0.0f64; 4];
    let mut odd = [0.0f64; 4];
    let [r0, r1, r2, r3] = rows.map(|r| &r[..n]);
    let mut k = 0;
    while k < pairs {
        let (x0, x1) = (a[k], a[k + 1]);
        even[0] += x0 * r0[k];
        even[1] += x0 * r1[k];
        even[2] += x0 * r2[k];
        even[3] += x0 * r3[k];
        odd[0] += x1 * r0[k + 1];
        odd[1] += x1 * r1[k + 1];
        odd[2] += x1 * r2[k + 1];
        odd[3] += x1 * r3[k + 1];
        k += 2;
    }
    let mut sums = [0.0; 4];
    for (r, row) in [r0, r1, r2, r3].iter().enumerate() {
        sums[r] = even[r]
            + odd[r]
            + if pairs < n {
                a[pairs] * row[pairs]
            } else {
                0.0
            };
    }
    sums
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

/// Task: `L[k][k] = potrf(A[k][k])`.
#[task]
pub fn potrf(a: ByteBuf) -> Result<ByteBuf, NotPositiveDefinite> {
    Ok(bytes(&potrf_native(&tile(&a))?))
}

/// Task: `L[i][k] = A[i][k] · L[k][k]⁻ᵀ`.
#[task]
pub fn trsm(l: ByteBuf, a: ByteBuf) -> ByteBuf {
    bytes(&trsm_native(&tile(&l), &tile(&a)))
}

/// Task: `A[i][i] - L[i][k]·L[i][k]ᵀ`.
#[task]
pub fn syrk(a: ByteBuf, l: ByteBuf) -> ByteBuf {
    let l = tile(&l);
    bytes(&gemm_native(&tile(&a), &l, &l))
}

/// Task: `A[i][j] - L[i][k]·L[j][k]ᵀ`.
#[task]
pub fn gemm(a: ByteBuf, li: ByteBuf, lj: ByteBuf) -> ByteBuf {
    bytes(&gemm_native(&tile(&a), &tile(&li), &tile(&lj)))
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

    #[test]
    fn potrf_then_l_lt_is_a() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = potrf_native(&a).unwrap();
        let back = gemm_native(&[0.0; 4], &l, &l);
        for (x, y) in back.iter().zip(a) {
            assert!((-x - y).abs() < 1e-12);
        }
        assert!(potrf_native(&[-1.0]).is_err());
        let x = trsm_native(&l, &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(x.len(), 4);
    }

    /// Sizes with and without a remainder past the blocks of four.
    #[test]
    fn blocked_kernels_solve_their_equations() {
        for n in [1, 3, 4, 5, 8, 13, 16] {
            let a = spd(n);
            let l = potrf_native(&a).unwrap();
            let back = gemm_native(&vec![0.0; n * n], &l, &l);
            for (i, (x, y)) in back.iter().zip(&a).enumerate() {
                assert!((-x - y).abs() < 1e-10, "potrf n={n} at {i}: {} vs {y}", -x);
                if i % n > i / n {
                    assert_eq!(l[i], 0.0, "L is lower-triangular");
                }
            }
            let b: Vec<f64> = (0..n * n).map(|i| (i % 11) as f64 - 5.0).collect();
            let x = trsm_native(&l, &b);
            // X · Lᵀ = B, i.e. B - X·Lᵀ = 0.
            let residual = gemm_native(&b, &x, &l);
            for (i, r) in residual.iter().enumerate() {
                assert!(r.abs() < 1e-10, "trsm n={n} at {i}: residual {r}");
            }
        }
    }
}
