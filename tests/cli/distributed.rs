//! The Redis executor against a real `redis-server` (started per test on a free port)
//! and real `wasmtaps worker` processes: dependencies across workers, a worker killed
//! with SIGKILL, a worker hung past its lease, a poison task, a large argument passed by
//! reference, and Redis restarted mid-run.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use wasmtaps::{
    ABORT_ON_TASK_ENV, Arg, DirectoryStore, Engine, Filter, RecordCollector, RecordSink,
    RedisExecutor, Runtime, TaskFuture, TaskInfo, TaskModule, Transformer, Value,
};

/// Waits for a condition that must become true; a generous bound only keeps a broken
/// build from hanging CI (no test asserts on timing).
fn eventually(what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check()? {
        ensure!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A private `redis-server`, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
}

impl RedisServer {
    fn start(persistent: bool) -> Result<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let child = spawn_redis(port, dir.path(), persistent)?;
        let server = RedisServer {
            child,
            port,
            dir,
            persistent,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) -> Result<()> {
        let client = redis::Client::open(self.url())?;
        eventually("redis-server to answer", || {
            Ok(client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok())
        })
    }

    /// Stops Redis (it writes its append-only file when persistent) and starts it again
    /// on the same port.
    fn restart(&mut self) -> Result<()> {
        let mut conn = redis::Client::open(self.url())?.get_connection()?;
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut conn);
        self.child.wait()?;
        std::thread::sleep(Duration::from_millis(300));
        self.child = spawn_redis(self.port, self.dir.path(), self.persistent)?;
        self.wait_ready()
    }

    fn connection(&self) -> Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }
}

