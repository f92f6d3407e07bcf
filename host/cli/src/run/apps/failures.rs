//! The failures app: a bag of synthetic tasks in which `failure_rate` of the tasks are
//! replaced by tasks that fail in the chosen way. The run completes; each injected
//! failure must be recorded with the matching exception type.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use wasmtaps::{Arg, LimitOverrides, Task, TaskFuture};

use super::{AppContext, AppOutcome, Rng, arg, synthetic};
use crate::run::choices::{AppName, FailureType};
use crate::run::config::{FailuresConfig, RunConfig, SyntheticConfig};

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
    let mut lost_with_worker = 0usize;
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
            if !is_injected && let Ok(Some(e)) = future.exception(None) {
                // A task the executor could not resend (it is sent again to the killed
                // worker's replacement otherwise) fails with the worker.
                if f.failure_type == FailureType::WorkerKilled
                    && e.type_name()
                        == FailureType::WorkerKilled
                            .expected_exception()
                            .unwrap_or_default()
                {
                    lost_with_worker += 1;
                } else {
                    benign_failed += 1;
                }
            }
        }
        running = not_done;
    }
    let (mut lines, mismatches) =
        account(&injected, s.task_count, f.failure_type, Some(benign_failed));
    if f.failure_type == FailureType::WorkerKilled {
        lines.push(format!(
            "  {lost_with_worker} benign tasks were in flight on a killed worker process and failed with it"
        ));
    }
    Ok(AppOutcome {
        ok: mismatches == 0 && benign_failed == 0,
        lines,
    })
}

/// Failures injected into the tasks another app submits (`base` = mapreduce or cholesky,
/// as TaPS's failures app wraps any app): each task the app submits is, at
/// `failure_rate`, replaced by a failing task, or for `dependency` given a failing
/// parent (an extra argument it never sees, since it never runs).
pub(crate) struct Injector {
    failure_type: FailureType,
    rate: f64,
    rng: Mutex<Rng>,
    injected: Mutex<Vec<(FailureType, TaskFuture)>>,
}

impl Injector {
    pub(crate) fn new(f: &FailuresConfig) -> Injector {
        Injector {
            failure_type: f.failure_type,
            rate: f.failure_rate,
            rng: Mutex::new(Rng::new(f.seed)),
            injected: Mutex::new(Vec::new()),
        }
    }

    /// Submits `task` with `args`, or a failure in its place.
    pub(crate) fn submit(&self, ctx: &AppContext, task: &Task, args: Vec<Arg>) -> TaskFuture {
        let kind = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.unit() < self.rate).then(|| match self.failure_type {
                FailureType::Random => {
                    let all = FailureType::INJECTED;
                    all[rng.below(all.len() as u64) as usize]
                }
                chosen => chosen,
            })
        };
        let Some(kind) = kind else {
            return ctx.engine.submit(task, args, vec![]);
        };
        let future = match kind {
            FailureType::Dependency => match ctx.task("fail_error") {
                Ok(fail) => {
                    let parent = ctx
                        .engine
                        .submit(&fail, vec![arg("failing parent")], vec![]);
                    let mut args = args;
                    args.push(parent.into());
                    Ok(ctx.engine.submit(task, args, vec![]))
                }
                Err(_) => Err(args),
            },
            other => inject(ctx, other, &arg(&0), &SyntheticConfig::default()).map_err(|_| args),
        };
        match future {
            Ok(future) => {
                self.injected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((kind, future.clone()));
                future
            }
            // Not reached: `run_on` checks the failing tasks first.
            Err(args) => ctx.engine.submit(task, args, vec![]),
        }
    }
}

/// The task a `worker-killed` injection submits: worker processes started with
/// `--killed-at-task` naming it die when it reaches them. Were it ever run, it would spin
/// into its 20 ms deadline and be recorded as a `Timeout`, not as the expected failure.
pub(crate) const WORKER_KILLED_TASK: &str = "fail_timeout";

