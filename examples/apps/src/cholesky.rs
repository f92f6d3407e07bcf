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
pub fn potrf_native(a: &[f64]) -> Result<Vec<f64>, NotPositiveDefinite> {
    let n = side(a.len());
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(NotPositiveDefinite { column: j });
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / d;
        }
    }
    Ok(l)
}

/// Solves `X · Lᵀ = B` for `X` (`L` lower-triangular).
pub fn trsm_native(l: &[f64], b: &[f64]) -> Vec<f64> {
    let n = side(l.len());
    let mut x = b.to_vec();
    for r in 0..n {
        for c in 0..n {
            let mut s = x[r * n + c];
            for k in 0..c {
                s -= x[r * n + k] * l[c * n + k];
            }
            x[r * n + c] = s / l[c * n + c];
        }
    }
    x
}

/// `C - A·Bᵀ`.
pub fn gemm_native(c: &[f64], a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = side(c.len());
    let mut out = c.to_vec();
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0;
            for k in 0..n {
                s += a[i * n + k] * b[j * n + k];
            }
            out[i * n + j] -= s;
        }
    }
    out
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
}
