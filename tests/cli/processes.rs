//! The engine with worker processes (`wasmtaps worker-process`) instead of threads.

use anyhow::Result;
use std::sync::Arc;

use wasmtaps::{Arg, Engine, ProcessExecutor, RecordCollector, RecordSink, Runtime, WorkerCommand};

use crate::support::WASMTAPS;

fn worker_command() -> WorkerCommand {
    WorkerCommand::new(WASMTAPS, ["worker-process", "--cache-dir", "none"])
}

#[test]
fn a_workflow_runs_in_worker_processes_with_its_records() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let add = module.task("add")?;
    let sum = module.task("sum_list")?;
    let fail = module.task("parse_int")?;
    let records = RecordCollector::new();
    let engine = Engine::builder(runtime)
        .executor(Arc::new(ProcessExecutor::new(worker_command(), 2)?))
        .record_sink(RecordSink::Memory(records.clone()))
        .build()?;
    // A diamond: one root, three children on it, a sum over them (a list of futures).
    let root = engine.submit(&add, vec![Arg::encode(&1)?, Arg::encode(&2)?], vec![]);
    let mut middle = Vec::new();
    for i in 0..3 {
        middle.push(engine.submit(&add, vec![root.clone().into(), Arg::encode(&i)?], vec![]));
    }
    let total = engine.submit(
        &sum,
        vec![Arg::List(middle.iter().map(Arg::from).collect())],
        vec![],
    );
    assert_eq!(total.result(None)?.decode::<i64>()?, 3 * 3 + 3);
    // Keyword arguments and failures cross the process boundary too.
    let by_name = engine.submit(
        &add,
        vec![],
        vec![
            ("b".into(), Arg::encode(&2)?),
            ("a".into(), Arg::encode(&40)?),
        ],
    );
    assert_eq!(by_name.result(None)?.decode::<i64>()?, 42);
    let failed = engine.submit(&fail, vec![Arg::encode("x")?], vec![]);
    let child = engine.submit(&add, vec![failed.clone().into(), Arg::encode(&1)?], vec![]);
    let error = failed.exception(None)?.expect("parse_int(\"x\") fails");
    assert_eq!(error.type_name(), "ParseIntError");
    assert!(
        child
            .exception(None)?
            .is_some_and(|e| e.is_dependency_failure())
    );
    engine.shutdown(true, false);
    let records = records.records();
    assert_eq!(records.len(), 8, "every task recorded once");
    let executed: Vec<_> = records
        .iter()
        .filter_map(|r| r.execution.as_ref())
        .collect();
    assert_eq!(executed.len(), 7, "all but the dependency failure ran");
    assert!(
        executed
            .iter()
            .all(|e| !e.hostname.is_empty() && e.task_end_time >= e.task_start_time)
    );
    let total_record = records
        .iter()
        .find(|r| r.task_id == total.task_id())
        .expect("sum recorded");
    assert_eq!(
        total_record.parent_task_ids,
        middle
            .iter()
            .map(|f| f.task_id().to_owned())
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn limits_and_deadlines_apply_in_worker_processes() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let engine = Engine::builder(runtime)
        .executor(Arc::new(ProcessExecutor::new(worker_command(), 1)?))
        .build()?;
    let limits = wasmtaps::LimitOverrides {
        timeout: Some(std::time::Duration::from_millis(50)),
        memory_bytes: Some(8 << 20),
        ..Default::default()
    };
    let spin = engine.submit_with(
        &module.task("spin")?,
        vec![Arg::encode(&u64::MAX)?],
        vec![],
        &limits,
    );
    let alloc = engine.submit_with(
        &module.task("alloc_bytes")?,
        vec![Arg::encode(&(64u64 << 20))?],
        vec![],
        &limits,
    );
    let fine = engine.submit_with(
        &module.task("add")?,
        vec![Arg::encode(&1)?, Arg::encode(&1)?],
        vec![],
        &limits,
    );
    assert!(spin.exception(None)?.is_some_and(|e| e.is_timeout()));
    assert_eq!(
        alloc
            .exception(None)?
            .map(|e| e.type_name().to_owned())
            .as_deref(),
        Some("MemoryLimitExceeded")
    );
    assert_eq!(fine.result(None)?.decode::<i64>()?, 2);
    Ok(())
}

