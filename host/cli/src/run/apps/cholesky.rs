//! The cholesky app: a tiled Cholesky factorisation as a task graph of potrf, trsm, syrk
//! and gemm tasks, verified by comparing L·Lᵀ with the input.

use wasmtaps::{Arg, TaskFuture};
use wasmtaps_example_apps::cholesky::gemm_native;

use super::{AppContext, AppOutcome, Rng};
use crate::run::config::CholeskyConfig;

pub(crate) fn task_count(c: &CholeskyConfig) -> u64 {
    let t = c.matrix_size / c.block_size.max(1);
    // potrf: t; trsm: t(t-1)/2; syrk: t(t-1)/2; gemm: sum over k of (t-k-1)(t-k-2)/2.
    let gemm: u64 = (0..t)
        .map(|k| (t - k - 1) * (t - k - 1).saturating_sub(1) / 2)
        .sum();
    t + t * t.saturating_sub(1) + gemm
}

/// A random symmetric positive definite matrix: M·Mᵀ + n·I, with M uniform in [0, 1).
///
/// Built tile by tile with the app's own gemm kernel, so a 2048² matrix takes a fraction
/// of a second instead of the naive loop's many.
pub(crate) fn spd_matrix(n: usize, seed: u64) -> Vec<f64> {
    let b = host_tile(n);
    let mut rng = Rng::new(seed);
    let m: Vec<f64> = (0..n * n).map(|_| rng.unit()).collect();
    let t = n / b;
    let m_tiles: Vec<Vec<Vec<f64>>> = (0..t)
        .map(|i| (0..t).map(|k| tile_of(&m, n, b, i, k)).collect())
        .collect();
    let mut a = vec![0.0; n * n];
    for i in 0..t {
        for j in 0..=i {
            // gemm_native(c, x, y) is c ← c - x·yᵀ: accumulate -Σ_k M[i][k]·M[j][k]ᵀ.
            let mut minus = vec![0.0; b * b];
            for (mik, mjk) in m_tiles[i].iter().zip(&m_tiles[j]) {
                gemm_native(&mut minus, mik, mjk);
            }
            for r in 0..b {
                for col in 0..b {
                    let s = -minus[r * b + col];
                    a[(i * b + r) * n + j * b + col] = s;
                    a[(j * b + col) * n + i * b + r] = s;
                }
            }
        }
    }
    for i in 0..n {
        a[i * n + i] += n as f64;
    }
    a
}

