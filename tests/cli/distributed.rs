//! The Redis executor against a real `redis-server` (started per test on a free port)
//! and real `wasmtaps worker` processes: dependencies across workers, a worker killed
//! with SIGKILL, a worker hung past its lease, a poison task, a large argument passed by
//! reference, and Redis restarted mid-run.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use wasmtaps::remote::{DirectoryStore, Filter, Transformer};
use wasmtaps::{
    Arg, Engine, RecordCollector, RecordSink, RedisExecutor, Runtime, TaskFuture, TaskInfo,
    TaskModule, Value,
};

use crate::support::{self, RedisServer, WASMTAPS, eventually, free_port};

/// The secret the engine and the workers of these tests share.
const SECRET: &str = "distributed-test-secret-0123456789";

/// A `wasmtaps worker` process, killed on drop.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(url: &str, name: &str, threads: usize, lease: &str) -> Result<WorkerProcess> {
        WorkerProcess::start_with(url, name, threads, lease, &[])
    }

    fn start_with_args(
        url: &str,
        name: &str,
        threads: usize,
        lease: &str,
        args: &[&str],
    ) -> Result<WorkerProcess> {
        WorkerProcess::spawn(url, name, threads, lease, &[], args)
    }

    fn start_with(
        url: &str,
        name: &str,
        threads: usize,
        lease: &str,
        env: &[(&str, &str)],
    ) -> Result<WorkerProcess> {
        WorkerProcess::spawn(url, name, threads, lease, env, &[])
    }

    fn spawn(
        url: &str,
        name: &str,
        threads: usize,
        lease: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<WorkerProcess> {
        let child = Command::new(WASMTAPS)
            .args(["worker", "--redis", url, "--name", name, "--lease", lease])
            .args(["--workers", &threads.to_string()])
            .args(args)
            .env(wasmtaps::remote::SECRET_ENV, SECRET)
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
        configure: impl FnOnce(
            wasmtaps::remote::RedisExecutorBuilder,
        ) -> wasmtaps::remote::RedisExecutorBuilder,
    ) -> Result<Run> {
        let runtime = Runtime::new()?;
        let module = runtime.load_bytes(
            "wasmtaps_example_tasks",
            wasmtaps_example_artifacts::TASKS_WASM_BYTES,
        )?;
        let builder = RedisExecutor::builder(url).secret(wasmtaps::remote::Secret::new(SECRET)?);
        let executor = Arc::new(configure(builder).build()?);
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
            let env = [("WASMTAPS_TEST_ABORT_ON_TASK", "greet")];
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
    let store_dir = tempfile::tempdir()?;
    let store = format!("dir:{}", store_dir.path().display());
    let _a = WorkerProcess::start_with_args(&redis.url(), "a", 1, "5", &["--store", &store])?;
    let _b = WorkerProcess::start_with_args(&redis.url(), "b", 1, "5", &["--store", &store])?;
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
    let port = free_port()?;
    let out = Command::new(WASMTAPS)
        .args(["worker", "--redis", &format!("redis://127.0.0.1:{port}")])
        .env(wasmtaps::remote::SECRET_ENV, SECRET)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot reach Redis at"), "{stderr}");
    Ok(())
}

/// `{"ok": value}` as a guest returns it.
fn ok_envelope(value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x81, 0xa2, b'o', b'k'];
    out.extend_from_slice(value);
    out
}

/// A reference to `key` as the transformer writes one (MessagePack ext 8, type 0x57).
fn forged_reference(key: &str) -> Vec<u8> {
    let mut out = vec![0xc7, key.len() as u8, wasmtaps::remote::REFERENCE_EXT as u8];
    out.extend_from_slice(key.as_bytes());
    out
}

