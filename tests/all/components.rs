//! WebAssembly components as task modules: loading, the MessagePack ↔ WIT value mapping
//! both ways, limits and failures. The fixture is a component in the text format whose
//! `echo-*` functions return the `list<T>` they are given (one core function serves
//! every T: a list is a pointer and a length either way).

use std::time::Duration;

use anyhow::Result;
use rmpv::Value as Mp;
use wasmtaps::abi::AbiViolation;
use wasmtaps::{
    Args, ErrorKind, InvokeOptions, LimitOverrides, LoadError, Runtime, TaskError, TaskModule,
    Value,
};

/// A component with echo functions for every WIT type, scalar functions, a function that
/// returns an error through `result`, and hostile ones (spin, grow memory, trap).
pub const FIXTURE: &str = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next) (i32.shl (memory.size) (i32.const 16))))
        (br_if $fits (i32.ne (i32.const -1) (memory.grow
          (i32.add (i32.const 1) (i32.shr_u
            (i32.sub (global.get $next) (i32.shl (memory.size) (i32.const 16)))
            (i32.const 16))))))
        (unreachable))
      (local.get $p))
    (func (export "echo") (param i32 i32) (result i32)
      (i32.store (i32.const 0) (local.get 0))
      (i32.store (i32.const 4) (local.get 1))
      (i32.const 0))
    (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
    (func (export "nop"))
    (func (export "spin") (loop $l (br $l)))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "trap") (unreachable))
    (data (i32.const 100) "InjectedFailure")
    (func (export "fail") (param i32 i32) (result i32)
      (i32.store8 (i32.const 64) (i32.const 1))
      (i32.store (i32.const 68) (i32.const 100))
      (i32.store (i32.const 72) (i32.const 15))
      (i32.store (i32.const 76) (local.get 0))
      (i32.store (i32.const 80) (local.get 1))
      (i32.const 64))
    (func (export "take") (param i32)))
  (core instance $i (instantiate $m))

  (type $point' (record (field "x" s32) (field "label" string) (field "note" (option string))))
  (export $point "point" (type $point'))
  (type $color' (enum "red" "green" "blue"))
  (export $color "color" (type $color'))
  (type $shape' (variant (case "circle" f64) (case "square" (tuple u16 u16)) (case "empty")))
  (export $shape "shape" (type $shape'))
  (type $perms' (flags "read" "write" "exec"))
  (export $perms "perms" (type $perms'))
  (type $task-error' (record (field "type" string) (field "message" string)))
  (export $task-error "task-error" (type $task-error'))
  (type $wide' (record (field "f0" (option u8)) (field "f1" (option u8)) (field "f2" (option u8)) (field "f3" (option u8)) (field "f4" (option u8)) (field "f5" (option u8)) (field "f6" (option u8)) (field "f7" (option u8)) (field "f8" (option u8)) (field "f9" (option u8)) (field "f10" (option u8)) (field "f11" (option u8)) (field "f12" (option u8)) (field "f13" (option u8)) (field "f14" (option u8)) (field "f15" (option u8)) (field "f16" (option u8)) (field "f17" (option u8)) (field "f18" (option u8)) (field "f19" (option u8)) (field "f20" (option u8)) (field "f21" (option u8)) (field "f22" (option u8)) (field "f23" (option u8)) (field "f24" (option u8)) (field "f25" (option u8)) (field "f26" (option u8)) (field "f27" (option u8)) (field "f28" (option u8)) (field "f29" (option u8)) (field "f30" (option u8)) (field "f31" (option u8)) (field "f32" (option u8)) (field "f33" (option u8)) (field "f34" (option u8)) (field "f35" (option u8)) (field "f36" (option u8)) (field "f37" (option u8)) (field "f38" (option u8)) (field "f39" (option u8))))
  (export $wide "wide" (type $wide'))
  (type $handle' (resource (rep i32)))
  (export $handle "handle" (type $handle'))

  (func (export "echo-bool") (param "values" (list bool)) (result (list bool))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-s8") (param "values" (list s8)) (result (list s8))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-u8") (param "values" (list u8)) (result (list u8))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-s16") (param "values" (list s16)) (result (list s16))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-u16") (param "values" (list u16)) (result (list u16))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-s32") (param "values" (list s32)) (result (list s32))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-u32") (param "values" (list u32)) (result (list u32))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-s64") (param "values" (list s64)) (result (list s64))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-u64") (param "values" (list u64)) (result (list u64))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-f32") (param "values" (list f32)) (result (list f32))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-f64") (param "values" (list f64)) (result (list f64))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-char") (param "values" (list char)) (result (list char))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-string") (param "values" (list string)) (result (list string))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-bytes") (param "values" (list (list u8))) (result (list (list u8)))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-lists") (param "values" (list (list s32))) (result (list (list s32)))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-tuple") (param "values" (list (tuple u8 string))) (result (list (tuple u8 string)))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-record") (param "values" (list $point)) (result (list $point))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-option") (param "values" (list (option u32))) (result (list (option u32)))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-enum") (param "values" (list $color)) (result (list $color))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-variant") (param "values" (list $shape)) (result (list $shape))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-flags") (param "values" (list $perms)) (result (list $perms))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-result") (param "values" (list (result u8 (error string)))) (result (list (result u8 (error string))))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "echo-wide") (param "values" (list $wide)) (result (list $wide))
    (canon lift (core func $i "echo") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "add") (param "a" s64) (param "b" s64) (result s64)
    (canon lift (core func $i "add")))
  (func (export "noop") (canon lift (core func $i "nop")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "grow") (param "pages" u32) (result s32) (canon lift (core func $i "grow")))
  (func (export "trap") (canon lift (core func $i "trap")))
  (func (export "fail-caught") (param "message" string) (result (result string (error $task-error)))
    (canon lift (core func $i "fail") (memory $i "memory") (realloc (func $i "realloc"))))
  (func (export "take") (param "h" (own $handle)) (canon lift (core func $i "take")))
)"#;

fn fixture(runtime: &Runtime) -> Result<TaskModule> {
    Ok(runtime.load_wat("fixture", FIXTURE)?)
}

fn msgpack(value: &Mp) -> Value {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value).expect("writing to a Vec");
    Value::from_msgpack(bytes).expect("well-formed")
}

/// Calls `task` with the positional arguments `args`.
fn call(
    runtime: &Runtime,
    module: &TaskModule,
    task: &str,
    args: &[Mp],
) -> Result<Result<Mp, TaskError>> {
    let args = Args::from_values(args.iter().map(msgpack));
    let outcome = runtime.invoke(&module.task(task)?, &args, &InvokeOptions::default());
    Ok(match outcome.result {
        Ok(value) => Ok(value.to_rmpv()?),
        Err(e) => Err(e),
    })
}

fn echo(runtime: &Runtime, module: &TaskModule, task: &str, values: Mp) -> Result<Mp> {
    call(runtime, module, task, &[values])?.map_err(|e| anyhow::anyhow!("{task}: {e}"))
}

fn argument_error(
    runtime: &Runtime,
    module: &TaskModule,
    task: &str,
    args: &[Mp],
) -> Result<String> {
    match call(runtime, module, task, args)? {
        Ok(v) => anyhow::bail!("{task} accepted {args:?} and returned {v}"),
        Err(e) => {
            assert_eq!(e.kind(), &ErrorKind::ArgumentError, "{e}");
            Ok(e.message().to_owned())
        }
    }
}

fn s(text: &str) -> Mp {
    Mp::from(text)
}

fn map(pairs: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

#[test]
fn a_component_lists_its_functions_as_tasks_with_wit_signatures() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = fixture(&runtime)?;
    assert!(module.is_component());
    let add = module.task("add")?;
    assert_eq!(add.params(), Some(&["a".to_owned(), "b".to_owned()][..]));
    assert_eq!(add.signature(), Some("func(a: s64, b: s64) -> s64"));
    assert_eq!(
        module.task("echo-record")?.signature(),
        Some(
            "func(values: list<record { x: s32, label: string, note: option<string> }>) -> list<record { x: s32, label: string, note: option<string> }>"
        )
    );
    // A function taking a resource is listed, but not as a task.
    let take = &module.uncallable()[0];
    assert_eq!(take.name, "take");
    assert!(take.reason.contains("resource"), "{}", take.reason);
    match module.task("take") {
        Err(LoadError::NotCallable { reason, .. }) => assert!(reason.contains("resource")),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn scalars_map_both_ways_with_range_checks() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let r = &runtime;
    assert_eq!(
        echo(
            r,
            &m,
            "echo-bool",
            Mp::Array(vec![true.into(), false.into()])
        )?,
        Mp::Array(vec![true.into(), false.into()])
    );
    let ints: [(&str, i64, i64); 8] = [
        ("echo-s8", i64::from(i8::MIN), i64::from(i8::MAX)),
        ("echo-u8", 0, i64::from(u8::MAX)),
        ("echo-s16", i64::from(i16::MIN), i64::from(i16::MAX)),
        ("echo-u16", 0, i64::from(u16::MAX)),
        ("echo-s32", i64::from(i32::MIN), i64::from(i32::MAX)),
        ("echo-u32", 0, i64::from(u32::MAX)),
        ("echo-s64", i64::MIN, i64::MAX),
        ("echo-u64", 0, i64::MAX),
    ];
    for (task, min, max) in ints {
        let back = echo(r, &m, task, Mp::Array(vec![min.into(), max.into()]))?;
        let want = if task == "echo-u8" {
            Mp::Binary(vec![0, 255])
        } else {
            Mp::Array(vec![min.into(), max.into()])
        };
        assert_eq!(back, want, "{task}");
        if task != "echo-s64" && task != "echo-u64" {
            let message = argument_error(
                r,
                &m,
                task,
                &[Mp::Array(vec![min.into(), (max + 1).into()])],
            )?;
            assert!(
                message.starts_with("values[1]: integer"),
                "{task}: {message}"
            );
            assert!(message.contains("out of range"), "{task}: {message}");
        }
        if let Some(below) = min.checked_sub(1) {
            let message = argument_error(r, &m, task, &[Mp::Array(vec![below.into()])])?;
            assert!(message.contains("out of range"), "{task}: {message}");
        }
        let message = argument_error(r, &m, task, &[Mp::Array(vec![0.into(), s("x")])])?;
        assert!(
            message.starts_with("values[1]: expected") && message.ends_with("got string"),
            "{task}: {message}"
        );
    }
    assert_eq!(
        echo(r, &m, "echo-u64", Mp::Array(vec![u64::MAX.into()]))?,
        Mp::Array(vec![u64::MAX.into()])
    );
    assert!(
        argument_error(r, &m, "echo-u64", &[Mp::Array(vec![(-1).into()])])?
            .contains("out of range")
    );
    assert_eq!(
        echo(r, &m, "echo-f64", Mp::Array(vec![1.5.into(), 3.into()]))?,
        Mp::Array(vec![1.5.into(), 3.0.into()])
    );
    assert_eq!(
        echo(r, &m, "echo-f32", Mp::Array(vec![0.25.into()]))?,
        Mp::Array(vec![Mp::F32(0.25)])
    );
    assert_eq!(
        argument_error(
            r,
            &m,
            "echo-f64",
            &[Mp::Array(vec![1.0.into(), 2.0.into(), 3.0.into(), s("x")])]
        )?,
        "values[3]: expected f64, got string"
    );
    assert_eq!(
        echo(r, &m, "echo-char", Mp::Array(vec![s("é"), s("🦀")]))?,
        Mp::Array(vec![s("é"), s("🦀")])
    );
    assert!(
        argument_error(r, &m, "echo-char", &[Mp::Array(vec![s("ab")])])?.contains("one character")
    );
    assert_eq!(
        echo(r, &m, "echo-string", Mp::Array(vec![s(""), s("héllo")]))?,
        Mp::Array(vec![s(""), s("héllo")])
    );
    assert_eq!(
        argument_error(r, &m, "echo-string", &[Mp::Array(vec![1.into()])])?,
        "values[0]: expected string, got integer 1"
    );
    assert_eq!(
        argument_error(r, &m, "echo-bool", &[Mp::Nil])?,
        "values: expected list<bool>, got nil"
    );
    Ok(())
}

#[test]
fn byte_lists_come_from_bin_or_arrays_and_go_back_as_bin() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let back = echo(
        &runtime,
        &m,
        "echo-bytes",
        Mp::Array(vec![
            Mp::Binary(b"abc".to_vec()),
            Mp::Array(vec![1.into(), 2.into()]),
            Mp::Binary(vec![]),
        ]),
    )?;
    assert_eq!(
        back,
        Mp::Array(vec![
            Mp::Binary(b"abc".to_vec()),
            Mp::Binary(vec![1, 2]),
            Mp::Binary(vec![])
        ])
    );
    let back = echo(
        &runtime,
        &m,
        "echo-lists",
        Mp::Array(vec![Mp::Array(vec![(-1).into()]), Mp::Array(vec![])]),
    )?;
    assert_eq!(
        back,
        Mp::Array(vec![Mp::Array(vec![(-1).into()]), Mp::Array(vec![])])
    );
    assert_eq!(
        argument_error(
            &runtime,
            &m,
            "echo-bytes",
            &[Mp::Array(vec![Mp::Array(vec![1.into(), 256.into()])])]
        )?,
        "values[0][1]: integer 256 is out of range for u8 (0..=255)"
    );
    assert!(
        argument_error(
            &runtime,
            &m,
            "echo-lists",
            &[Mp::Array(vec![Mp::Binary(vec![1])])]
        )?
        .starts_with("values[0]: expected list<s32>, got bin")
    );
    Ok(())
}

#[test]
fn records_tuples_and_options_map_by_name_or_position() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let r = &runtime;
    let full = map(vec![
        ("x", (-3).into()),
        ("label", s("a")),
        ("note", s("n")),
    ]);
    let back = echo(
        r,
        &m,
        "echo-record",
        Mp::Array(vec![
            full.clone(),
            Mp::Array(vec![4.into(), s("b"), Mp::Nil]),
            map(vec![("label", s("c")), ("x", 5.into())]),
        ]),
    )?;
    assert_eq!(
        back,
        Mp::Array(vec![
            full,
            map(vec![("x", 4.into()), ("label", s("b")), ("note", Mp::Nil)]),
            map(vec![("x", 5.into()), ("label", s("c")), ("note", Mp::Nil)]),
        ])
    );
    assert_eq!(
        argument_error(
            r,
            &m,
            "echo-record",
            &[Mp::Array(vec![map(vec![("x", 1.into())])])]
        )?,
        "values[0]: missing field `label`"
    );
    assert!(
        argument_error(
            r,
            &m,
            "echo-record",
            &[Mp::Array(vec![map(vec![
                ("x", 1.into()),
                ("label", s("l")),
                ("size", 2.into())
            ])])]
        )?
        .starts_with("values[0]: unknown field `size`")
    );
    assert_eq!(
        argument_error(
            r,
            &m,
            "echo-record",
            &[Mp::Array(vec![map(vec![("x", s("1")), ("label", s("l"))])])]
        )?,
        "values[0].x: expected s32, got string"
    );
    let back = echo(
        r,
        &m,
        "echo-tuple",
        Mp::Array(vec![Mp::Array(vec![7.into(), s("t")])]),
    )?;
    assert_eq!(back, Mp::Array(vec![Mp::Array(vec![7.into(), s("t")])]));
    assert!(
        argument_error(
            r,
            &m,
            "echo-tuple",
            &[Mp::Array(vec![Mp::Array(vec![7.into()])])]
        )?
        .contains("an array of 2")
    );
    let back = echo(r, &m, "echo-option", Mp::Array(vec![Mp::Nil, 9.into()]))?;
    assert_eq!(back, Mp::Array(vec![Mp::Nil, 9.into()]));
    Ok(())
}

#[test]
fn enums_variants_flags_and_results_map_by_name() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let r = &runtime;
    assert_eq!(
        echo(r, &m, "echo-enum", Mp::Array(vec![s("blue"), s("red")]))?,
        Mp::Array(vec![s("blue"), s("red")])
    );
    assert!(
        argument_error(r, &m, "echo-enum", &[Mp::Array(vec![s("pink")])])?
            .starts_with("values[0]: unknown case `pink`")
    );
    let shapes = Mp::Array(vec![
        map(vec![("circle", 1.5.into())]),
        map(vec![("square", Mp::Array(vec![2.into(), 3.into()]))]),
        s("empty"),
    ]);
    assert_eq!(echo(r, &m, "echo-variant", shapes.clone())?, shapes);
    assert!(
        argument_error(r, &m, "echo-variant", &[Mp::Array(vec![s("circle")])])?
            .contains("needs a payload")
    );
    assert_eq!(
        argument_error(
            r,
            &m,
            "echo-variant",
            &[Mp::Array(vec![map(vec![(
                "square",
                Mp::Array(vec![2.into(), 70000.into()])
            )])])]
        )?,
        "values[0].square[1]: integer 70000 is out of range for u16 (0..=65535)"
    );
    assert_eq!(
        echo(
            r,
            &m,
            "echo-flags",
            Mp::Array(vec![
                Mp::Array(vec![s("exec"), s("read")]),
                Mp::Array(vec![])
            ])
        )?,
        Mp::Array(vec![
            Mp::Array(vec![s("read"), s("exec")]),
            Mp::Array(vec![])
        ])
    );
    assert!(
        argument_error(
            r,
            &m,
            "echo-flags",
            &[Mp::Array(vec![Mp::Array(vec![s("sudo")])])]
        )?
        .contains("unknown flag `sudo`")
    );
    let results = Mp::Array(vec![
        map(vec![("ok", 1.into())]),
        map(vec![("err", s("no"))]),
    ]);
    assert_eq!(echo(r, &m, "echo-result", results.clone())?, results);
    assert!(
        argument_error(
            r,
            &m,
            "echo-result",
            &[Mp::Array(vec![map(vec![("maybe", 1.into())])])]
        )?
        .contains("case `maybe`")
    );
    Ok(())
}

#[test]
fn arguments_bind_by_position_and_keyword() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let task = m.task("add")?;
    let args = Args::new().arg(&40)?.kwarg("b", &2)?;
    let outcome = runtime.invoke(&task, &args, &InvokeOptions::default());
    assert_eq!(outcome.result?.decode::<i64>()?, 42);
    let args = Args::new().kwarg("b", &1)?.kwarg("a", &-1)?;
    assert_eq!(
        runtime
            .invoke(&task, &args, &InvokeOptions::default())
            .result?
            .decode::<i64>()?,
        0
    );
    let args = Args::new().arg(&1)?;
    let e = runtime
        .invoke(&task, &args, &InvokeOptions::default())
        .result
        .unwrap_err();
    assert_eq!(
        (e.type_name(), e.message()),
        ("ArgumentError", "add() missing 1 required argument: 'b'")
    );
    let args = Args::new().arg(&1)?.arg(&2)?.arg(&3)?;
    let e = runtime
        .invoke(&task, &args, &InvokeOptions::default())
        .result
        .unwrap_err();
    assert_eq!(
        e.message(),
        "add() takes 2 positional arguments but 3 were given"
    );
    let args = Args::new().arg(&1)?.kwarg("c", &2)?;
    let e = runtime
        .invoke(&task, &args, &InvokeOptions::default())
        .result
        .unwrap_err();
    assert_eq!(e.message(), "add() got an unexpected keyword argument 'c'");
    let outcome = runtime.invoke(&m.task("noop")?, &Args::new(), &InvokeOptions::default());
    assert_eq!(outcome.result?.to_rmpv()?, Mp::Nil);
    let info = outcome.execution;
    assert!(info.execution_start_time <= info.input_transform_start_time);
    assert!(info.input_transform_end_time <= info.task_start_time);
    assert!(info.task_end_time <= info.result_transform_start_time);
    assert!(info.result_transform_end_time <= info.execution_end_time);
    Ok(())
}

#[test]
fn a_returned_error_is_the_tasks_exception() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let e = call(&runtime, &m, "fail-caught", &[s("it broke")])?.unwrap_err();
    assert_eq!(e.type_name(), "InjectedFailure");
    assert_eq!(e.message(), "it broke");
    assert!(e.is_guest_error());
    Ok(())
}

fn limits(f: impl FnOnce(&mut LimitOverrides)) -> InvokeOptions {
    let mut limits = LimitOverrides::default();
    f(&mut limits);
    InvokeOptions {
        limits,
        ..InvokeOptions::default()
    }
}

#[test]
fn a_spinning_component_hits_its_deadline_or_fuel() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let options = limits(|l| l.timeout = Some(Duration::from_millis(50)));
    let e = runtime
        .invoke(&m.task("spin")?, &Args::new(), &options)
        .result
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let runtime = Runtime::builder().fuel_metering(true).build()?;
    let m = fixture(&runtime)?;
    let options = limits(|l| l.fuel = Some(100_000));
    let e = runtime
        .invoke(&m.task("spin")?, &Args::new(), &options)
        .result
        .unwrap_err();
    assert!(e.is_out_of_fuel(), "{e}");
    Ok(())
}

#[test]
fn a_component_growing_past_its_memory_limit_stops() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let options = limits(|l| l.memory_bytes = Some(4 << 20));
    let grow = m.task("grow")?;
    // 32 pages (2 MiB) more fit in 4 MiB; 128 (8 MiB) do not.
    let ok = runtime
        .invoke(&grow, &Args::new().arg(&32)?, &options)
        .result?;
    assert_eq!(ok.decode::<i32>()?, 1);
    let e = runtime
        .invoke(&grow, &Args::new().arg(&128)?, &options)
        .result
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::MemoryLimitExceeded, "{e}");
    Ok(())
}

#[test]
fn a_trap_is_a_trap_and_the_runtime_serves_on() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let e = runtime
        .invoke(&m.task("trap")?, &Args::new(), &InvokeOptions::default())
        .result
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Trap, "{e}");
    assert!(e.message().contains("unreachable"), "{e}");
    let e = runtime
        .invoke(
            &m.task("echo-string")?,
            &Args::new().arg(&vec!["x".repeat(100)])?,
            &limits(|l| l.max_result_bytes = Some(50)),
        )
        .result
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Abi(AbiViolation::ResultTooLarge),
        "{e}"
    );
    let e = runtime
        .invoke(
            &m.task("echo-string")?,
            &Args::new().arg(&vec!["x".repeat(100)])?,
            &limits(|l| l.max_argument_bytes = Some(50)),
        )
        .result
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
        "{e}"
    );
    assert_eq!(
        echo(&runtime, &m, "echo-u8", Mp::Binary(vec![1]))?,
        Mp::Binary(vec![1])
    );
    Ok(())
}

