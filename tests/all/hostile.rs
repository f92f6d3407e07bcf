//! Hostile guests: each must fail with the right exception type, and the host serves on.

use std::time::Duration;

use anyhow::Result;
use wasmtaps::abi::AbiViolation;
use wasmtaps::{Args, ErrorKind, InvokeOptions, LimitOverrides, Runtime};

use crate::support::{OK_NIL, call, expect_failure, load};

fn timeout(seconds: f64) -> LimitOverrides {
    LimitOverrides {
        timeout: Some(Duration::from_secs_f64(seconds)),
        ..LimitOverrides::default()
    }
}

const SPIN: &str = r#"(func (export "wasmtaps_task_spin") (param i32 i32) (result i64)
    (loop $forever (br $forever)) (unreachable))"#;

#[test]
fn infinite_loop_hits_the_deadline() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(&runtime, SPIN)?;
    let error = expect_failure(&runtime, &module, "spin", timeout(0.05))?;
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.to_exception_info().kind, "Timeout");
    assert!(
        error.traceback().is_some_and(|t| t.contains("wasm")),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn infinite_loop_runs_out_of_fuel() -> Result<()> {
    let runtime = Runtime::builder().fuel_metering(true).build()?;
    let module = load(&runtime, SPIN)?;
    let limits = LimitOverrides {
        fuel: Some(1_000_000),
        ..LimitOverrides::default()
    };
    let error = expect_failure(&runtime, &module, "spin", limits)?;
    assert!(error.is_out_of_fuel(), "{error}");
    assert_eq!(error.type_name(), "OutOfFuel");
    Ok(())
}

#[test]
fn infinite_loop_in_the_start_function_hits_the_deadline() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_wat(
        "start-loop",
        r#"(module
          (memory (export "memory") 1)
          (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
          (func $start (loop $l (br $l)))
          (start $start)
          (func (export "wasmtaps_task_never") (param i32 i32) (result i64) (i64.const 0)))"#,
    )?;
    let outcome = call(&runtime, &module, "never", timeout(0.05))?;
    let error = outcome
        .result
        .expect_err("the start function never returns");
    assert!(error.is_timeout(), "{error}");
    Ok(())
}

#[test]
fn memory_grow_bomb_hits_the_memory_limit() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(func (export "wasmtaps_task_bomb") (param i32 i32) (result i64)
            (loop $grow (drop (memory.grow (i32.const 16))) (br $grow)) (unreachable))"#,
    )?;
    let limits = LimitOverrides {
        memory_bytes: Some(32 << 20),
        ..timeout(10.0)
    };
    let error = expect_failure(&runtime, &module, "bomb", limits)?;
    assert_eq!(error.kind(), &ErrorKind::MemoryLimitExceeded, "{error}");
    assert!(
        error.message().contains(&(32u64 << 20).to_string()),
        "{error}"
    );
    Ok(())
}

