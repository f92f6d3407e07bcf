//! Helpers shared by the CLI tests: the binary under test, a task-module skeleton for
//! inline WAT fixtures, and the records' clock.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The `wasmtaps` binary this package builds.
pub const WASMTAPS: &str = env!("CARGO_BIN_EXE_wasmtaps");

/// Runs `wasmtaps ARGS...` to its end in the current directory.
///
/// # Panics
/// If the binary cannot be started at all.
pub fn wasmtaps<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    wasmtaps_in(Path::new("."), args)
}

/// [`wasmtaps`] in `dir`, where relative paths in `args` resolve.
pub fn wasmtaps_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(WASMTAPS)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the wasmtaps binary runs")
}

/// A task module for inline WAT fixtures: `imports` first (where the text format wants
/// them), one page of exported memory, a bump `wasmtaps_alloc` handing out memory from
/// 8192 up (below that, data is the fixture's own), and `body` (its data and tasks).
pub fn wat_with_imports(imports: &str, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 8192))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  {body})"#
    )
}

/// [`wat_with_imports`] without imports.
pub fn wat(body: &str) -> String {
    wat_with_imports("", body)
}

/// The current time as float Unix seconds, as the records' times are.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
