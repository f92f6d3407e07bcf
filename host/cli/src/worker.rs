//! `wasmtaps worker --redis URL`: a long-running worker for the Redis executor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;
use std::sync::Arc;

use wasmtaps::Runtime;
use wasmtaps::remote::{DirectoryStore, RedisStore, Secret, Store, Worker};

use super::parse;

/// Test hook: the worker aborts its whole process when it starts a task of this name, as
/// a task that crashes its worker would (the poison-task test sets it).
const ABORT_ON_TASK_ENV: &str = "WASMTAPS_TEST_ABORT_ON_TASK";

#[derive(ClapArgs)]
pub(crate) struct WorkerArgs {
    /// The Redis URL, e.g. redis://10.0.0.5:6379 (the same for the engine and every worker).
    #[arg(long)]
    redis: String,
    /// Worker threads, each running one task at a time (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// The worker's name in the consumer group (default <hostname>-<pid>).
    #[arg(long)]
    name: Option<String>,
    /// Seconds a job may go without a lease renewal before another worker takes it over.
    #[arg(long, default_value = "5", value_parser = parse::seconds)]
    lease: Duration,
    /// The prefix of every Redis key (the engine's must match).
    #[arg(long, default_value = "wasmtaps")]
    prefix: String,
    /// Keep compiled modules in this directory between runs.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Where values passed by reference live: `redis` (the same Redis, under the prefix)
    /// or a directory every worker and the engine share (`dir:PATH` or `PATH`). Must be
    /// the engine's `--store`. Without it, jobs with references fail.
    #[arg(long)]
    store: Option<String>,
    /// A file (mode 600) holding the secret shared with the engine; every job is checked
    /// and every result signed with it. Default: the WASMTAPS_SECRET environment variable.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Run without a secret: anyone who can reach Redis can run modules on this worker.
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    budget: super::BudgetFlags,
}

/// The secret from `--secret-file`, else from `WASMTAPS_SECRET`.
pub(crate) fn secret(file: Option<&std::path::Path>) -> anyhow::Result<Option<Secret>> {
    Ok(match file {
        Some(path) => Some(Secret::from_file(path)?),
        None => Secret::from_env()?,
    })
}

pub(crate) fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let secret = secret(args.secret_file.as_deref())?;
    let mut runtime = Runtime::builder().compile_budget(args.budget.budget());
    if let Some(dir) = &args.cache_dir {
        runtime = runtime.cache_dir(dir);
    }
    let mut builder = Worker::builder(&args.redis)
        .lease(args.lease)
        .prefix(&args.prefix)
        .runtime(runtime.build()?);
    builder = match secret {
        Some(secret) => builder.secret(secret),
        None if args.insecure => builder.insecure(),
        None => builder,
    };
    if let Some(store) = &args.store {
        let store: Arc<dyn Store> = match store.as_str() {
            "redis" => Arc::new(RedisStore::new(&args.redis, &args.prefix)?),
            dir => Arc::new(DirectoryStore::new(
                dir.strip_prefix("dir:").unwrap_or(dir),
            )?),
        };
        builder = builder.store(store);
    }
    if let Some(n) = args.workers {
        builder = builder.threads(n);
    }
    if let Ok(task) = std::env::var(ABORT_ON_TASK_ENV) {
        builder = builder.abort_on_task(task);
    }
    if let Some(name) = args.name {
        builder = builder.name(name);
    }
    let worker = builder.build()?;
    eprintln!(
        "wasmtaps worker {} on {} (lease {:?})",
        worker.name(),
        args.redis,
        args.lease
    );
    worker.run()?;
    Ok(ExitCode::SUCCESS)
}
