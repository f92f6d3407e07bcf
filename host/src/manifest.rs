//! The `wasmtaps.tasks` manifest: which tasks a module offers and their parameter names.

use std::collections::HashSet;

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
///
/// Linear in the section's size: each name is checked against a set of those seen.
pub(crate) fn parse(section: &[u8]) -> Result<Vec<TaskSpec>, String> {
    let mut reader = Reader::new(section);
    let mut tasks = Vec::new();
    let mut seen = HashSet::new();
    while !reader.at_end() {
        let at = reader.pos();
        let entry =
            read_entry(&mut reader).map_err(|e| format!("manifest entry at byte {at}: {e}"))?;
        if !seen.insert(entry.name.clone()) {
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
