//! The cholesky app: a tiled Cholesky factorisation as a task graph of potrf, trsm, syrk
//! and gemm tasks, verified by comparing L·Lᵀ with the input.

use wasmtaps::{Arg, TaskFuture};

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

/// A random symmetric positive definite matrix: M·Mᵀ + n·I.
pub(crate) fn spd_matrix(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let m: Vec<f64> = (0..n * n).map(|_| rng.unit()).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..n).map(|k| m[i * n + k] * m[j * n + k]).sum();
            a[i * n + j] = s;
            a[j * n + i] = s;
        }
        a[i * n + i] += n as f64;
    }
    a
}

fn tile_bytes(a: &[f64], n: usize, b: usize, ti: usize, tj: usize) -> serde_bytes::ByteBuf {
    let mut out = Vec::with_capacity(b * b * 8);
    for r in 0..b {
        for c in 0..b {
            out.extend_from_slice(&a[(ti * b + r) * n + tj * b + c].to_le_bytes());
        }
    }
    serde_bytes::ByteBuf::from(out)
}

pub(crate) fn run(ctx: &AppContext, c: &CholeskyConfig) -> anyhow::Result<AppOutcome> {
    let (n, b) = (c.matrix_size as usize, c.block_size as usize);
    let t = n / b;
    let a = spd_matrix(n, c.seed);
    if c.native {
        return native(ctx, c, &a);
    }
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
    let text = format!(
        "cholesky: {n}x{n}, block {b}: relative error ||L·Lᵀ - A||_F / ||A||_F = {error:.3e}"
    );
    std::fs::write(ctx.dir.join("cholesky.txt"), format!("{text}\n"))?;
    Ok(AppOutcome {
        ok: error < 1e-10,
        lines: vec![text],
    })
}

/// The same tiled algorithm with the same kernels compiled natively, run in order on this
/// thread: the floor the sandboxed run is compared with (`--native`).
fn native(ctx: &AppContext, c: &CholeskyConfig, a: &[f64]) -> anyhow::Result<AppOutcome> {
    use wasmtaps_example_apps::cholesky::{gemm_native, potrf_native, trsm_native};
    let (n, b) = (c.matrix_size as usize, c.block_size as usize);
    let t = n / b;
    let started = std::time::Instant::now();
    let mut tiles: Vec<Vec<Vec<f64>>> = (0..t)
        .map(|i| {
            (0..=i)
                .map(|j| wasmtaps_example_apps::cholesky::tile(&tile_bytes(a, n, b, i, j)))
                .collect()
        })
        .collect();
    for k in 0..t {
        tiles[k][k] = potrf_native(&tiles[k][k]).map_err(|e| anyhow::anyhow!("{e}"))?;
        for i in k + 1..t {
            tiles[i][k] = trsm_native(&tiles[k][k], &tiles[i][k]);
        }
        for i in k + 1..t {
            tiles[i][i] = gemm_native(&tiles[i][i], &tiles[i][k], &tiles[i][k]);
            for j in k + 1..i {
                tiles[i][j] = gemm_native(&tiles[i][j], &tiles[i][k], &tiles[j][k]);
            }
        }
    }
    let compute = started.elapsed();
    let mut l = vec![0.0; n * n];
    for (i, row) in tiles.iter().enumerate() {
        for (j, tile) in row.iter().enumerate() {
            for (idx, x) in tile.iter().enumerate() {
                l[(i * b + idx / b) * n + j * b + idx % b] = *x;
            }
        }
    }
    let error = relative_error(a, &l, n);
    let text = format!(
        "cholesky (native, one thread): {n}x{n}, block {b}: {:.3} s of kernels; relative error ||L·Lᵀ - A||_F / ||A||_F = {error:.3e}",
        compute.as_secs_f64()
    );
    std::fs::write(ctx.dir.join("cholesky.txt"), format!("{text}\n"))?;
    Ok(AppOutcome {
        ok: error < 1e-10,
        lines: vec![text],
    })
}

/// `‖L·Lᵀ − A‖_F / ‖A‖_F` for lower-triangular `L`.
pub(crate) fn relative_error(a: &[f64], l: &[f64], n: usize) -> f64 {
    let (mut diff, mut norm) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            let s: f64 = (0..=i.min(j)).map(|k| l[i * n + k] * l[j * n + k]).sum();
            diff += (s - a[i * n + j]).powi(2);
            norm += a[i * n + j].powi(2);
        }
    }
    (diff / norm).sqrt()
}
