//! The `wasmtaps` command line.

fn main() -> std::process::ExitCode {
    wasmtaps_cli::main()
}
