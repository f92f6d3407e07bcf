//! `environment.json` in the run directory, as TaPS writes one: where and with what the
//! run ran (host, platform, versions, the sandbox's configuration).

use std::path::Path;

use serde_json::json;
use wasmtaps::Limits;
use wasmtaps::runtime::CompileBudget;

use super::config::RunConfig;

/// The wasmtime release this binary was built with, read from `Cargo.lock` by `build.rs`.
const WASMTIME_VERSION: &str = env!("WASMTAPS_WASMTIME_VERSION");

/// Writes `dir/environment.json`.
///
/// # Errors
/// The file could not be written.
pub(crate) fn write(
    dir: &Path,
    config: &RunConfig,
    limits: &Limits,
    budget: &CompileBudget,
) -> std::io::Result<()> {
    let environment = json!({
        "hostname": gethostname::gethostname().to_string_lossy(),
        "platform": {
            "os": std::env::consts::OS,
            "family": std::env::consts::FAMILY,
            "arch": std::env::consts::ARCH,
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        "command": std::env::args().map(|a| redact(&a)).collect::<Vec<_>>(),
        "versions": {
            "wasmtaps": env!("CARGO_PKG_VERSION"),
            "wasmtime": WASMTIME_VERSION,
        },
        "wasmtime": {
            "compiler": "cranelift",
            "fuel_metering": limits.fuel.is_some(),
            "epoch_deadlines": true,
            "cache_dir": config.engine.cache_dir,
            "compile_budget": {
                "max_module_bytes": budget.max_module_bytes,
                "max_function_bytes": budget.max_function_bytes,
                "max_function_locals": budget.max_function_locals,
                "max_function_bytes_times_locals": budget.max_function_bytes_times_locals,
            },
            "task_limits": {
                "memory_bytes": limits.memory_bytes,
                "table_elements": limits.table_elements,
                "fuel": limits.fuel,
                "timeout_seconds": limits.timeout.map(|t| t.as_secs_f64()),
                "max_argument_bytes": limits.max_argument_bytes,
                "max_result_bytes": limits.max_result_bytes,
                "max_output_bytes": limits.max_output_bytes,
            },
        },
    });
    let text = serde_json::to_string_pretty(&environment).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("environment.json"), text + "\n")
}

/// `arg` with the credentials of a URL (`scheme://user:password@host`) replaced by `***`,
/// so a Redis password on the command line does not land in the run directory.
fn redact(arg: &str) -> String {
    match (arg.find("://"), arg.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            format!("{}***{}", &arg[..scheme + 3], &arg[at..])
        }
        _ => arg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            super::redact("redis://:hunter2@db:6379/0"),
            "redis://***@db:6379/0"
        );
        assert_eq!(super::redact("--redis"), "--redis");
        assert_eq!(super::redact("redis://db:6379"), "redis://db:6379");
    }
}
