//! `wasmtaps run`'s command line. Each app's flags are shaped like the config file, section
//! by section (`[engine]`, `[run]`, `[limits]` and the app's own), so the flags given
//! serialise into the TOML table that is laid over the config files: a flag not given is
//! `None` (or `false`), which TOML leaves out, so it overrides nothing.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use serde::{Serialize, Serializer};

use super::choices::{AppName, DeadlineMode, ExecutorKind, FailureType, ProgressMode, Structure};
use crate::{BudgetFlags, parse};

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
        #[command(flatten)]
        failures: FailuresFlags,
    },
    /// Word count over text files (or generated text) with map tasks and a reduce task.
    Mapreduce {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        mapreduce: MapreduceFlags,
    },
    /// Tiled Cholesky factorisation as a task graph, verified against the input.
    Cholesky {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        cholesky: CholeskyFlags,
    },
}

/// What the command line says: the config files in order, and the flags given (the app
/// included) as a TOML table to lay over them.
pub(crate) struct Given {
    pub(crate) configs: Vec<PathBuf>,
    pub(crate) flags: toml::Table,
}

impl RunArgs {
    /// The config files and the flags given.
    ///
    /// # Errors
    /// A flag with no TOML form (a number above 2^63 - 1, a path that is not UTF-8).
    pub(crate) fn given(self) -> Result<Given, String> {
        /// One app's sections; `common` holds `[engine]`, `[run]` and `[limits]`.
        #[derive(Serialize)]
        struct Sections<'a, T: Serialize> {
            #[serde(flatten)]
            common: &'a Common,
            #[serde(flatten)]
            app: T,
        }
        let (app, common, table) = match &self.app {
            App::Synthetic { common, synthetic } => (
                AppName::Synthetic,
                common,
                table(Sections {
                    common,
                    app: AppSection { synthetic },
                }),
            ),
            App::Failures {
                common,
                synthetic,
                failures,
            } => (
                AppName::Failures,
                common,
                table(Sections {
                    common,
                    app: FailuresSections {
                        synthetic,
                        failures,
                    },
                }),
            ),
            App::Mapreduce { common, mapreduce } => (
                AppName::Mapreduce,
                common,
                table(Sections {
                    common,
                    app: MapreduceSection { mapreduce },
                }),
            ),
            App::Cholesky { common, cholesky } => (
                AppName::Cholesky,
                common,
                table(Sections {
                    common,
                    app: CholeskySection { cholesky },
                }),
            ),
        };
        let mut flags = table?;
        flags.insert("app".to_owned(), app.to_string().into());
        Ok(Given {
            configs: common.configs.clone(),
            flags,
        })
    }
}

fn table(sections: impl Serialize) -> Result<toml::Table, String> {
    toml::Table::try_from(sections).map_err(|e| format!("a flag has no TOML form: {e}"))
}

#[derive(Serialize)]
struct AppSection<'a> {
    synthetic: &'a SyntheticFlags,
}

#[derive(Serialize)]
struct FailuresSections<'a> {
    synthetic: &'a SyntheticFlags,
    failures: &'a FailuresFlags,
}

#[derive(Serialize)]
struct MapreduceSection<'a> {
    mapreduce: &'a MapreduceFlags,
}

#[derive(Serialize)]
struct CholeskySection<'a> {
    cholesky: &'a CholeskyFlags,
}

/// Options every app takes.
#[derive(ClapArgs, Serialize)]
struct Common {
    /// A TOML config file; repeat to layer several (later files win, flags win over files).
    #[arg(short = 'c', long = "config")]
    #[serde(skip)]
    configs: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineFlags,
    #[command(flatten)]
    run: RunDirFlags,
    #[command(flatten)]
    limits: LimitsFlags,
}

/// `[engine]`.
#[derive(ClapArgs, Serialize)]
struct EngineFlags {
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = parse::count)]
    workers: Option<u64>,
    /// Where tasks run [default: threads].
    #[arg(long, value_enum, ignore_case = true)]
    executor: Option<ExecutorKind>,
    /// Who stops a task at its deadline: epoch (checks in the wasm code) or process
    /// (unguarded wasm in worker processes, killed at the deadline; needs --executor
    /// processes) [default: epoch].
    #[arg(long, value_enum)]
    deadline_mode: Option<DeadlineMode>,
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
    #[arg(long, value_parser = parse::count)]
    max_deliveries: Option<u64>,
    /// A file (mode 600) holding the secret shared with the workers (redis executor;
    /// default: the WASMTAPS_SECRET environment variable).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Run the redis executor without a secret: anyone who can reach Redis can forge
    /// results.
    #[arg(long)]
    #[serde(skip_serializing_if = "not_given")]
    insecure: bool,
    /// Use this task module instead of the built-in one.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Cache compiled modules here ("none" to compile every time).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// `[run]`.
#[derive(ClapArgs, Serialize)]
struct RunDirFlags {
    /// The run directory (default runs/<app>_<executor>_<timestamp>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Record file name in the run directory, or "none".
    #[arg(long)]
    record_file: Option<String>,
    /// How progress is shown [default: auto].
    #[arg(long, value_enum, ignore_case = true)]
    progress: Option<ProgressMode>,
}

