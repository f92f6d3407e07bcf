//! Data by reference on the threads and processes executors, as TaPS's transformer works
//! on any executor (tests/cli/distributed.rs has the Redis executor's): values above the filter's threshold travel through the store, and the
//! security rules of the Redis executor hold (references are minted only by the host; a
//! job lists the keys the engine vouches for; a guest result shaped like a reference
//! fails its task).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use wasmtaps::remote::{DirectoryStore, Filter, Transformer};
use wasmtaps::{
    Arg, Engine, LocalExecutor, ProcessExecutor, Runtime, TaskModule, Value, WorkerCommand,
};

use crate::support::{self, WASMTAPS};

/// The executors tested: two threads, or two worker processes sharing the store.
const EXECUTORS: [&str; 2] = ["threads", "processes"];

/// An engine on `executor` passing values by reference through the directory store at
/// `store`.
fn engine(
    executor: &str,
    runtime: Runtime,
    store: &Path,
    transformer: &Transformer,
) -> Result<Engine> {
    if executor == "threads" {
        let threads = LocalExecutor::with_transformer(runtime.clone(), 2, transformer.clone())?;
        return Ok(Engine::builder(runtime)
            .executor(Arc::new(threads))
            .build()?);
    }
    let command = WorkerCommand::new(
        WASMTAPS,
        [
            "worker-process".to_owned(),
            "--cache-dir".into(),
            "none".into(),
            "--store".into(),
            format!("dir:{}", store.display()),
        ],
    );
    let executor = ProcessExecutor::with_transformer(command, 2, transformer.clone())?;
    Ok(Engine::builder(runtime)
        .executor(Arc::new(executor))
        .build()?)
}

fn stored_objects(dir: &Path) -> Result<usize> {
    Ok(std::fs::read_dir(dir)?.count())
}

#[test]
fn threads_and_worker_processes_pass_large_values_by_reference() -> Result<()> {
    for executor in EXECUTORS {
        large_values_go_by_reference(executor).with_context(|| executor.to_owned())?;
    }
    Ok(())
}

fn large_values_go_by_reference(executor: &str) -> Result<()> {
    let store = tempfile::tempdir()?;
    let transformer = Transformer::new(
        Arc::new(DirectoryStore::new(store.path())?),
        Filter::larger_than(1024),
    );
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let engine = engine(executor, runtime, store.path(), &transformer)?;
    let (make, len, sum) = (
        module.task("make_bytes")?,
        module.task("byte_len")?,
        module.task("sum_list")?,
    );
    let big = engine.submit(&make, vec![Arg::encode(&100_000u64)?], vec![]);
    let small = engine.submit(&make, vec![Arg::encode(&10u64)?], vec![]);
    // A large result comes back as a reference the worker stored; a small one as itself.
    let reference = big.result(None)?;
    ensure!(Transformer::reference_key(&reference).is_some());
    ensure!(Transformer::reference_key(&small.result(None)?).is_none());
    ensure!(stored_objects(store.path())? >= 1);
    let bytes: serde_bytes::ByteBuf = transformer.resolve(&reference)?.decode()?;
    ensure!(bytes.len() == 100_000 && bytes[300] == (300 % 251) as u8);
    // Children resolve the reference in their worker (the job vouches for its key),
    // alone and as items of a list of parents' results.
    let lengths: Vec<_> = (0..3)
        .map(|_| engine.submit(&len, vec![big.clone().into()], vec![]))
        .collect();
    let total = engine.submit(
        &sum,
        vec![Arg::List(lengths.iter().map(Arg::from).collect())],
        vec![],
    );
    ensure!(total.result(None)?.decode::<u64>()? == 300_000);
    // An argument the caller passes above the threshold is stored before the job goes.
    let literal = Arg::encode(&serde_bytes::ByteBuf::from(vec![7u8; 5000]))?;
    let from_caller = engine.submit(&len, vec![literal], vec![]);
    ensure!(from_caller.result(None)?.decode::<u64>()? == 5000);
    engine.shutdown(true, false);
    drop(engine);
    ensure!(
        stored_objects(store.path())? == 0,
        "the run's objects are evicted when its executor is dropped"
    );
    Ok(())
}

