//! Engine overhead: no-op tasks, each in a fresh instance.
//!
//! Run with `cargo bench -p wasmtaps --bench engine` (add `-- N` for N tasks per run).
//! Prints the runtime's own invocation cost, the engine's throughput with 1 and 2 worker
//! threads, the parent→child hop of a sequential chain, and raw invocation throughput on
//! 2 threads against 2 processes. It runs on mimalloc, as the `wasmtaps` binary does.

use std::time::{Duration, Instant};

use wasmtaps::{
    Arg, Args, Engine, InvokeOptions, RecordCollector, RecordSink, Runtime, Task, TaskInfo,
};

mod support;

/// The allocator the `wasmtaps` binary runs with (host/cli/src/main.rs), so that these
/// figures are what `wasmtaps run` gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOOP: &str = support::NOOP_WAT;

const CHILD_ENV: &str = "WASMTAPS_BENCH_INVOKE_CHILD";
const PIPE_WORKER_ENV: &str = "WASMTAPS_BENCH_PIPE_WORKER";
/// Requests in flight per worker process.
const WINDOW: usize = 32;

/// A worker process: reads length-prefixed requests (encoded positional arguments) on
/// stdin, invokes the no-op for each, and answers with the result and its
/// `ExecutionInfo`, length-prefixed, on stdout. Replies are flushed whenever no request
/// is waiting, so a pipelined host gets them in batches.
fn pipe_worker() {
    use std::io::{Read, Write};
    let (runtime, task) = noop();
    let mut input = std::io::BufReader::new(std::io::stdin().lock());
    let mut output = std::io::BufWriter::new(std::io::stdout().lock());
    let options = InvokeOptions::default();
    let mut frame = Vec::new();
    loop {
        let mut len = [0; 4];
        if input.read_exact(&mut len).is_err() {
            return;
        }
        frame.resize(u32::from_le_bytes(len) as usize, 0);
        input.read_exact(&mut frame).expect("request");
        let values: Vec<Vec<u8>> = rmp_serde::from_slice(&frame).expect("request");
        let args = Args::from_values(
            values
                .into_iter()
                .map(|v| wasmtaps::Value::from_msgpack(v).expect("value")),
        );
        let outcome = runtime.invoke(&task, &args, &options);
        let result = outcome.result.expect("no-op").as_msgpack().to_vec();
        let reply = rmp_serde::to_vec(&(result, outcome.execution)).expect("reply");
        output
            .write_all(&(reply.len() as u32).to_le_bytes())
            .expect("reply");
        output.write_all(&reply).expect("reply");
        if input.buffer().is_empty() {
            output.flush().expect("flush");
        }
    }
}

