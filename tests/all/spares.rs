//! Spare instances: a component task's next instance, made ahead of its call. A spare
//! serves one call only, only a call with the limits it was made under, and goes when
//! its module is forgotten. No test here measures time: each waits (with a generous
//! bound that only keeps a broken build from hanging) until a spare is ready, so the
//! call after it must take it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasmtaps::{Args, ErrorKind, InvokeOptions, LimitOverrides, Runtime, TaskModule};

use crate::support;

/// Counts its calls in a global: a fresh instance answers 1, a reused one more.
const COUNTER: &str = r#"(component
  (core module $m
    (memory (export "memory") 2)
    (global $calls (mut i32) (i32.const 0))
    (func (export "count") (result i32)
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (global.get $calls)))
  (core instance $i (instantiate $m))
  (func (export "count") (result u32) (canon lift (core func $i "count"))))"#;

/// Waits until `runtime` has `count` spares ready; fails after a bound far above any
/// instantiation, so a runtime that never makes one fails rather than hangs.
fn wait_for_spares(runtime: &Runtime, count: usize) -> Result<()> {
    let give_up = Instant::now() + Duration::from_secs(60);
    while runtime.spare_instances() != count {
        if Instant::now() > give_up {
            bail!(
                "{} spare instances ready instead of {count}",
                runtime.spare_instances()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// A runtime that makes spares for every component, however fast it instantiates (the
/// WAT fixtures here instantiate in microseconds, below the default threshold).
fn eager() -> Result<Runtime> {
    Ok(Runtime::builder()
        .spare_instances_above(Duration::ZERO)
        .build()?)
}

fn count(runtime: &Runtime, module: &TaskModule, options: &InvokeOptions) -> Result<u32> {
    let outcome = runtime.invoke(&module.task("count")?, &Args::new(), options);
    Ok(outcome.result?.decode::<u32>()?)
}

#[test]
fn a_spare_serves_one_call_and_every_call_gets_a_fresh_instance() -> Result<()> {
    let runtime = eager()?;
    let module = runtime.load_wat("counter", COUNTER)?;
    let options = InvokeOptions::default();
    // The first call has no spare; it asks for one.
    assert_eq!(count(&runtime, &module, &options)?, 1);
    for call in 0..20 {
        wait_for_spares(&runtime, 1)?;
        assert_eq!(count(&runtime, &module, &options)?, 1, "call {call}");
    }
    Ok(())
}

#[test]
fn a_spare_made_under_other_limits_is_not_taken() -> Result<()> {
    let runtime = eager()?;
    let module = runtime.load_wat("counter", COUNTER)?;
    assert_eq!(count(&runtime, &module, &InvokeOptions::default())?, 1);
    wait_for_spares(&runtime, 1)?;
    // The counter's 2 pages (128 KiB) do not fit in 64 KiB: the spare, made under the
    // default limits, would have run it.
    let tight = InvokeOptions {
        limits: LimitOverrides {
            memory_bytes: Some(64 << 10),
            ..LimitOverrides::default()
        },
        ..InvokeOptions::default()
    };
    let e = runtime
        .invoke(&module.task("count")?, &Args::new(), &tight)
        .result
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::MemoryLimitExceeded, "{e}");
    // The spare is still there for a call with the limits it was made under.
    assert_eq!(runtime.spare_instances(), 1);
    assert_eq!(count(&runtime, &module, &InvokeOptions::default())?, 1);
    Ok(())
}

#[test]
fn a_forgotten_module_drops_its_spares() -> Result<()> {
    // Another counter: same size, another hash.
    let other = COUNTER.replace(
        r#"(memory (export "memory") 2)"#,
        r#"(memory (export "memory") 2) (func (export "x"))"#,
    );
    let weight = {
        let probe = Runtime::new()?;
        probe.load_wat("counter", COUNTER)?;
        probe.module_cache_stats().bytes
    };
    // Room for one counter, not two.
    let runtime = Runtime::builder()
        .spare_instances_above(Duration::ZERO)
        .loaded_modules_max_bytes(weight + weight / 2)
        .build()?;
    let first = runtime.load_wat("counter", COUNTER)?;
    assert_eq!(count(&runtime, &first, &InvokeOptions::default())?, 1);
    wait_for_spares(&runtime, 1)?;
    drop(first);
    let second = runtime.load_wat("other", &other)?;
    assert_eq!(runtime.module_cache_stats().modules, 1);
    assert_eq!(runtime.spare_instances(), 0, "the forgotten module's spare");
    assert_eq!(count(&runtime, &second, &InvokeOptions::default())?, 1);
    wait_for_spares(&runtime, 1)?;
    Ok(())
}

#[test]
fn a_runtime_without_spares_makes_none() -> Result<()> {
    let runtime = Runtime::builder().spare_instances(false).build()?;
    let module = runtime.load_wat("counter", COUNTER)?;
    for _ in 0..3 {
        assert_eq!(count(&runtime, &module, &InvokeOptions::default())?, 1);
    }
    assert_eq!(runtime.spare_instances(), 0);
    Ok(())
}

#[test]
fn a_python_exception_in_a_spare_keeps_its_traceback_and_output() -> Result<()> {
    let path = support::build_polyglot("python", "python/apps.wasm")?;
    let runtime = Runtime::builder()
        .cache_dir(support::repo().join("target/wasmtaps-test-cache"))
        .build()?;
    let module = runtime
        .load_file(&path)
        .with_context(|| format!("loading {}", path.display()))?;
    let task = module.task("fail-uncaught")?;
    let args = Args::new().arg("nope")?;
    let options = InvokeOptions::default();
    // The default threshold: the first call measures the instantiation (Python's is
    // far above it), the second asks for a spare, the later ones take one.
    for call in 0..4 {
        if call > 1 {
            wait_for_spares(&runtime, 1)?;
        }
        let outcome = runtime.invoke(&task, &args, &options);
        let e = outcome.result.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::GuestError("KeyError".into()), "{e}");
        let traceback = e.traceback().context("a traceback")?;
        assert!(traceback.contains("in fail_uncaught"), "{traceback}");
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        assert!(stderr.contains("KeyError: 'nope'"), "call {call}: {stderr}");
    }
    Ok(())
}

#[test]
fn spares_never_take_the_instance_slots_a_call_needs() -> Result<()> {
    // Four memory slots, so at most one spare; a component with four memories needs
    // them all, including the one the counter's spare holds.
    let runtime = Runtime::builder()
        .spare_instances_above(Duration::ZERO)
        .instance_slots(4)
        .build()?;
    let counter = runtime.load_wat("counter", COUNTER)?;
    assert_eq!(count(&runtime, &counter, &InvokeOptions::default())?, 1);
    wait_for_spares(&runtime, 1)?;
    let wide = runtime.load_wat(
        "four-memories",
        r#"(component
  (core module $a (memory (export "memory") 1))
  (core module $b (memory (export "memory") 1) (func (export "noop")))
  (core instance $i1 (instantiate $a))
  (core instance $i2 (instantiate $a))
  (core instance $i3 (instantiate $a))
  (core instance $i4 (instantiate $b))
  (func (export "noop") (canon lift (core func $i4 "noop"))))"#,
    )?;
    let outcome = runtime.invoke(&wide.task("noop")?, &Args::new(), &InvokeOptions::default());
    outcome.result?;
    Ok(())
}

#[test]
fn a_component_that_instantiates_quickly_gets_no_spares() -> Result<()> {
    // The default threshold (100 µs): the counter instantiates in microseconds, so
    // handing it a spare would cost more than it saves.
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("counter", COUNTER)?;
    for _ in 0..5 {
        assert_eq!(count(&runtime, &module, &InvokeOptions::default())?, 1);
    }
    // A spare asked for would be ready long before this (the spare thread makes a
    // counter in microseconds); none was asked for.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(runtime.spare_instances(), 0);
    Ok(())
}
