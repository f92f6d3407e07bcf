//! Fresh-instance no-op cost per guest language: `Runtime::invoke` of each language's
//! `noop` task (examples/polyglot) beside the Rust SDK's.
//!
//! Run: `scripts/build-polyglot && cargo bench -p wasmtaps --bench polyglot`
//! Languages whose module is missing from `target/polyglot/` are skipped with a note.

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use wasmtaps::{Args, InvokeOptions, Runtime};

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let mut modules = vec![(
        "rust".to_owned(),
        wasmtaps_example_artifacts::TASKS_WASM.into(),
    )];
    for language in ["c", "zig", "assemblyscript", "go"] {
        let path = repo
            .join("target/polyglot")
            .join(format!("{language}.wasm"));
        if path.exists() {
            modules.push((language.to_owned(), path));
        } else {
            eprintln!(
                "polyglot bench: {} missing; run scripts/build-polyglot",
                path.display()
            );
        }
    }
    let args = Args::new();
    let options = InvokeOptions::default();
    let mut group = c.benchmark_group("noop_fresh_instance");
    for (language, path) in &modules {
        let module = runtime.load_file(path).expect("module");
        let noop = module.task("noop").expect("noop task");
        let outcome = runtime.invoke(&noop, &args, &options);
        assert!(
            outcome.result.is_ok(),
            "{language}: {:?}",
            outcome.result.err()
        );
        // One line per language on what instantiation (with `_initialize`) costs.
        let start = Instant::now();
        for _ in 0..100 {
            black_box(runtime.invoke(&noop, &args, &options).result.is_ok());
        }
        eprintln!(
            "{language}: {:?} per call (100 calls, warm-up)",
            start.elapsed() / 100
        );
        group.bench_function(language.as_str(), |b| {
            b.iter(|| black_box(runtime.invoke(&noop, &args, &options).result.is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
