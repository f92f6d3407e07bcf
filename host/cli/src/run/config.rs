//! The resolved configuration of one `wasmtaps run`: TOML files, then flags, merged.
//!
//! Precedence: built-in defaults < each `-c FILE.toml` in order < TaPS-style dotted flags <
//! wasmtaps's own flags. Files may be in TaPS's schema or wasmtaps's own (see
//! [`taps`](super::taps)); `config.toml` is written in TaPS's. Unknown keys and bad values
//! are errors that name the key and the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::choices::{
    AppName, DeadlineMode, ExecutorKind, FailureType, LogLevel, ProgressMode, Structure,
};
use super::{rundir, taps};
use crate::parse::{deadline, duration as seconds};

/// Everything a run needs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RunConfig {
    /// The application to run.
    pub app: AppName,
    pub engine: EngineConfig,
    pub limits: LimitsConfig,
    pub run: RunDirConfig,
    pub logging: LoggingConfig,
    pub synthetic: SyntheticConfig,
    pub failures: FailuresConfig,
    pub mapreduce: MapReduceConfig,
    pub cholesky: CholeskyConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EngineConfig {
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// `threads` (worker threads in this process), `processes` (worker processes on this
    /// machine, which scale better across cores for independent tasks; a chain's
    /// parent→child hop costs a pipe round trip) or `redis` (`wasmtaps worker` processes
    /// anywhere, reading jobs from `engine.redis`; `workers` is then the number of tasks
    /// in flight).
    pub executor: ExecutorKind,
    /// `epoch` (wasm checks its deadline in every loop) or `process` (wasm runs unguarded in
    /// worker processes, killed by the engine at the deadline; needs the `processes`
    /// executor).
    pub deadline_mode: DeadlineMode,
    /// A task module to use instead of the built-in one (for your own builds of the tasks).
    pub module: Option<PathBuf>,
    /// Where compiled modules are cached ("none": nowhere; default: the user's cache).
    pub cache_dir: Option<PathBuf>,
    /// The Redis URL for the `redis` executor, e.g. "redis://127.0.0.1:6379".
    pub redis: Option<String>,
    /// Pass values larger than this by reference (redis executor only).
    pub transform_threshold: Option<ByteSize>,
    /// Where values passed by reference go: "redis" or "dir:PATH".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The file holding the secret shared with the workers (redis executor).
    pub secret_file: Option<PathBuf>,
    /// Run the redis executor without a secret.
    pub insecure: bool,
    /// Fail a task as PoisonTask after this many deliveries that killed their worker.
    pub max_deliveries: u64,
}