#[test]
fn four_gib_of_initial_memory_is_refused() -> Result<()> {
    let four_gib = r#"(module
        (memory (export "memory") 65536)
        (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64) (i64.const 0)))"#;
    // Within the runtime's maximum, the per-invocation limit refuses it at instantiation.
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("huge", four_gib)?;
    let outcome = call(&runtime, &module, "t", LimitOverrides::default())?;
    assert_eq!(
        outcome.result.unwrap_err().kind(),
        &ErrorKind::MemoryLimitExceeded
    );
    // Beyond the runtime's maximum, the module does not even load.
    let small = Runtime::builder()
        .maximum_limits(wasmtaps::Limits {
            memory_bytes: 1 << 30,
            ..wasmtaps::Limits::MAXIMUM
        })
        .build()?;
    let err = small.load_wat("huge", four_gib).unwrap_err();
    assert!(
        matches!(err, wasmtaps::LoadError::MemoryTooLarge { .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn table_grow_bomb_hits_the_table_limit() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(table $t 1 funcref)
           (func (export "wasmtaps_task_bomb") (param i32 i32) (result i64)
            (loop $grow (drop (table.grow $t (ref.null func) (i32.const 1000))) (br $grow)) (unreachable))"#,
    )?;
    let error = expect_failure(&runtime, &module, "bomb", timeout(10.0))?;
    assert_eq!(error.kind(), &ErrorKind::TableLimitExceeded, "{error}");
    Ok(())
}

#[test]
fn unbounded_recursion_overflows_the_stack_with_a_named_backtrace() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(func $deep_recursion (param i64) (result i64)
             (i64.add (call $deep_recursion (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
           (func (export "wasmtaps_task_recurse") (param i32 i32) (result i64)
             (call $deep_recursion (i64.const 0)))"#,
    )?;
    let error = expect_failure(&runtime, &module, "recurse", timeout(10.0))?;
    assert_eq!(error.kind(), &ErrorKind::StackOverflow, "{error}");
    let traceback = error.traceback().expect("a stack overflow has a backtrace");
    assert!(traceback.contains("deep_recursion"), "{traceback}");
    Ok(())
}

#[test]
fn other_traps_carry_their_code() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(func (export "wasmtaps_task_div") (param i32 i32) (result i64)
             (drop (i32.div_s (i32.const 1) (i32.sub (local.get 1) (local.get 1)))) (i64.const 0))"#,
    )?;
    let error = expect_failure(&runtime, &module, "div", LimitOverrides::default())?;
    assert_eq!(error.kind(), &ErrorKind::Trap);
    assert!(error.message().contains("IntegerDivisionByZero"), "{error}");
    Ok(())
}

#[test]
fn a_reported_panic_is_a_guest_panic_with_its_message() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_wat(
        "panicky",
        &crate::support::wat_with_imports(
            r#"(import "wasmtaps" "panic" (func $panic (param i32 i32)))"#,
            r#"(data (i32.const 64) "it broke at lib.rs:1:1")
               (func (export "wasmtaps_task_boom") (param i32 i32) (result i64)
                 (call $panic (i32.const 64) (i32.const 22)) (unreachable))"#,
        ),
    )?;
    let error = expect_failure(&runtime, &module, "boom", LimitOverrides::default())?;
    assert_eq!(error.kind(), &ErrorKind::GuestPanic);
    assert_eq!(error.message(), "it broke at lib.rs:1:1");
    Ok(())
}

#[test]
fn result_outside_memory_is_an_invalid_result_pointer() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(func (export "wasmtaps_task_far") (param i32 i32) (result i64) (i64.const 0x0000fff000001000))
           (func (export "wasmtaps_task_wraps") (param i32 i32) (result i64) (i64.const 0xfffffff000000020))"#,
    )?;
    for task in ["far", "wraps"] {
        let error = expect_failure(&runtime, &module, task, LimitOverrides::default())?;
        assert_eq!(
            error.kind(),
            &ErrorKind::Abi(AbiViolation::InvalidResultPointer),
            "{error}"
        );
    }
    Ok(())
}

#[test]
fn results_over_the_limit_are_refused() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(func (export "wasmtaps_task_big") (param i32 i32) (result i64) (i64.const 0x0000000000008000))"#,
    )?;
    let limits = LimitOverrides {
        max_result_bytes: Some(1024),
        ..LimitOverrides::default()
    };
    let error = expect_failure(&runtime, &module, "big", limits)?;
    assert_eq!(
        error.kind(),
        &ErrorKind::Abi(AbiViolation::ResultTooLarge),
        "{error}"
    );
    Ok(())
}

#[test]
fn malformed_result_messagepack_is_reported() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(
        &runtime,
        r#"(data (i32.const 100) "\81\a2ok\dd\ff\ff\ff\ff")
           (data (i32.const 120) "\92\01\02")
           (data (i32.const 140) "\81\a3err\80")
           (func (export "wasmtaps_task_truncated") (param i32 i32) (result i64) (i64.const 0x0000006400000009))
           (func (export "wasmtaps_task_array") (param i32 i32) (result i64) (i64.const 0x0000007800000003))
           (func (export "wasmtaps_task_empty_err") (param i32 i32) (result i64) (i64.const 0x0000008c00000006))"#,
    )?;
    for task in ["truncated", "array", "empty_err"] {
        let error = expect_failure(&runtime, &module, task, LimitOverrides::default())?;
        assert_eq!(
            error.kind(),
            &ErrorKind::Abi(AbiViolation::MalformedResult),
            "{task}: {error}"
        );
    }
    Ok(())
}

