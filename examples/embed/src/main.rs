//! Embedding wasmtaps: a small task graph (a diamond of `add` tasks from the example task
//! module) run by an engine on worker threads, then by one on worker processes, which are
//! this same program started again with the argument `worker-process`.
//!
//! Run: `cargo run --release -p wasmtaps-example-embed`
//! (the task module is built from `examples/tasks` by `wasmtaps-example-artifacts`).

use anyhow::Result;
use wasmtaps::{Arg, Engine, Runtime, Task, WorkerCommand};

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("worker-process") {
        // Started by the engine below: run the tasks it sends over stdin/stdout.
        return Ok(wasmtaps::serve_worker_process(Runtime::new()?)?);
    }
    for on_processes in [false, true] {
        let runtime = Runtime::new()?;
        let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
        let add = module.task("add")?;
        let mut engine = Engine::builder(runtime).workers(2);
        if on_processes {
            let this_program = std::env::current_exe()?;
            engine = engine.worker_processes(WorkerCommand::new(this_program, ["worker-process"]));
        }
        let value = diamond(&engine.build()?, &add)?;
        let on = if on_processes {
            "worker processes"
        } else {
            "worker threads"
        };
        println!("on {on}: add(add(1, 2), add(add(1, 2), 10)) = {value}");
    }
    Ok(())
}

/// `top = add(1, 2)`, `left = add(top, 10)`, `bottom = add(top, left)`: a future passed as
/// an argument makes its task a parent, whose value the child gets.
fn diamond(engine: &Engine, add: &Task) -> Result<i64> {
    let number = |n: i64| Arg::encode(&n);
    let top = engine.submit(add, vec![number(1)?, number(2)?], vec![]);
    let left = engine.submit(add, vec![top.clone().into(), number(10)?], vec![]);
    let bottom = engine.submit(add, vec![top.into(), left.into()], vec![]);
    Ok(bottom.result(None)?.decode()?)
}
