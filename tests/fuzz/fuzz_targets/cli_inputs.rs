//! Arbitrary text as the CLI's inputs: `--args`/`--kwargs` JSON (through `Args::from_json`),
//! the size and seconds flags, and a `wasmtaps run` TOML configuration file.
//!
//! The parsers are the command line's own, through `wasmtaps_cli::__fuzz`. A configuration
//! that resolves must also survive the trip through the `config.toml` written into the run
//! directory: resolving that file again gives the same configuration.
//!
//! Run with `scripts/fuzz cli_inputs SECONDS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmtaps::{Args, Value};
use wasmtaps_cli::__fuzz::{
    ResolvedConfig, parse_json, parse_seconds, parse_size, parse_timeout,
};

fn json_args(text: &str) {
    let Ok(json) = parse_json(text) else {
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
    let Ok(resolved) = ResolvedConfig::from_toml(text) else {
        return;
    };
    let written = resolved.to_toml();
    let again = ResolvedConfig::from_toml(&written)
        .unwrap_or_else(|e| panic!("config.toml does not resolve: {e}\n{written}"));
    assert_eq!(
        again, resolved,
        "config.toml resolves to another configuration\n{written}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    json_args(&text);
    let _ = parse_size(&text);
    let _ = parse_seconds(&text);
    let _ = parse_timeout(&text);
    run_config(&text);
});