#[test]
fn a_guest_error_keeps_the_type_the_guest_gave() -> Result<()> {
    let runtime = Runtime::new()?;
    // {"err": {"type": "ValueError", "message": "no", "traceback": nil}}
    let module = load(
        &runtime,
        r#"(data (i32.const 200) "\81\a3err\83\a4type\aaValueError\a7message\a2no\a9traceback\c0")
           (func (export "wasmtaps_task_refuse") (param i32 i32) (result i64) (i64.const 0x000000c80000002c))"#,
    )?;
    let error = expect_failure(&runtime, &module, "refuse", LimitOverrides::default())?;
    assert_eq!(error.kind(), &ErrorKind::GuestError("ValueError".into()));
    assert_eq!(error.to_exception_info().kind, "ValueError");
    assert_eq!(error.message(), "no");
    Ok(())
}

#[test]
fn a_misbehaving_alloc_is_an_abi_error() -> Result<()> {
    let runtime = Runtime::new()?;
    for (name, body) in [
        ("garbage", "(i32.const -16)"),
        ("zero", "(i32.const 0)"),
        ("trap", "(unreachable)"),
    ] {
        let module = runtime.load_wat(
            name,
            &format!(
                r#"(module
                  (memory (export "memory") 1)
                  (func (export "wasmtaps_alloc") (param i32) (result i32) {body})
                  (func (export "wasmtaps_task_t") (param i32 i32) (result i64) {OK_NIL}))"#
            ),
        )?;
        let outcome = call(&runtime, &module, "t", LimitOverrides::default())?;
        let error = outcome.result.unwrap_err();
        assert_eq!(
            error.kind(),
            &ErrorKind::Abi(AbiViolation::AllocFailed),
            "{name}: {error}"
        );
    }
    Ok(())
}