/// A reference to `key` as the transformer writes one (MessagePack ext 8, type 0x57).
fn forged_reference(key: &str) -> Vec<u8> {
    let mut out = vec![0xc7, key.len() as u8, wasmtaps::remote::REFERENCE_EXT as u8];
    out.extend_from_slice(key.as_bytes());
    out
}

/// A hostile module: each task returns `{"ok": <its bytes>}`.
fn forger(runtime: &Runtime, tasks: &[(String, Vec<u8>)]) -> Result<TaskModule> {
    let envelopes: Vec<(&str, Vec<u8>)> = tasks
        .iter()
        .map(|(name, value)| {
            let mut result = vec![0x81, 0xa2, b'o', b'k'];
            result.extend_from_slice(value);
            (name.as_str(), result)
        })
        .collect();
    support::forger_module(runtime, &envelopes)
}

#[test]
fn forged_references_are_never_resolved_on_threads_and_worker_processes() -> Result<()> {
    for executor in EXECUTORS {
        forged_references_fail(executor).with_context(|| executor.to_owned())?;
    }
    Ok(())
}

fn forged_references_fail(executor: &str) -> Result<()> {
    let store = tempfile::tempdir()?;
    let secret = "planted-secret-contents-0123456789";
    std::fs::write(store.path().join("planted"), secret)?;
    let transformer = Transformer::new(
        Arc::new(DirectoryStore::new(store.path())?),
        Filter::larger_than(16),
    );
    let runtime = Runtime::new()?;
    let tasks_module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let byte_len = tasks_module.task("byte_len")?;
    let mut tasks: Vec<(String, Vec<u8>)> = ["/etc/passwd", "../../etc/passwd", "planted"]
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("forge{i}"), forged_reference(k)))
        .collect();
    let mut list = vec![0x92];
    list.extend(forged_reference("planted"));
    list.extend(forged_reference("result-x"));
    tasks.push(("forge_list".into(), list));
    let module = forger(&runtime, &tasks)?;
    let engine = engine(executor, runtime, store.path(), &transformer)?;
    let limit = Some(Duration::from_secs(120));
    for (name, _) in &tasks {
        let parent = engine.submit(&module.task(name)?, vec![], vec![]);
        let child = engine.submit(&byte_len, vec![parent.clone().into()], vec![]);
        let error = parent
            .exception(limit)?
            .context("a forged reference fails its task")?;
        ensure!(error.type_name() == "HostError", "{name}: {error}");
        ensure!(error.message().contains("reserved"), "{name}: {error}");
        let error = child.exception(limit)?.context("the child never runs")?;
        ensure!(error.is_dependency_failure(), "{name}: {error}");
    }
    // A caller's own reference-shaped argument is a literal value, never resolved.
    let forged = Value::from_msgpack(forged_reference("planted"))?;
    let child = engine.submit(&byte_len, vec![Arg::Value(forged.clone())], vec![]);
    let error = child
        .exception(limit)?
        .context("a literal ext value is no ByteBuf")?;
    ensure!(error.type_name() == "ArgumentError", "{error}");
    ensure!(!error.message().contains(secret), "{error}");
    ensure!(transformer.resolve(&forged)? == forged);
    engine.shutdown(true, false);
    Ok(())
}

#[test]
fn run_passes_data_by_reference_on_threads_and_processes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = tmp.path().join("store");
    let store_flag = format!("dir:{}", store.display());
    let run = |executor: &str, dir: &str| {
        crate::support::wasmtaps_in(
            tmp.path(),
            [
                "run",
                "mapreduce",
                "--generate",
                "--map-tasks",
                "3",
                "--executor",
                executor,
                "--transform-threshold",
                "100",
                "--store",
                &store_flag,
                "--run-dir",
                dir,
                "--progress",
                "none",
            ],
        )
    };
    let mut tops = Vec::new();
    for executor in EXECUTORS {
        let out = run(executor, executor);
        let printed = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.code() == Some(0),
            "{executor}: {printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(printed.contains("words"), "{printed}");
        tops.push(std::fs::read_to_string(
            tmp.path().join(executor).join("top_words.txt"),
        )?);
        ensure!(
            std::fs::read_dir(&store)?.count() == 0,
            "{executor}: evicted"
        );
    }
    ensure!(tops[0] == tops[1] && !tops[0].is_empty(), "{tops:?}");
    Ok(())
}
