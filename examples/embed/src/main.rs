//! Embedding wasmtaps: a diamond of tasks, run on threads of this process and then on
//! worker processes (this same program, started with `--serve`), each task recorded.
//!
//! `cargo run --release -p wasmtaps-example-embed`

use std::sync::Arc;

use wasmtaps::remote::serve_worker_process;
use wasmtaps::{
    Arg, Engine, ProcessExecutor, RecordCollector, RecordSink, Runtime, TaskModule, WorkerCommand,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    // A worker process serves jobs on stdin and stdout until its engine closes them.
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return Ok(serve_worker_process(Runtime::new()?)?);
    }
    let runtime = Runtime::new()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;

    let threads = Engine::builder(runtime.clone()).workers(2);
    println!("threads:          {}", diamond(threads, &module)?);

    let serve = WorkerCommand::new(std::env::current_exe()?, ["--serve"]);
    let processes = ProcessExecutor::new(serve, 2)?;
    let in_processes = Engine::builder(runtime).executor(Arc::new(processes));
    println!("worker processes: {}", diamond(in_processes, &module)?);
    Ok(())
}

/// add(1, 2) feeds add(·, 10) and add(·, 20), which feed add(·, ·): 36, in four records.
fn diamond(builder: wasmtaps::engine::EngineBuilder, module: &TaskModule) -> Result<i64> {
    let records = RecordCollector::new();
    let engine = builder
        .record_sink(RecordSink::Memory(records.clone()))
        .build()?;
    let add = module.task("add")?;
    let top = engine.submit(&add, vec![Arg::encode(&1)?, Arg::encode(&2)?], vec![]);
    let left = engine.submit(&add, vec![top.clone().into(), Arg::encode(&10)?], vec![]);
    let right = engine.submit(&add, vec![top.into(), Arg::encode(&20)?], vec![]);
    let bottom = engine.submit(&add, vec![left.into(), right.into()], vec![]);
    let value = bottom.result(None)?.decode::<i64>()?;
    engine.shutdown(true, false);
    let records = records.records();
    assert_eq!(records.len(), 4, "every task is recorded once");
    assert!(records.iter().all(|r| r.success == Some(true)));
    assert_eq!(value, 36);
    Ok(value)
}