#[test]
fn arguments_over_the_limit_are_refused() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = load(&runtime, "")?;
    let args = Args::new().arg(&vec![7u8; 4096])?;
    let options = InvokeOptions {
        limits: LimitOverrides {
            max_argument_bytes: Some(1024),
            ..LimitOverrides::default()
        },
        ..InvokeOptions::default()
    };
    let outcome = runtime.invoke(&module.task("ok")?, &args, &options);
    let error = outcome.result.unwrap_err();
    assert_eq!(
        error.kind(),
        &ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_stdout_flood_is_capped_and_counted() -> Result<()> {
    let runtime = Runtime::new()?;
    // 10,000 writes of 1 KiB through WASI fd_write, then {"ok": nil}.
    let module = runtime.load_wat(
        "flood",
        &format!(
            r#"(module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 8192))
              (data (i32.const 16) "\81\a2ok\c0")
              (func (export "wasmtaps_task_flood") (param i32 i32) (result i64)
                (local $i i32)
                (i32.store (i32.const 256) (i32.const 1024))
                (i32.store (i32.const 260) (i32.const 1024))
                (loop $again
                  (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
                {OK_NIL}))"#
        ),
    )?;
    let limits = LimitOverrides {
        max_output_bytes: Some(64 << 10),
        ..timeout(30.0)
    };
    let outcome = call(&runtime, &module, "flood", limits)?;
    outcome.result?;
    assert_eq!(outcome.stdout.len(), 64 << 10);
    assert_eq!(outcome.output_dropped, 10_000 * 1024 - (64 << 10));
    Ok(())
}

#[test]
fn limits_above_the_maximum_are_refused_not_raised() -> Result<()> {
    let runtime = Runtime::builder()
        .maximum_limits(wasmtaps::Limits {
            memory_bytes: 64 << 20,
            timeout: Some(Duration::from_secs(5)),
            ..wasmtaps::Limits::MAXIMUM
        })
        .default_limits(wasmtaps::Limits {
            memory_bytes: 16 << 20,
            timeout: Some(Duration::from_secs(1)),
            ..wasmtaps::Limits::DEFAULT
        })
        .build()?;
    let module = load(&runtime, "")?;
    for limits in [
        LimitOverrides {
            memory_bytes: Some(1 << 30),
            ..LimitOverrides::default()
        },
        timeout(60.0),
    ] {
        let outcome = call(&runtime, &module, "ok", limits)?;
        assert_eq!(
            outcome.result.unwrap_err().kind(),
            &ErrorKind::InvalidLimits
        );
    }
    Ok(())
}

#[test]
fn a_guest_error_cannot_pass_for_the_host() -> Result<()> {
    let runtime = Runtime::new()?;
    // {"err": {"type": "Timeout", "message": "\e[2Jslow"}} and the same claiming
    // PoisonTask, HostError and ArgumentError (which guest SDKs may report).
    let module = load(
        &runtime,
        r#"(data (i32.const 200) "\81\a3err\82\a4type\a7Timeout\a7message\a8\1b[2Jslow")
           (data (i32.const 300) "\81\a3err\82\a4type\aaPoisonTask\a7message\a8\1b[2Jslow")
           (data (i32.const 400) "\81\a3err\82\a4type\a9HostError\a7message\a8\1b[2Jslow")
           (data (i32.const 500) "\81\a3err\82\a4type\adArgumentError\a7message\a8\1b[2Jslow")
           (func (export "wasmtaps_task_timeout") (param i32 i32) (result i64) (i64.const 0x000000c800000024))
           (func (export "wasmtaps_task_poison") (param i32 i32) (result i64) (i64.const 0x0000012c00000027))
           (func (export "wasmtaps_task_host") (param i32 i32) (result i64) (i64.const 0x0000019000000026))
           (func (export "wasmtaps_task_argument") (param i32 i32) (result i64) (i64.const 0x000001f40000002a))"#,
    )?;
    for (task, claimed) in [
        ("timeout", "Timeout"),
        ("poison", "PoisonTask"),
        ("host", "HostError"),
    ] {
        let error = expect_failure(&runtime, &module, task, LimitOverrides::default())?;
        assert_eq!(error.kind(), &ErrorKind::GuestError("GuestError".into()));
        assert!(!error.is_timeout());
        assert!(
            error.message().contains(&format!("{claimed:?}")) && error.message().ends_with("slow"),
            "{error}"
        );
    }
    let error = expect_failure(&runtime, &module, "argument", LimitOverrides::default())?;
    assert_eq!(error.kind(), &ErrorKind::ArgumentError);
    assert_eq!(error.message(), "\u{1b}[2Jslow");
    Ok(())
}

#[test]
fn an_err_body_of_a_million_nils_costs_the_host_nothing() -> Result<()> {
    let runtime = Runtime::new()?;
    // {"err": [nil x 2^20]} and {"err": {"type": "E", "message": "m", "pad": [nil x 2^20]}}
    // built in a 2 MiB memory: the first is not a map, the second skips "pad" unread.
    let module = runtime.load_wat(
        "nils",
        r#"(module
          (memory (export "memory") 32)
          (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 1024))
          (data (i32.const 16) "\81\a2ok\01")
          (data (i32.const 64) "\81\a3err\dd\00\10\00\00")
          (data (i32.const 128) "\81\a3err\83\a4type\a1E\a7message\a1m\a3pad\dd\00\10\00\00")
          (func (export "wasmtaps_task_ok") (param i32 i32) (result i64) (i64.const 0x0000001000000005))
          (func (export "wasmtaps_task_array") (param i32 i32) (result i64)
            (memory.fill (i32.const 74) (i32.const 0xc0) (i32.const 0x100000))
            (i64.const 0x000000400010000a))
          (func (export "wasmtaps_task_padded") (param i32 i32) (result i64)
            (memory.fill (i32.const 160) (i32.const 0xc0) (i32.const 0x100000))
            (i64.const 0x0000008000100020)))"#,
    )?;
    let error = expect_failure(&runtime, &module, "array", LimitOverrides::default())?;
    assert_eq!(
        error.kind(),
        &ErrorKind::Abi(AbiViolation::MalformedResult),
        "{error}"
    );
    assert!(error.message().contains("`err` is not a map"), "{error}");
    let error = expect_failure(&runtime, &module, "padded", LimitOverrides::default())?;
    assert_eq!(error.kind(), &ErrorKind::GuestError("E".into()), "{error}");
    assert_eq!(error.message(), "m");
    Ok(())
}