/// `[limits]`.
#[derive(ClapArgs, Serialize)]
struct LimitsFlags {
    /// Per-task memory limit, e.g. 64MiB.
    #[arg(long, value_parser = parse::bytes)]
    memory_limit: Option<u64>,
    /// Per-task deadline in seconds.
    #[arg(long, value_parser = parse::timeout)]
    #[serde(serialize_with = "seconds")]
    timeout: Option<Duration>,
    /// Per-task fuel.
    #[arg(long, value_parser = parse::count)]
    fuel: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    budget: BudgetFlags,
}

/// `[synthetic]`.
#[derive(ClapArgs, Serialize)]
struct SyntheticFlags {
    /// The shape of the task graph [default: bag].
    #[arg(long, value_enum, ignore_case = true)]
    structure: Option<Structure>,
    /// Number of tasks.
    #[arg(long, value_parser = parse::count)]
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
    #[arg(long, value_parser = parse::count)]
    bag_max_running: Option<u64>,
    /// No-op tasks run first.
    #[arg(long, value_parser = parse::count)]
    warmup_tasks: Option<u64>,
}

/// `[failures]`.
#[derive(ClapArgs, Serialize)]
struct FailuresFlags {
    /// How the injected tasks fail.
    #[arg(long, value_enum, ignore_case = true)]
    failure_type: Option<FailureType>,
    /// Fraction of tasks that fail (0 to 1).
    #[arg(long)]
    failure_rate: Option<f64>,
    /// Seed choosing which tasks fail.
    #[arg(long, value_parser = parse::count)]
    seed: Option<u64>,
}

/// `[mapreduce]`.
#[derive(ClapArgs, Serialize)]
struct MapreduceFlags {
    /// Count the words of the files in this directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Generate text instead of reading files.
    #[arg(long)]
    #[serde(skip_serializing_if = "not_given")]
    generate: bool,
    /// Files of generated text.
    #[arg(long, value_parser = parse::count)]
    generated_files: Option<u64>,
    /// Words per generated file.
    #[arg(long, value_parser = parse::count)]
    generated_words: Option<u64>,
    /// Map tasks (the text is split into this many parts).
    #[arg(long, value_parser = parse::count)]
    map_tasks: Option<u64>,
    /// Most frequent words written to top_words.txt.
    #[arg(long, value_parser = parse::count)]
    top: Option<u64>,
}

/// `[cholesky]`.
#[derive(ClapArgs, Serialize)]
struct CholeskyFlags {
    /// Rows (and columns) of the matrix.
    #[arg(long, value_parser = parse::count)]
    matrix_size: Option<u64>,
    /// Rows (and columns) of a tile; must divide the matrix size.
    #[arg(long, value_parser = parse::count)]
    block_size: Option<u64>,
    /// Run the same task functions natively, through the same engine on `--workers`
    /// threads (the floor to compare with; needs `--executor threads`).
    #[arg(long)]
    #[serde(skip_serializing_if = "not_given")]
    native: bool,
}

/// A switch not given overrides nothing (a config file may turn it on).
fn not_given(switch: &bool) -> bool {
    !switch
}

/// A duration as the config file writes it: seconds.
fn seconds<S: Serializer>(duration: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    duration.map(|d| d.as_secs_f64()).serialize(s)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }

    fn given(line: &[&str]) -> Given {
        let args = Run::try_parse_from(std::iter::once("run").chain(line.iter().copied()))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .args;
        args.given().unwrap()
    }

    #[test]
    fn only_the_flags_given_are_laid_over_the_config() {
        let line = [
            "failures",
            "-c",
            "a.toml",
            "--executor",
            "processes",
            "--timeout",
            "0.5",
            "--insecure",
            "--max-module-size",
            "1MiB",
            "--task-count",
            "3",
            "--failure-type",
            "guest-error",
            "-c",
            "b.toml",
        ];
        let given = given(&line);
        assert_eq!(
            given.configs,
            [PathBuf::from("a.toml"), PathBuf::from("b.toml")]
        );
        let expected: toml::Table = toml::from_str(
            r#"
            app = "failures"
            engine = { executor = "processes", insecure = true }
            run = {}
            limits = { timeout = 0.5, max_module_size = 1048576 }
            synthetic = { task_count = 3 }
            failures = { failure_type = "guest-error" }
            "#,
        )
        .unwrap();
        assert_eq!(given.flags, expected);
    }

    #[test]
    fn no_flags_override_nothing() {
        let given = given(&["cholesky"]);
        let expected: toml::Table = toml::from_str(
            r#"
            app = "cholesky"
            engine = {}
            run = {}
            limits = {}
            cholesky = {}
            "#,
        )
        .unwrap();
        assert_eq!(given.flags, expected);
    }

    #[test]
    fn a_number_past_toml_integers_is_refused_naming_its_flag() {
        let huge = (1u64 << 63).to_string();
        let flags = [
            "--task-count",
            "--workers",
            "--fuel",
            "--memory-limit",
            "--max-function-locals",
        ];
        for flag in flags {
            let error = Run::try_parse_from(["run", "synthetic", flag, &huge])
                .err()
                .unwrap_or_else(|| panic!("{flag} {huge} was accepted"));
            assert!(error.to_string().contains(flag), "{error}");
        }
    }
}
