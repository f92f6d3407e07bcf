(module
  
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 4096))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (data (i32.const 16) "\81\a2ok\c0")
  (func $r (param i64) (result i64) (i64.add (call $r (local.get 0)) (i64.const 1))) (func (export "wasmtaps_task_r") (param i32 i32) (result i64) (call $r (i64.const 0))))
