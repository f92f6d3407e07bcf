//! Engine overhead: no-op tasks, each in a fresh instance.
//!
//! Run with `cargo bench -p wasmtaps --bench engine` (add `-- N` for N tasks per run).
//! Prints the runtime's own invocation cost, the engine's throughput with 1 and 2 worker
//! threads, the parent→child hop of a sequential chain, and raw invocation throughput on
//! 2 threads against 2 processes.

use std::time::{Duration, Instant};

use wasmtaps::{
    Arg, Args, Engine, InvokeOptions, RecordCollector, RecordSink, Runtime, Task, TaskInfo,
};

const NOOP: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (data (i32.const 16) "\81\a2ok\c0")
  (func (export "wasmtaps_task_noop") (param i32 i32) (result i64)
    (i64.const 0x0000001000000005)))"#;

const CHILD_ENV: &str = "WASMTAPS_BENCH_INVOKE_CHILD";

fn noop() -> (Runtime, Task) {
    let runtime = Runtime::new().expect("runtime");
    let module = runtime.load_wat("noop", NOOP).expect("module");
    let task = module.task("noop").expect("task");
    (runtime, task)
}

fn invoke_loop(runtime: &Runtime, task: &Task, n: usize) -> Duration {
    let args = Args::new();
    let options = InvokeOptions::default();
    let start = Instant::now();
    for _ in 0..n {
        let outcome = runtime.invoke(task, &args, &options);
        assert!(outcome.result.is_ok());
    }
    start.elapsed()
}

fn per_task(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

fn engine_run(runtime: &Runtime, task: &Task, workers: usize, n: usize, sink: RecordSink) -> f64 {
    let engine = Engine::builder(runtime.clone())
        .workers(workers)
        .record_sink(sink)
        .build()
        .expect("engine");
    let start = Instant::now();
    for _ in 0..n {
        engine.submit(task, vec![], vec![]);
    }
    engine.shutdown(true, false);
    per_task(start.elapsed(), n)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn chain_hops(runtime: &Runtime, task: &Task, n: usize) -> (f64, f64) {
    let records = RecordCollector::new();
    let engine = Engine::builder(runtime.clone())
        .workers(2)
        .record_sink(RecordSink::Memory(records.clone()))
        .build()
        .expect("engine");
    let mut last = engine.submit(task, vec![], vec![]);
    let mut ids = vec![last.task_id().to_owned()];
    for _ in 1..n {
        last = engine.submit(task, vec![Arg::from(last)], vec![]);
        ids.push(last.task_id().to_owned());
    }
    engine.shutdown(true, false);
    let by_id: std::collections::HashMap<String, TaskInfo> = records
        .records()
        .into_iter()
        .map(|r| (r.task_id.clone(), r))
        .collect();
    let (mut engine_hops, mut task_hops) = (Vec::new(), Vec::new());
    for pair in ids.windows(2) {
        let parent = by_id[&pair[0]].execution.clone().expect("ran");
        let child = by_id[&pair[1]].execution.clone().expect("ran");
        engine_hops.push((child.execution_start_time - parent.execution_end_time) * 1e6);
        task_hops.push((child.task_start_time - parent.task_end_time) * 1e6);
    }
    (median(engine_hops), median(task_hops))
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    if let Ok(count) = std::env::var(CHILD_ENV) {
        let (runtime, task) = noop();
        invoke_loop(&runtime, &task, 1000);
        let count: usize = count.parse().expect("count");
        println!("{}", invoke_loop(&runtime, &task, count).as_secs_f64());
        return;
    }
    let (runtime, task) = noop();
    invoke_loop(&runtime, &task, 5_000);

    let invoke = per_task(invoke_loop(&runtime, &task, n), n);
    println!("runtime.invoke, 1 thread:            {invoke:7.2} µs/task");

    let one = engine_run(&runtime, &task, 1, n, RecordSink::None);
    println!(
        "engine, 1 worker, no records:        {one:7.2} µs/task ({:.0} tasks/s, +{:.2} µs over invoke)",
        1e6 / one,
        one - invoke
    );
    let dir = std::env::temp_dir().join(format!("wasmtaps-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("tasks.jsonl");
    let one_logged = engine_run(&runtime, &task, 1, n, RecordSink::File(log.clone()));
    println!(
        "engine, 1 worker, JSONL records:     {one_logged:7.2} µs/task ({:.0} tasks/s, +{:.2} µs over invoke)",
        1e6 / one_logged,
        one_logged - invoke
    );
    let two = engine_run(&runtime, &task, 2, n, RecordSink::None);
    println!(
        "engine, 2 workers, no records:       {two:7.2} µs/task ({:.0} tasks/s, {:.2}x of 1 worker)",
        1e6 / two,
        one / two
    );
    let two_logged = engine_run(&runtime, &task, 2, n, RecordSink::File(log.clone()));
    println!(
        "engine, 2 workers, JSONL records:    {two_logged:7.2} µs/task ({:.0} tasks/s)",
        1e6 / two_logged
    );
    let _ = std::fs::remove_dir_all(&dir);

    let (engine_hop, task_hop) = chain_hops(&runtime, &task, n.min(20_000));
    println!(
        "chain hop (median): parent execution_end → child execution_start {engine_hop:.2} µs; \
         parent task_end → child task_start {task_hop:.2} µs"
    );

    // Raw invocation throughput: 2 threads of one process against 2 processes.
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| invoke_loop(&runtime, &task, n / 2));
        }
    });
    let threads = per_task(start.elapsed(), n);
    let exe = std::env::current_exe().expect("exe");
    let start = Instant::now();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .env(CHILD_ENV, (n / 2).to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let inner: Vec<f64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("child");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("child time")
        })
        .collect();
    let processes_wall = per_task(start.elapsed(), n);
    let processes_inner = inner.iter().cloned().fold(0.0, f64::max) * 1e6 / n as f64;
    println!(
        "raw invoke, 2 threads:   {threads:7.2} µs/task ({:.2}x of 1 thread)",
        invoke / threads
    );
    println!(
        "raw invoke, 2 processes: {processes_inner:7.2} µs/task in the loops ({:.2}x of 1 thread), \
         {processes_wall:.2} µs/task with process start",
        invoke / processes_inner
    );
}