fn spawn_redis(port: u16, dir: &Path, persistent: bool) -> Result<Child> {
    let mut command = Command::new("redis-server");
    command
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null());
    if persistent {
        command.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        command.args(["--appendonly", "no"]);
    }
    match command.spawn() {
        Ok(child) => Ok(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("redis-server is not installed: run scripts/install-redis")
        }
        Err(e) => Err(e.into()),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `wasmtaps worker` process, killed on drop.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(url: &str, name: &str, threads: usize, lease: &str) -> Result<WorkerProcess> {
        WorkerProcess::start_with(url, name, threads, lease, &[])
    }

    fn start_with(
        url: &str,
        name: &str,
        threads: usize,
        lease: &str,
        env: &[(&str, &str)],
    ) -> Result<WorkerProcess> {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmtaps"))
            .args(["worker", "--redis", url, "--name", name, "--lease", lease])
            .args(["--workers", &threads.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()?;
        Ok(WorkerProcess(child))
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill").args([signal, &self.pid()]).status()?;
        ensure!(status.success(), "kill {signal} failed");
        Ok(())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    engine: Engine,
    executor: Arc<RedisExecutor>,
    records: RecordCollector,
    module: TaskModule,
}

impl Run {
    fn new(
        url: &str,
        configure: impl FnOnce(wasmtaps::RedisExecutorBuilder) -> wasmtaps::RedisExecutorBuilder,
    ) -> Result<Run> {
        let runtime = Runtime::new()?;
        let module = runtime.load_bytes(
            "wasmtaps_example_tasks",
            wasmtaps_example_artifacts::TASKS_WASM_BYTES,
        )?;
        let executor = Arc::new(configure(RedisExecutor::builder(url)).build()?);
        let records = RecordCollector::new();
        let engine = Engine::builder(runtime)
            .workers(16)
            .executor(executor.clone())
            .record_sink(RecordSink::Memory(records.clone()))
            .build()?;
        Ok(Run {
            engine,
            executor,
            records,
            module,
        })
    }

    fn submit(&self, task: &str, args: Vec<Arg>) -> Result<TaskFuture> {
        Ok(self.engine.submit(&self.module.task(task)?, args, vec![]))
    }

    /// Waits for every task and returns the records, each task recorded exactly once.
    fn finish(self) -> Result<(Vec<TaskInfo>, Arc<RedisExecutor>)> {
        self.engine.shutdown(true, false);
        let records = self.records.records();
        let ids: HashSet<&str> = records.iter().map(|r| r.task_id.as_str()).collect();
        ensure!(ids.len() == records.len(), "a task was recorded twice");
        Ok((records, self.executor))
    }
}

fn arg<T: serde::Serialize>(value: T) -> Arg {
    Arg::encode(&value).expect("encodes")
}

#[test]
fn workflow_with_dependencies_runs_across_two_worker_processes() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let _a = WorkerProcess::start(&redis.url(), "a", 1, "5")?;
    let _b = WorkerProcess::start(&redis.url(), "b", 1, "5")?;
    let run = Run::new(&redis.url(), |b| b)?;
    let one = run.submit("add", vec![arg(1), arg(2)])?;
    let left = run.submit("add", vec![one.clone().into(), arg(10)])?;
    let right = run.submit("add", vec![one.clone().into(), arg(20)])?;
    let total = run.submit(
        "sum_list",
        vec![Arg::List(vec![left.clone().into(), right.clone().into()])],
    )?;
    let failing = run.submit("fail_panic", vec![arg("boom")])?;
    let child_of_failure = run.submit("add", vec![failing.clone().into(), arg(1)])?;
    let bag: Vec<TaskFuture> = (0..20)
        .map(|i| run.submit("add", vec![arg(i), arg(i)]))
        .collect::<Result<_>>()?;
    assert_eq!(total.result(None)?.decode::<i64>()?, 13 + 23);
    for (i, f) in bag.iter().enumerate() {
        assert_eq!(f.result(None)?.decode::<i64>()?, 2 * i as i64);
    }
    assert_eq!(
        failing.exception(None)?.context("fails")?.type_name(),
        "GuestPanic"
    );
    assert_eq!(
        child_of_failure
            .exception(None)?
            .context("fails")?
            .type_name(),
        "DependencyError"
    );
    // Both worker processes took jobs.
    let mut conn = redis.connection()?;
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("wasmtaps:jobs")
        .arg("workers")
        .query(&mut conn)?;
    assert_eq!(consumers.len(), 2, "{consumers:?}");
    let (records, executor) = run.finish()?;
    assert_eq!(records.len(), 26);
    let host = gethostname();
    for r in records
        .iter()
        .filter(|r| r.name != "add" || r.success == Some(true))
    {
        if let Some(e) = &r.execution {
            assert_eq!(e.hostname, host);
            assert!(e.task_end_time >= e.task_start_time);
        }
    }
    let sum = records
        .iter()
        .find(|r| r.task_id == total.task_id())
        .context("sum")?;
    assert_eq!(sum.parent_task_ids, [left.task_id(), right.task_id()]);
    assert_eq!(executor.duplicates_dropped(), 0);
    Ok(())
}

fn gethostname() -> String {
    Runtime::new().expect("runtime").hostname().to_owned()
}

#[test]
fn killed_worker_loses_no_task_and_duplicates_are_not_double_counted() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let a = WorkerProcess::start(&redis.url(), "a", 2, "1")?;
    let _b = WorkerProcess::start(&redis.url(), "b", 2, "1")?;
    let run = Run::new(&redis.url(), |b| b)?;
    let futures: Vec<TaskFuture> = (0..40)
        .map(|_| run.submit("sleep", vec![arg(0.05)]))
        .collect::<Result<_>>()?;
    eventually("some tasks to finish", || {
        Ok(run.engine.stats().completed >= 5)
    })?;
    a.signal("-9")?;
    for f in &futures {
        f.result(None).context("every task completes")?;
    }
    let (records, _executor) = run.finish()?;
    assert_eq!(records.len(), 40);
    assert!(records.iter().all(|r| r.success == Some(true)));
    Ok(())
}

#[test]
fn worker_hung_past_its_lease_loses_its_task_and_its_late_result_is_dropped() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let hung = WorkerProcess::start(&redis.url(), "hung", 1, "0.5")?;
    let run = Run::new(&redis.url(), |b| b)?;
    let future = run.submit("sleep", vec![arg(0.3)])?;
    let mut conn = redis.connection()?;
    eventually("the job to be taken", || {
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg("wasmtaps:jobs")
            .arg("workers")
            .query(&mut conn)?;
        Ok(matches!(&pending, redis::Value::Array(p) if p.first() == Some(&redis::Value::Int(1))))
    })?;
    hung.signal("-STOP")?;
    let _rescuer = WorkerProcess::start(&redis.url(), "rescuer", 1, "0.5")?;
    future.result(None)?;
    hung.signal("-CONT")?;
    let executor = run.executor.clone();
    eventually("the hung worker's late result", || {
        Ok(executor.duplicates_dropped() >= 1)
    })?;
    let (records, _) = run.finish()?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].success, Some(true));
    Ok(())
}

#[test]
fn long_task_renews_its_lease_and_runs_once() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let _a = WorkerProcess::start(&redis.url(), "a", 1, "0.3")?;
    let _b = WorkerProcess::start(&redis.url(), "b", 1, "0.3")?;
    let run = Run::new(&redis.url(), |b| b)?;
    let future = run.submit("sleep", vec![arg(1.5)])?;
    future.result(None)?;
    let (records, executor) = run.finish()?;
    assert_eq!(records.len(), 1);
    assert_eq!(executor.duplicates_dropped(), 0, "the task ran twice");
    Ok(())
}

