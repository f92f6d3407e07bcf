//! What several benches share.

/// A no-op task as a core module on ABI v1: `noop` returns `{"ok": nil}`.
pub const NOOP_WAT: &str = r#"(module
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
