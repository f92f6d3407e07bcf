//! `wasmtaps run APP`: TaPS's benchmark applications over sandboxed tasks, with a run
//! directory, config files, progress and a summary.

mod apps;
mod choices;
pub(crate) mod config;
mod environment;
mod progress;
pub(crate) mod rundir;
mod taps;
pub(crate) mod taps_flags;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use wasmtaps::{
    CompileBudget, DirectoryStore, Engine, Filter, LimitOverrides, RedisExecutor, RedisStore,
    Store, Transformer,
};

use crate::logging::Logging;
use crate::report::RunSummary;
use crate::{EXIT_USAGE, parse};
use apps::{AppContext, AppOutcome};
pub(crate) use choices::LogLevel;
use choices::{AppName, ExecutorKind, FailureType, ProgressMode, Structure};
use config::RunConfig;
use rundir::RunLog;

#[derive(ClapArgs)]
pub(crate) struct RunArgs {
    #[command(subcommand)]
    app: App,
}

#[derive(Subcommand)]
enum App {
    /// Bag, diamond, reduce or sequential workflows of synthetic tasks (TaPS's synthetic app).
    Synthetic {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        synthetic: SyntheticFlags,
    },
    /// A synthetic bag with failures injected at a given rate; every failure is recorded
    /// with its exception type and counted.
    Failures {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        synthetic: SyntheticFlags,
        /// How the injected tasks fail.
        #[arg(long, value_enum, ignore_case = true)]
        failure_type: Option<FailureType>,
        /// Fraction of tasks that fail (0 to 1).
        #[arg(long)]
        failure_rate: Option<f64>,
        /// Seed choosing which tasks fail.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Word count over text files (or generated text) with map tasks and a reduce task.
    Mapreduce {
        #[command(flatten)]
        common: Common,
        /// Count the words of the files in this directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Generate text instead of reading files.
        #[arg(long)]
        generate: bool,
        /// Files of generated text.
        #[arg(long)]
        generated_files: Option<u64>,
        /// Words per generated file.
        #[arg(long)]
        generated_words: Option<u64>,
        /// Map tasks (the text is split into this many parts).
        #[arg(long)]
        map_tasks: Option<u64>,
        /// Most frequent words written to top_words.txt.
        #[arg(long)]
        top: Option<u64>,
    },
    /// Tiled Cholesky factorisation as a task graph, verified against the input.
    Cholesky {
        #[command(flatten)]
        common: Common,
        /// Rows (and columns) of the matrix.
        #[arg(long)]
        matrix_size: Option<u64>,
        /// Rows (and columns) of a tile; must divide the matrix size.
        #[arg(long)]
        block_size: Option<u64>,
        /// Run the same kernels natively on one thread (the floor to compare with).
        #[arg(long)]
        native: bool,
    },
}

/// Options every app takes.
#[derive(ClapArgs)]
struct Common {
    /// A TOML config file; repeat to layer several (later files win, flags win over files).
    #[arg(short = 'c', long = "config")]
    configs: Vec<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<u64>,
    /// Where tasks run [default: threads].
    #[arg(long, value_enum, ignore_case = true)]
    executor: Option<ExecutorKind>,
    /// The Redis URL for `--executor redis`, e.g. redis://127.0.0.1:6379.
    #[arg(long)]
    redis: Option<String>,
    /// Pass values larger than this by reference through the store, e.g. 64KiB.
    #[arg(long, value_parser = parse::bytes)]
    transform_threshold: Option<u64>,
    /// Where values passed by reference go: redis or dir:PATH.
    #[arg(long)]
    store: Option<String>,
    /// Fail a task as PoisonTask after this many deliveries (redis executor).
    #[arg(long)]
    max_deliveries: Option<u64>,
    /// A file (mode 600) holding the secret shared with the workers (redis executor;
    /// default: the WASMTAPS_SECRET environment variable).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Run the redis executor without a secret: anyone who can reach Redis can forge
    /// results.
    #[arg(long)]
    insecure: bool,
    /// The run directory (default runs/<app>_<executor>_<timestamp>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Per-task memory limit, e.g. 64MiB.
    #[arg(long, value_parser = parse::bytes)]
    memory_limit: Option<u64>,
    /// Per-task deadline in seconds.
    #[arg(long, value_parser = parse::timeout)]
    timeout: Option<Duration>,
    /// Per-task fuel.
    #[arg(long)]
    fuel: Option<u64>,
    #[command(flatten)]
    budget: super::BudgetFlags,
    /// Record file name in the run directory, or "none".
    #[arg(long)]
    record_file: Option<String>,
    /// How progress is shown [default: auto].
    #[arg(long, value_enum, ignore_case = true)]
    progress: Option<ProgressMode>,
    /// Use this task module instead of the built-in one.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Cache compiled modules here ("none" to compile every time).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(ClapArgs)]
struct SyntheticFlags {
    /// The shape of the task graph [default: bag].
    #[arg(long, value_enum, ignore_case = true)]
    structure: Option<Structure>,
    /// Number of tasks.
    #[arg(long)]
    task_count: Option<u64>,
    /// Bytes passed along each edge, e.g. 1KiB.
    #[arg(long, value_parser = parse::bytes)]
    task_data_bytes: Option<u64>,
    /// Seconds each task sleeps (the mean, with --task-std).
    #[arg(long)]
    task_sleep: Option<f64>,
    /// Standard deviation of each task's sleep in seconds (a normal draw, never below 0).
    #[arg(long)]
    task_std: Option<f64>,
    /// Tasks in flight at once (bag).
    #[arg(long)]
    bag_max_running: Option<u64>,
    /// No-op tasks run first.
    #[arg(long)]
    warmup_tasks: Option<u64>,
}

/// Collects flags given on the command line as a TOML table, section by section.
#[derive(Default)]
struct Flags(toml::Table);

impl Flags {
    fn set<T: Into<toml::Value>>(&mut self, section: &str, key: &str, value: Option<T>) {
        let Some(value) = value else { return };
        let target = if section.is_empty() {
            &mut self.0
        } else {
            match self
                .0
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                toml::Value::Table(t) => t,
                _ => unreachable!("sections are tables"),
            }
        };
        target.insert(key.to_owned(), value.into());
    }