#[test]
fn forged_references_are_never_resolved() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let store_dir = tempfile::tempdir()?;
    let secret = "planted-secret-contents-0123456789";
    std::fs::write(store_dir.path().join("planted"), secret)?;
    let fifo = store_dir.path().join("fifo");
    ensure!(
        Command::new("mkfifo").arg(&fifo).status()?.success(),
        "mkfifo"
    );
    let store = format!("dir:{}", store_dir.path().display());
    let _w = WorkerProcess::start_with_args(&redis.url(), "w", 2, "5", &["--store", &store])?;
    let transformer = Transformer::new(
        Arc::new(DirectoryStore::new(store_dir.path())?),
        Filter::larger_than(16),
    );
    let run = Run::new(&redis.url(), |b| b.transformer(transformer.clone()))?;
    let runtime = Runtime::new()?;
    let keys = [
        "/etc/passwd",
        "../../etc/passwd",
        "/dev/zero",
        "planted",
        "fifo",
    ];
    let mut tasks: Vec<(String, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("forge{i}"), ok_envelope(&forged_reference(k))))
        .collect();
    // The same inside a list, where a list argument's references are resolved.
    let mut list = vec![0x92];
    list.extend(forged_reference("planted"));
    list.extend(forged_reference("fifo"));
    tasks.push(("forge_list".into(), ok_envelope(&list)));
    let named: Vec<(&str, Vec<u8>)> = tasks.iter().map(|(n, r)| (n.as_str(), r.clone())).collect();
    let forger = support::forger_module(&runtime, &named)?;
    let limit = Some(Duration::from_secs(120));
    for (name, _) in &tasks {
        let parent = run.engine.submit(&forger.task(name)?, vec![], vec![]);
        let child = run.submit("byte_len", vec![parent.clone().into()])?;
        let error = parent
            .exception(limit)?
            .context("a forged reference fails its task")?;
        assert_eq!(error.type_name(), "HostError", "{name}: {error}");
        assert!(error.message().contains("reserved"), "{name}: {error}");
        let error = child.exception(limit)?.context("the child never runs")?;
        assert_eq!(error.type_name(), "DependencyError", "{name}: {error}");
    }
    // A client's own reference-shaped argument is a literal value, not a reference.
    for key in ["planted", "fifo", "/etc/passwd"] {
        let forged = Value::from_msgpack(forged_reference(key))?;
        let child = run.submit("byte_len", vec![Arg::Value(forged.clone())])?;
        let error = child
            .exception(limit)?
            .context("a literal ext value is no ByteBuf")?;
        assert_eq!(error.type_name(), "ArgumentError", "{key}: {error}");
        // And the caller's transformer does not resolve what it did not mint.
        assert_eq!(transformer.resolve(&forged)?, forged);
    }
    let (records, _) = run.finish()?;
    let text = serde_json::to_string(&records)?;
    assert!(
        !text.contains(secret),
        "a planted object leaked into a record"
    );
    assert!(!text.contains("root:"), "a host file leaked into a record");
    Ok(())
}

#[test]
fn substituted_module_bytes_are_never_run() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let run = Run::new(&redis.url(), |b| b)?;
    let key = format!("wasmtaps:module:{}", run.module.hash());
    // A module whose `add` answers 666, planted under the real module's hash.
    let fake = support::forger_module(
        &Runtime::new()?,
        &[("add", ok_envelope(&[0xcd, 0x02, 0x9a]))],
    )?;
    let mut conn = redis.connection()?;
    let plant = |conn: &mut redis::Connection, bytes: &[u8]| -> Result<()> {
        redis::cmd("SET").arg(&key).arg(bytes).query::<()>(conn)?;
        Ok(())
    };
    // Planted before the engine stores the module: the engine's bytes replace it.
    plant(&mut conn, fake.wasm_bytes())?;
    let limit = Some(Duration::from_secs(120));
    let first = WorkerProcess::start(&redis.url(), "first", 1, "5")?;
    assert_eq!(
        run.submit("add", vec![arg(2), arg(3)])?
            .result(limit)?
            .decode::<i64>()?,
        5
    );
    drop(first);
    // Replaced after the engine stored it: a worker that fetches it refuses to run it.
    plant(&mut conn, fake.wasm_bytes())?;
    let _second = WorkerProcess::start(&redis.url(), "second", 1, "5")?;
    let refused = run.submit("add", vec![arg(2), arg(3)])?;
    let error = refused
        .exception(limit)?
        .context("substituted bytes never run")?;
    assert_eq!(error.type_name(), "HostError", "{error}");
    assert!(error.message().contains("hashes to"), "{error}");
    // Nothing was cached under the claimed hash: with the real bytes back, it runs.
    plant(&mut conn, run.module.wasm_bytes())?;
    let after = run.submit("add", vec![arg(2), arg(3)])?;
    assert_eq!(after.result(limit)?.decode::<i64>()?, 5);
    drop((refused, after));
    run.finish()?;
    Ok(())
}

/// Every bulk string in a reply, depth first.
fn bulk_strings(value: &redis::Value) -> Vec<Vec<u8>> {
    match value {
        redis::Value::BulkString(b) => vec![b.clone()],
        redis::Value::Array(items) => items.iter().flat_map(bulk_strings).collect(),
        _ => vec![],
    }
}

/// Adds a raw entry to the job stream, as anyone who can reach Redis can.
fn xadd(conn: &mut redis::Connection, stream: &str, fields: &[(&str, &[u8])]) -> Result<()> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (name, value) in fields {
        cmd.arg(*name).arg(*value);
    }
    cmd.query::<String>(conn)?;
    Ok(())
}