/// The side of the tiles the host's own matrix work uses: the largest divisor of `n` up
/// to 128 (any block size of the run would do, but a small one would be slow).
fn host_tile(n: usize) -> usize {
    (1..=n.min(128))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Tile (`ti`, `tj`) of the `n`×`n` matrix `a`, row-major.
fn tile_of(a: &[f64], n: usize, b: usize, ti: usize, tj: usize) -> Vec<f64> {
    (0..b)
        .flat_map(|r| a[(ti * b + r) * n + tj * b..][..b].iter().copied())
        .collect()
}

fn tile_bytes(a: &[f64], n: usize, b: usize, ti: usize, tj: usize) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(
        tile_of(a, n, b, ti, tj)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

pub(crate) fn run(ctx: &AppContext, c: &CholeskyConfig) -> anyhow::Result<AppOutcome> {
    let (n, b) = (c.matrix_size as usize, c.block_size as usize);
    let t = n / b;
    let a = spd_matrix(n, c.seed);
    let (potrf, trsm, syrk, gemm) = (
        ctx.task("potrf")?,
        ctx.task("trsm")?,
        ctx.task("syrk")?,
        ctx.task("gemm")?,
    );
    // tiles[i][j] for j <= i: the current value of that tile, a value or a future.
    let mut tiles: Vec<Vec<Arg>> = (0..t)
        .map(|i| {
            (0..=i)
                .map(|j| {
                    Arg::Value(
                        wasmtaps::Value::encode(&tile_bytes(&a, n, b, i, j)).expect("bytes encode"),
                    )
                })
                .collect()
        })
        .collect();
    let mut all: Vec<TaskFuture> = Vec::new();
    let submit = |task: &wasmtaps::Task, args: Vec<Arg>, all: &mut Vec<TaskFuture>| {
        let f = ctx.submit(task, args);
        all.push(f.clone());
        Arg::Future(f)
    };
    for k in 0..t {
        tiles[k][k] = submit(&potrf, vec![tiles[k][k].clone()], &mut all);
        for i in k + 1..t {
            tiles[i][k] = submit(
                &trsm,
                vec![tiles[k][k].clone(), tiles[i][k].clone()],
                &mut all,
            );
        }
        for i in k + 1..t {
            tiles[i][i] = submit(
                &syrk,
                vec![tiles[i][i].clone(), tiles[i][k].clone()],
                &mut all,
            );
            for j in k + 1..i {
                tiles[i][j] = submit(
                    &gemm,
                    vec![
                        tiles[i][j].clone(),
                        tiles[i][k].clone(),
                        tiles[j][k].clone(),
                    ],
                    &mut all,
                );
            }
        }
    }
    ctx.log.line(format!(
        "cholesky: {n}x{n} matrix, {b}x{b} tiles, {} tasks submitted",
        all.len()
    ));
    let mut l = vec![0.0; n * n];
    for (i, row) in tiles.iter().enumerate() {
        for (j, tile) in row.iter().enumerate() {
            let bytes: serde_bytes::ByteBuf = match tile {
                Arg::Future(f) => match ctx.value(f) {
                    Ok(v) => v.decode()?,
                    Err(e) => {
                        return Ok(AppOutcome {
                            ok: false,
                            lines: vec![format!("cholesky failed: tile ({i}, {j}): {e}")],
                        });
                    }
                },
                _ => anyhow::bail!("tile ({i}, {j}) was never computed"),
            };
            for (idx, chunk) in bytes.chunks_exact(8).enumerate() {
                let (r, col) = (idx / b, idx % b);
                l[(i * b + r) * n + j * b + col] =
                    f64::from_le_bytes(chunk.try_into().unwrap_or_default());
            }
        }
    }
    let error = relative_error(&a, &l, n);
    // With `--native` the engine's executor calls the tasks' functions natively
    // (cholesky_native.rs); everything else is the same run.
    let kernels = if c.native { "native" } else { "wasm" };
    let text = format!(
        "cholesky ({kernels} kernels): {n}x{n}, block {b}: relative error ||L·Lᵀ - A||_F / ||A||_F = {error:.3e}"
    );
    std::fs::write(ctx.dir.join("cholesky.txt"), format!("{text}\n"))?;
    Ok(AppOutcome {
        ok: error < 1e-10,
        lines: vec![text],
    })
}

/// `‖L·Lᵀ − A‖_F / ‖A‖_F` for lower-triangular `L`, over the lower half (both matrices are
/// symmetric: an entry off the diagonal counts twice).
///
/// Deliberately not the app's kernels, so that a kernel bug cannot verify itself: plain
/// dot products of rows of `L`, [`ROWS`] rows of `L·Lᵀ` at a time so that each row `j` is
/// read once per block rather than once per row.
pub(crate) fn relative_error(a: &[f64], l: &[f64], n: usize) -> f64 {
    const ROWS: usize = 8;
    let (mut diff, mut norm) = (0.0, 0.0);
    for first in (0..n).step_by(ROWS) {
        let rows = first..(first + ROWS).min(n);
        for j in 0..rows.end {
            let lj = &l[j * n..=j * n + j];
            for i in rows.clone().filter(|&i| i >= j) {
                // (L·Lᵀ)[i][j] = Σ_{k ≤ j} L[i][k]·L[j][k] for j ≤ i.
                let s = dot(&l[i * n..=i * n + j], lj);
                let weight = if i == j { 1.0 } else { 2.0 };
                diff += weight * (s - a[i * n + j]).powi(2);
                norm += weight * a[i * n + j].powi(2);
            }
        }
    }
    (diff / norm).sqrt()
}

/// `Σ x[k]·y[k]` in four running sums (which lets the compiler vectorise it).
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut sums = [0.0f64; 4];
    let (xs, ys) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(p, q)| p * q)
        .sum();
    for (p, q) in xs.zip(ys) {
        for r in 0..4 {
            sums[r] += p[r] * q[r];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}