    fn common(&mut self, c: Common) -> Vec<PathBuf> {
        let path = |p: Option<PathBuf>| p.map(|p| p.display().to_string());
        self.set("engine", "workers", c.workers.map(|w| w as i64));
        self.set("engine", "executor", c.executor.map(|e| e.to_string()));
        self.set("engine", "redis", c.redis);
        self.set(
            "engine",
            "transform_threshold",
            c.transform_threshold.map(|b| b as i64),
        );
        self.set("engine", "store", c.store);
        self.set(
            "engine",
            "max_deliveries",
            c.max_deliveries.map(|v| v as i64),
        );
        self.set("engine", "secret_file", path(c.secret_file));
        self.set("engine", "insecure", c.insecure.then_some(true));
        self.set("engine", "module", path(c.module));
        self.set("engine", "cache_dir", path(c.cache_dir));
        self.set("run", "run_dir", path(c.run_dir));
        self.set("run", "record_file", c.record_file);
        self.set("run", "progress", c.progress.map(|p| p.to_string()));
        self.set("limits", "memory_limit", c.memory_limit.map(|m| m as i64));
        self.set("limits", "timeout", c.timeout.map(|t| t.as_secs_f64()));
        self.set("limits", "fuel", c.fuel.map(|f| f as i64));
        self.set(
            "limits",
            "max_module_size",
            c.budget.max_module_size.map(|b| b.to_string()),
        );
        self.set(
            "limits",
            "max_function_size",
            c.budget.max_function_size.map(|b| b.to_string()),
        );
        self.set(
            "limits",
            "max_function_locals",
            c.budget
                .max_function_locals
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        );
        c.configs
    }

