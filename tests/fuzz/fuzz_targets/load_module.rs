//! Arbitrary bytes as a task module: `Runtime::load_bytes` must return a module or a
//! `LoadError`, never panic; a module that loads has each task (up to 8) invoked with a
//! 20 ms deadline and 100,000 fuel, which must end in a value or a `TaskError`.
//!
//! Run with `scripts/fuzz load_module SECONDS`.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wasmtaps::{Args, ErrorKind, InvokeOptions, Limits, Runtime};

/// Compiled modules stay in the runtime's in-memory cache for its lifetime, so the
/// runtime is replaced after this many successful loads to keep the fuzzer's RSS flat.
const LOADS_PER_RUNTIME: u32 = 256;

struct Host {
    runtime: Runtime,
    loads: u32,
}

fn runtime() -> Runtime {
    Runtime::builder()
        .maximum_limits(Limits {
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            ..Limits::MAXIMUM
        })
        .default_limits(Limits {
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            fuel: Some(100_000),
            timeout: Some(Duration::from_millis(20)),
            max_argument_bytes: 1 << 20,
            max_result_bytes: 1 << 20,
            max_output_bytes: 4 << 10,
        })
        .instance_slots(4)
        .build()
        .expect("the fuzz runtime's configuration is valid")
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host { runtime: runtime(), loads: 0 });
}

fuzz_target!(|data: &[u8]| {
    HOST.with(|host| {
        let mut host = host.borrow_mut();
        let Ok(module) = host.runtime.load_bytes("fuzz", data) else {
            return;
        };
        host.loads += 1;
        for spec in module.tasks().iter().take(8) {
            let task = module.task(&spec.name).expect("a listed task exists");
            // Positional arguments for every named parameter, so the call reaches the guest.
            let mut args = Args::new();
            for _ in 0..spec.params.as_ref().map_or(0, Vec::len) {
                args = args.arg(&1i64).expect("integers encode");
            }
            let outcome = host.runtime.invoke(&task, &args, &InvokeOptions::default());
            if let Err(error) = &outcome.result {
                // The limits were valid, so refusing them would be a host bug.
                assert_ne!(error.kind(), &ErrorKind::InvalidLimits, "{error}");
            }
            let e = &outcome.execution;
            assert!(e.execution_start_time <= e.task_start_time);
            assert!(e.task_start_time <= e.task_end_time);
            assert!(e.result_transform_end_time <= e.execution_end_time);
        }
        if host.loads >= LOADS_PER_RUNTIME {
            *host = Host {
                runtime: runtime(),
                loads: 0,
            };
        }
    });
});
