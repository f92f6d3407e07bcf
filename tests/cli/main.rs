//! Integration tests of the `wasmtaps` binary, one module per subcommand.

mod call;
mod processes;
mod report;
mod run;
