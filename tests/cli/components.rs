//! `wasmtaps call` with a Python component (`examples/python`, built by
//! `scripts/build-polyglot python`; a missing toolchain fails the test with the install
//! command): the default compile budget admits it, and `--dir` mounts a directory for it
//! read-only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::support::wasmtaps_in;

fn python_apps() -> Result<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = Command::new(repo.join("scripts/build-polyglot"))
        .arg("python")
        .output()?;
    assert!(
        built.status.success(),
        "scripts/build-polyglot python failed (install the toolchain with \
         `scripts/install-guest-toolchains python`):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    Ok(repo.join("target/polyglot/python/apps.wasm"))
}

/// The `value` of `wasmtaps call`'s output, after checking it exited with 0.
fn called(out: &std::process::Output) -> Result<serde_json::Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_str(&stdout).context("call's JSON")?;
    Ok(printed["value"].clone())
}

#[test]
fn a_python_task_is_called_without_compile_budget_flags_and_reads_its_dir() -> Result<()> {
    let module = python_apps()?;
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let cache = cache.display().to_string();
    let module = module.display().to_string();
    let out = wasmtaps_in(tmp.path(), ["call", &module, "noop", "--cache-dir", &cache]);
    assert_eq!(called(&out)?, serde_json::Value::Null);

    // `probe` reads /etc/passwd: with a directory mounted at /etc, it reads the file there.
    let etc = tmp.path().join("etc");
    std::fs::create_dir(&etc)?;
    std::fs::write(etc.join("passwd"), "root:x:0:0\n")?;
    let mount = format!("{}:/etc", etc.display());
    let out = wasmtaps_in(
        tmp.path(),
        [
            "call",
            &module,
            "probe",
            "--cache-dir",
            &cache,
            "--dir",
            &mount,
        ],
    );
    let report = called(&out)?;
    assert_eq!(
        report["file"], "allowed: read 11 bytes of /etc/passwd",
        "{report}"
    );
    // Without the mount the host's own /etc/passwd is out of reach.
    let out = wasmtaps_in(
        tmp.path(),
        ["call", &module, "probe", "--cache-dir", &cache],
    );
    let report = called(&out)?;
    let file = report["file"].as_str().unwrap_or_default();
    assert!(file.starts_with("denied: "), "{report}");
    Ok(())
}
