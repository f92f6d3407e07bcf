//! Arbitrary bytes as the result envelope a guest returns.
//!
//! Each input is decoded twice: directly (`__fuzz::decode_envelope`, with the manifest
//! and section parsers on the same bytes), and end to end, copied into a real guest's
//! memory through `wasmtaps_alloc` as a MessagePack `bin` argument and returned by the
//! guest as its result (`echo`), or with its first 8 bytes used as the guest's raw
//! `(ptr << 32) | len` return value (`raw`), so the host reads wherever they point. Both
//! paths must agree, and neither may panic.
//!
//! Decoding must also cost memory in proportion to the input: a counting allocator
//! measures the peak the direct decode allocates, which must stay within
//! [`BYTES_PER_INPUT_BYTE`] times the input plus a small constant (a hostile
//! `{"err": [nil, nil, ...]}` once cost 40 bytes per input byte).
//!
//! Run with `scripts/fuzz decode_result SECONDS`.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wasmtaps::{Args, ErrorKind, InvokeOptions, Limits, Runtime, Task, Value};
use wasmtaps::abi::AbiViolation;

/// `echo` and `raw` find the argument's bytes in the `[[bin], {}]` input at `$p`: the
/// `bin` marker is at `$p + 2`, its data after a 1, 2 or 4 byte length.
const GUEST: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1))))))
    (local.get $p))
  ;; The offset of the bin payload from the input start, from its marker.
  (func $header (param $p i32) (result i32)
    (local $m i32)
    (local.set $m (i32.load8_u offset=2 (local.get $p)))
    (if (result i32) (i32.eq (local.get $m) (i32.const 0xc4)) (then (i32.const 4))
      (else (if (result i32) (i32.eq (local.get $m) (i32.const 0xc5)) (then (i32.const 5))
        (else (i32.const 7))))))
  (func (export "wasmtaps_task_echo") (param $p i32) (param $n i32) (result i64)
    (local $start i32)
    (local.set $start (i32.add (local.get $p) (call $header (local.get $p))))
    ;; payload length = input length - header - the trailing empty map (1 byte)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $start)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (i32.sub (local.get $n) (call $header (local.get $p))) (i32.const 1)))))
  (func (export "wasmtaps_task_raw") (param $p i32) (param $n i32) (result i64)
    (i64.load (i32.add (local.get $p) (call $header (local.get $p))))))"#;

/// The most a direct decode may allocate at its peak, per input byte, beyond
/// [`FIXED_ALLOWANCE`].
const BYTES_PER_INPUT_BYTE: usize = 4;
const FIXED_ALLOWANCE: usize = 16 << 10;

/// The system allocator, counting the bytes live now and the peak since the last reset.
struct Metered;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Runs `f`, returning its result and the most it had allocated at once beyond what was
/// live before. The fuzzer runs one input at a time, so other threads add little noise.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

struct Guest {
    runtime: Runtime,
    echo: Task,
    raw: Task,
}

static GUEST_TASKS: LazyLock<Guest> = LazyLock::new(|| {
    let runtime = Runtime::builder()
        .default_limits(Limits {
            timeout: Some(Duration::from_secs(5)),
            ..Limits::DEFAULT
        })
        .instance_slots(4)
        .build()
        .expect("the fuzz runtime's configuration is valid");
    let module = runtime
        .load_wat("echo", GUEST)
        .expect("the echo guest loads");
    Guest {
        echo: module.task("echo").expect("echo exists"),
        raw: module.task("raw").expect("raw exists"),
        runtime,
    }
});

fuzz_target!(|data: &[u8]| {
    // Direct decoding, with its memory measured, and what the host does with a decoded
    // value afterwards.
    let (direct, peak) = peak_of(|| wasmtaps::__fuzz::decode_envelope(data));
    assert!(
        peak <= BYTES_PER_INPUT_BYTE * data.len() + FIXED_ALLOWANCE,
        "decoding {} bytes allocated {peak} bytes at its peak",
        data.len()
    );
    match &direct {
        Ok(value) => {
            Value::from_msgpack(value.as_msgpack().to_vec())
                .expect("an accepted `ok` body is one well-formed MessagePack value");
            let _ = value.to_json();
            // What `wasmtaps call` prints; serde_json's float parsing does not always
            // round-trip, so it is not compared with `to_json` here (unit tests do that).
            let _ = value.write_json(std::io::sink());
            let _ = value.decode::<serde_json::Value>();
        }
        Err(error) => {
            let info = error.to_exception_info();
            assert!(!info.kind.is_empty());
            serde_json::to_string(&info).expect("exception info serialises");
        }
    }
    let _ = wasmtaps::__fuzz::parse_manifest(data);
    let _ = wasmtaps::__fuzz::custom_sections(data);

    // The same bytes through guest memory.
    let guest = &*GUEST_TASKS;
    let args = Args::new()
        .arg(serde_bytes::Bytes::new(data))
        .expect("bytes encode");
    let echoed = guest
        .runtime
        .invoke(&guest.echo, &args, &InvokeOptions::default())
        .result;
    match (&direct, &echoed) {
        (Ok(a), Ok(b)) => assert_eq!(a.as_msgpack(), b.as_msgpack()),
        (Err(a), Err(b)) => assert_eq!(a.to_exception_info(), b.to_exception_info()),
        _ => panic!("direct {direct:?} and through the guest {echoed:?} disagree"),
    }
    if data.len() >= 8 {
        let raw = guest
            .runtime
            .invoke(&guest.raw, &args, &InvokeOptions::default())
            .result;
        if let Err(error) = raw {
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::Abi(
                        AbiViolation::InvalidResultPointer
                            | AbiViolation::MalformedResult
                            | AbiViolation::ResultTooLarge
                    ) | ErrorKind::GuestError(_)
                ),
                "{error}"
            );
        }
    }
});
