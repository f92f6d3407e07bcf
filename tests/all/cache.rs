//! The compiled-module caches: the cache directory holds native code, so it must be
//! private and every artifact must be bound to its wasm; both caches are capped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use wasmtaps::{Args, Runtime, TaskModule};

use crate::support::wat;

/// A module whose task `t` returns `{"ok": <byte>}` (a positive fixint), so modules
/// differ in content and in what they return.
fn returning(byte: u8) -> String {
    wat(&format!(
        r#"(data (i32.const 48) "\81\a2ok\{byte:02x}")
        (func (export "wasmtaps_task_t") (param i32 i32) (result i64)
            (i64.const 0x0000003000000005))"#
    ))
}

fn run_t(runtime: &Runtime, module: &TaskModule) -> Result<u8> {
    let outcome = runtime.invoke(&module.task("t")?, &Args::new(), &Default::default());
    Ok(outcome.result?.decode()?)
}

fn artifacts(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o7777)
}

#[test]
fn a_missing_cache_directory_is_created_private() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("deep").join("cache");
    let runtime = Runtime::builder().cache_dir(&dir).build()?;
    assert_eq!(runtime.cache_dir(), Some(dir.as_path()));
    assert_eq!(mode(&dir)?, 0o700);
    let module = runtime.load_wat("one", &returning(1))?;
    assert_eq!(run_t(&runtime, &module)?, 1);
    let files = artifacts(&dir)?;
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0])?, 0o600, "artifacts are private too");
    Ok(())
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() -> Result<()> {
    let root = tempfile::tempdir()?;
    for shared in [0o777, 0o770, 0o722] {
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(shared))?;
        let runtime = Runtime::builder().cache_dir(root.path()).build()?;
        assert_eq!(runtime.cache_dir(), None, "mode {shared:o} must be refused");
        // The runtime still works: it compiles instead.
        let module = runtime.load_wat("one", &returning(1))?;
        assert_eq!(run_t(&runtime, &module)?, 1);
        assert!(artifacts(root.path())?.is_empty(), "nothing written there");
    }
    // Below a directory anyone can write (and that is not sticky), a private directory
    // can be renamed away and replaced, so it is refused as well.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777))?;
    let inner = root.path().join("cache");
    let runtime = Runtime::builder().cache_dir(&inner).build()?;
    assert_eq!(runtime.cache_dir(), None);
    Ok(())
}

#[test]
fn an_artifact_never_runs_as_another_module() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = Runtime::builder().cache_dir(dir.path()).build()?;
    let one = runtime.load_wat("one", &returning(1))?;
    let two = runtime.load_wat("two", &returning(2))?;
    let file_of = |module: &TaskModule| -> Result<PathBuf> {
        let found: Vec<_> = artifacts(dir.path())?
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&module.hash()))
            .collect();
        ensure!(found.len() == 1, "one artifact per module: {found:?}");
        Ok(found[0].clone())
    };
    let (file_one, file_two) = (file_of(&one)?, file_of(&two)?);
    // Someone puts module two's artifact where module one's belongs.
    std::fs::copy(&file_two, &file_one)?;
    let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
    let loaded = fresh.load_wat("one", &returning(1))?;
    assert_eq!(run_t(&fresh, &loaded)?, 1, "module one runs as itself");
    assert_ne!(
        std::fs::read(&file_one)?,
        std::fs::read(&file_two)?,
        "the planted artifact was replaced by module one's"
    );
    // A bare wasmtime artifact, without the header binding it to its wasm, is refused.
    let bare = wasmtaps::Runtime::new()?
        .engine()
        .precompile_module(returning(2).as_bytes());
    std::fs::write(&file_one, bare?)?;
    let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
    assert_eq!(run_t(&fresh, &fresh.load_wat("one", &returning(1))?)?, 1);
    Ok(())
}

