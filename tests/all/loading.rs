//! Loading modules: every ABI violation is a clear load error; good modules are cached.

use anyhow::Result;
use wasmtaps::runtime::CompileBudget;
use wasmtaps::{Args, LoadError, Runtime};

use crate::support::{OK_NIL, wat, wat_with_imports};

fn load_err(runtime: &Runtime, text: &str) -> LoadError {
    match runtime.load_wat("bad", text) {
        Ok(m) => panic!(
            "module loaded with tasks {:?}; expected a load error",
            m.tasks()
        ),
        Err(e) => e,
    }
}

#[test]
fn an_import_from_an_unknown_module_is_named() -> Result<()> {
    let runtime = Runtime::new()?;
    let err = load_err(
        &runtime,
        &wat_with_imports(r#"(import "env" "steal" (func))"#, ""),
    );
    assert!(
        matches!(&err, LoadError::Import { module, field, .. } if module == "env" && field == "steal"),
        "{err}"
    );
    assert!(err.to_string().contains("env::steal"), "{err}");
    let err = load_err(
        &runtime,
        &wat_with_imports(r#"(import "wasmtaps" "spawn" (func))"#, ""),
    );
    assert!(
        matches!(&err, LoadError::Import { field, .. } if field == "spawn"),
        "{err}"
    );
    Ok(())
}

#[test]
fn an_unknown_wasi_function_cannot_be_linked() -> Result<()> {
    let runtime = Runtime::new()?;
    let err = load_err(
        &runtime,
        &wat_with_imports(
            r#"(import "wasi_snapshot_preview1" "sock_steal" (func))"#,
            "",
        ),
    );
    assert!(matches!(err, LoadError::Link { .. }), "{err}");
    assert!(err.to_string().contains("sock_steal"), "{err}");
    Ok(())
}

#[test]
fn missing_exports_are_named() -> Result<()> {
    let runtime = Runtime::new()?;
    let no_memory = r#"(module
        (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64) (i64.const 0)))"#;
    let err = load_err(&runtime, no_memory);
    assert!(
        matches!(err, LoadError::Abi { .. }) && err.to_string().contains("memory"),
        "{err}"
    );
    let no_alloc = r#"(module (memory (export "memory") 1)
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64) (i64.const 0)))"#;
    let err = load_err(&runtime, no_alloc);
    assert!(err.to_string().contains("wasmtaps_alloc"), "{err}");
    let no_tasks = r#"(module (memory (export "memory") 1)
        (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 0)))"#;
    let err = load_err(&runtime, no_tasks);
    assert!(err.to_string().contains("no tasks"), "{err}");
    Ok(())
}

