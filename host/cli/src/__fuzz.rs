//! Entry points for the fuzz targets in `tests/fuzz`, as `wasmtaps_cli::__fuzz`.
//!
//! Not an API: thin wrappers over the parsers of the command line's flags and of
//! `wasmtaps run`'s config files, so the `cli_inputs` target reaches them with any text.

use std::path::Path;
use std::time::Duration;

use crate::run::config::{self, RunConfig};

/// Parses a size flag (`--memory-limit 64MiB`).
///
/// # Errors
/// Why `text` is not a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    crate::parse::bytes(text)
}

/// Parses a seconds flag (`--timeout 0.5`).
///
/// # Errors
/// Why `text` is not a number of seconds the command line accepts.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    crate::parse::seconds(text)
}

/// Parses a deadline flag (`--timeout 0.5`).
///
/// # Errors
/// Why `text` is not a deadline the command line accepts.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    crate::parse::timeout(text)
}

/// Parses a JSON flag (`--args`, `--kwargs`).
///
/// # Errors
/// Why `text` is not JSON.
pub fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    crate::parse::json(text)
}

/// A `wasmtaps run` configuration resolved from one config file's text, with no flags.
#[derive(Clone)]
pub struct ResolvedConfig(RunConfig);

impl ResolvedConfig {
    /// Resolves `text` as the only config file.
    ///
    /// # Errors
    /// Why `text` is not TOML or does not resolve to a configuration.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        config::resolve(&[], table, toml::Table::new()).map(ResolvedConfig)
    }

    /// The `config.toml` a run with this configuration writes into its run directory.
    pub fn to_toml(&self) -> String {
        config::to_toml(&self.0, Path::new("runs/fuzz"))
    }
}

/// Configurations are equal when they differ at most in the run directory, which
/// `config.toml` leaves out on purpose.
impl PartialEq for ResolvedConfig {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

impl std::fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut c = self.0.clone();
        c.run.run_dir = None;
        write!(f, "{c:?}")
    }
}
