//! The kernels' arithmetic: dot products in register blocks of two-lane sums.
//!
//! A block of `R×S` dot products (rows of one matrix with rows of another) keeps its
//! `R·S` sums in [`F64x2`] values and loads each row once per step of two `k`, so a
//! step is `R + S` loads for `R·S` two-lane multiply-adds, and [`PAIRS_PER_ITERATION`]
//! steps per loop iteration put the loop's back-edge once per
//! `2·R·S·PAIRS_PER_ITERATION` multiply-adds (in the wasm guest, that back-edge also
//! carries wasmtime's deadline check). Cranelift keeps the twelve sums of a 4×3 block on
//! the stack (one load and one store of each per iteration, with or without deadline
//! checks: LLVM emits both steps' seven row loads first, and 12 + 14 values do not fit
//! in 16 registers) but every loaded row in a register; LLVM natively keeps it all in
//! registers. The same source serves both targets; the block sizes are each target's
//! fastest (measured: BENCHMARKS.md, "Cholesky near native", session 5), and every
//! entry is the same sum in the same order whatever the block, so both give the same
//! bits.

use super::f64x2::F64x2;
use super::{NotPositiveDefinite, side};

/// Rows of `A` (and of `C`) in one register block of gemm.
pub(super) const GEMM_ROWS_A: usize = 4;
/// Rows of `B` (columns of `C`) in one register block of gemm: 3 in wasm, 4 natively.
/// Measured: the task median of a 2048/128 run in wasm is 0.30 ms with 4×3, 0.33 with
/// 4×4, 0.37 with 4×2; one native 128² gemm takes 0.24 ms with 4×4, 0.32 with 4×3.
pub(super) const GEMM_ROWS_B: usize = if cfg!(target_arch = "wasm32") { 3 } else { 4 };
/// Rows in one register block of trsm and potrf (two columns of `L` at a time in trsm,
/// one in potrf).
const ROWS: usize = 4;
/// Two-lane steps (pairs of `k`) per iteration of the inner loop: two. With four,
/// LLVM schedules every step's row loads first and Cranelift spills them (wasm 4×2:
/// 0.43 ms per task against 0.37); with one, the back-edge comes twice as often.
const PAIRS_PER_ITERATION: usize = 2;

/// `R×S` dot products: of each of the rows `a` with each of the rows `b`, all of the
/// length of the first row. Each sum is kept in two lanes (even and odd `k`), added
/// together at the end, then the last `k` when the length is odd.
#[inline]
fn dots<const R: usize, const S: usize>(a: [&[f64]; R], b: [&[f64]; S]) -> [[f64; S]; R] {
    let len = a.first().map_or(0, |row| row.len());
    let pairs = len / 2;
    let iterations = pairs / PAIRS_PER_ITERATION;
    let a_pairs = a.map(|row| row[..len].as_chunks::<2>().0);
    let b_pairs = b.map(|row| row[..len].as_chunks::<2>().0);
    let a_blocks = a_pairs.map(|p| p[..pairs].as_chunks::<PAIRS_PER_ITERATION>().0);
    let b_blocks = b_pairs.map(|p| p[..pairs].as_chunks::<PAIRS_PER_ITERATION>().0);
    let mut sums = [[F64x2::zero(); S]; R];
    let step = |sums: &mut [[F64x2; S]; R], x: [&[f64; 2]; R], y: [&[f64; 2]; S]| {
        let (x, y) = (x.map(F64x2::load), y.map(F64x2::load));
        for (row, x) in sums.iter_mut().zip(x) {
            for (sum, y) in row.iter_mut().zip(y) {
                *sum = sum.add_product(x, y);
            }
        }
    };
    for q in 0..iterations {
        for p in 0..PAIRS_PER_ITERATION {
            step(
                &mut sums,
                a_blocks.map(|blocks| &blocks[q][p]),
                b_blocks.map(|blocks| &blocks[q][p]),
            );
        }
    }
    for p in iterations * PAIRS_PER_ITERATION..pairs {
        step(
            &mut sums,
            a_pairs.map(|pairs| &pairs[p]),
            b_pairs.map(|pairs| &pairs[p]),
        );
    }
    let mut out = [[0.0; S]; R];
    for ((out, sums), a) in out.iter_mut().zip(sums).zip(a) {
        for ((out, sum), b) in out.iter_mut().zip(sums).zip(b) {
            *out = sum.sum();
            if len % 2 == 1 {
                *out += a[len - 1] * b[len - 1];
            }
        }
    }
    out
}

/// The first `len` entries of rows `first..first + R` of the `n`-wide matrix `m`.
fn rows<const R: usize>(m: &[f64], n: usize, first: usize, len: usize) -> [&[f64]; R] {
    std::array::from_fn(|r| &m[(first + r) * n..][..len])
}

