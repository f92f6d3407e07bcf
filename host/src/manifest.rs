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

/// The concatenated contents of every custom section called `name`, or `None`.
///
/// Only the section framing is read here; wasmtime validates the module itself.
pub(crate) fn custom_section(wasm: &[u8], name: &str) -> Result<Option<Vec<u8>>, String> {
    fn leb(bytes: &[u8], pos: &mut usize) -> Result<usize, String> {
        let mut result: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = *bytes.get(*pos).ok_or("truncated section header")?;
            *pos += 1;
            result |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(result).map_err(|_| "section too large".to_string());
            }
        }
        Err("malformed LEB128 in section header".into())
    }
    if wasm.len() < 8 {
        return Err("shorter than a wasm header".into());
    }
    let mut pos = 8;
    let mut found: Option<Vec<u8>> = None;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos)?;
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= wasm.len())
            .ok_or("section runs past the end")?;
        if id == 0 {
            let mut p = pos;
            let name_len = leb(wasm, &mut p)?;
            let name_end = p
                .checked_add(name_len)
                .filter(|&e| e <= end)
                .ok_or("custom section name runs past the section")?;
            if &wasm[p..name_end] == name.as_bytes() {
                found
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&wasm[name_end..end]);
            }
        }
        pos = end;
    }
    Ok(found)
}
