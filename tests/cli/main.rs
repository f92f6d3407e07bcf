//! Integration tests of the `wasmtaps` binary, one module per subcommand.

mod call;
mod components;
mod distributed;
mod failure_kinds;
mod processes;
mod report;
mod report_stream;
mod run;
mod support;
mod taps;
mod taps_by_reference;
