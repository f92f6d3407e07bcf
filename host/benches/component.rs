//! Components: the cost of a fresh instance and one call, and engine throughput.
//!
//! Run: `scripts/build-polyglot python && cargo bench -p wasmtaps --bench component`,
//! and `scripts/build-polyglot js` for the JS rows (`-- --test` runs each measurement
//! once, with a small bag). Prints, for the example components' `noop` (Python through
//! componentize-py, JS through componentize-qjs), the median of 1,000 calls through
//! `Runtime::invoke` back to back and the engine's throughput for a bag of tasks on 2
//! worker threads (3 runs: min and median), each with spare instances (the default) and
//! without, interleaved; the median of 200 calls each made once a spare instance is
//! ready; and benches a WAT component no-op beside the same no-op as a core module.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use wasmtaps::runtime::CompileBudget;
use wasmtaps::{Args, Engine, InvokeOptions, Runtime, Task};

mod support;

const CORE_NOOP: &str = support::NOOP_WAT;

const COMPONENT_NOOP: &str = r#"(component
  (core module $m (memory (export "memory") 1) (func (export "noop")))
  (core instance $i (instantiate $m))
  (func (export "noop") (canon lift (core func $i "noop"))))"#;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
}

/// An example component, built by `scripts/build-polyglot <language>`.
fn example_component(language: &str) -> PathBuf {
    let output = Command::new(repo().join("scripts/build-polyglot"))
        .arg(language)
        .output()
        .expect("cannot run scripts/build-polyglot");
    assert!(
        output.status.success(),
        "scripts/build-polyglot {language} failed (install the toolchain with \
         `scripts/install-guest-toolchains {language}`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    repo().join(format!("target/polyglot/{language}/apps.wasm"))
}

fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Whether a language's measurements run: always, unless a benchmark filter is given
/// that does not name it (`-- component_wat` times only the WAT no-ops).
fn wanted(language: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| f.contains(language))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median microseconds of `n` fresh calls of `task`.
fn fresh_call_median(runtime: &Runtime, task: &Task, n: usize) -> f64 {
    let (args, options) = (Args::new(), InvokeOptions::default());
    let times = (0..n)
        .map(|_| {
            let start = Instant::now();
            let outcome = runtime.invoke(task, &args, &options);
            let elapsed = start.elapsed().as_secs_f64() * 1e6;
            assert!(outcome.result.is_ok(), "{:?}", outcome.result.err());
            elapsed
        })
        .collect();
    median(times)
}

/// Median microseconds of `n` calls of `task` each started once a spare instance is
/// ready (the runtime's only spares must be `task`'s): the critical path of a call when the runtime had room to make its instance
/// ahead (the spare thread runs at idle priority, so on a busy machine the wait is long).
fn spare_ready_median(runtime: &Runtime, task: &Task, n: usize) -> f64 {
    let (args, options) = (Args::new(), InvokeOptions::default());
    // The first call asks for the first spare.
    assert!(runtime.invoke(task, &args, &options).result.is_ok());
    let times = (0..n)
        .map(|_| {
            let give_up = Instant::now() + std::time::Duration::from_secs(60);
            while runtime.spare_instances() == 0 {
                assert!(Instant::now() < give_up, "no spare instance was made");
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let start = Instant::now();
            let outcome = runtime.invoke(task, &args, &options);
            let elapsed = start.elapsed().as_secs_f64() * 1e6;
            assert!(outcome.result.is_ok(), "{:?}", outcome.result.err());
            elapsed
        })
        .collect();
    median(times)
}

/// Tasks per second for a bag of `n` tasks on 2 worker threads.
fn engine_tasks_per_second(runtime: &Runtime, task: &Task, n: usize) -> f64 {
    let engine = Engine::builder(runtime.clone())
        .workers(2)
        .build()
        .expect("engine");
    let start = Instant::now();
    let futures: Vec<_> = (0..n)
        .map(|_| engine.submit(task, vec![], vec![]))
        .collect();
    for f in &futures {
        f.result(None).expect("no-op");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    engine.shutdown(true, false);
    rate
}

/// The bench's runtime, with or without spare instances.
fn bench_runtime(spares: bool) -> Runtime {
    bench_builder(spares).build().expect("runtime")
}

fn bench_builder(spares: bool) -> wasmtaps::RuntimeBuilder {
    Runtime::builder()
        .compile_budget(CompileBudget {
            max_function_bytes: 1 << 20,
            max_function_locals: 1024,
            ..CompileBudget::DEFAULT
        })
        .cache_dir(repo().join("target/wasmtaps-bench-cache"))
        .spare_instances(spares)
}

fn bench(c: &mut Criterion) {
    let runtime = bench_runtime(true);
    let core = runtime.load_wat("core-noop", CORE_NOOP).expect("core");
    let core = core.task("noop").expect("noop");
    let component = runtime
        .load_wat("component-noop", COMPONENT_NOOP)
        .expect("component");
    let component = component.task("noop").expect("noop");
    let (args, options) = (Args::new(), InvokeOptions::default());
    let mut group = c.benchmark_group("noop_fresh_instance");
    group.bench_function("core_module_wat", |b| {
        b.iter(|| black_box(runtime.invoke(&core, &args, &options).result.is_ok()))
    });
    group.bench_function("component_wat", |b| {
        b.iter(|| black_box(runtime.invoke(&component, &args, &options).result.is_ok()))
    });
    let mut noops = Vec::new();
    for language in ["python", "js"] {
        if !wanted(language) {
            continue;
        }
        let module = runtime
            .load_file(example_component(language))
            .expect("the example component");
        let noop = module.task("noop").expect("noop");
        group.bench_function(format!("{language}_component"), |b| {
            b.iter(|| black_box(runtime.invoke(&noop, &args, &options).result.is_ok()))
        });
        noops.push((language, module));
    }
    group.finish();
    let (calls, bag) = if quick() { (20, 200) } else { (1_000, 20_000) };
    // 3 runs of each figure (min and median), 1 in the quick run, which only proves the
    // bench still runs.
    let runs = if quick() { 1 } else { 3 };
    // Both configurations, interleaved run by run, each in its own runtime.
    let without = bench_runtime(false);
    for (language, module) in &noops {
        let mut medians = [Vec::new(), Vec::new()];
        let mut rates = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            for (i, runtime) in [&runtime, &without].into_iter().enumerate() {
                let module = runtime.load_bytes(module.name(), module.wasm_bytes());
                let noop = module.expect("loaded before").task("noop").expect("noop");
                medians[i].push(fresh_call_median(runtime, &noop, calls));
                rates[i].push(engine_tasks_per_second(runtime, &noop, bag));
            }
        }
        for (i, spares) in ["with spare instances", "without"].iter().enumerate() {
            report(language, spares, calls, bag, &medians[i], &rates[i]);
        }
        // A runtime of its own: its only spares are this task's, made whatever its
        // instantiation costs (the default runtime makes none for a fast one).
        let ready = if quick() { 5 } else { 200 };
        let alone = bench_builder(true)
            .spare_instances_above(std::time::Duration::ZERO)
            .build()
            .expect("runtime");
        let module = alone.load_bytes(module.name(), module.wasm_bytes());
        let noop = module.expect("loaded before").task("noop").expect("noop");
        let ready_medians: Vec<f64> = (0..runs)
            .map(|_| spare_ready_median(&alone, &noop, ready))
            .collect();
        eprintln!(
            "{language} noop, a spare instance ready, via Runtime::invoke: median of {ready} \
             calls, {runs} runs: min {:.0} us, median {:.0} us",
            ready_medians.iter().copied().fold(f64::INFINITY, f64::min),
            median(ready_medians.clone())
        );
    }
}

/// Prints one configuration's figures: min and median of the runs.
fn report(language: &str, spares: &str, calls: usize, bag: usize, medians: &[f64], rates: &[f64]) {
    let runs = medians.len();
    eprintln!(
        "{language} noop ({spares}), fresh instance + call via Runtime::invoke: median \
             of {calls} calls, {runs} runs: min {:.0} us, median {:.0} us",
        medians.iter().copied().fold(f64::INFINITY, f64::min),
        median(medians.to_vec())
    );
    eprintln!(
        "{language} noop ({spares}) through the engine, bag of {bag}, 2 workers, {runs} runs: \
             min {:.0} tasks/s, median {:.0} tasks/s",
        rates.iter().copied().fold(f64::INFINITY, f64::min),
        median(rates.to_vec())
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
