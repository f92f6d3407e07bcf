//! Checks the built module has the shape of guest ABI v1.

use std::collections::BTreeSet;

/// The parts of a wasm module these checks look at.
#[derive(Default)]
struct Module {
    imports: Vec<(String, String)>,
    exports: Vec<String>,
    custom: Vec<(String, Vec<u8>)>,
}

fn leb(bytes: &[u8], at: &mut usize) -> u32 {
    let (mut value, mut shift) = (0u32, 0);
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

fn name(bytes: &[u8], at: &mut usize) -> String {
    let len = leb(bytes, at) as usize;
    let name = std::str::from_utf8(&bytes[*at..*at + len])
        .unwrap()
        .to_owned();
    *at += len;
    name
}

fn parse(bytes: &[u8]) -> Module {
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "a core wasm module");
    let mut module = Module::default();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let size = leb(bytes, &mut at) as usize;
        let end = at + size;
        let mut p = at;
        match id {
            0 => {
                let section = name(bytes, &mut p);
                module.custom.push((section, bytes[p..end].to_vec()));
            }
            2 => {
                for _ in 0..leb(bytes, &mut p) {
                    let import = (name(bytes, &mut p), name(bytes, &mut p));
                    assert_eq!(bytes[p], 0, "only function imports: {import:?}");
                    p += 1;
                    leb(bytes, &mut p);
                    module.imports.push(import);
                }
            }
            7 => {
                for _ in 0..leb(bytes, &mut p) {
                    module.exports.push(name(bytes, &mut p));
                    p += 1;
                    leb(bytes, &mut p);
                }
            }
            _ => {}
        }
        at = end;
    }
    module
}

#[test]
fn tasks_module_has_the_abi_v1_shape() {
    let module = parse(&std::fs::read(crate::TASKS_WASM).unwrap());

    let import_modules: BTreeSet<&str> = module.imports.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        import_modules.is_subset(&BTreeSet::from(["wasi_snapshot_preview1", "wasmtaps"])),
        "{import_modules:?}"
    );
    let wasmtaps: Vec<&str> = module
        .imports
        .iter()
        .filter(|(m, _)| m == "wasmtaps")
        .map(|(_, f)| f.as_str())
        .collect();
    assert_eq!(wasmtaps, ["panic"]);

    assert!(module.exports.iter().any(|e| e == "memory"));
    assert!(module.exports.iter().any(|e| e == "wasmtaps_alloc"));
    let exported: BTreeSet<&str> = module
        .exports
        .iter()
        .filter_map(|e| e.strip_prefix("wasmtaps_task_"))
        .collect();

    let mut manifest = Vec::new();
    for (_, mut content) in module
        .custom
        .iter()
        .filter(|(n, _)| n == "wasmtaps.tasks")
        .map(|(n, c)| (n, c.as_slice()))
    {
        while !content.is_empty() {
            manifest.push(rmpv::decode::read_value(&mut content).unwrap());
        }
    }
    let field = |entry: &rmpv::Value, key: &str| {
        entry
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let mut named = BTreeSet::new();
    for entry in &manifest {
        assert_eq!(entry.as_map().unwrap().len(), 4, "{entry}");
        assert_eq!(field(entry, "abi").as_u64(), Some(1));
        let name = field(entry, "name").as_str().unwrap().to_owned();
        let export = field(entry, "export");
        assert_eq!(
            export.as_str(),
            Some(format!("wasmtaps_task_{name}").as_str())
        );
        assert!(field(entry, "params").is_array());
        assert!(named.insert(name), "one entry per task");
    }
    let named: BTreeSet<&str> = named.iter().map(String::as_str).collect();
    assert_eq!(named, exported);

    let expected = [
        "add",
        "alloc_bytes",
        "byte_len",
        "checksum",
        "divide",
        "eprint",
        "fail_panic",
        "greet",
        "make_bytes",
        "matmul",
        "noop",
        "parse_int",
        "print_lines",
        "read_file",
        "recurse",
        "reverse_bytes",
        "sleep",
        "spin",
        "sum_list",
        "word_count",
    ];
    assert_eq!(exported, BTreeSet::from(expected));
    let add = manifest
        .iter()
        .find(|e| field(e, "name").as_str() == Some("add"))
        .unwrap();
    assert_eq!(
        field(add, "params"),
        rmpv::Value::from(vec![rmpv::Value::from("a"), "b".into()])
    );
}
