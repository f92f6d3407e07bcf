//! One linear pass over an untrusted wasm binary, before anything compiles it.
//!
//! Cranelift's compile time grows faster than linearly with a function's size, so a
//! module is measured against the runtime's [`CompileBudget`] first; the same pass reads
//! the memory the module declares and collects its `wasmtaps.tasks` manifest. Only the
//! section framing and the few sections named here are decoded (with `wasmparser`, the
//! parser wasmtime itself uses); wasmtime validates the rest when it compiles.

use wasmparser::{CompositeInnerType, FunctionBody, Parser, Payload, TypeRef};

use crate::manifest::MANIFEST_SECTION;

/// How much code the runtime agrees to compile for one module.
///
/// Every cap is checked on the wasm binary before Cranelift runs, so a module over
/// budget costs one pass over its bytes, never a compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileBudget {
    /// The largest module, in bytes of wasm binary (or of WAT text, before it is parsed).
    pub max_module_bytes: u64,
    /// The largest body of any one function, in bytes.
    pub max_function_bytes: u64,
    /// The most locals (parameters included) of any one function. Cranelift's time
    /// grows with the product of a function's branches and its locals, so a small body
    /// declaring thousands of locals can take as long as a huge one.
    pub max_function_locals: u64,
    /// The largest product of one function's body size in bytes and its locals: a
    /// function may be as large as [`max_function_bytes`](Self::max_function_bytes) or
    /// have as many locals as [`max_function_locals`](Self::max_function_locals), but
    /// not both, which is what bounds its compile time.
    pub max_function_bytes_times_locals: u64,
}

impl CompileBudget {
    /// The default: 64 MiB modules, 512 KiB function bodies, 512 locals per function,
    /// and at most 32 Mi for a body's bytes times its locals (the corner of 128 KiB
    /// over 256 locals).
    ///
    /// The toolchains that build Python and JavaScript components need the larger
    /// caps, not the larger product: CPython (componentize-py 0.25) has a 427 KB
    /// function with no locals and a 12.8 KB one with 273; the largest product in its
    /// 13,369 functions is 3.6 Mi (76 KB × 48). SpiderMonkey (componentize-js 0.23):
    /// 172 KB over 52 locals, at most 122 locals, largest product 9.3 Mi. QuickJS
    /// (componentize-qjs): 54 KB, 86 locals, 3.8 Mi. The Rust, C, Zig and Go example
    /// modules stay far below (largest body 24 KiB, 43 locals).
    ///
    /// Measured with generated worst cases (an `if` every 13 bytes over random locals,
    /// `wasmtaps call --cache-dir none`, median user CPU time of 3 and peak RSS of the
    /// process, on the shared 2-core development machine at load 9 to 11): 123 KB over
    /// 254 locals (the old default's corner) 0.86 s and 153 MB; 552 KB over 64 locals
    /// 2.65 s and 373 MB; 200 KB over 181 locals 1.57 s and 200 MB; 76 KB over 512
    /// locals 0.79 s and 141 MB. All three caps are
    /// needed, as the time grows faster than the body and with the locals: 166 KB over
    /// 1,000 locals took 15 s, 332 KB over 1,000 locals 36 s. The caps bound each
    /// function, so a whole module's compile time is bounded by its size.
    pub const DEFAULT: CompileBudget = CompileBudget {
        max_module_bytes: 64 << 20,
        max_function_bytes: 512 << 10,
        max_function_locals: 512,
        max_function_bytes_times_locals: (128 << 10) * 256,
    };
}

impl Default for CompileBudget {
    fn default() -> Self {
        CompileBudget::DEFAULT
    }
}

/// What loading needs to know about a module before compiling it.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    /// The contents of every `wasmtaps.tasks` custom section, concatenated in order.
    pub(crate) manifest: Option<Vec<u8>>,
    /// The largest initial size, in bytes, of the memories the module defines.
    pub(crate) largest_memory: u64,
    /// The largest function body: its index in the function index space and its size.
    pub(crate) largest_function: Option<(u32, u64)>,
    /// The function with the most locals (parameters included): its index and count.
    pub(crate) most_locals: Option<(u32, u64)>,
    /// The function with the largest product of body bytes and locals: its index, body
    /// size and locals.
    pub(crate) heaviest_function: Option<(u32, u64, u64)>,
}