/// A guest importing the WASI calls it misuses; `$iov` at 256, `$out` at 264.
const WASI_MISUSE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 8192))
  (data (i32.const 16) "\81\a2ok\01")
  (data (i32.const 32) "x")
  (data (i32.const 1018) "\81\a2ok\c4\20")
  (func (export "wasmtaps_task_ok") (param i32 i32) (result i64) (i64.const 0x0000001000000005))
  ;; An iovec list far outside the 64 KiB memory.
  (func (export "wasmtaps_task_iovec_list") (param i32 i32) (result i64)
    (drop (call $fd_write (i32.const 1) (i32.const 0x00fffff0) (i32.const 1) (i32.const 264)))
    (i64.const 0x0000001000000005))
  ;; An iovec inside memory pointing at a buffer outside it.
  (func (export "wasmtaps_task_iovec_buffer") (param i32 i32) (result i64)
    (i32.store (i32.const 256) (i32.const 0x00020000))
    (i32.store (i32.const 260) (i32.const 100))
    (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))
    (i64.const 0x0000001000000005))
  ;; Rights with bit 62 set, which WASI does not define.
  (func (export "wasmtaps_task_rights") (param i32 i32) (result i64)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 0)
      (i64.const 0x4000000000000000) (i64.const 0) (i32.const 0) (i32.const 264)))
    (i64.const 0x0000001000000005))
  ;; 65 MiB of random bytes in one call.
  (func (export "wasmtaps_task_random_huge") (param i32 i32) (result i64)
    (drop (call $random_get (i32.const 1024) (i32.const 0x04100000)))
    (i64.const 0x0000001000000005))
  (func (export "wasmtaps_task_random_outside") (param i32 i32) (result i64)
    (drop (call $random_get (i32.const 0xfff0) (i32.const 32)))
    (i64.const 0x0000001000000005))
  ;; 32 random bytes returned as {"ok": bin}.
  (func (export "wasmtaps_task_random") (param i32 i32) (result i64)
    (drop (call $random_get (i32.const 1024) (i32.const 32)))
    (i64.const 0x000003fa00000026)))"#;

#[test]
fn wasi_misuse_is_the_guests_fault() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("wasi-misuse", WASI_MISUSE)?;
    for (task, says) in [
        ("iovec_list", "out of bounds"),
        ("iovec_buffer", "out of bounds"),
        ("rights", "flag"),
        ("random_huge", "random_get asked for 68157440 bytes"),
        (
            "random_outside",
            "outside the guest's 65536 bytes of memory",
        ),
    ] {
        let error = expect_failure(&runtime, &module, task, LimitOverrides::default())?;
        assert_eq!(error.kind(), &ErrorKind::WasiMisuse, "{task}: {error}");
        assert_eq!(error.type_name(), "WasiMisuse");
        assert!(error.message().contains(says), "{task}: {error}");
        assert!(error.traceback().is_some(), "{task}: {error:?}");
    }
    // Within its limits, random_get fills the buffer, differently each time.
    let random = |_| -> Result<serde_json::Value> {
        let outcome = call(&runtime, &module, "random", LimitOverrides::default())?;
        Ok(outcome.result?.to_json()?)
    };
    let (a, b) = (random(0)?, random(1)?);
    assert_eq!(a.as_array().map(Vec::len), Some(32), "{a}");
    assert_ne!(a, b);
    Ok(())
}

/// Tasks that open a path under the first preopened directory (fd 3) and, if that
/// works, read up to 64 bytes; each returns `[open_errno, read_errno, bytes_read]`.
const OPENER: &str = r#"
  (data (i32.const 200) "fifo")
  (data (i32.const 210) "link")
  (data (i32.const 220) "data.txt")
  (data (i32.const 230) "sub")
  (func $try (param $path i32) (param $len i32) (param $follow i32) (result i64)
    (local $errno i32)
    (i32.store (i32.const 300) (i32.const 0))
    (local.set $errno (call $path_open (i32.const 3) (local.get $follow)
      (local.get $path) (local.get $len) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 300)))
    ;; {"ok": [open_errno, read_errno, bytes_read]}
    (i32.store (i32.const 400) (i32.const 0x6b6fa281))
    (i32.store8 (i32.const 404) (i32.const 0x93))
    (i32.store8 (i32.const 405) (local.get $errno))
    (i32.store8 (i32.const 406) (i32.const 0))
    (i32.store8 (i32.const 407) (i32.const 0))
    (if (i32.eqz (local.get $errno)) (then
      (i32.store (i32.const 320) (i32.const 500))
      (i32.store (i32.const 324) (i32.const 64))
      (i32.store8 (i32.const 406) (call $fd_read (i32.load (i32.const 300))
        (i32.const 320) (i32.const 1) (i32.const 340)))
      (i32.store8 (i32.const 407) (i32.load (i32.const 340)))))
    (i64.const 0x0000019000000008))
  (func (export "wasmtaps_task_fifo") (param i32 i32) (result i64)
    (call $try (i32.const 200) (i32.const 4) (i32.const 1)))
  (func (export "wasmtaps_task_link") (param i32 i32) (result i64)
    (call $try (i32.const 210) (i32.const 4) (i32.const 1)))
  (func (export "wasmtaps_task_link_nofollow") (param i32 i32) (result i64)
    (call $try (i32.const 210) (i32.const 4) (i32.const 0)))
  (func (export "wasmtaps_task_file") (param i32 i32) (result i64)
    (call $try (i32.const 220) (i32.const 8) (i32.const 1)))
  (func (export "wasmtaps_task_dir") (param i32 i32) (result i64)
    (call $try (i32.const 230) (i32.const 3) (i32.const 1)))"#;

