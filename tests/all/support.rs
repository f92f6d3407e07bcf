//! Shared fixtures: a WAT skeleton that satisfies ABI v1, and a runtime to run it in.

use anyhow::Result;
use wasmtaps::{Args, Invocation, InvokeOptions, LimitOverrides, Runtime, TaskError, TaskModule};

/// A task module: exported memory, a bump `wasmtaps_alloc`, `{"ok": nil}` at 16 and
/// `{"ok": 1}` at 32, a well-behaved `ok` task, and `body` spliced in.
pub fn wat(body: &str) -> String {
    wat_with_imports("", body)
}

/// [`wat`] with `imports` placed first, where the text format requires them.
pub fn wat_with_imports(imports: &str, body: &str) -> String {
    skeleton(imports, 1, body)
}

/// [`wat`] with a memory of `pages` wasm pages.
pub fn wat_with_pages(pages: u32, body: &str) -> String {
    skeleton("", pages, body)
}

fn skeleton(imports: &str, pages: u32, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") {pages})
  (global $next (mut i32) (i32.const 4096))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (data (i32.const 16) "\81\a2ok\c0")
  (data (i32.const 32) "\81\a2ok\01")
  (func (export "wasmtaps_task_ok") (param i32 i32) (result i64)
    (i64.const 0x0000002000000005))
  {body})"#
    )
}

/// `(result_ptr << 32) | len` for the `{"ok": nil}` envelope.
pub const OK_NIL: &str = "(i64.const 0x0000001000000005)";

pub fn load(runtime: &Runtime, body: &str) -> Result<TaskModule> {
    Ok(runtime.load_wat("fixture", &wat(body))?)
}

/// Invokes `task` with no arguments and the given limit overrides.
pub fn call(
    runtime: &Runtime,
    module: &TaskModule,
    task: &str,
    limits: LimitOverrides,
) -> Result<Invocation> {
    let options = InvokeOptions {
        limits,
        ..InvokeOptions::default()
    };
    Ok(runtime.invoke(&module.task(task)?, &Args::new(), &options))
}

/// Runs `task`, expects it to fail, and checks that the same runtime still serves the
/// module's well-behaved `ok` task afterwards.
pub fn expect_failure(
    runtime: &Runtime,
    module: &TaskModule,
    task: &str,
    limits: LimitOverrides,
) -> Result<TaskError> {
    let outcome = call(runtime, module, task, limits)?;
    let error = match outcome.result {
        Ok(v) => anyhow::bail!("task {task} succeeded with {v:?}; expected a failure"),
        Err(e) => e,
    };
    let e = &outcome.execution;
    assert!(e.execution_start_time <= e.input_transform_start_time);
    assert!(e.input_transform_end_time <= e.task_start_time);
    assert!(e.task_end_time <= e.result_transform_start_time);
    assert!(e.result_transform_end_time <= e.execution_end_time);
    assert_eq!(e.hostname, runtime.hostname());
    let next = call(runtime, module, "ok", LimitOverrides::default())?;
    assert_eq!(
        next.result?.decode::<i64>()?,
        1,
        "the host must carry on serving after {task}"
    );
    Ok(error)
}

/// The repository's root.
pub fn repo() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
}

/// One runtime per test process for the polyglot components, with the tests' compile
/// cache: the default compile budget admits componentize-py's and componentize-js's
/// output (see `CompileBudget::DEFAULT`), and an 18 MB component compiles once.
pub fn component_runtime() -> Runtime {
    static RUNTIME: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Runtime::builder()
                .cache_dir(repo().join("target/wasmtaps-test-cache"))
                .build()
                .expect("runtime")
        })
        .clone()
}

/// Runs `scripts/build-polyglot <language>` once per test process and returns
/// `target/polyglot/<output>`; a failed build (a missing toolchain) fails every caller with
/// the command that installs it.
pub fn build_polyglot(language: &str, output: &str) -> Result<std::path::PathBuf> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<BTreeMap<String, Result<(), String>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry(language.to_owned())
        .or_insert_with(|| {
            let built = std::process::Command::new(repo().join("scripts/build-polyglot"))
                .arg(language)
                .output()
                .map_err(|e| format!("cannot run scripts/build-polyglot: {e}"))?;
            if !built.status.success() {
                return Err(format!(
                    "scripts/build-polyglot {language} failed (install the toolchain with \
                     `scripts/install-guest-toolchains {language}`):\n{}",
                    String::from_utf8_lossy(&built.stderr)
                ));
            }
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(repo().join("target/polyglot").join(output))
}
