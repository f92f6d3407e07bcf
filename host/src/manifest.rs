//! The `wasmtaps.tasks` manifest: which tasks a module offers and their parameter names.

use crate::msgpack::Reader;

/// The name of the custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "wasmtaps.tasks";
/// The prefix of every task export.
pub const TASK_EXPORT_PREFIX: &str = "wasmtaps_task_";
/// The ABI version this host implements.
pub const ABI_VERSION: u64 = 1;

/// One task a module offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// The name callers use.
    pub name: String,
    /// The export that implements it.
    pub export: String,
    /// Parameter names, when the module has a manifest.
    pub params: Option<Vec<String>>,
}

/// Parses the concatenated manifest entries of all `wasmtaps.tasks` sections.
pub(crate) fn parse(section: &[u8]) -> Result<Vec<TaskSpec>, String> {
    let mut reader = Reader::new(section);
    let mut tasks = Vec::new();
    while !reader.at_end() {
        let at = reader.pos();
        let entry =
            read_entry(&mut reader).map_err(|e| format!("manifest entry at byte {at}: {e}"))?;
        if tasks.iter().any(|t: &TaskSpec| t.name == entry.name) {
            return Err(format!("manifest names task `{}` twice", entry.name));
        }
        tasks.push(entry);
    }
    Ok(tasks)
}

fn read_entry(r: &mut Reader<'_>) -> Result<TaskSpec, String> {
    let len = r
        .map_len()
        .map_err(|e| e.to_string())?
        .ok_or("expected a map")?;
    let (mut abi, mut name, mut export, mut params) = (None, None, None, None);
    for _ in 0..len {
        let key = r
            .str()
            .map_err(|e| e.to_string())?
            .ok_or("keys must be strings")?;
        let start = r.pos();
        r.skip_value().map_err(|e| e.to_string())?;
        let raw = r.span(start, r.pos());
        let value: rmpv::Value =
            rmpv::decode::read_value(&mut &raw[..]).map_err(|e| e.to_string())?;
        match key {
            "abi" => abi = value.as_u64(),
            "name" => name = value.as_str().map(str::to_owned),
            "export" => export = value.as_str().map(str::to_owned),
            "params" => {
                let items = value
                    .as_array()
                    .ok_or("`params` must be an array of strings")?;
                let names = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("`params` must be an array of strings")?;
                params = Some(names);
            }
            _ => {} // unknown keys are reserved for later ABI revisions
        }
    }
    match abi {
        Some(ABI_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "unsupported ABI version {other} (this host implements {ABI_VERSION})"
            ));
        }
        None => return Err("missing `abi`".into()),
    }
    let name = name.ok_or("missing `name`")?;
    let export = export.ok_or("missing `export`")?;
    Ok(TaskSpec {
        name,
        export,
        params: Some(params.ok_or("missing `params`")?),
    })
}

fn leb(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut result: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or("truncated LEB128 number")?;
        *pos += 1;
        result |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err("malformed LEB128 number".into())
}

/// Calls `visit(id, contents)` for each top-level section of a wasm binary.
///
/// Only the section framing is read here; wasmtime validates the module itself.
fn for_each_section(
    wasm: &[u8],
    mut visit: impl FnMut(u8, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    if wasm.len() < 8 {
        return Err("shorter than a wasm header".into());
    }
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = usize::try_from(leb(wasm, &mut pos)?).map_err(|_| "section too large")?;
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= wasm.len())
            .ok_or("section runs past the end")?;
        visit(id, &wasm[pos..end])?;
        pos = end;
    }
    Ok(())
}

/// The concatenated contents of every custom section called `name`, or `None`.
pub(crate) fn custom_section(wasm: &[u8], name: &str) -> Result<Option<Vec<u8>>, String> {
    let mut found: Option<Vec<u8>> = None;
    for_each_section(wasm, |id, body| {
        if id == 0 {
            let mut p = 0;
            let name_len = usize::try_from(leb(body, &mut p)?).map_err(|_| "name too long")?;
            let name_end = p
                .checked_add(name_len)
                .filter(|&e| e <= body.len())
                .ok_or("custom section name runs past the section")?;
            if &body[p..name_end] == name.as_bytes() {
                found
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&body[name_end..]);
            }
        }
        Ok(())
    })?;
    Ok(found)
}

/// The largest initial size, in bytes, of the memories the module defines.
///
/// Read before compiling, so a module asking for more memory than the runtime allows
/// gets that error rather than a compile failure from the pooling allocator.
pub(crate) fn declared_memory_bytes(wasm: &[u8]) -> Result<u64, String> {
    const MEMORY_SECTION: u8 = 5;
    let mut largest = 0u64;
    for_each_section(wasm, |id, body| {
        if id != MEMORY_SECTION {
            return Ok(());
        }
        let mut p = 0;
        for _ in 0..leb(body, &mut p)? {
            let flags = *body.get(p).ok_or("truncated memory section")?;
            p += 1;
            let minimum = leb(body, &mut p)?;
            if flags & 0x01 != 0 {
                leb(body, &mut p)?; // maximum
            }
            // The custom-page-sizes proposal stores log2(page size) after the limits.
            let page = if flags & 0x08 != 0 {
                1u64 << leb(body, &mut p)?.min(16)
            } else {
                65536
            };
            largest = largest.max(minimum.saturating_mul(page));
        }
        Ok(())
    })?;
    Ok(largest)
}
