//! A guest's failure has the same kind whether its task ran on a thread, in a worker
//! process or on a Redis worker; the last two send it back by its type name.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result};
use wasmtaps::abi::AbiViolation;
use wasmtaps::{Engine, ErrorKind, RedisExecutor, Runtime, WorkerCommand};

use crate::support::{self, RedisServer, WASMTAPS};

/// The WASI functions [`GUESTS`] misuse.
const GUEST_IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))"#;

/// Guests that claim host type names, report `ArgumentError`, misuse WASI, or return an
/// envelope the host refuses; and a well-behaved `ok`.
const GUESTS: &str = r#"
  (data (i32.const 16) "\81\a2ok\01")
  (data (i32.const 200) "\81\a3err\82\a4type\a7Timeout\a7message\a4slow")
  (data (i32.const 300) "\81\a3err\82\a4type\aaPoisonTask\a7message\a4slow")
  (data (i32.const 400) "\81\a3err\82\a4type\adArgumentError\a7message\a4slow")
  (data (i32.const 500) "\81\a3err\82\a4type\aaGuestError\a7message\a4slow")
  (data (i32.const 600) "\81\a3err\93\c0\c0\c0")
  (func (export "wasmtaps_task_ok") (param i32 i32) (result i64) (i64.const 0x0000001000000005))
  (func (export "wasmtaps_task_spin") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0))
  (func (export "wasmtaps_task_timeout") (param i32 i32) (result i64) (i64.const 0x000000c800000020))
  (func (export "wasmtaps_task_poison") (param i32 i32) (result i64) (i64.const 0x0000012c00000023))
  (func (export "wasmtaps_task_argument") (param i32 i32) (result i64) (i64.const 0x0000019000000026))
  (func (export "wasmtaps_task_guest_error") (param i32 i32) (result i64) (i64.const 0x000001f400000023))
  (func (export "wasmtaps_task_nils") (param i32 i32) (result i64) (i64.const 0x0000025800000009))
  (func (export "wasmtaps_task_iovec") (param i32 i32) (result i64)
    (drop (call $fd_write (i32.const 1) (i32.const 0x00fffff0) (i32.const 1) (i32.const 264)))
    (i64.const 0x0000001000000005))
  (func (export "wasmtaps_task_random") (param i32 i32) (result i64)
    (drop (call $random_get (i32.const 1024) (i32.const 0x04100000)))
    (i64.const 0x0000001000000005))"#;

/// Where the tasks run.
enum On {
    Threads,
    WorkerProcesses,
    Redis(String),
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The secret the engine and the worker share.
const SECRET: &str = "failure-kinds-test-secret-0123456789";

/// A private `redis-server` and one `wasmtaps worker` pulling from it.
fn redis_with_a_worker() -> Result<(RedisServer, Killed)> {
    let redis = RedisServer::start(false)?;
    // Jobs and replies are authenticated with a secret shared by the engine and worker.
    let worker = Command::new(WASMTAPS)
        .env(wasmtaps::remote::SECRET_ENV, SECRET)
        .args(["worker", "--redis", &redis.url(), "--name", "kinds"])
        .args(["--workers", "2"])
        .stdout(Stdio::null())
        .spawn()?;
    Ok((redis, Killed(worker)))
}

/// Each task's kind on one kind of executor.
fn kinds(on: &On) -> Result<Vec<(&'static str, ErrorKind)>> {
    // Fuel metering on the engine's side only: a worker process or Redis worker meters a
    // task that asks for fuel in a sibling runtime it builds on demand.
    let runtime = Runtime::builder().fuel_metering(true).build()?;
    let module = runtime.load_wat("guests", &support::wat_with_imports(GUEST_IMPORTS, GUESTS))?;
    let mut engine = Engine::builder(runtime).workers(2);
    match on {
        On::Threads => {}
        On::WorkerProcesses => {
            let command = WorkerCommand::new(WASMTAPS, ["worker-process", "--cache-dir", "none"]);
            engine = engine.executor(Arc::new(wasmtaps::ProcessExecutor::new(command, 2)?));
        }
        On::Redis(url) => {
            let executor = RedisExecutor::builder(url)
                .secret(wasmtaps::remote::Secret::new(SECRET)?)
                .build()?;
            engine = engine.executor(Arc::new(executor));
        }
    }
    let engine = engine.build()?;
    let tasks = [
        "timeout",
        "poison",
        "argument",
        "guest_error",
        "nils",
        "iovec",
        "random",
    ];
    let mut kinds = Vec::new();
    for task in tasks {
        let future = engine.submit(&module.task(task)?, vec![], vec![]);
        let error = future
            .exception(None)?
            .ok_or_else(|| anyhow::anyhow!("{task} succeeded"))?;
        kinds.push((task, error.kind().clone()));
    }
    let fuel = wasmtaps::LimitOverrides {
        fuel: Some(100_000),
        ..Default::default()
    };
    let spin = engine.submit_with(&module.task("spin")?, vec![], vec![], &fuel);
    let error = spin.exception(None)?.context("spin succeeded")?;
    kinds.push(("spin", error.kind().clone()));
    let metered = engine.submit_with(&module.task("ok")?, vec![], vec![], &fuel);
    assert_eq!(
        metered.result(None)?.decode::<i64>()?,
        1,
        "a metered task runs"
    );
    let ok = engine.submit(&module.task("ok")?, vec![], vec![]);
    assert_eq!(ok.result(None)?.decode::<i64>()?, 1, "the engine serves on");
    engine.shutdown(true, false);
    Ok(kinds)
}

#[test]
fn a_failure_has_the_same_kind_on_threads_worker_processes_and_redis() -> Result<()> {
    let spoofed = ErrorKind::GuestError("GuestError".into());
    let expected = vec![
        ("timeout", spoofed.clone()),
        ("poison", spoofed.clone()),
        ("argument", ErrorKind::ArgumentError),
        ("guest_error", spoofed),
        ("nils", ErrorKind::Abi(AbiViolation::MalformedResult)),
        ("iovec", ErrorKind::WasiMisuse),
        ("random", ErrorKind::WasiMisuse),
        ("spin", ErrorKind::OutOfFuel),
    ];
    assert_eq!(kinds(&On::Threads)?, expected, "on threads");
    assert_eq!(
        kinds(&On::WorkerProcesses)?,
        expected,
        "in worker processes"
    );
    let (redis, _worker) = redis_with_a_worker()?;
    let url = redis.url();
    assert_eq!(kinds(&On::Redis(url))?, expected, "through Redis");
    Ok(())
}
