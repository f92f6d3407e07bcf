//! Builds the Extism guest (`extism-guest/`) for `wasm32-wasip1` with a nested
//! `cargo build` into `target/guest`, and generates its path constant
//! (`$OUT_DIR/extism_guest.rs`), as `examples/artifacts/build.rs` does for the wasmtaps
//! example tasks.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-wasip1";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let guest = manifest_dir.join("extism-guest");
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rerun-if-changed={}",
        guest.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-changed={}", guest.join("src").display());

    let target_dir = manifest_dir.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The nested build must not inherit this build's flags, profile or target dir.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_var = key.starts_with("CARGO_")
            && !matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS")
            && ![
                "CARGO_NET_",
                "CARGO_HTTP_",
                "CARGO_REGISTRIES_",
                "CARGO_REGISTRY_",
                "CARGO_TERM_",
            ]
            .iter()
            .any(|p| key.starts_with(p));
        if cargo_var || matches!(key, "RUSTFLAGS" | "RUSTC_WORKSPACE_WRAPPER") {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|err| panic!("cannot run the nested cargo build: {err}"));
    assert!(
        status.success(),
        "building the Extism guest for {TARGET} failed ({status}); \
         `rustup target add {TARGET}` if the target is missing"
    );
    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join("wasmtaps_peers_extism_guest.wasm");
    assert!(
        wasm.is_file(),
        "the build did not produce {}",
        wasm.display()
    );
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(
        out_dir.join("extism_guest.rs"),
        format!(
            "/// Absolute path of the Extism guest module.\npub const EXTISM_WASM: &str = {:?};\n",
            wasm.to_str().expect("UTF-8 path")
        ),
    )
    .expect("cannot write extism_guest.rs");
}