impl EngineConfig {
    /// Where values passed by reference go: `engine.store`, by default Redis's.
    pub(crate) fn store(&self) -> &str {
        self.store.as_deref().unwrap_or("redis")
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 0,
            executor: ExecutorKind::Threads,
            deadline_mode: DeadlineMode::Epoch,
            module: None,
            cache_dir: None,
            redis: None,
            transform_threshold: None,
            store: None,
            secret_file: None,
            insecure: false,
            max_deliveries: 3,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    /// Per-task linear memory, e.g. "256MiB" or a number of bytes.
    pub memory_limit: Option<ByteSize>,
    /// Per-task wall-clock deadline in seconds.
    pub timeout: Option<f64>,
    /// Per-task fuel.
    pub fuel: Option<u64>,
    /// The largest module compiled, e.g. "64MiB".
    pub max_module_size: Option<ByteSize>,
    /// The largest function body compiled, e.g. "512KiB".
    pub max_function_size: Option<ByteSize>,
    /// The most locals (parameters included) of a function compiled.
    pub max_function_locals: Option<u64>,
    /// The largest product of a function's body bytes and its locals compiled.
    pub max_function_bytes_times_locals: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RunDirConfig {
    /// Where the run's files go (default `runs/<app>_<executor>_<timestamp>`). Not written
    /// back to `config.toml`, so re-running that file makes a new directory.
    #[serde(skip_serializing)]
    pub run_dir: Option<PathBuf>,
    /// The run directory when `run_dir` is not given, TaPS's `[run] dir_format`: `{name}`
    /// is the app, `{executor}` the executor and `{timestamp}` the UTC start time.
    pub dir_format: String,
    /// The record file's name inside the run directory, or "none".
    pub record_file: String,
    /// Progress output: "auto" (a bar on a terminal, lines otherwise), "bar", "lines", "none".
    pub progress: ProgressMode,
}

/// TaPS's default `[run] dir_format`.
pub(crate) const DEFAULT_DIR_FORMAT: &str = "runs/{name}_{executor}_{timestamp}";

impl Default for RunDirConfig {
    fn default() -> Self {
        RunDirConfig {
            run_dir: None,
            dir_format: DEFAULT_DIR_FORMAT.into(),
            record_file: "tasks.jsonl".into(),
            progress: ProgressMode::Auto,
        }
    }
}

/// TaPS's `[logging]`: the level of what goes to stderr and to the run directory's log
/// file (Python's level names), and that file's name.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LoggingConfig {
    /// What reaches stderr (default: warnings, or what `-v`/`RUST_LOG` say, which win).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    /// What reaches the log file (default: as on stderr, at least INFO for the run's own
    /// lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_level: Option<LogLevel>,
    /// The log file's name inside the run directory.
    pub file_name: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: None,
            file_level: None,
            file_name: "log.txt".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SyntheticConfig {
    /// bag, diamond, reduce or sequential.
    pub structure: Structure,
    pub task_count: u64,
    /// Bytes each task produces and passes to its children.
    pub task_data_bytes: u64,
    /// Seconds each task sleeps (the mean, when `task_std` is above 0).
    pub task_sleep: f64,
    /// Standard deviation of each task's sleep in seconds: a normal draw around
    /// `task_sleep`, never below 0 (TaPS's `task_std`).
    pub task_std: f64,
    /// Tasks in flight at once for the bag structure.
    pub bag_max_running: u64,
    /// No-op tasks run (and recorded) before the workload.
    pub warmup_tasks: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            structure: Structure::Bag,
            task_count: 1000,
            task_data_bytes: 0,
            task_sleep: 0.0,
            task_std: 0.0,
            bag_max_running: 64,
            warmup_tasks: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FailuresConfig {
    /// The app failures are injected into (TaPS's `base`; its fields are in `[app.config]`
    /// of a TaPS config, the base's own section otherwise): synthetic (a bag of its
    /// tasks, a share replaced by failures), mapreduce or cholesky (each task the app
    /// submits replaced at `failure_rate`).
    pub base: AppName,
    /// zero-division (trap), failure (guest-error), memory (ulimit), walltime (timeout),
    /// panic, stack-overflow, dependency or random.
    pub failure_type: FailureType,
    /// Fraction of the base app's tasks that fail.
    pub failure_rate: f64,
    /// Seed for choosing which tasks fail.
    pub seed: u64,
}

impl Default for FailuresConfig {
    fn default() -> Self {
        FailuresConfig {
            base: AppName::Synthetic,
            failure_type: FailureType::Random,
            failure_rate: 0.1,
            seed: 42,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MapReduceConfig {
    /// Count the words of the text files in this directory.
    pub data_dir: Option<PathBuf>,
    /// Generate text instead of reading files.
    pub generate: bool,
    pub generated_files: u64,
    pub generated_words: u64,
    /// Map tasks; at most one per file, and one per file when not given (as TaPS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_tasks: Option<u64>,
    /// How many of the most frequent words to write out (TaPS's `n_most_frequent`).
    #[serde(alias = "n_most_frequent")]
    pub top: usize,
    pub seed: u64,
}

impl Default for MapReduceConfig {
    fn default() -> Self {
        MapReduceConfig {
            data_dir: None,
            generate: false,
            generated_files: 10,
            generated_words: 10_000,
            map_tasks: None,
            top: 10,
            seed: 42,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CholeskyConfig {
    pub matrix_size: u64,
    pub block_size: u64,
    pub seed: u64,
    /// Call the tasks' functions natively on the engine's worker threads instead of in wasm,
    /// through the same engine and records (the comparison floor).
    pub native: bool,
}

impl Default for CholeskyConfig {
    fn default() -> Self {
        CholeskyConfig {
            matrix_size: 256,
            block_size: 64,
            seed: 42,
            native: false,
        }
    }
}

/// A byte count written as a number or a string such as "64MiB".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteSize(pub u64);

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let raw = Raw::deserialize(d).map_err(|_: D::Error| {
            serde::de::Error::custom(
                "expected a number of bytes (0 or more) or a size such as \"64MiB\"",
            )
        })?;
        match raw {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => crate::parse::bytes(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Merges `overlay` into `base`, table by table; other values are replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Reads the `-c` files in order (TaPS's schema or wasmtaps's own), applies the TaPS-style
/// dotted flags (`taps_flags`, in TaPS's schema) and then wasmtaps's own `flags` on top,
/// and checks the result.
///
/// # Errors
/// Names the file and key that could not be read or do not fit the configuration.
pub(crate) fn resolve(
    files: &[PathBuf],
    taps_flags: toml::Table,
    flags: toml::Table,
) -> Result<RunConfig, String> {
    let mut layers = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read config file {}: {e}", file.display()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            format!("config file {} is not valid TOML: {e}", file.display())
        })?;
        layers.push((format!("config file {}", file.display()), table));
    }
    layers.push(("the --app.* / --engine.* flags".to_owned(), taps_flags));
    // The app an `[app]` table without a name belongs to: the last one named.
    let app = flags
        .get("app")
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .or_else(|| layers.iter().rev().find_map(|(_, t)| taps::app_name(t)))
        .unwrap_or_else(|| AppName::default().to_string());
    let mut merged = toml::Table::new();
    for (origin, table) in layers {
        let table = taps::to_wasmtaps(table, &app, &origin)?;
        check(&table, &origin)?;
        merge(&mut merged, table);
    }
    merge(&mut merged, flags);
    let config = check(&merged, "configuration")?;
    validate(&config)?;
    Ok(config)
}

fn check(table: &toml::Table, origin: &str) -> Result<RunConfig, String> {
    RunConfig::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| format!("{origin}: {}", e.to_string().trim()))
}

fn validate(c: &RunConfig) -> Result<(), String> {
    if c.engine.executor == ExecutorKind::Redis && c.engine.redis.is_none() {
        return Err("engine.executor = \"redis\" needs engine.redis (--redis URL)".into());
    }
    if c.engine.deadline_mode == DeadlineMode::Process
        && c.engine.executor != ExecutorKind::Processes
    {
        return Err(format!(
            "engine.deadline_mode = \"process\" needs engine.executor = \"processes\" \
             (--executor processes), not {:?}: only a worker process can be killed at a \
             deadline",
            c.engine.executor.to_string()
        ));
    }
    if c.app == AppName::Failures
        && c.failures.failure_type == FailureType::WorkerKilled
        && c.engine.executor != ExecutorKind::Processes
    {
        return Err(format!(
            "failures.failure_type = \"worker-killed\" needs engine.executor = \"processes\" \
             (--executor processes), not {:?}: a sandboxed task cannot kill its worker, so \
             wasmtaps starts its worker processes to die at the injected task",
            c.engine.executor.to_string()
        ));
    }
    if c.cholesky.native && c.app != AppName::Cholesky {
        return Err(format!(
            "cholesky.native applies to the cholesky app only, not {:?} (the failures app \
             injects wasm tasks the native executor cannot run)",
            c.app.to_string()
        ));
    }
    if c.cholesky.native && c.engine.executor != ExecutorKind::Threads {
        return Err(format!(
            "cholesky.native calls the kernels natively on this process's threads: it needs \
             engine.executor = \"threads\", not {:?}",
            c.engine.executor.to_string()
        ));
    }
    if c.engine.executor != ExecutorKind::Redis
        && (c.engine.insecure || c.engine.secret_file.is_some())
    {
        return Err(format!(
            "engine.secret_file and engine.insecure (--secret-file, --insecure) are for the redis executor; with engine.executor = \"{}\" they would be ignored",
            c.engine.executor
        ));
    }
    if c.engine.transform_threshold.is_none() && c.engine.store.is_some() {
        return Err(
            "engine.store (--store, [engine.transformer]) without engine.transform_threshold (--transform-threshold, [engine.filter]) would be ignored: nothing is passed by reference".into(),
        );
    }
    if c.engine.redis.is_some()
        && c.engine.executor != ExecutorKind::Redis
        && !(c.engine.transform_threshold.is_some() && c.engine.store() == "redis")
    {
        return Err(format!(
            "engine.redis (--redis) is for the redis executor or the redis store; with engine.executor = \"{}\" and no redis store it would be ignored",
            c.engine.executor
        ));
    }
    if c.engine.transform_threshold.is_some()
        && c.engine.store() == "redis"
        && c.engine.redis.is_none()
    {
        return Err(
            "engine.store = \"redis\" (the default store for values passed by reference) needs engine.redis (--redis URL); or use --store dir:PATH".into(),
        );
    }
    if c.engine.store() != "redis" && !c.engine.store().starts_with("dir:") {
        return Err(format!(
            "engine.store must be \"redis\" or \"dir:PATH\", not {:?}",
            c.engine.store()
        ));
    }
    if !(0.0..=1.0).contains(&c.failures.failure_rate) {
        return Err(format!(
            "failures.failure_rate = {} is not between 0 and 1",
            c.failures.failure_rate
        ));
    }
    seconds(c.synthetic.task_sleep)
        .map_err(|e| format!("synthetic.task_sleep = {:?}: {e}", c.synthetic.task_sleep))?;
    if c.synthetic.task_data_bytes > MAX_TASK_DATA_BYTES {
        return Err(format!(
            "synthetic.task_data_bytes = {} is more than the largest argument a task may take ({MAX_TASK_DATA_BYTES} bytes)",
            c.synthetic.task_data_bytes
        ));
    }
    seconds(c.synthetic.task_std)
        .map_err(|e| format!("synthetic.task_std = {:?}: {e}", c.synthetic.task_std))?;
    if c.app == AppName::Failures && c.failures.base == AppName::Failures {
        return Err("failures.base = \"failures\": the failures app cannot be its own base".into());
    }
    rundir::check_dir_format(&c.run.dir_format)
        .map_err(|e| format!("run.dir_format = {:?}: {e}", c.run.dir_format))?;
    if c.logging.file_name.is_empty()
        || c.logging.file_name.contains(['/', '\\'])
        || c.logging.file_name == ".."
    {
        return Err(format!(
            "logging.file_name = {:?} must be a file name inside the run directory",
            c.logging.file_name
        ));
    }
    if c.synthetic.bag_max_running == 0 {
        return Err("synthetic.bag_max_running must be at least 1".into());
    }
    timeout(c)?;
    // The app that runs: the failures app's base runs too.
    let runs =
        |app: AppName| c.app == app || (c.app == AppName::Failures && c.failures.base == app);
    if runs(AppName::Mapreduce) {
        if c.mapreduce.data_dir.is_none() && !c.mapreduce.generate {
            return Err("mapreduce needs --data-dir DIR or --generate".into());
        }
        if c.mapreduce.map_tasks == Some(0) {
            return Err("mapreduce.map_tasks must be at least 1".into());
        }
    }
    if runs(AppName::Cholesky) {
        let (n, b) = (c.cholesky.matrix_size, c.cholesky.block_size);
        if b == 0 || n == 0 || n % b != 0 {
            return Err(format!(
                "cholesky.matrix_size ({n}) must be a positive multiple of cholesky.block_size ({b})"
            ));
        }
        if n > MAX_MATRIX_SIZE {
            return Err(format!(
                "cholesky.matrix_size = {n} is more than {MAX_MATRIX_SIZE} (the matrix is held in memory)"
            ));
        }
    }
    Ok(())
}

/// The largest `synthetic.task_data_bytes`: the largest argument any task may take.
const MAX_TASK_DATA_BYTES: u64 = wasmtaps::Limits::MAXIMUM.max_argument_bytes;
/// The largest `cholesky.matrix_size`: a 16384² matrix of f64 is 2 GiB.
const MAX_MATRIX_SIZE: u64 = 16384;

/// `limits.timeout` as a duration, checked as `--timeout` is (by [`deadline`]).
///
/// # Errors
/// Names the key and the value.
pub(crate) fn timeout(c: &RunConfig) -> Result<Option<std::time::Duration>, String> {
    c.limits
        .timeout
        .map(|t| deadline(t).map_err(|e| format!("limits.timeout = {t:?}: {e}")))
        .transpose()
}

/// The resolved configuration as TOML in TaPS's schema (with a `[wasmtaps]` table for
/// what TaPS has no name for), for `config.toml` in the run directory.
pub(crate) fn to_toml(config: &RunConfig, run_dir: &Path) -> String {
    let own = toml::Table::try_from(config).unwrap_or_default();
    format!(
        "# Resolved configuration of the run in {}, in TaPS's schema.\n# Re-run it with: wasmtaps run -c config.toml (or python -m taps.run -c config.toml\n# where the options exist in TaPS; [wasmtaps] holds what TaPS has no name for).\n{}",
        run_dir.display(),
        toml::to_string(&taps::from_wasmtaps(own)).unwrap_or_default()
    )
}