/// `C ← C - A·Bᵀ`, in blocks of `R` rows of `C` by `S` columns.
pub(super) fn gemm<const R: usize, const S: usize>(c: &mut [f64], a: &[f64], b: &[f64]) {
    let n = side(c.len());
    let blocked = n - n % R;
    for i in (0..blocked).step_by(R) {
        gemm_rows::<R, S>(c, a, b, n, i);
    }
    for i in blocked..n {
        gemm_rows::<1, S>(c, a, b, n, i);
    }
}

/// Rows `i..i + R` of `C ← C - A·Bᵀ`, `S` columns at a time.
fn gemm_rows<const R: usize, const S: usize>(
    c: &mut [f64],
    a: &[f64],
    b: &[f64],
    n: usize,
    i: usize,
) {
    let a_rows = rows::<R>(a, n, i, n);
    let blocked = n - n % S;
    for j in (0..blocked).step_by(S) {
        let sums = dots(a_rows, rows::<S>(b, n, j, n));
        for (r, sums) in sums.iter().enumerate() {
            for (s, sum) in sums.iter().enumerate() {
                c[(i + r) * n + j + s] -= sum;
            }
        }
    }
    for j in blocked..n {
        let sums = dots(a_rows, rows::<1>(b, n, j, n));
        for (r, [sum]) in sums.iter().enumerate() {
            c[(i + r) * n + j] -= sum;
        }
    }
}

/// Overwrites `B` with `X`, the solution of `X · Lᵀ = B` (`L` lower-triangular): rows
/// of `X` in blocks of [`ROWS`], two columns at a time.
pub(super) fn trsm(l: &[f64], x: &mut [f64]) {
    let n = side(l.len());
    let blocked = n - n % ROWS;
    for r in (0..blocked).step_by(ROWS) {
        trsm_rows::<ROWS>(l, x, n, r);
    }
    for r in blocked..n {
        trsm_rows::<1>(l, x, n, r);
    }
}

/// Rows `first..first + R` of `X` in `X · Lᵀ = B`, columns left to right: column `c` is
/// `(B[c] - Σ_{k<c} X[k]·L[c][k]) / L[c][c]`. Columns `c` and `c + 1` share one pass
/// over `X[..c]`; `c + 1` then takes its `k = c` term once column `c` is known.
fn trsm_rows<const R: usize>(l: &[f64], x: &mut [f64], n: usize, first: usize) {
    let mut c = 0;
    while c + 2 <= n {
        let sums = dots(rows::<R>(x, n, first, c), rows::<2>(l, n, c, c));
        let (d0, d1, l10) = (l[c * n + c], l[(c + 1) * n + c + 1], l[(c + 1) * n + c]);
        for (r, [s0, s1]) in sums.into_iter().enumerate() {
            let at = (first + r) * n + c;
            let x0 = (x[at] - s0) / d0;
            x[at] = x0;
            x[at + 1] = (x[at + 1] - (s1 + x0 * l10)) / d1;
        }
        c += 2;
    }
    if c < n {
        let sums = dots(rows::<R>(x, n, first, c), rows::<1>(l, n, c, c));
        for (r, [s]) in sums.into_iter().enumerate() {
            let at = (first + r) * n + c;
            x[at] = (x[at] - s) / l[c * n + c];
        }
    }
}

/// Overwrites a diagonal tile `A` with its Cholesky factor `L` (upper triangle zeroed),
/// column by column (left-looking, so column `j` reads only columns `< j`, already
/// final); below the diagonal, [`ROWS`] rows at a time.
pub(super) fn potrf(a: &mut [f64]) -> Result<(), NotPositiveDefinite> {
    let n = side(a.len());
    for j in 0..n {
        let [[s]] = dots(rows::<1>(a, n, j, j), rows::<1>(a, n, j, j));
        let d = a[j * n + j] - s;
        if d <= 0.0 || !d.is_finite() {
            return Err(NotPositiveDefinite { column: j });
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        let mut i = j + 1;
        while i + ROWS <= n {
            let sums = dots(rows::<ROWS>(a, n, i, j), rows::<1>(a, n, j, j));
            for (r, [s]) in sums.into_iter().enumerate() {
                a[(i + r) * n + j] = (a[(i + r) * n + j] - s) / d;
            }
            i += ROWS;
        }
        for i in i..n {
            let [[s]] = dots(rows::<1>(a, n, i, j), rows::<1>(a, n, j, j));
            a[i * n + j] = (a[i * n + j] - s) / d;
        }
        a[j * n + j + 1..(j + 1) * n].fill(0.0);
    }
    Ok(())
}
