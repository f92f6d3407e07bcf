//! The synthetic app: TaPS's bag, diamond, reduce and sequential workflows of tasks that
//! pass `task_data_bytes` along each edge and sleep `task_sleep` seconds.

use serde_bytes::ByteBuf;
use wasmtaps::{Arg, ReturnWhen, Task, TaskFuture};

use super::{AppContext, AppOutcome, Rng, arg, wait_all};
use crate::run::choices::Structure;
use crate::run::config::SyntheticConfig;

/// The synthetic task, under TaPS's name (records name it so).
pub(crate) const TASK: &str = "noop_task";

/// Tasks the app submits, warm-up included (for progress).
pub(crate) fn task_count(c: &SyntheticConfig) -> u64 {
    let extra = match c.structure {
        Structure::Diamond => 2,
        Structure::Reduce => 1,
        Structure::Bag | Structure::Sequential => 0,
    };
    c.warmup_tasks + c.task_count + extra
}

/// Submits one synthetic task consuming `inputs`.
pub(crate) fn submit(
    ctx: &AppContext,
    task: &Task,
    inputs: Vec<Arg>,
    c: &SyntheticConfig,
) -> TaskFuture {
    ctx.submit(
        task,
        vec![Arg::List(inputs), arg(&c.task_data_bytes), arg(&sleep(c))],
    )
}

/// One task's sleep: `task_sleep`, or with `task_std` above 0 a normal draw around it
/// (Box–Muller over a generator seeded by the task's position), never below 0.
fn sleep(c: &SyntheticConfig) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    if c.task_std <= 0.0 {
        return c.task_sleep;
    }
    let mut rng = Rng::new(DRAWS.fetch_add(1, Ordering::Relaxed));
    let (u1, u2) = (1.0 - rng.unit(), rng.unit());
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (c.task_sleep + c.task_std * normal).max(0.0)
}

pub(crate) fn run(ctx: &AppContext, c: &SyntheticConfig) -> anyhow::Result<AppOutcome> {
    let task = ctx.task(TASK)?;
    if c.warmup_tasks > 0 {
        let warmup = ctx.task("warmup_task")?;
        let futures: Vec<_> = (0..c.warmup_tasks)
            .map(|_| ctx.engine.submit(&warmup, vec![], vec![]))
            .collect();
        wait_all(&futures);
        ctx.log
            .line(format!("warm-up: {} tasks done", c.warmup_tasks));
    }
    let seed_data = || {
        arg(&ByteBuf::from(
            Rng::new(7).bytes(c.task_data_bytes as usize),
        ))
    };
    let failed = match c.structure {
        Structure::Bag => bag(ctx, &task, c, seed_data)?,
        Structure::Sequential => {
            let mut previous = submit(ctx, &task, vec![seed_data()], c);
            let mut failed = 0;
            for _ in 1..c.task_count {
                previous = submit(ctx, &task, vec![previous.into()], c);
            }
            if c.task_count > 0 {
                // A failure anywhere fails every later task through its dependency.
                failed += usize::from(matches!(previous.exception(None), Ok(Some(_))));
            }
            failed
        }
        Structure::Diamond => {
            let first = submit(ctx, &task, vec![seed_data()], c);
            let middle: Vec<TaskFuture> = (0..c.task_count)
                .map(|_| submit(ctx, &task, vec![first.clone().into()], c))
                .collect();
            let last = submit(ctx, &task, middle.iter().map(Arg::from).collect(), c);
            wait_all(&middle)
                + wait_all(std::slice::from_ref(&last))
                + wait_all(std::slice::from_ref(&first))
        }
        Structure::Reduce => {
            let middle: Vec<TaskFuture> = (0..c.task_count)
                .map(|_| submit(ctx, &task, vec![seed_data()], c))
                .collect();
            let last = submit(ctx, &task, middle.iter().map(Arg::from).collect(), c);
            wait_all(&middle) + wait_all(std::slice::from_ref(&last))
        }
    };
    Ok(AppOutcome {
        ok: failed == 0,
        lines: vec![format!(
            "synthetic {}: {} tasks, {} bytes per edge, {} s sleep, {failed} failed",
            c.structure, c.task_count, c.task_data_bytes, c.task_sleep
        )],
    })
}

/// Independent tasks, at most `bag_max_running` in flight: a new one is submitted as soon
/// as one ends.
fn bag(
    ctx: &AppContext,
    task: &Task,
    c: &SyntheticConfig,
    data: impl Fn() -> Arg,
) -> anyhow::Result<usize> {
    let mut running: Vec<TaskFuture> = Vec::new();
    let mut submitted = 0u64;
    let mut failed = 0usize;
    let input = data();
    while submitted < c.task_count || !running.is_empty() {
        while submitted < c.task_count && (running.len() as u64) < c.bag_max_running {
            running.push(submit(ctx, task, vec![input.clone()], c));
            submitted += 1;
        }
        let (done, not_done) = wasmtaps::wait(&running, None, ReturnWhen::FirstCompleted);
        failed += done
            .iter()
            .filter(|f| matches!(f.exception(None), Ok(Some(_))))
            .count();
        running = not_done;
    }
    Ok(failed)
}

impl Rng {
    /// `len` pseudo-random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
