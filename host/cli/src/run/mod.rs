//! `wasmtaps run APP`: TaPS's benchmark applications over sandboxed tasks, with a run
//! directory, config files, progress and a summary.

mod apps;
mod choices;
pub(crate) mod config;
mod environment;
mod flags;
mod progress;
pub(crate) mod rundir;
mod taps;
pub(crate) mod taps_flags;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use wasmtaps::remote::{DirectoryStore, Filter, RedisStore, Store, Transformer};
use wasmtaps::runtime::CompileBudget;
use wasmtaps::{Engine, LimitOverrides, RedisExecutor};

use crate::EXIT_USAGE;
use crate::logging::Logging;
use crate::report::SummaryBuilder;
use apps::{AppContext, AppOutcome};
pub(crate) use choices::DeadlineMode;
pub(crate) use choices::LogLevel;
use choices::{AppName, ExecutorKind, FailureType, ProgressMode, Structure};
use config::RunConfig;
use rundir::RunLog;

pub(crate) use flags::RunArgs;

/// Runs the app of `args`; `taps_layer` holds the TaPS-style dotted flags (see
/// [`taps_flags`]).
pub(crate) fn run(
    args: RunArgs,
    taps_layer: toml::Table,
    logging: &Logging,
) -> anyhow::Result<ExitCode> {
    let given = match args.given() {
        Ok(given) => given,
        Err(message) => {
            eprintln!("wasmtaps: error: {message}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let config = match config::resolve(&given.configs, taps_layer, given.flags) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("wasmtaps: error: {message}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    execute(config, logging)
}

fn execute(config: RunConfig, logging: &Logging) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = config.run.run_dir.clone().unwrap_or_else(|| {
        rundir::default_dir(&config.run.dir_format, config.app, config.engine.executor)
    });
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create run directory {}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), config::to_toml(&config, &dir))
        .with_context(|| format!("cannot write {}", dir.join("config.toml").display()))?;
    logging.set_levels(config.logging.level, config.logging.file_level);
    let log = Arc::new(
        RunLog::create(
            &dir,
            &config.logging.file_name,
            // The run's own lines are INFO: `[logging] level` above that keeps them off
            // stderr (they still go to the log file).
            matches!(
                config.run.progress,
                ProgressMode::Auto | ProgressMode::Lines
            ) && config.logging.level.is_none_or(|l| l <= LogLevel::Info),
        )
        .with_context(|| {
            format!(
                "cannot create {}",
                dir.join(&config.logging.file_name).display()
            )
        })?,
    );
    logging.also_to(log.clone());
    log.line(format!("wasmtaps run {} in {}", config.app, dir.display()));

    let limits = LimitOverrides {
        memory_bytes: config.limits.memory_limit.map(|b| b.0),
        fuel: config.limits.fuel,
        timeout: config::timeout(&config).map_err(anyhow::Error::msg)?,
        ..LimitOverrides::default()
    };
    let budget = CompileBudget {
        max_module_bytes: config
            .limits
            .max_module_size
            .map_or(CompileBudget::DEFAULT.max_module_bytes, |b| b.0),
        max_function_bytes: config
            .limits
            .max_function_size
            .map_or(CompileBudget::DEFAULT.max_function_bytes, |b| b.0),
        max_function_locals: config
            .limits
            .max_function_locals
            .unwrap_or(CompileBudget::DEFAULT.max_function_locals),
        max_function_bytes_times_locals: config
            .limits
            .max_function_bytes_times_locals
            .unwrap_or(CompileBudget::DEFAULT.max_function_bytes_times_locals),
    };
    let runtime = super::runtime_builder(config.engine.cache_dir.as_deref())
        .fuel_metering(limits.fuel.is_some())
        .compile_budget(budget)
        .build()?;
    let resolved = runtime.limits_for(&limits)?;
    environment::write(&dir, &config, &resolved, &budget)
        .with_context(|| format!("cannot write {}", dir.join("environment.json").display()))?;
    let module = match &config.engine.module {
        Some(path) => runtime.load_file(path)?,
        None => runtime.load_bytes(
            "wasmtaps_example_apps",
            wasmtaps_example_artifacts::APPS_WASM_BYTES,
        )?,
    };
    let builder_runtime = runtime.clone();
    let mut builder = Engine::builder(runtime).default_limits(limits);
    // Resolves the results that come back by reference, for the apps that read them.
    let mut transformer_for_results: Option<Transformer> = None;
    if config.engine.executor == ExecutorKind::Processes {
        let program = std::env::current_exe()
            .context("cannot find the wasmtaps binary to start worker processes")?;
        let mut args = vec![
            "worker-process".to_owned(),
            "--deadline-mode".to_owned(),
            config.engine.deadline_mode.to_string(),
        ];
        if let Some(dir) = &config.engine.cache_dir {
            args.extend(["--cache-dir".to_owned(), dir.display().to_string()]);
        }
        args.extend([
            "--max-module-size".to_owned(),
            budget.max_module_bytes.to_string(),
            "--max-function-size".to_owned(),
            budget.max_function_bytes.to_string(),
            "--max-function-locals".to_owned(),
            budget.max_function_locals.to_string(),
            "--max-function-bytes-times-locals".to_owned(),
            budget.max_function_bytes_times_locals.to_string(),
        ]);
        if config.app == AppName::Failures
            && config.failures.failure_type == FailureType::WorkerKilled
        {
            args.extend([
                "--killed-at-task".to_owned(),
                apps::failures::WORKER_KILLED_TASK.to_owned(),
            ]);
        }
        let processes = match config.engine.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let watchdog = config.engine.deadline_mode == DeadlineMode::Process;
        let executor = match &config.engine.transform_threshold {
            None => wasmtaps::ProcessExecutor::configured(
                wasmtaps::WorkerCommand::new(program, args),
                processes,
                watchdog,
                None,
            ),
            Some(threshold) => {
                // The workers open the same store from their own flags.
                args.extend(["--store".to_owned(), config.engine.store().to_owned()]);
                if let Some(url) = &config.engine.redis {
                    args.extend(["--redis".to_owned(), url.clone()]);
                }
                let store = store(config.engine.store(), config.engine.redis.as_deref())?;
                let transformer = Transformer::new(store, Filter::larger_than(threshold.0));
                transformer_for_results = Some(transformer.clone());
                wasmtaps::ProcessExecutor::configured(
                    wasmtaps::WorkerCommand::new(program, args),
                    processes,
                    watchdog,
                    Some(transformer),
                )
            }
        }
        .context("cannot start the worker processes")?;
        builder = builder.executor(Arc::new(executor)).workers(processes);
    }
    if config.engine.workers > 0 {
        builder = builder.workers(config.engine.workers);
    }
    if config.engine.executor == ExecutorKind::Threads
        && let Some(threshold) = &config.engine.transform_threshold
    {
        let store = store(config.engine.store(), config.engine.redis.as_deref())?;
        let transformer = Transformer::new(store, Filter::larger_than(threshold.0));
        transformer_for_results = Some(transformer.clone());
        let threads = match config.engine.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let executor = wasmtaps::LocalExecutor::with_transformer(
            builder_runtime.clone(),
            threads,
            transformer,
        )
        .context("cannot start the worker threads")?;
        builder = builder.executor(Arc::new(executor)).workers(threads);
    }
    if config.engine.executor == ExecutorKind::Redis {
        let url = config.engine.redis.as_deref().unwrap_or_default();
        let mut redis = RedisExecutor::builder(url).max_deliveries(config.engine.max_deliveries);
        redis = match crate::worker::secret(config.engine.secret_file.as_deref())? {
            Some(secret) => redis.secret(secret),
            None if config.engine.insecure => redis.insecure(),
            None => redis,
        };
        if let Some(threshold) = &config.engine.transform_threshold {
            let store = store(config.engine.store(), Some(url))?;
            let transformer = Transformer::new(store, Filter::larger_than(threshold.0));
            transformer_for_results = Some(transformer.clone());
            redis = redis.transformer(transformer);
        }
        builder = builder.executor(Arc::new(redis.build()?));
    }
    if config.app == AppName::Cholesky && config.cholesky.native {
        // The same run with the tasks' functions called natively: the comparison floor.
        let threads = match config.engine.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let executor = apps::cholesky_native::NativeExecutor::start(threads)
            .context("cannot start the native worker threads")?;
        builder = builder.executor(Arc::new(executor)).workers(threads);
    }
    let records = (config.run.record_file != "none").then(|| dir.join(&config.run.record_file));
    // The summary adds up the records as they are written (with the workers' monotonic
    // phase durations), instead of reading the file back after the run.
    let summary = Arc::new(Mutex::new(SummaryBuilder::default()));
    if let Some(path) = &records {
        let summary = Arc::clone(&summary);
        builder = builder.record_file(path).on_record(move |info| {
            summary.lock().unwrap_or_else(|e| e.into_inner()).add(info);
        });
    }
    let engine = builder.build()?;
    log.line(format!(
        "engine: {} {} workers; module {} ({})",
        engine.worker_count(),
        config.engine.executor,
        module.name(),
        &module.hash()[..12]
    ));
    let ctx = AppContext {
        engine: engine.clone(),
        module,
        log: log.clone(),
        dir: dir.clone(),
        transformer: transformer_for_results,
        injector: None,
    };
    let total = match config.app {
        AppName::Synthetic => apps::synthetic::task_count(&config.synthetic),
        AppName::Failures => match config.failures.base {
            AppName::Mapreduce => apps::mapreduce::task_count(&config.mapreduce),
            AppName::Cholesky => apps::cholesky::task_count(&config.cholesky),
            _ if config.synthetic.structure != Structure::Bag => {
                apps::synthetic::task_count(&config.synthetic)
            }
            _ => apps::failures::task_count(&config.synthetic, &config.failures),
        },
        AppName::Mapreduce => apps::mapreduce::task_count(&config.mapreduce),
        AppName::Cholesky => apps::cholesky::task_count(&config.cholesky),
    };
    let progress = progress::Progress::start(config.run.progress, &engine, total, log.clone());
    let outcome: anyhow::Result<AppOutcome> = match config.app {
        AppName::Synthetic => apps::synthetic::run(&ctx, &config.synthetic),
        AppName::Failures
            if config.failures.base != AppName::Synthetic
                || config.synthetic.structure != Structure::Bag =>
        {
            apps::failures::run_on(&ctx, &config)
        }
        AppName::Failures => apps::failures::run(&ctx, &config.synthetic, &config.failures),
        AppName::Mapreduce => apps::mapreduce::run(&ctx, &config.mapreduce),
        AppName::Cholesky => apps::cholesky::run(&ctx, &config.cholesky),
    };
    drop(ctx);
    engine.shutdown(true, false);
    drop(progress);
    let wall = started.elapsed();
    let outcome = outcome?;

    let mut report = String::new();
    if records.is_some() {
        let summary = summary.lock().unwrap_or_else(|e| e.into_inner()).summary();
        report.push_str(&summary.to_string());
    }
    for line in &outcome.lines {
        report.push_str(line);
        report.push('\n');
    }
    report.push_str(&format!(
        "run directory: {}\nprocess wall time: {:.3} s\n",
        dir.display(),
        wall.as_secs_f64()
    ));
    // The summary's exception types and the apps' lines quote guests.
    let report = crate::terminal::terminal_text(&report);
    print!("{report}");
    log.quiet(&report);
    log.line(if outcome.ok {
        "run succeeded"
    } else {
        "run FAILED"
    });
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The store `--store` names: `dir:PATH`, or `redis` at the Redis URL `redis`.
///
/// # Errors
/// The directory cannot be used, `redis` has no URL, or the URL is not one.
pub(crate) fn store(spec: &str, redis: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match spec.strip_prefix("dir:") {
        Some(path) => Arc::new(DirectoryStore::new(path)?),
        None if spec == "redis" => {
            let url = redis.context("--store redis needs a Redis URL (--redis URL)")?;
            Arc::new(RedisStore::new(url, "wasmtaps")?)
        }
        None => anyhow::bail!("--store must be \"redis\" or \"dir:PATH\", not {spec:?}"),
    })
}