#[test]
fn a_fifo_in_a_read_only_mount_is_refused_not_waited_on() -> Result<()> {
    const ERRNO_LOOP: i64 = 32;
    const ERRNO_NOTSUP: i64 = 58;
    let dir = tempfile::tempdir()?;
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("fifo"))
        .status()?;
    assert!(status.success(), "mkfifo failed");
    std::os::unix::fs::symlink("fifo", dir.path().join("link"))?;
    std::fs::write(dir.path().join("data.txt"), "hello")?;
    std::fs::create_dir(dir.path().join("sub"))?;
    let runtime = Runtime::new()?;
    let module = runtime.load_wat(
        "opener",
        &crate::support::wat_with_imports(
            r#"(import "wasi_snapshot_preview1" "path_open"
                 (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
               (import "wasi_snapshot_preview1" "fd_read"
                 (func $fd_read (param i32 i32 i32 i32) (result i32)))"#,
            OPENER,
        ),
    )?;
    let options = InvokeOptions {
        limits: timeout(10.0),
        read_only_dirs: vec![wasmtaps::ReadOnlyDir {
            host_path: dir.path().to_owned(),
            guest_path: "/data".into(),
        }],
    };
    for (task, expected) in [
        ("fifo", [ERRNO_NOTSUP, 0, 0]),
        ("link", [ERRNO_NOTSUP, 0, 0]),
        ("link_nofollow", [ERRNO_LOOP, 0, 0]),
        ("file", [0, 0, 5]),
    ] {
        // Only so that a build which blocks fails instead of hanging the suite.
        let (sender, receiver) = std::sync::mpsc::channel();
        let (runtime, task_handle, options) =
            (runtime.clone(), module.task(task)?, options.clone());
        std::thread::spawn(move || {
            let _ = sender.send(runtime.invoke(&task_handle, &Args::new(), &options));
        });
        let outcome = receiver
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("task {task} blocked in its read-only mount"));
        let value: [i64; 3] = outcome.result?.decode()?;
        assert_eq!(value, expected, "task {task}");
    }
    let outcome = runtime.invoke(&module.task("dir")?, &Args::new(), &options);
    let [open_errno, _, _]: [i64; 3] = outcome.result?.decode()?;
    assert_eq!(open_errno, 0, "a directory in the mount still opens");
    Ok(())
}

#[test]
fn a_deadline_never_fires_before_it_passes() -> Result<()> {
    let coarse = Runtime::builder()
        .epoch_tick(Duration::from_millis(20))
        .build()?;
    for runtime in [Runtime::new()?, coarse] {
        let module = load(&runtime, SPIN)?;
        for seconds in [0.005, 0.05, 0.2] {
            let started = std::time::Instant::now();
            let outcome = call(&runtime, &module, "spin", timeout(seconds))?;
            let elapsed = started.elapsed();
            let error = outcome.result.unwrap_err();
            assert!(error.is_timeout(), "{error}");
            assert!(
                elapsed >= Duration::from_secs_f64(seconds),
                "a {seconds} s deadline fired after {elapsed:?}"
            );
            let task = &outcome.execution;
            println!(
                "deadline {seconds} s: invoke took {elapsed:?}, the task ran {:.1} ms",
                (task.task_end_time - task.task_start_time) * 1e3
            );
        }
    }
    Ok(())
}