#[test]
fn wrong_export_signatures_are_refused() -> Result<()> {
    let runtime = Runtime::new()?;
    let bad_task =
        wat(r#"(func (export "wasmtaps_task_bad") (param i32) (result i32) (i32.const 0))"#);
    let err = load_err(&runtime, &bad_task);
    assert!(err.to_string().contains("wasmtaps_task_bad"), "{err}");
    let bad_alloc = r#"(module (memory (export "memory") 1)
        (func (export "wasmtaps_alloc") (param i64) (result i64) (i64.const 0))
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64) (i64.const 0)))"#;
    let err = load_err(&runtime, bad_alloc);
    assert!(err.to_string().contains("wasmtaps_alloc"), "{err}");
    // The exports are called without a per-call type check (host/src/abi_call.rs), so
    // each must be refused here: `_initialize` too.
    let bad_initialize =
        wat(r#"(func (export "_initialize") (param i32) (result i32) (local.get 0))"#);
    let err = load_err(&runtime, &bad_initialize);
    assert!(err.to_string().contains("_initialize"), "{err}");
    let memory_not_memory = r#"(module (global (export "memory") i32 (i32.const 0))
        (func (export "wasmtaps_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64) (i64.const 0)))"#;
    let err = load_err(&runtime, memory_not_memory);
    assert!(err.to_string().contains("memory"), "{err}");
    Ok(())
}

#[test]
fn bytes_that_are_not_wasm_are_refused() -> Result<()> {
    let runtime = Runtime::new()?;
    let err = runtime
        .load_bytes("junk", b"\x7fELF\x02\x01\x01 this is not wasm")
        .unwrap_err();
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");
    let err = runtime
        .load_bytes("truncated", b"\0asm\x01\0\0\0\x01\x05")
        .unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
    let err = runtime.load_file("/nonexistent/task.wasm").unwrap_err();
    assert!(
        matches!(err, LoadError::Io { .. }) && err.to_string().contains("/nonexistent/task.wasm"),
        "{err}"
    );
    Ok(())
}

/// A manifest entry: {"abi": 1, "name": NAME, "export": EXPORT, "params": PARAMS}.
fn manifest_entry(name: &str, export: &str, params: &[&str]) -> String {
    let value = rmpv::Value::Map(vec![
        ("abi".into(), 1.into()),
        ("name".into(), name.into()),
        ("export".into(), export.into()),
        (
            "params".into(),
            rmpv::Value::Array(params.iter().map(|p| (*p).into()).collect()),
        ),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A task that returns its input (`[args, kwargs]`) as its value.
const ECHO: &str = r#"(func (export "wasmtaps_task_echo") (param $ptr i32) (param $len i32) (result i64)
    (i32.store8 (i32.sub (local.get $ptr) (i32.const 4)) (i32.const 0x81))
    (i32.store8 (i32.sub (local.get $ptr) (i32.const 3)) (i32.const 0xa2))
    (i32.store8 (i32.sub (local.get $ptr) (i32.const 2)) (i32.const 0x6f))
    (i32.store8 (i32.sub (local.get $ptr) (i32.const 1)) (i32.const 0x6b))
    (i64.or
      (i64.shl (i64.extend_i32_u (i32.sub (local.get $ptr) (i32.const 4))) (i64.const 32))
      (i64.extend_i32_u (i32.add (local.get $len) (i32.const 4)))))"#;

#[test]
fn the_manifest_names_tasks_and_maps_kwargs_onto_parameters() -> Result<()> {
    let runtime = Runtime::new()?;
    // Two manifest sections, concatenated: tasks can come from separate object files.
    let text = wat(&format!(
        r#"(@custom "wasmtaps.tasks" "{}")
           (@custom "wasmtaps.tasks" "{}")
           {ECHO}"#,
        manifest_entry("triple", "wasmtaps_task_echo", &["a", "b", "c"]),
        manifest_entry("fine", "wasmtaps_task_ok", &[]),
    ));
    let module = runtime.load_wat("manifested", &text)?;
    assert!(module.has_manifest());
    let names: Vec<&str> = module.tasks().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["triple", "fine"]);
    let triple = module.task("triple")?;
    assert_eq!(
        triple.params(),
        Some(&["a".to_owned(), "b".to_owned(), "c".to_owned()][..])
    );
    let args = Args::new().arg(&1)?.kwarg("c", &3)?.kwarg("b", &2)?;
    let echoed: (Vec<i64>, std::collections::BTreeMap<String, i64>) = runtime
        .invoke(&triple, &args, &Default::default())
        .result?
        .decode()?;
    assert_eq!(echoed.0, [1, 2, 3]);
    assert!(echoed.1.is_empty());
    for (bad, expected) in [
        (
            Args::new().arg(&1)?.kwarg("a", &1)?,
            "multiple values for argument 'a'",
        ),
        (
            Args::new().arg(&1)?.kwarg("zzz", &1)?,
            "unexpected keyword argument 'zzz'",
        ),
        (
            Args::new().arg(&1)?,
            "missing 2 required arguments: 'b', 'c'",
        ),
        (
            Args::new().arg(&1)?.arg(&2)?.arg(&3)?.arg(&4)?,
            "takes 3 positional arguments but 4 were given",
        ),
    ] {
        let error = runtime
            .invoke(&triple, &bad, &Default::default())
            .result
            .unwrap_err();
        assert_eq!(error.type_name(), "ArgumentError");
        assert!(error.message().contains(expected), "{error}");
    }
    Ok(())
}

#[test]
fn without_a_manifest_kwargs_are_refused() -> Result<()> {
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("plain", &wat(ECHO))?;
    assert!(!module.has_manifest());
    let echo = module.task("echo")?;
    assert_eq!(echo.params(), None);
    let value = runtime
        .invoke(&echo, &Args::new().arg("x")?, &Default::default())
        .result?;
    assert_eq!(value.to_json()?, serde_json::json!([["x"], {}]));
    let error = runtime
        .invoke(&echo, &Args::new().kwarg("x", &1)?, &Default::default())
        .result
        .unwrap_err();
    assert_eq!(error.type_name(), "ArgumentError");
    Ok(())
}

#[test]
fn a_bad_manifest_is_a_load_error() -> Result<()> {
    let runtime = Runtime::new()?;
    let wrong_export = wat(&format!(
        r#"(@custom "wasmtaps.tasks" "{}")"#,
        manifest_entry("x", "wasmtaps_task_missing", &[])
    ));
    let err = load_err(&runtime, &wrong_export);
    assert!(err.to_string().contains("wasmtaps_task_missing"), "{err}");
    let garbage = wat(r#"(@custom "wasmtaps.tasks" "\c1\c1")"#);
    let err = load_err(&runtime, &garbage);
    assert!(err.to_string().contains("wasmtaps.tasks"), "{err}");
    Ok(())
}

#[test]
fn modules_are_compiled_once_per_content_and_cached_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let text = wat(&format!(
        r#"(func (export "wasmtaps_task_t") (param i32 i32) (result i64) {OK_NIL})"#
    ));
    let runtime = Runtime::builder().cache_dir(dir.path()).build()?;
    let first = runtime.load_wat("a", &text)?;
    let again = runtime.load_wat("b", &text)?;
    assert_eq!(first.hash(), again.hash());
    assert_eq!(
        again.name(),
        "a",
        "the second load returns the module compiled by the first"
    );
    let cached: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(cached.len(), 1, "one precompiled artifact on disk");
    // A new runtime (as in a new process) loads the artifact, and a corrupted one is recompiled.
    let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
    let loaded = fresh.load_wat("c", &text)?;
    assert!(
        fresh
            .invoke(&loaded.task("t")?, &Args::new(), &Default::default())
            .result
            .is_ok()
    );
    std::fs::write(cached[0].path(), b"corrupt")?;
    let recovered = Runtime::builder()
        .cache_dir(dir.path())
        .build()?
        .load_wat("d", &text)?;
    assert_eq!(recovered.hash(), first.hash());
    Ok(())
}

/// `wasm` with a custom section called `name` holding `data` appended.
fn with_custom_section(mut wasm: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    wasm.push(0);
    leb(body.len(), &mut wasm);
    wasm.extend_from_slice(&body);
    wasm
}

/// One MessagePack manifest entry naming `wasmtaps_task_ok`.
fn raw_entry(name: &str) -> Vec<u8> {
    let value = rmpv::Value::Map(vec![
        ("abi".into(), 1.into()),
        ("name".into(), name.into()),
        ("export".into(), "wasmtaps_task_ok".into()),
        ("params".into(), rmpv::Value::Array(Vec::new())),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    bytes
}

#[test]
fn a_manifest_of_200k_entries_loads_and_a_duplicate_among_them_is_named() -> Result<()> {
    const ENTRIES: usize = 200_000;
    let runtime = Runtime::new()?;
    let base = wat::parse_str(wat(""))?;
    let manifest: Vec<u8> = (0..ENTRIES)
        .flat_map(|i| raw_entry(&format!("t{i}")))
        .collect();
    let wasm = with_custom_section(base.clone(), "wasmtaps.tasks", &manifest);
    let started = std::time::Instant::now();
    let module = runtime.load_bytes("many", &wasm)?;
    println!(
        "{ENTRIES} manifest entries ({} bytes) loaded in {:?}",
        manifest.len(),
        started.elapsed()
    );
    assert_eq!(module.tasks().len(), ENTRIES);
    let last = module.task(&format!("t{}", ENTRIES - 1))?;
    let value = runtime
        .invoke(&last, &Args::new(), &Default::default())
        .result?;
    assert_eq!(value.decode::<i64>()?, 1);

    // The same entries with the last one repeating the first: found however far apart.
    let mut duplicated = manifest;
    duplicated.extend(raw_entry("t0"));
    let wasm = with_custom_section(base, "wasmtaps.tasks", &duplicated);
    let err = runtime.load_bytes("dup", &wasm).unwrap_err();
    assert!(
        matches!(err, LoadError::Abi { .. }) && err.to_string().contains("`t0` twice"),
        "{err}"
    );
    Ok(())
}

/// A task module with one function of about `ifs * 13` bytes branching over `locals`
/// locals: Cranelift's worst case, as measured for `CompileBudget::DEFAULT`.
fn branchy(ifs: usize, locals: usize) -> String {
    let body: String = (0..ifs)
        .map(|i| {
            let (a, b) = (i % locals, (i * 7 + 3) % locals);
            format!("(if (local.get {a}) (then (local.set {b} (i32.add (local.get {b}) (i32.const {i})))))\n")
        })
        .collect();
    let declared = vec!["i32"; locals].join(" ");
    wat(&format!(
        r#"(func (export "wasmtaps_task_branchy") (param i32 i32) (result i64)
             (local {declared})
             {body}
             (i64.extend_i32_u (local.get 0)))"#
    ))
}

#[test]
fn a_function_over_the_compile_budget_is_refused_naming_it() -> Result<()> {
    // Well over the default 512 KiB: refused with its index, size and the cap.
    let huge = branchy(45_000, 4);
    let err = load_err(&Runtime::new()?, &huge);
    match &err {
        LoadError::FunctionTooLarge {
            index,
            bytes,
            maximum,
            ..
        } => {
            assert_eq!(*index, 2, "after wasmtaps_alloc and wasmtaps_task_ok");
            assert!(*bytes > 512 << 10, "{err}");
            assert_eq!(*maximum, CompileBudget::DEFAULT.max_function_bytes);
        }
        _ => panic!("expected FunctionTooLarge, got {err}"),
    }
    assert!(err.to_string().contains("function 2"), "{err}");

    // A small body with more locals (parameters counted) than the default allows.
    let many_locals = wat(&format!(
        r#"(func (param {}) (local {}))"#,
        vec!["i32"; 400].join(" "),
        vec!["i64"; 200].join(" ")
    ));
    let err = load_err(&Runtime::new()?, &many_locals);
    assert!(
        matches!(
            err,
            LoadError::TooManyLocals {
                index: 2,
                locals: 600,
                maximum: 512,
                ..
            }
        ),
        "{err}"
    );

    // Under both caps, but large and with many locals: over their product.
    let heavy = branchy(10_000, 300);
    let err = load_err(&Runtime::new()?, &heavy);
    match &err {
        LoadError::FunctionTooComplex {
            index: 2,
            bytes,
            locals: 302,
            maximum,
            ..
        } => {
            assert!(*bytes < CompileBudget::DEFAULT.max_function_bytes, "{err}");
            assert_eq!(
                *maximum,
                CompileBudget::DEFAULT.max_function_bytes_times_locals
            );
        }
        _ => panic!("expected FunctionTooComplex, got {err}"),
    }
    assert!(err.to_string().contains("bytes times locals"), "{err}");

    // A module over the module cap.
    let tight = Runtime::builder()
        .compile_budget(CompileBudget {
            max_module_bytes: 200,
            ..CompileBudget::DEFAULT
        })
        .build()?;
    let err = load_err(&tight, &wat(""));
    assert!(
        matches!(err, LoadError::ModuleTooLarge { maximum: 200, .. }),
        "{err}"
    );

    // A budget raised by the embedder compiles what the default refuses.
    let roomy = Runtime::builder()
        .compile_budget(CompileBudget {
            max_function_bytes: 1 << 20,
            max_function_locals: 1000,
            ..CompileBudget::DEFAULT
        })
        .build()?;
    assert_eq!(roomy.compile_budget().max_function_locals, 1000);
    let module = roomy.load_wat("many_locals", &many_locals)?;
    assert!(module.task("ok").is_ok());
    Ok(())
}

#[test]
fn the_worst_cases_at_the_default_budget_compile() -> Result<()> {
    // Near each corner of the default budget: the largest body with the locals the
    // product leaves it, and the most locals with the body the product leaves them.
    // Prints the times; asserts only that they load.
    let budget = CompileBudget::DEFAULT;
    for (ifs, declared) in [
        (30_000, 60),
        (3_800, budget.max_function_locals as usize - 2),
    ] {
        let text = branchy(ifs, declared);
        let runtime = Runtime::new()?;
        let started = std::time::Instant::now();
        let module = runtime.load_wat("worst", &text)?;
        println!(
            "{ifs} branches over {} locals compiled in {:?}",
            declared + 2,
            started.elapsed()
        );
        assert!(module.task("branchy").is_ok());
    }
    Ok(())
}