fn pending_jobs(conn: &mut redis::Connection) -> Result<i64> {
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("wasmtaps:jobs")
        .arg("workers")
        .query(conn)?;
    match pending {
        redis::Value::Array(p) => match p.first() {
            Some(redis::Value::Int(n)) => Ok(*n),
            other => bail!("XPENDING: {other:?}"),
        },
        other => bail!("XPENDING: {other:?}"),
    }
}

/// Waits for the engine's one job to reach the job stream, and returns its message.
fn the_only_job(conn: &mut redis::Connection) -> Result<Vec<u8>> {
    eventually("the job to be sent", || {
        let jobs: i64 = redis::cmd("XLEN").arg("wasmtaps:jobs").query(conn)?;
        Ok(jobs == 1)
    })?;
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg("wasmtaps:jobs")
        .arg("-")
        .arg("+")
        .query(conn)?;
    bulk_strings(&entries).pop().context("the job's message")
}

/// The most times any pending job has been delivered.
fn most_deliveries(conn: &mut redis::Connection) -> Result<i64> {
    let rows: redis::Value = redis::cmd("XPENDING")
        .arg("wasmtaps:jobs")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(10)
        .query(conn)?;
    let mut most = 0;
    if let redis::Value::Array(rows) = rows {
        for row in rows {
            if let redis::Value::Array(row) = row
                && let Some(redis::Value::Int(n)) = row.get(3)
            {
                most = most.max(*n);
            }
        }
    }
    Ok(most)
}

#[test]
fn junk_job_entries_are_dropped_not_reclaimed_for_ever() -> Result<()> {
    let redis = RedisServer::start(false)?;
    // The engine creates the group; the junk goes in before any worker reads.
    let run = Run::new(&redis.url(), |b| b)?;
    let mut conn = redis.connection()?;
    xadd(&mut conn, "wasmtaps:jobs", &[("x", b"no m field")])?;
    xadd(&mut conn, "wasmtaps:jobs", &[("m", b"\xc1 not msgpack")])?;
    xadd(&mut conn, "wasmtaps:jobs", &[("m", b"\x80")])?;
    let _w = WorkerProcess::start(&redis.url(), "w", 1, "0.3")?;
    let fine = run.submit("add", vec![arg(2), arg(3)])?;
    assert_eq!(
        fine.result(Some(Duration::from_secs(120)))?
            .decode::<i64>()?,
        5
    );
    eventually("every junk entry to be acknowledged", || {
        Ok(pending_jobs(&mut conn)? == 0)
    })?;
    drop(fine);
    run.finish()?;
    Ok(())
}

#[test]
fn an_answer_that_cannot_be_written_is_not_acknowledged_and_the_engine_gives_up() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let run = Run::new(&redis.url(), |b| {
        b.max_deliveries(2).lost_after(Duration::from_secs(2))
    })?;
    let timeout = wasmtaps::LimitOverrides {
        timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let future = run.engine.submit_with(
        &run.module.task("add")?,
        vec![arg(2), arg(3)],
        vec![],
        &timeout,
    );
    // The attacker turns the engine's result stream into a string, so no answer can be
    // written to it.
    let mut conn = redis.connection()?;
    let job = the_only_job(&mut conn)?;
    let needle = b"wasmtaps:results:";
    let start = job
        .windows(needle.len())
        .position(|w| w == needle)
        .context("the job names its stream")?;
    let stream = String::from_utf8(job[start..start + needle.len() + 32].to_vec())?;
    redis::cmd("SET")
        .arg(&stream)
        .arg("x")
        .query::<()>(&mut conn)?;
    let _w = WorkerProcess::start(&redis.url(), "w", 1, "0.3")?;
    // The answer could not be written, so the job was not acknowledged: once its lease
    // runs out it is delivered again.
    eventually("the unanswered job to be delivered again", || {
        Ok(most_deliveries(&mut conn)? >= 2)
    })?;
    let error = future
        .exception(Some(Duration::from_secs(120)))?
        .context("the task is lost")?;
    assert_eq!(error.type_name(), "LostTask", "{error}");
    // It dropped the job only after its PoisonTask answer could not be written either.
    eventually(
        "the job to be dropped",
        || Ok(pending_jobs(&mut conn)? == 0),
    )?;
    drop(future);
    run.finish()?;
    Ok(())
}