#[test]
fn a_worker_command_that_cannot_start_fails_the_build() {
    let err = ProcessExecutor::new(
        WorkerCommand::new("/nonexistent/wasmtaps", ["worker-process"]),
        2,
    )
    .expect_err("no such program");
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_dying_worker_process_fails_its_tasks_not_the_engine() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let add = module.task("add")?;
    // A "worker" that reads a little of the first request and exits.
    let records = RecordCollector::new();
    let engine = Engine::builder(runtime)
        .executor(Arc::new(ProcessExecutor::new(
            WorkerCommand::new("sh", ["-c", "head -c 8 >/dev/null; exit 3"]),
            1,
        )?))
        .record_sink(RecordSink::Memory(records.clone()))
        .build()?;
    let futures: Vec<_> = (0..5)
        .map(|_| {
            engine.submit(
                &add,
                vec![
                    Arg::Value(wasmtaps::Value::nil()),
                    Arg::Value(wasmtaps::Value::nil()),
                ],
                vec![],
            )
        })
        .collect();
    for f in &futures {
        let error = f.exception(None)?.expect("the worker died");
        assert_eq!(error.type_name(), "HostError", "{error}");
        assert!(error.message().contains("worker process"), "{error}");
    }
    engine.shutdown(true, false);
    assert_eq!(records.records().len(), 5, "failed tasks are recorded too");
    Ok(())
}

#[test]
fn a_worker_process_declaring_a_huge_reply_fails_its_task_without_the_engine_allocating_it()
-> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let add = module.task("add")?;
    // A "worker" that answers with a frame declaring 4 GiB - 1 bytes, then reads its
    // input for ever.
    let engine = Engine::builder(runtime)
        .executor(Arc::new(ProcessExecutor::new(
            WorkerCommand::new(
                "sh",
                ["-c", r"printf '\377\377\377\377'; exec cat >/dev/null"],
            ),
            1,
        )?))
        .build()?;
    let future = engine.submit(&add, vec![Arg::encode(&1)?, Arg::encode(&2)?], vec![]);
    let error = future.exception(None)?.expect("the reply is refused");
    assert_eq!(error.type_name(), "HostError", "{error}");
    assert!(error.message().contains("worker process"), "{error}");
    engine.shutdown(true, false);
    Ok(())
}

/// `--deadline-mode process`: the worker runs wasm without epoch checks, so only the
/// engine's watchdog can stop an endless loop.
#[test]
fn an_endless_task_in_deadline_mode_process_is_killed_as_a_timeout_and_its_neighbours_run()
-> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let records = RecordCollector::new();
    let engine = Engine::builder(runtime)
        .executor(Arc::new(ProcessExecutor::with_deadline_watchdog(
            WorkerCommand::new(
                WASMTAPS,
                [
                    "worker-process",
                    "--cache-dir",
                    "none",
                    "--deadline-mode",
                    "process",
                ],
            ),
            1,
        )?))
        .record_sink(RecordSink::Memory(records.clone()))
        .build()?;
    let limits = wasmtaps::LimitOverrides {
        timeout: Some(std::time::Duration::from_millis(200)),
        ..Default::default()
    };
    let add = module.task("add")?;
    let adds = |from: i64| -> Result<Vec<_>> {
        (from..from + 5)
            .map(|i| {
                Ok(engine.submit_with(
                    &add,
                    vec![Arg::encode(&i)?, Arg::encode(&1)?],
                    vec![],
                    &limits,
                ))
            })
            .collect()
    };
    // Tasks before the endless one, and after it in the same worker's window: those
    // after are in flight when the worker is killed, and must run in its replacement.
    let before = adds(0)?;
    // 2^64 - 1 xorshift rounds: a while(1) for any test's lifetime.
    let endless = engine.submit_with(
        &module.task("spin")?,
        vec![Arg::encode(&u64::MAX)?],
        vec![],
        &limits,
    );
    let after = adds(100)?;
    // Only keeps a broken build from hanging.
    let anti_hang = Some(std::time::Duration::from_secs(120));
    let error = endless
        .exception(anti_hang)?
        .expect("the endless task fails");
    assert!(error.is_timeout(), "{error}");
    assert!(
        error
            .message()
            .contains("worker process was killed at the deadline"),
        "the watchdog, not the worker, stopped it: {error}"
    );
    for (i, f) in (0..).zip(&before).chain((100..).zip(&after)) {
        let sum = f
            .result(anti_hang)
            .map_err(|e| anyhow::anyhow!("add({i}, 1): {e}"))?;
        assert_eq!(sum.decode::<i64>()?, i + 1);
    }
    // A task submitted after the kill runs in the replacement process.
    let later = adds(200)?;
    for (i, f) in (200..).zip(&later) {
        assert_eq!(f.result(anti_hang)?.decode::<i64>()?, i + 1);
    }
    engine.shutdown(true, false);
    assert_eq!(records.records().len(), 16, "every task recorded once");
    Ok(())
}