    fn synthetic(&mut self, s: SyntheticFlags) {
        self.set("synthetic", "structure", s.structure.map(|s| s.to_string()));
        self.set("synthetic", "task_count", s.task_count.map(|v| v as i64));
        self.set(
            "synthetic",
            "task_data_bytes",
            s.task_data_bytes.map(|v| v as i64),
        );
        self.set("synthetic", "task_sleep", s.task_sleep);
        self.set("synthetic", "task_std", s.task_std);
        self.set(
            "synthetic",
            "bag_max_running",
            s.bag_max_running.map(|v| v as i64),
        );
        self.set(
            "synthetic",
            "warmup_tasks",
            s.warmup_tasks.map(|v| v as i64),
        );
    }
}

/// Runs the app of `args`; `taps_layer` holds the TaPS-style dotted flags (see
/// [`taps_flags`]).
pub(crate) fn run(
    args: RunArgs,
    taps_layer: toml::Table,
    logging: &Logging,
) -> anyhow::Result<ExitCode> {
    let mut flags = Flags::default();
    let configs = match args.app {
        App::Synthetic { common, synthetic } => {
            flags.set("", "app", Some(AppName::Synthetic.to_string()));
            flags.synthetic(synthetic);
            flags.common(common)
        }
        App::Failures {
            common,
            synthetic,
            failure_type,
            failure_rate,
            seed,
        } => {
            flags.set("", "app", Some(AppName::Failures.to_string()));
            flags.synthetic(synthetic);
            flags.set(
                "failures",
                "failure_type",
                failure_type.map(|f| f.to_string()),
            );
            flags.set("failures", "failure_rate", failure_rate);
            flags.set("failures", "seed", seed.map(|v| v as i64));
            flags.common(common)
        }
        App::Mapreduce {
            common,
            data_dir,
            generate,
            generated_files,
            generated_words,
            map_tasks,
            top,
        } => {
            flags.set("", "app", Some(AppName::Mapreduce.to_string()));
            flags.set(
                "mapreduce",
                "data_dir",
                data_dir.map(|p| p.display().to_string()),
            );
            flags.set("mapreduce", "generate", generate.then_some(true));
            flags.set(
                "mapreduce",
                "generated_files",
                generated_files.map(|v| v as i64),
            );
            flags.set(
                "mapreduce",
                "generated_words",
                generated_words.map(|v| v as i64),
            );
            flags.set("mapreduce", "map_tasks", map_tasks.map(|v| v as i64));
            flags.set("mapreduce", "top", top.map(|v| v as i64));
            flags.common(common)
        }
        App::Cholesky {
            common,
            matrix_size,
            block_size,
            native,
        } => {
            flags.set("cholesky", "native", native.then_some(true));
            flags.set("", "app", Some(AppName::Cholesky.to_string()));
            flags.set("cholesky", "matrix_size", matrix_size.map(|v| v as i64));
            flags.set("cholesky", "block_size", block_size.map(|v| v as i64));
            flags.common(common)
        }
    };
    let config = match config::resolve(&configs, taps_layer, flags.0) {
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
        let mut args = vec!["worker-process".to_owned()];
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
        ]);
        let processes = match config.engine.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let executor = match &config.engine.transform_threshold {
            None => wasmtaps::ProcessExecutor::new(
                wasmtaps::WorkerCommand::new(program, args),
                processes,
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
                wasmtaps::ProcessExecutor::with_transformer(
                    wasmtaps::WorkerCommand::new(program, args),
                    processes,
                    transformer,
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
    let records = (config.run.record_file != "none").then(|| dir.join(&config.run.record_file));
    if let Some(path) = &records {
        builder = builder.record_file(path);
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
    if let Some(path) = &records {
        let (tasks, _) = crate::report::read_records(path)?;
        report.push_str(&RunSummary::from_records(&tasks).to_string());
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