#[test]
fn a_worker_without_a_secret_refuses_to_start_unless_told_insecure() -> Result<()> {
    let port = free_port()?;
    let url = format!("redis://127.0.0.1:{port}");
    let worker = |args: &[&str]| -> Result<(Option<i32>, String)> {
        let out = Command::new(WASMTAPS)
            .args(["worker", "--redis", &url])
            .args(args)
            .env_remove(wasmtaps::remote::SECRET_ENV)
            .output()?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    let (code, stderr) = worker(&[])?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--secret-file") && stderr.contains("--insecure"),
        "{stderr}"
    );
    // A secret file others can read is refused.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("secret");
    std::fs::write(&file, SECRET)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let path = file.display().to_string();
    let (code, stderr) = worker(&["--secret-file", &path])?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    // With --insecure it starts (and only then finds no Redis), saying so loudly.
    let (code, stderr) = worker(&["--insecure"])?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("WITHOUT AUTHENTICATION"), "{stderr}");
    assert!(stderr.contains("cannot reach Redis at"), "{stderr}");
    // The engine side likewise, from the library and from `wasmtaps run`.
    let error = RedisExecutor::builder(url.as_str())
        .build()
        .expect_err("no secret");
    assert!(
        matches!(error, wasmtaps::remote::DistributedError::NoSecret),
        "{error}"
    );
    let out = Command::new(WASMTAPS)
        .args([
            "run",
            "synthetic",
            "--task-count",
            "1",
            "--executor",
            "redis",
        ])
        .args(["--redis", &url, "--run-dir"])
        .arg(dir.path().join("run"))
        .env_remove(wasmtaps::remote::SECRET_ENV)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("--secret-file"), "{stderr}");
    Ok(())
}

#[test]
fn forged_jobs_and_replies_are_ignored() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let store_dir = tempfile::tempdir()?;
    let transformer = Transformer::new(
        Arc::new(DirectoryStore::new(store_dir.path())?),
        Filter::larger_than(1 << 20),
    );
    let run = Run::new(&redis.url(), |b| b.transformer(transformer.clone()))?;
    let mut conn = redis.connection()?;
    let future = run.submit("add", vec![arg(2), arg(3)])?;
    let job = the_only_job(&mut conn)?;
    // The header is in the clear: tag (32 bytes), id length, id.
    let id = String::from_utf8(job[33..33 + usize::from(job[32])].to_vec())?;
    let needle = b"wasmtaps:results:";
    let start = job
        .windows(needle.len())
        .position(|w| w == needle)
        .context("the job names its stream")?;
    let stream = String::from_utf8(job[start..start + needle.len() + 32].to_vec())?;
    // A forged reply claiming the answer 666 and a stored file the engine would evict.
    let victim = store_dir.path().join(format!("result-{id}"));
    std::fs::write(&victim, "not the engine's")?;
    let body = rmpv::Value::Map(vec![
        ("id".into(), id.as_str().into()),
        ("value".into(), rmpv::Value::Binary(vec![0xcd, 0x02, 0x9a])),
        ("error".into(), rmpv::Value::Nil),
        (
            "stored".into(),
            rmpv::Value::Array(vec![format!("result-{id}").into()]),
        ),
    ]);
    let mut forged = vec![0u8; 32];
    forged.push(id.len() as u8);
    forged.extend_from_slice(id.as_bytes());
    rmpv::encode::write_value(&mut forged, &body)?;
    xadd(&mut conn, &stream, &[("m", &forged)])?;
    // A forged job: a real module and task, answering on a stream of the attacker's.
    let mut forged_job = job.clone();
    let attacker_stream = format!("wasmtaps:results:{}", "a".repeat(32));
    forged_job[start..start + needle.len() + 32].copy_from_slice(attacker_stream.as_bytes());
    xadd(&mut conn, "wasmtaps:jobs", &[("m", &forged_job)])?;
    let executor = run.executor.clone();
    eventually("the forged reply to be dropped", || {
        Ok(executor.replies_dropped() >= 1)
    })?;
    let _w = WorkerProcess::start(&redis.url(), "w", 1, "5")?;
    let limit = Some(Duration::from_secs(120));
    assert_eq!(future.result(limit)?.decode::<i64>()?, 5);
    eventually("the forged job to be dropped", || {
        Ok(pending_jobs(&mut conn)? == 0)
    })?;
    let answered: i64 = redis::cmd("EXISTS")
        .arg(&attacker_stream)
        .query(&mut conn)?;
    assert_eq!(answered, 0, "the forged job ran");
    drop(future);
    drop(run.finish()?);
    drop(executor);
    assert!(victim.exists(), "a forged reply's stored list was evicted");
    Ok(())
}