/// Dispatches `n` no-op tasks over `processes` worker processes, one host thread per
/// process with up to `WINDOW` requests in flight, decoding every reply.
fn process_pool(processes: usize, n: usize) -> (f64, f64) {
    use std::io::{BufReader, BufWriter, Read, Write};
    let exe = std::env::current_exe().expect("exe");
    let mut children: Vec<_> = (0..processes)
        .map(|_| {
            std::process::Command::new(&exe)
                .env(PIPE_WORKER_ENV, "1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let pipes: Vec<_> = children
        .iter_mut()
        .map(|c| {
            (
                c.stdin.take().expect("stdin"),
                c.stdout.take().expect("stdout"),
            )
        })
        .collect();
    // Warm each worker up (compilation, first instances) before timing.
    let run = |pipes: Vec<(std::process::ChildStdin, std::process::ChildStdout)>, per: usize| {
        std::thread::scope(|s| {
            let handles: Vec<_> = pipes
                .into_iter()
                .map(|(stdin, stdout)| {
                    s.spawn(move || {
                        let mut tx = BufWriter::new(stdin);
                        let mut rx = BufReader::new(stdout);
                        let request = rmp_serde::to_vec(&Vec::<Vec<u8>>::new()).expect("request");
                        let send = |tx: &mut BufWriter<std::process::ChildStdin>| {
                            tx.write_all(&(request.len() as u32).to_le_bytes())
                                .expect("send");
                            tx.write_all(&request).expect("send");
                        };
                        let mut sent = 0;
                        while sent < per.min(WINDOW) {
                            send(&mut tx);
                            sent += 1;
                        }
                        tx.flush().expect("flush");
                        let mut frame = Vec::new();
                        for _ in 0..per {
                            if rx.buffer().is_empty() {
                                // About to block on the pipe: send what is buffered.
                                tx.flush().expect("flush");
                            }
                            let mut len = [0; 4];
                            rx.read_exact(&mut len).expect("reply");
                            frame.resize(u32::from_le_bytes(len) as usize, 0);
                            rx.read_exact(&mut frame).expect("reply");
                            let (_value, _info): (Vec<u8>, wasmtaps::ExecutionInfo) =
                                rmp_serde::from_slice(&frame).expect("reply");
                            if sent < per {
                                send(&mut tx);
                                sent += 1;
                            }
                        }
                        (tx.into_inner().expect("flush"), rx.into_inner())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("dispatcher"))
                .collect::<Vec<_>>()
        })
    };
    let pipes = run(pipes, 5_000);
    let mut best = (f64::INFINITY, f64::INFINITY);
    let mut pipes = Some(pipes);
    for _ in 0..reps() {
        let (wall, cpu_host) = {
            let p = pipes.take().expect("pipes");
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            pipes = Some(run(p, n / processes));
            (
                per_task(wall.elapsed(), n),
                (cpu_seconds() - cpu) * 1e6 / n as f64,
            )
        };
        best = (best.0.min(wall), best.1.min(cpu_host));
    }
    drop(pipes);
    for mut child in children {
        let _ = child.wait();
    }
    best
}

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

/// CPU time of the whole process (every thread, living or exited), in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Wall-clock and CPU microseconds per task of `run`.
fn measure(n: usize, run: impl FnOnce()) -> (f64, f64) {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    run();
    (
        per_task(wall.elapsed(), n),
        (cpu_seconds() - cpu) * 1e6 / n as f64,
    )
}

/// The best of [`reps`] measurements of (wall, cpu): on a shared machine the minimum is
/// the least noisy estimate of the cost.
fn best2(mut run: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    (0..reps())
        .map(|_| run())
        .fold((f64::INFINITY, f64::INFINITY), |a, b| {
            (a.0.min(b.0), a.1.min(b.1))
        })
}

fn per_task(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

fn engine_run(
    runtime: &Runtime,
    task: &Task,
    workers: usize,
    n: usize,
    sink: RecordSink,
) -> (f64, f64) {
    let engine = Engine::builder(runtime.clone())
        .workers(workers)
        .record_sink(sink)
        .build()
        .expect("engine");
    measure(n, || {
        for _ in 0..n {
            engine.submit(task, vec![], vec![]);
        }
        engine.shutdown(true, false);
    })
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

/// Measurements per figure, the best kept: 5, or 1 in `cargo bench -- --test` (CI's smoke
/// run, which only proves the bench still runs).
fn reps() -> usize {
    if quick() { 1 } else { 5 }
}

/// Whether this is `cargo bench -- --test`.
fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn threads_vs_processes(runtime: &Runtime, task: &Task, n: usize) -> (f64, f64) {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| invoke_loop(runtime, task, n / 2));
        }
    });
    let threads = per_task(start.elapsed(), n);
    let exe = std::env::current_exe().expect("exe");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .env(CHILD_ENV, (n / 2).to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    // Each child reports the time of its own loop (after its warm-up), so process
    // start-up and compilation are not counted; the loops overlap.
    let slowest = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("child");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .expect("child time")
        })
        .fold(0.0, f64::max);
    (threads, slowest * 1e6 / n as f64)
}

fn main() {
    // `cargo bench -- --test` (CI's smoke run) measures a small bag, so the bench cannot rot.
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if quick() { 1_000 } else { 50_000 });
    if std::env::var_os(PIPE_WORKER_ENV).is_some() {
        pipe_worker();
        return;
    }
    if let Ok(count) = std::env::var(CHILD_ENV) {
        let (runtime, task) = noop();
        invoke_loop(&runtime, &task, 5_000);
        let count: usize = count.parse().expect("count");
        println!("{}", invoke_loop(&runtime, &task, count).as_secs_f64());
        return;
    }
    let only_processes = std::env::args().any(|a| a == "processes");
    let (runtime, task) = noop();
    invoke_loop(&runtime, &task, 5_000);
    println!("{n} no-op tasks per measurement, best of {}", reps());
    if only_processes {
        let (wall, cpu) = best2(|| {
            measure(n, || {
                invoke_loop(&runtime, &task, n);
            })
        });
        println!("runtime.invoke, 1 thread:          {wall:6.2} µs/task wall, {cpu:6.2} µs CPU");
        pool_section(n);
        return;
    }

    let (invoke, invoke_cpu) = best2(|| {
        measure(n, || {
            invoke_loop(&runtime, &task, n);
        })
    });
    println!(
        "runtime.invoke, 1 thread:          {invoke:6.2} µs/task wall, {invoke_cpu:6.2} µs CPU"
    );
    let dir = std::env::temp_dir().join(format!("wasmtaps-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("tasks.jsonl");
    for workers in [1, 2] {
        for (what, sink) in [
            ("no records", RecordSink::None),
            ("JSONL file", RecordSink::File(log.clone())),
        ] {
            let (wall, cpu) = best2(|| engine_run(&runtime, &task, workers, n, sink.clone()));
            println!(
                "engine, {workers} worker(s), {what}: {wall:6.2} µs/task wall ({:.0} tasks/s), \
                 {cpu:6.2} µs CPU ({:+.2} µs CPU vs invoke)",
                1e6 / wall,
                cpu - invoke_cpu
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let hops: Vec<(f64, f64)> = (0..reps())
        .map(|_| chain_hops(&runtime, &task, n.min(20_000)))
        .collect();
    let engine_hop = hops.iter().map(|h| h.0).fold(f64::INFINITY, f64::min);
    let task_hop = hops.iter().map(|h| h.1).fold(f64::INFINITY, f64::min);
    println!(
        "chain hop, median: parent execution_end -> child execution_start {engine_hop:.2} µs; \
         parent task_end -> child task_start {task_hop:.2} µs"
    );

    let mut pairs: Vec<(f64, f64)> = (0..reps())
        .map(|_| threads_vs_processes(&runtime, &task, n))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let threads = pairs.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let processes = pairs.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    println!(
        "raw invoke, 2 threads:             {threads:7.2} µs/task ({:.2}x of 1 thread)",
        invoke / threads
    );
    println!(
        "raw invoke, 2 processes:           {processes:7.2} µs/task ({:.2}x of 1 thread)",
        invoke / processes
    );
    pool_section(n);
}

fn pool_section(n: usize) {
    for processes in [1, 2] {
        let (wall, host_cpu) = process_pool(processes, n);
        println!(
            "worker processes over pipes, {processes}: {wall:6.2} µs/task wall ({:.0} tasks/s), \
             {host_cpu:.2} µs host CPU per task for dispatch",
            1e6 / wall
        );
    }
}