#[test]
fn poison_task_fails_after_max_deliveries_and_others_complete() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let url = redis.url();
    let stop = Arc::new(AtomicBool::new(false));
    let deaths = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // A supervisor that restarts the worker whenever the poison task kills it.
    let supervisor = {
        let (url, stop, deaths) = (url.clone(), stop.clone(), deaths.clone());
        std::thread::spawn(move || -> Result<()> {
            let env = [(ABORT_ON_TASK_ENV, "greet")];
            let mut worker = WorkerProcess::start_with(&url, "w", 1, "0.3", &env)?;
            while !stop.load(Ordering::SeqCst) {
                if worker.0.try_wait()?.is_some() {
                    deaths.fetch_add(1, Ordering::SeqCst);
                    worker = WorkerProcess::start_with(&url, "w", 1, "0.3", &env)?;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
    };
    let run = Run::new(&url, |b| b.max_deliveries(3))?;
    let poison = run.submit("greet", vec![arg("x")])?;
    let fine = run.submit("add", vec![arg(2), arg(3)])?;
    assert_eq!(fine.result(None)?.decode::<i64>()?, 5);
    let exception = poison.exception(None)?.context("the poison task fails")?;
    assert_eq!(exception.type_name(), "PoisonTask");
    assert!(
        exception.message().contains("delivered 3 times"),
        "{}",
        exception.message()
    );
    stop.store(true, Ordering::SeqCst);
    supervisor.join().expect("supervisor")?;
    assert_eq!(deaths.load(Ordering::SeqCst), 3);
    let (records, _) = run.finish()?;
    assert_eq!(records.len(), 2);
    Ok(())
}

#[test]
fn large_values_travel_by_reference_and_are_resolved_on_the_worker() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let _a = WorkerProcess::start(&redis.url(), "a", 1, "5")?;
    let _b = WorkerProcess::start(&redis.url(), "b", 1, "5")?;
    let store_dir = tempfile::tempdir()?;
    let transformer = Transformer::new(
        Arc::new(DirectoryStore::new(store_dir.path())?),
        Filter::larger_than(1024),
    );
    let run = Run::new(&redis.url(), |b| b.transformer(transformer.clone()))?;
    let n = 200_000u64;
    let expected: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let digest = expected
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    // A large argument from the client, stored before sending.
    let direct = run.submit(
        "checksum",
        vec![Arg::Value(Value::encode(&serde_bytes::Bytes::new(
            &expected,
        ))?)],
    )?;
    // A large result stored by the worker and passed on to a child by reference.
    let made = run.submit("make_bytes", vec![arg(n)])?;
    let child = run.submit("checksum", vec![made.clone().into()])?;
    assert_eq!(direct.result(None)?.decode::<u64>()?, digest);
    assert_eq!(child.result(None)?.decode::<u64>()?, digest);
    let reference = made.result(None)?;
    assert!(
        Transformer::reference_key(&reference).is_some(),
        "the result is a reference"
    );
    let resolved: serde_bytes::ByteBuf = transformer.resolve(&reference)?.decode()?;
    assert_eq!(resolved.as_ref(), expected.as_slice());
    // A small value is passed by value.
    let small = run.submit("add", vec![arg(1), arg(1)])?;
    assert_eq!(small.result(None)?.decode::<i64>()?, 2);
    // The futures keep the engine, and so the executor, alive.
    drop((direct, made, child, small, reference));
    let (records, executor) = run.finish()?;
    assert_eq!(records.len(), 4);
    for r in &records {
        let e = r.execution.as_ref().context("executed")?;
        assert!(e.input_transform_end_time >= e.input_transform_start_time);
        assert!(e.result_transform_end_time >= e.result_transform_start_time);
    }
    drop(executor);
    let left = std::fs::read_dir(store_dir.path())?.count();
    assert_eq!(
        left, 0,
        "the run's objects are evicted when the executor is dropped"
    );
    Ok(())
}

#[test]
fn redis_restarted_mid_run_loses_no_task() -> Result<()> {
    let mut redis = RedisServer::start(true)?;
    let _a = WorkerProcess::start(&redis.url(), "a", 2, "2")?;
    let _b = WorkerProcess::start(&redis.url(), "b", 2, "2")?;
    let run = Run::new(&redis.url(), |b| b)?;
    let mut chain = run.submit("add", vec![arg(0), arg(1)])?;
    let mut all = vec![chain.clone()];
    for _ in 0..30 {
        chain = run.submit("add", vec![chain.clone().into(), arg(1)])?;
        all.push(chain.clone());
        all.push(run.submit("sleep", vec![arg(0.02)])?);
    }
    eventually("some tasks to finish", || {
        Ok(run.engine.stats().completed >= 5)
    })?;
    redis.restart()?;
    assert_eq!(chain.result(None)?.decode::<i64>()?, 31);
    for f in &all {
        f.result(None)?;
    }
    let (records, _) = run.finish()?;
    assert_eq!(records.len(), all.len());
    Ok(())
}

#[test]
fn unreachable_redis_is_a_clear_error() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmtaps"))
        .args(["worker", "--redis", &format!("redis://127.0.0.1:{port}")])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot reach Redis at"), "{stderr}");
    Ok(())
}
