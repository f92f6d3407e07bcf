//! Subcommands of the `wasmtaps` binary.

mod call;
mod inspect;
mod parse;
mod report;
mod run;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A WebAssembly sandboxed task host with TaPS task semantics.
#[derive(Parser)]
#[command(name = "wasmtaps", version, about)]
struct Cli {
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
    /// Summarise a run directory's tasks.jsonl and write report.html (timeline, histograms).
    Report(report::ReportArgs),
    /// Run tasks for `run --executor redis` engines: pull jobs from Redis until killed.
    Worker(worker::WorkerArgs),
}

/// Exit status for usage and load errors.
pub(crate) const EXIT_USAGE: u8 = 2;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Call(args) => call::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Report(args) => report::run(args),
        Command::Run(args) => run::run(args),
        Command::Worker(args) => worker::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wasmtaps: error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