/// Reads `wasm` once, front to back; a component's nested core modules are read too,
/// and each is held to the same budget.
///
/// # Errors
/// Describes the first malformed section framing or entry met.
pub(crate) fn survey(wasm: &[u8]) -> Result<Survey, String> {
    let mut found = Survey::default();
    let mut imported_functions: u32 = 0;
    let mut defined_functions: u32 = 0;
    // Parameter counts by type index, and the type index of each defined function:
    // one entry per entry read, so bounded by the module's size.
    let mut type_params: Vec<u64> = Vec::new();
    let mut function_types: Vec<u32> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            // A component nests core modules, each with its own index spaces: every
            // module (or component) starts with a header, and its counts start again.
            Payload::Version { .. } => {
                imported_functions = 0;
                defined_functions = 0;
                type_params.clear();
                function_types.clear();
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if let TypeRef::Func(_) | TypeRef::FuncExact(_) =
                        import.map_err(|e| e.to_string())?.ty
                    {
                        imported_functions = imported_functions.saturating_add(1);
                    }
                }
            }
            Payload::MemorySection(memories) => {
                for memory in memories {
                    let memory = memory.map_err(|e| e.to_string())?;
                    // A page size past 2^16 is invalid; wasmtime rejects it when compiling.
                    let page = 1u64
                        .checked_shl(memory.page_size_log2.unwrap_or(16))
                        .unwrap_or(u64::MAX);
                    let bytes = memory.initial.saturating_mul(page);
                    found.largest_memory = found.largest_memory.max(bytes);
                }
            }
            Payload::TypeSection(groups) => {
                for group in groups {
                    for ty in group.map_err(|e| e.to_string())?.into_types() {
                        type_params.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u64,
                            _ => 0,
                        });
                    }
                }
            }
            Payload::FunctionSection(functions) => {
                for ty in functions {
                    function_types.push(ty.map_err(|e| e.to_string())?);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let params = function_types
                    .get(defined_functions as usize)
                    .and_then(|&ty| type_params.get(ty as usize))
                    .copied()
                    .unwrap_or(0);
                let index = imported_functions.saturating_add(defined_functions);
                defined_functions = defined_functions.saturating_add(1);
                let bytes = body.range().len() as u64;
                if found.largest_function.is_none_or(|(_, most)| bytes > most) {
                    found.largest_function = Some((index, bytes));
                }
                let locals = params.saturating_add(declared_locals(&body)?);
                if found.most_locals.is_none_or(|(_, most)| locals > most) {
                    found.most_locals = Some((index, locals));
                }
                let weight = bytes.saturating_mul(locals);
                if found
                    .heaviest_function
                    .is_none_or(|(_, b, l)| weight > b.saturating_mul(l))
                {
                    found.heaviest_function = Some((index, bytes, locals));
                }
            }
            Payload::CustomSection(section) if section.name() == MANIFEST_SECTION => {
                found
                    .manifest
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(section.data());
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The locals a function body declares (its parameters not included).
fn declared_locals(body: &FunctionBody<'_>) -> Result<u64, String> {
    let mut reader = body.get_locals_reader().map_err(|e| e.to_string())?;
    let mut total: u64 = 0;
    for _ in 0..reader.get_count() {
        let (count, _) = reader.read().map_err(|e| e.to_string())?;
        total = total.saturating_add(u64::from(count));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_function_sizes_and_manifest_in_one_pass() {
        let wasm = wat::parse_str(
            r#"(module
                (import "wasmtaps" "panic" (func (param i32 i32)))
                (memory 3)
                (func (param i32 i64) (local f32))
                (func (local i32 i32 i32 i32) (drop (i32.add (i32.const 1) (i32.const 2))))
                (@custom "wasmtaps.tasks" "ab")
                (@custom "other" "zz")
                (@custom "wasmtaps.tasks" "cd"))"#,
        )
        .unwrap();
        let found = survey(&wasm).unwrap();
        assert_eq!(found.largest_memory, 3 << 16);
        assert_eq!(found.manifest.as_deref(), Some(&b"abcd"[..]));
        let (index, bytes) = found.largest_function.unwrap();
        assert_eq!(index, 2, "one imported function comes first");
        assert!(bytes > 2, "{bytes}");
        assert_eq!(found.most_locals, Some((2, 4)));
        let (index, _, locals) = found.heaviest_function.unwrap();
        assert_eq!((index, locals), (2, 4), "the larger body with more locals");
    }

    #[test]
    fn malformed_framing_is_an_error_not_a_panic() {
        assert!(survey(b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f").is_err());
        assert!(survey(b"\0asm").is_err());
        assert!(survey(b"\0asm\x01\0\0\0\x05\x03\x01\x00").is_err());
    }
}