/// The tasks the injected failures run.
const FAILING_TASKS: [&str; 6] = [
    "fail_trap",
    "fail_panic",
    "fail_error",
    "fail_memory",
    "fail_timeout",
    "fail_stack_overflow",
];

/// Runs the base app `config.failures.base` with failures injected (the synthetic app
/// when its structure is not a bag, which [`run`] covers).
pub(crate) fn run_on(ctx: &AppContext, config: &RunConfig) -> anyhow::Result<AppOutcome> {
    for name in FAILING_TASKS {
        ctx.task(name)?;
    }
    let injector = Arc::new(Injector::new(&config.failures));
    let injecting = AppContext {
        engine: ctx.engine.clone(),
        module: ctx.module.clone(),
        log: ctx.log.clone(),
        dir: ctx.dir.clone(),
        transformer: ctx.transformer.clone(),
        injector: Some(injector.clone()),
    };
    let base = match config.failures.base {
        AppName::Synthetic => super::synthetic::run(&injecting, &config.synthetic)?,
        AppName::Mapreduce => super::mapreduce::run(&injecting, &config.mapreduce)?,
        AppName::Cholesky => super::cholesky::run(&injecting, &config.cholesky)?,
        other => {
            anyhow::bail!("failures.base = \"{other}\" is not an app failures are injected into")
        }
    };
    drop(injecting);
    let injected =
        std::mem::take(&mut *injector.injected.lock().unwrap_or_else(|e| e.into_inner()));
    let submitted = ctx.engine.stats().submitted;
    let (mut lines, mismatches) = account(&injected, submitted, config.failures.failure_type, None);
    lines.extend(
        base.lines
            .iter()
            .map(|l| format!("  {} (base): {l}", config.failures.base)),
    );
    Ok(AppOutcome {
        ok: mismatches == 0,
        lines,
    })
}

/// The summary lines of the injected failures, and how many were recorded with another
/// type than their failure's.
fn account(
    injected: &[(FailureType, TaskFuture)],
    tasks: u64,
    failure_type: FailureType,
    benign_failed: Option<usize>,
) -> (Vec<String>, usize) {
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (kind, future) in injected {
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
    let benign = benign_failed.map_or(String::new(), |n| format!(", {n} benign tasks failed"));
    let mut lines = vec![format!(
        "failures: {} of {tasks} tasks injected ({failure_type}){benign}",
        injected.len(),
    )];
    for (kind, (count, matched)) in &by_kind {
        lines.push(format!(
            "  injected {kind:<15} {count:>6}   recorded as expected {matched:>6}"
        ));
    }
    for m in mismatches.iter().take(20) {
        lines.push(format!("  MISMATCH {m}"));
    }
    (lines, mismatches.len())
}

/// The module of an `import` failure: it imports a function no host provides.
const MISSING_IMPORT_WAT: &str = r#"(module
  (import "taps" "missing_module" (func $missing))
  (memory (export "memory") 1)
  (func (export "fail_import") (param i32 i32) (result i64) (call $missing) (i64.const 0)))"#;

/// The name of that module, as its load error names it.
const IMPORT_MODULE_NAME: &str = "fail_import.wat";

/// The name an `import` failure's task is recorded under.
const IMPORT_TASK: &str = "fail_import";

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
        FailureType::Import => {
            let error = match engine
                .runtime()
                .load_wat(IMPORT_MODULE_NAME, MISSING_IMPORT_WAT)
            {
                Err(error) => error,
                Ok(_) => anyhow::bail!("a module with a missing import loaded"),
            };
            engine.submit_unloadable(IMPORT_TASK, &error)
        }
        FailureType::WorkerKilled => engine.submit_with(
            &ctx.task(WORKER_KILLED_TASK)?,
            vec![],
            vec![],
            &LimitOverrides {
                timeout: Some(Duration::from_millis(20)),
                ..LimitOverrides::default()
            },
        ),
        FailureType::Random => anyhow::bail!("a random failure is one of the others, chosen first"),
    })
}