/// A component that sleeps through WASI preview 2: `subscribe-duration`, then
/// `pollable.block` (a host call, where the epoch deadline cannot reach).
const SLEEPER: &str = r#"(component $root
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow 0))))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (alias outer $root $pollable (type $p))
    (export "pollable" (type $p' (eq $p)))
    (export "subscribe-duration" (func (param "when" u64) (result (own $p'))))))
  (core func $subscribe (canon lower (func $clock "subscribe-duration")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core module $m
    (import "host" "subscribe" (func $subscribe (param i64) (result i32)))
    (import "host" "block" (func $block (param i32)))
    (func (export "sleep") (param i64) (call $block (call $subscribe (local.get 0)))))
  (core instance $i (instantiate $m (with "host" (instance
    (export "subscribe" (func $subscribe))
    (export "block" (func $block))))))
  (func (export "sleep") (param "nanos" u64) (canon lift (core func $i "sleep"))))"#;

#[test]
fn a_component_sleeping_in_wasi_stops_at_its_deadline() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = runtime.load_wat("sleeper", SLEEPER)?;
    let sleep = m.task("sleep")?;
    let nap = Args::new().arg(&1_000_000u64)?;
    runtime
        .invoke(&sleep, &nap, &InvokeOptions::default())
        .result?;
    // An hour's sleep under a 50 ms deadline: a Timeout, not an hour's wait.
    let hour = Args::new().arg(&3_600_000_000_000u64)?;
    let options = limits(|l| l.timeout = Some(Duration::from_millis(50)));
    let e = runtime.invoke(&sleep, &hour, &options).result.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    Ok(())
}

#[test]
fn a_compiled_component_is_loaded_from_the_cache_directory() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir()?;
    let first = Runtime::builder().cache_dir(dir.path()).build()?;
    fixture(&first)?;
    let artifacts: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let stored = artifacts[0].metadata()?.ino();
    // A second runtime (another process, as far as the cache knows) loads, not compiles:
    // a compiled artifact would have been written as a new file.
    let second = Runtime::builder().cache_dir(dir.path()).build()?;
    let m = fixture(&second)?;
    assert_eq!(std::fs::metadata(artifacts[0].path())?.ino(), stored);
    let sum = second.invoke(
        &m.task("add")?,
        &Args::new().arg(&1)?.arg(&2)?,
        &InvokeOptions::default(),
    );
    assert_eq!(sum.result?.decode::<i64>()?, 3);
    Ok(())
}

#[test]
fn a_byte_list_result_of_megabytes_is_returned() -> Result<()> {
    // 3.5 MB lift into more host values than wasmtime's default allowance of 128 MiB
    // (about 40 bytes per element); the runtime allows 8 × max_result_bytes.
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    let bytes: Vec<u8> = (0..3_500_000u32).map(|i| i as u8).collect();
    let back = echo(&runtime, &m, "echo-u8", Mp::Binary(bytes.clone()))?;
    assert_eq!(back, Mp::Binary(bytes));
    Ok(())
}

#[test]
fn a_result_over_the_hostcall_fuel_is_result_too_large() -> Result<()> {
    // With a 1 MiB result limit the host lifts at most 128 MiB of values (its floor):
    // 5 MB of `list<u8>` would take about 160 MB, so wasmtime stops lifting it and the
    // task is recorded as ResultTooLarge, not as a host error. 2 MB lift (64 MB of
    // values) but encode past the limit: ResultTooLarge too.
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    for size in [5_000_000usize, 2_000_000] {
        let args = Args::from_values([msgpack(&Mp::Binary(vec![7; size]))]);
        let e = runtime
            .invoke(
                &m.task("echo-u8")?,
                &args,
                &limits(|l| l.max_result_bytes = Some(1 << 20)),
            )
            .result
            .unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::Abi(AbiViolation::ResultTooLarge),
            "{size}: {e}"
        );
        assert!(e.message().contains("1048576 bytes"), "{size}: {e}");
    }
    // The same instance's neighbours are unaffected: a result under the limit returns.
    let small = Mp::Binary(vec![7; 1000]);
    assert_eq!(echo(&runtime, &m, "echo-u8", small.clone())?, small);
    Ok(())
}

#[test]
fn a_small_argument_cannot_stand_for_millions_of_values() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = fixture(&runtime)?;
    // An empty map is a record of 40 missing `option` fields: 1 byte, 40 values.
    let one = echo(&runtime, &m, "echo-wide", Mp::Array(vec![map(vec![])]))?;
    assert_eq!(one.as_array().map(|a| a.len()), Some(1));
    let many = Mp::Array(vec![map(vec![]); 10_000]);
    let message = argument_error(&runtime, &m, "echo-wide", &[many])?;
    assert!(
        message.contains("more component values than its size allows"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_component_looping_while_it_starts_hits_its_deadline() -> Result<()> {
    let runtime = Runtime::new()?;
    let m = runtime.load_wat(
        "loops-at-start",
        r#"(component
  (core module $m
    (func $forever (loop $l (br $l)))
    (start $forever)
    (func (export "noop")))
  (core instance $i (instantiate $m))
  (func (export "noop") (canon lift (core func $i "noop"))))"#,
    )?;
    let options = limits(|l| l.timeout = Some(Duration::from_millis(50)));
    let e = runtime
        .invoke(&m.task("noop")?, &Args::new(), &options)
        .result
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    Ok(())
}

#[test]
fn a_component_importing_what_the_host_does_not_provide_is_refused_naming_it() -> Result<()> {
    let runtime = Runtime::new()?;
    let error = runtime
        .load_wat(
            "wants-more",
            r#"(component
  (import "evil:host/escape" (instance $e (export "run" (func))))
  (core func $run (canon lower (func $e "run")))
  (core module $m (import "" "run" (func)) (func (export "noop")))
  (core instance $i (instantiate $m (with "" (instance (export "run" (func $run))))))
  (func (export "noop") (canon lift (core func $i "noop"))))"#,
        )
        .unwrap_err();
    assert!(matches!(error, LoadError::Link { .. }), "{error}");
    assert!(error.to_string().contains("evil:host/escape"), "{error}");
    Ok(())
}

#[test]
fn the_memory_limit_covers_all_of_a_components_memories_together() -> Result<()> {
    // Two core instances with 2.5 MiB of memory each: either fits in 4 MiB, both do not.
    let runtime = Runtime::new()?;
    let m = runtime.load_wat(
        "two-memories",
        r#"(component
  (core module $a (memory (export "memory") 40))
  (core module $b (memory (export "memory") 40) (func (export "noop")))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b))
  (func (export "noop") (canon lift (core func $ib "noop"))))"#,
    )?;
    let noop = m.task("noop")?;
    let roomy = limits(|l| l.memory_bytes = Some(8 << 20));
    runtime.invoke(&noop, &Args::new(), &roomy).result?;
    let tight = limits(|l| l.memory_bytes = Some(4 << 20));
    let e = runtime
        .invoke(&noop, &Args::new(), &tight)
        .result
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::MemoryLimitExceeded, "{e}");
    Ok(())
}
