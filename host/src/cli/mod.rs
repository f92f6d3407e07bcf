//! Subcommands of the `wasmtaps` binary.

mod call;
mod inspect;
mod parse;

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
enum Command {
    /// Run one task invocation in a fresh sandbox and print its value and TaskInfo as JSON.
    Call(call::CallArgs),
    /// List a module's tasks, their parameters and its ABI version.
    Inspect(inspect::InspectArgs),
}

/// Exit status for usage and load errors.
pub(crate) const EXIT_USAGE: u8 = 2;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Call(args) => call::run(args),
        Command::Inspect(args) => inspect::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wasmtaps: error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