#[test]
fn a_cache_file_others_can_write_or_own_is_not_loaded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = Runtime::builder().cache_dir(dir.path()).build()?;
    let one = runtime.load_wat("one", &returning(1))?;
    let two = runtime.load_wat("two", &returning(2))?;
    let files = artifacts(dir.path())?;
    let file_one = files
        .iter()
        .find(|p| p.to_string_lossy().contains(&one.hash()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no artifact for one"))?;
    let file_two = files
        .iter()
        .find(|p| p.to_string_lossy().contains(&two.hash()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no artifact for two"))?;
    // A group-writable file: whoever could write it could have put anything there. It is
    // recompiled and replaced by a private one.
    std::fs::set_permissions(&file_one, std::fs::Permissions::from_mode(0o664))?;
    let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
    assert_eq!(run_t(&fresh, &fresh.load_wat("one", &returning(1))?)?, 1);
    assert_eq!(
        mode(&file_one)?,
        0o600,
        "replaced by a fresh, private artifact"
    );
    // A symlink is not followed.
    std::fs::remove_file(&file_one)?;
    std::os::unix::fs::symlink(&file_two, &file_one)?;
    let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
    assert_eq!(run_t(&fresh, &fresh.load_wat("one", &returning(1))?)?, 1);
    assert!(!std::fs::symlink_metadata(&file_one)?.is_symlink());
    // A file owned by another user (only root can arrange that).
    if std::fs::metadata(dir.path())?.uid() == 0 {
        std::os::unix::fs::chown(&file_one, Some(65534), Some(65534))?;
        let fresh = Runtime::builder().cache_dir(dir.path()).build()?;
        assert_eq!(run_t(&fresh, &fresh.load_wat("one", &returning(1))?)?, 1);
        assert_eq!(
            std::fs::metadata(&file_one)?.uid(),
            0,
            "replaced by our own"
        );
    }
    Ok(())
}

#[test]
fn the_in_memory_cache_is_capped_and_forgets_the_least_recently_used() -> Result<()> {
    let probe = Runtime::new()?;
    probe.load_wat("probe", &returning(1))?;
    let one_module = probe.module_cache_stats().bytes;
    assert!(one_module > 0);
    // Room for two modules, not three.
    let runtime = Runtime::builder()
        .loaded_modules_max_bytes(one_module * 2 + one_module / 2)
        .build()?;
    runtime.load_wat("a", &returning(1))?;
    runtime.load_wat("b", &returning(2))?;
    runtime.load_wat("a-again", &returning(1))?; // a is now the most recently used
    runtime.load_wat("c", &returning(3))?; // evicts b
    let stats = runtime.module_cache_stats();
    assert_eq!(stats.modules, 2, "{stats:?}");
    assert!(stats.bytes <= stats.max_bytes, "{stats:?}");
    // A cached module comes back under the name it was first loaded with.
    assert_eq!(runtime.load_wat("a-third", &returning(1))?.name(), "a");
    assert_eq!(
        runtime.load_wat("b-again", &returning(2))?.name(),
        "b-again"
    );
    // A module heavier than the whole cap is loaded but not kept.
    let tiny = Runtime::builder().loaded_modules_max_bytes(1).build()?;
    let m = tiny.load_wat("x", &returning(1))?;
    assert_eq!(run_t(&tiny, &m)?, 1);
    assert_eq!(tiny.module_cache_stats().modules, 0);
    Ok(())
}

#[test]
fn the_cache_directory_is_capped_least_recently_used_first() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = Runtime::builder().cache_dir(dir.path()).build()?;
    runtime.load_wat("probe", &returning(9))?;
    let one_file = std::fs::metadata(&artifacts(dir.path())?[0])?.len();
    std::fs::remove_file(&artifacts(dir.path())?[0])?;
    let cap = one_file * 2 + one_file / 2;
    // A new runtime per load: nothing comes from memory, everything from disk.
    let load = |name: &str, byte: u8| -> Result<()> {
        let runtime = Runtime::builder()
            .cache_dir(dir.path())
            .cache_dir_max_bytes(cap)
            .build()?;
        let module = runtime.load_wat(name, &returning(byte))?;
        ensure!(run_t(&runtime, &module)? == byte);
        Ok(())
    };
    for byte in 1..=5 {
        load("m", byte)?;
        std::thread::sleep(std::time::Duration::from_millis(20)); // distinct mtimes
        let files = artifacts(dir.path())?;
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()?;
        assert!(total <= cap, "{total} bytes on disk, cap {cap}");
        assert!(files.len() <= 2, "{files:?}");
    }
    // 4 and 5 are kept. Using 4 makes 5 the least recently used, so 6 evicts 5.
    load("m", 4)?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    load("m", 6)?;
    let hash = |byte: u8| -> Result<String> {
        Ok(Runtime::new()?.load_wat("h", &returning(byte))?.hash())
    };
    let kept: Vec<String> = artifacts(dir.path())?
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let has = |byte: u8| -> Result<bool> {
        let h = hash(byte)?;
        Ok(kept.iter().any(|k| k.starts_with(&h)))
    };
    assert!(has(4)? && has(6)? && !has(5)?, "{kept:?}");
    Ok(())
}

/// A component whose task `t` returns `byte`.
fn component_returning(byte: u8) -> String {
    format!(
        r#"(component
  (core module $m (func (export "t") (result i32) (i32.const {byte})))
  (core instance $i (instantiate $m))
  (func (export "t") (result u8) (canon lift (core func $i "t"))))"#
    )
}

#[test]
fn mapped_artifacts_are_checked_as_read_ones_are() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mapping = || {
        Runtime::builder()
            .cache_dir(dir.path())
            .map_cache_artifacts(true)
            .build()
    };
    for (one, two) in [
        (returning(1), returning(2)),
        (component_returning(1), component_returning(2)),
    ] {
        for file in artifacts(dir.path())? {
            std::fs::remove_file(file)?;
        }
        let runtime = mapping()?;
        let first = runtime.load_wat("one", &one)?;
        let second = runtime.load_wat("two", &two)?;
        let file_of = |module: &TaskModule| -> Result<PathBuf> {
            let found: Vec<_> = artifacts(dir.path())?
                .into_iter()
                .filter(|p| p.to_string_lossy().contains(&module.hash()))
                .collect();
            ensure!(found.len() == 1, "one artifact per module: {found:?}");
            Ok(found[0].clone())
        };
        let (file_one, file_two) = (file_of(&first)?, file_of(&second)?);
        // Loaded from the directory by a new runtime, mapped: runs as itself.
        let fresh = mapping()?;
        assert_eq!(run_t(&fresh, &fresh.load_wat("one", &one)?)?, 1);
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        ensure!(
            maps.contains(&*file_one.to_string_lossy()),
            "{} is not mapped",
            file_one.display()
        );
        drop(fresh);
        // Module two's artifact where module one's belongs is refused and replaced.
        std::fs::remove_file(&file_one)?;
        std::fs::copy(&file_two, &file_one)?;
        let fresh = mapping()?;
        assert_eq!(run_t(&fresh, &fresh.load_wat("one", &one)?)?, 1);
        assert_ne!(std::fs::read(&file_one)?, std::fs::read(&file_two)?);
    }
    Ok(())
}
