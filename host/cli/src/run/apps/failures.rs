//! The failures app: a bag of synthetic tasks in which `failure_rate` of the tasks are
//! replaced by tasks that fail in the chosen way. The run completes; each injected
//! failure must be recorded with the matching exception type.

use std::collections::BTreeMap;
use std::time::Duration;

use wasmtaps::{Arg, LimitOverrides, TaskFuture};

use super::{AppContext, AppOutcome, Rng, arg, synthetic};
use crate::run::choices::FailureType;
use crate::run::config::{FailuresConfig, SyntheticConfig};

/// Tasks the app submits at most (a dependency failure adds a failing parent).
pub(crate) fn task_count(s: &SyntheticConfig, f: &FailuresConfig) -> u64 {
    let parents = if matches!(
        f.failure_type,
        FailureType::Dependency | FailureType::Random
    ) {
        (s.task_count as f64 * f.failure_rate).ceil() as u64
    } else {
        0
    };
    s.task_count + parents
}

pub(crate) fn run(
    ctx: &AppContext,
    s: &SyntheticConfig,
    f: &FailuresConfig,
) -> anyhow::Result<AppOutcome> {
    let benign = ctx.task(synthetic::TASK)?;
    let mut rng = Rng::new(f.seed);
    let mut injected: Vec<(FailureType, TaskFuture)> = Vec::new();
    let mut running: Vec<TaskFuture> = Vec::new();
    let mut benign_failed = 0usize;
    let mut submitted = 0u64;
    let input = arg(&serde_bytes::ByteBuf::from(
        Rng::new(7).bytes(s.task_data_bytes as usize),
    ));
    while submitted < s.task_count || !running.is_empty() {
        while submitted < s.task_count && (running.len() as u64) < s.bag_max_running {
            submitted += 1;
            if rng.unit() < f.failure_rate {
                let kind = match f.failure_type {
                    FailureType::Random => {
                        let all = FailureType::INJECTED;
                        all[rng.below(all.len() as u64) as usize]
                    }
                    chosen => chosen,
                };
                let future = inject(ctx, kind, &input, s)?;
                injected.push((kind, future.clone()));
                running.push(future);
            } else {
                running.push(synthetic::submit(ctx, &benign, vec![input.clone()], s));
            }
        }
        let (done, not_done) = wasmtaps::wait(&running, None, wasmtaps::ReturnWhen::FirstCompleted);
        for future in &done {
            let is_injected = injected
                .iter()
                .any(|(_, f)| f.task_id() == future.task_id());
            if !is_injected && matches!(future.exception(None), Ok(Some(_))) {
                benign_failed += 1;
            }
        }
        running = not_done;
    }
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (kind, future) in &injected {
        let expected = kind
            .expected_exception()
            .expect("a random failure is one of the others");
        let entry = by_kind.entry(kind.to_string()).or_default();
        entry.0 += 1;
        match future.exception(None) {
            Ok(Some(e)) if e.type_name() == expected => entry.1 += 1,
            Ok(Some(e)) => mismatches.push(format!(
                "{kind}: expected {expected}, got {}: {}",
                e.type_name(),
                e.message()
            )),
            _ => mismatches.push(format!(
                "{kind}: expected {expected}, but the task succeeded"
            )),
        }
    }
    let mut lines = vec![format!(
        "failures: {} of {} tasks injected ({}), {benign_failed} benign tasks failed",
        injected.len(),
        s.task_count,
        f.failure_type
    )];
    for (kind, (count, matched)) in &by_kind {
        lines.push(format!(
            "  injected {kind:<15} {count:>6}   recorded as expected {matched:>6}"
        ));
    }
    for m in mismatches.iter().take(20) {
        lines.push(format!("  MISMATCH {m}"));
    }
    Ok(AppOutcome {
        ok: mismatches.is_empty() && benign_failed == 0,
        lines,
    })
}

/// Submits a task that fails in the way `kind` names.
fn inject(
    ctx: &AppContext,
    kind: FailureType,
    input: &Arg,
    s: &SyntheticConfig,
) -> anyhow::Result<TaskFuture> {
    let engine = &ctx.engine;
    Ok(match kind {
        FailureType::Trap => engine.submit(&ctx.task("fail_trap")?, vec![arg(&0)], vec![]),
        FailureType::Panic => engine.submit(
            &ctx.task("fail_panic")?,
            vec![arg("injected panic")],
            vec![],
        ),
        FailureType::GuestError => engine.submit(
            &ctx.task("fail_error")?,
            vec![arg("injected error")],
            vec![],
        ),
        FailureType::Memory => engine.submit_with(
            &ctx.task("fail_memory")?,
            vec![arg(&(64u64 << 20))],
            vec![],
            &LimitOverrides {
                memory_bytes: Some(16 << 20),
                ..LimitOverrides::default()
            },
        ),
        FailureType::Timeout => engine.submit_with(
            &ctx.task("fail_timeout")?,
            vec![],
            vec![],
            &LimitOverrides {
                timeout: Some(Duration::from_millis(20)),
                ..LimitOverrides::default()
            },
        ),
        FailureType::StackOverflow => {
            engine.submit(&ctx.task("fail_stack_overflow")?, vec![arg(&0)], vec![])
        }
        FailureType::Dependency => {
            let parent = engine.submit(
                &ctx.task("fail_error")?,
                vec![arg("failing parent")],
                vec![],
            );
            synthetic::submit(
                ctx,
                &ctx.task(synthetic::TASK)?,
                vec![input.clone(), parent.into()],
                s,
            )
        }
        FailureType::Random => anyhow::bail!("a random failure is one of the others, chosen first"),
    })
}