#[test]
fn an_acl_user_limited_to_the_wasmtaps_keys_runs_a_workflow() -> Result<()> {
    let redis = RedisServer::start(false)?;
    let mut admin = redis.connection()?;
    // The ACL docs/security.md recommends.
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("wasmtaps")
        .arg("on")
        .arg(">acl-test-password")
        .arg("~wasmtaps:*")
        .arg("resetchannels")
        .arg("-@all")
        .arg("+@stream")
        .arg("+get")
        .arg("+set")
        .arg("+del")
        .arg("+exists")
        .arg("+strlen")
        .arg("+getrange")
        .arg("+ping")
        .arg("+multi")
        .arg("+exec")
        .arg("+eval")
        .query::<()>(&mut admin)?;
    redis::cmd("SET")
        .arg("other:secret")
        .arg("x")
        .query::<()>(&mut admin)?;
    let url = format!(
        "redis://wasmtaps:acl-test-password@127.0.0.1:{}",
        redis.port
    );
    let mut limited = redis::Client::open(url.as_str())?.get_connection()?;
    let refused = redis::cmd("GET")
        .arg("other:secret")
        .query::<String>(&mut limited);
    assert!(
        refused.is_err(),
        "the ACL user reads a key outside wasmtaps:*"
    );
    let _w = WorkerProcess::start_with_args(&url, "w", 2, "5", &["--store", "redis"])?;
    let store = Arc::new(wasmtaps::remote::RedisStore::new(&url, "wasmtaps")?);
    let transformer = Transformer::new(store, Filter::larger_than(1024));
    let run = Run::new(&url, |b| b.transformer(transformer.clone()))?;
    let made = run.submit("make_bytes", vec![arg(100_000u64)])?;
    let len = run.submit("byte_len", vec![made.clone().into()])?;
    let limit = Some(Duration::from_secs(120));
    assert_eq!(len.result(limit)?.decode::<u64>()?, 100_000);
    assert!(Transformer::reference_key(&made.result(limit)?).is_some());
    drop((made, len));
    let (records, _) = run.finish()?;
    assert!(
        records.iter().all(|r| r.success == Some(true)),
        "{records:?}"
    );
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1, made with `openssl` in `dir`.
fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("openssl is not installed: run `apt-get install -y openssl`")?;
        ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=wasmtaps test CA",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "server.pem",
        "-extfile",
        "san.ext",
    ])
}

#[test]
fn a_run_and_its_workers_talk_to_redis_over_tls() -> Result<()> {
    let dir = tempfile::tempdir()?;
    make_certificates(dir.path())?;
    let port = free_port()?;
    let mut redis = Command::new("redis-server");
    redis
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-auth-clients",
            "no",
        ])
        .arg("--tls-cert-file")
        .arg(dir.path().join("server.pem"))
        .arg("--tls-key-file")
        .arg(dir.path().join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.path().join("ca.pem"))
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null());
    let mut redis = match redis.spawn() {
        Ok(child) => WorkerProcess(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("redis-server is not installed: run scripts/install-redis")
        }
        Err(e) => return Err(e.into()),
    };
    eventually("redis-server to listen", || {
        if let Some(status) = redis.0.try_wait()? {
            bail!("redis-server exited ({status}): is it built with TLS?");
        }
        Ok(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    })?;
    let url = format!("rediss://127.0.0.1:{port}");
    let ca = dir.path().join("ca.pem").display().to_string();
    let _w = WorkerProcess::start_with(&url, "tls", 2, "5", &[("SSL_CERT_FILE", &ca)])?;
    let run_dir = dir.path().join("run");
    let out = Command::new(WASMTAPS)
        .args([
            "run",
            "synthetic",
            "--structure",
            "diamond",
            "--task-count",
            "10",
        ])
        .args([
            "--warmup-tasks",
            "0",
            "--executor",
            "redis",
            "--redis",
            &url,
        ])
        .arg("--run-dir")
        .arg(&run_dir)
        .env("SSL_CERT_FILE", &ca)
        .env(wasmtaps::remote::SECRET_ENV, SECRET)
        .output()?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    let records = std::fs::read_to_string(run_dir.join("tasks.jsonl"))?;
    let records: Vec<TaskInfo> = records
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 12, "{printed}");
    assert!(records.iter().all(|r| r.success == Some(true)), "{printed}");
    // Plain text to the TLS port gets nowhere.
    let plain = Command::new(WASMTAPS)
        .args(["worker", "--redis", &format!("redis://127.0.0.1:{port}")])
        .env(wasmtaps::remote::SECRET_ENV, SECRET)
        .output()?;
    assert_eq!(plain.status.code(), Some(2));
    redis.0.kill()?;
    Ok(())
}
