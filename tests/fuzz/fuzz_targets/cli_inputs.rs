//! Arbitrary text as the CLI's inputs: `--args`/`--kwargs` JSON (through `Args::from_json`),
//! the size and seconds flags, and a `wasmtaps run` TOML configuration file.
//!
//! The configuration code lives in the binary, so its files are compiled in here with
//! `#[path]`, at the same module paths as in `host/src/cli/`. A configuration that
//! resolves must also survive the trip through the `config.toml` written into the run
//! directory: resolving that file again gives the same configuration.
//!
//! Run with `scripts/fuzz cli_inputs SECONDS`.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use wasmtaps::{Args, Value};

#[allow(dead_code, unused_imports)]
#[path = "../../../host/src/cli"]
mod cli {
    pub(crate) mod parse;
    pub(crate) mod run {
        pub(crate) mod config;
    }
}

use cli::{parse, run::config};

fn json_args(text: &str) {
    let Ok(json) = parse::json(text) else {
        return;
    };
    let empty_args = serde_json::Value::Array(Vec::new());
    let empty_kwargs = serde_json::Value::Object(serde_json::Map::new());
    for (args, kwargs) in [(&json, &empty_kwargs), (&empty_args, &json)] {
        let Ok(parsed) = Args::from_json(args, kwargs) else {
            continue;
        };
        // Every value goes to MessagePack and comes back as the same JSON.
        let values = parsed
            .positional()
            .iter()
            .chain(parsed.keyword().iter().map(|(_, v)| v));
        let originals: Vec<&serde_json::Value> = match (args, kwargs) {
            (serde_json::Value::Array(items), _) if !items.is_empty() => items.iter().collect(),
            (_, serde_json::Value::Object(map)) => map.values().collect(),
            _ => Vec::new(),
        };
        for (value, original) in values.zip(originals) {
            Value::from_msgpack(value.as_msgpack().to_vec()).expect("well-formed MessagePack");
            assert_eq!(&value.to_json().expect("JSON round trip"), original);
        }
    }
}

fn run_config(text: &str) {
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    let Ok(resolved) = config::resolve(&[], table) else {
        return;
    };
    let written = config::to_toml(&resolved, Path::new("runs/fuzz"));
    let table: toml::Table = written
        .parse()
        .unwrap_or_else(|e| panic!("config.toml is not TOML: {e}\n{written}"));
    let again = config::resolve(&[], table)
        .unwrap_or_else(|e| panic!("config.toml does not resolve: {e}\n{written}"));
    assert_eq!(
        format!("{:?}", RunConfigNoDir(&again)),
        format!("{:?}", RunConfigNoDir(&resolved)),
        "config.toml resolves to another configuration\n{written}"
    );
}

/// A configuration without its run directory, which `config.toml` leaves out on purpose.
struct RunConfigNoDir<'a>(&'a config::RunConfig);

impl std::fmt::Debug for RunConfigNoDir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut c = self.0.clone();
        c.run.run_dir = None::<PathBuf>;
        write!(f, "{c:?}")
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    json_args(&text);
    let _ = parse::bytes(&text);
    let _ = parse::seconds(&text);
    run_config(&text);
});
