//! The `wasmtaps` command line: its subcommands, the run reports and the parsers of its
//! flags and config files. The binary (`src/main.rs`) calls [`main`]; the library exists
//! so the fuzz targets in `tests/fuzz` reach the parsers through [`__fuzz`].

#[doc(hidden)]
pub mod __fuzz;
mod call;
mod inspect;
mod logging;
mod parse;
mod report;
mod run;
mod terminal;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A WebAssembly sandboxed task host with TaPS task semantics.
#[derive(Parser)]
#[command(name = "wasmtaps", version)]
struct Cli {
    /// Log more: -v the library's info events, -vv its debug events (`RUST_LOG`, e.g.
    /// `RUST_LOG=wasmtaps=debug`, overrides this).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Run one task invocation in a fresh sandbox and print its value and TaskInfo as JSON.
    Call(call::CallArgs),
    /// List a module's tasks, their parameters and its ABI version.
    Inspect(inspect::InspectArgs),
    /// Run one of TaPS's benchmark applications over sandboxed tasks, into a run directory.
    Run(run::RunArgs),
    /// Serve tasks for an engine over stdin/stdout (started by `run --executor processes`).
    #[command(hide = true)]
    WorkerProcess {
        /// Where compiled modules are cached ("none": nowhere).
        #[arg(long)]
        cache_dir: Option<std::path::PathBuf>,
        /// epoch: wasm checks its deadline in every loop; process: wasm runs unguarded and
        /// the engine that started this process kills it at a task's deadline.
        #[arg(long, value_enum, default_value_t)]
        deadline_mode: run::DeadlineMode,
        #[command(flatten)]
        budget: BudgetFlags,
        /// Where values passed by reference are (the engine's `--store`): dir:PATH, or
        /// redis with --redis.
        #[arg(long)]
        store: Option<String>,
        /// The Redis URL of `--store redis`.
        #[arg(long)]
        redis: Option<String>,
        /// Kill this process (SIGKILL) when a job for the task of this name arrives: the
        /// failures app's `worker-killed` injection. Set by `run`, never by a message.
        #[arg(long, hide = true)]
        killed_at_task: Option<String>,
    },
    /// Summarise a run directory's tasks.jsonl and write report.html (timeline, histograms).
    Report(report::command::ReportArgs),
    /// Run tasks for `run --executor redis` engines: pull jobs from Redis until killed.
    Worker(worker::WorkerArgs),
}

/// Where compiled modules are cached between runs: `$WASMTAPS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wasmtaps`, else `~/.cache/wasmtaps`; `None` when set to "none" or
/// when no home directory is known.
pub(crate) fn default_cache_dir() -> Option<std::path::PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = from_env("WASMTAPS_CACHE_DIR") {
        return (dir != "none").then(|| dir.into());
    }
    from_env("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| from_env("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .map(|d| d.join("wasmtaps"))
}

/// A runtime builder using `dir` (or the default cache directory) for compiled modules.
pub(crate) fn runtime_builder(dir: Option<&std::path::Path>) -> wasmtaps::runtime::RuntimeBuilder {
    let builder = wasmtaps::Runtime::builder();
    match dir
        .map(std::path::Path::to_path_buf)
        .or_else(default_cache_dir)
    {
        Some(d) if d.as_os_str() != "none" => builder.cache_dir(d),
        _ => builder,
    }
}

/// The compile budget flags of `call`, `run`, `worker` and `worker-process`.
#[derive(clap::Args, Clone, Copy, Debug, Default, serde::Serialize)]
pub(crate) struct BudgetFlags {
    /// The largest module compiled, e.g. 64MiB (default 64 MiB); larger ones are refused.
    #[arg(long, value_parser = parse::bytes)]
    pub(crate) max_module_size: Option<u64>,
    /// The largest function body compiled, e.g. 1MiB (default 512 KiB); modules with a
    /// larger one are refused before compiling.
    #[arg(long, value_parser = parse::bytes)]
    pub(crate) max_function_size: Option<u64>,
    /// The most locals (parameters included) of a function compiled (default 512);
    /// modules with more are refused before compiling.
    #[arg(long, value_parser = parse::count)]
    pub(crate) max_function_locals: Option<u64>,
    /// The largest product of a function's body bytes and its locals compiled (default
    /// 33554432, 128 KiB times 256): a function may be large or have many locals, not
    /// both; modules with a heavier one are refused before compiling.
    #[arg(long, value_parser = parse::count)]
    pub(crate) max_function_bytes_times_locals: Option<u64>,
}

impl BudgetFlags {
    /// The flags over [`wasmtaps::runtime::CompileBudget::DEFAULT`].
    pub(crate) fn budget(&self) -> wasmtaps::runtime::CompileBudget {
        let default = wasmtaps::runtime::CompileBudget::DEFAULT;
        wasmtaps::runtime::CompileBudget {
            max_module_bytes: self.max_module_size.unwrap_or(default.max_module_bytes),
            max_function_bytes: self.max_function_size.unwrap_or(default.max_function_bytes),
            max_function_locals: self
                .max_function_locals
                .unwrap_or(default.max_function_locals),
            max_function_bytes_times_locals: self
                .max_function_bytes_times_locals
                .unwrap_or(default.max_function_bytes_times_locals),
        }
    }
}

/// Exit status for usage and load errors.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Parses the command line, runs the subcommand and returns the process's exit status.
pub fn main() -> ExitCode {
    // TaPS's form of `run` (`-c` with several files, `--app`, dotted flags) is taken out
    // before clap reads the rest.
    let split = match run::taps_flags::split(std::env::args_os().collect()) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("wasmtaps: error: {}", terminal::terminal_line(&message));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cli = Cli::parse_from(split.argv);
    let logging = logging::Logging::install(cli.verbose);
    let outcome = match cli.command {
        Command::Call(args) => call::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Report(args) => report::command::run(args),
        Command::Run(args) => run::run(args, split.layer, &logging),
        Command::WorkerProcess {
            cache_dir,
            deadline_mode,
            budget,
            store,
            redis,
            killed_at_task,
        } => runtime_builder(cache_dir.as_deref())
            .compile_budget(budget.budget())
            .epoch_interruption(deadline_mode == run::DeadlineMode::Epoch)
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| {
                let store = match store {
                    None => None,
                    Some(store) => Some(run::store(&store, redis.as_deref())?),
                };
                match (killed_at_task, store) {
                    (Some(task), store) => wasmtaps::remote::serve_worker_process_killed_at_task(
                        runtime, store, &task,
                    )?,
                    (None, None) => wasmtaps::remote::serve_worker_process(runtime)?,
                    (None, Some(store)) => {
                        wasmtaps::remote::serve_worker_process_with_store(runtime, store)?
                    }
                }
                Ok(())
            })
            .map(|()| ExitCode::SUCCESS),
        Command::Worker(args) => worker::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // Errors may quote a module's manifest or a guest's message.
            eprintln!(
                "wasmtaps: error: {}",
                terminal::terminal_text(&format!("{error:#}"))
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}
