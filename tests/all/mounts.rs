//! Read-only mounts (`--dir`) for component tasks: a Python task reads a file in its
//! mount, cannot write it, cannot open anything outside it, and opening a FIFO in it
//! fails at once instead of blocking its worker. The Python module is
//! `tests/all/fixtures/files` (componentize-py), built once per test process; a missing
//! toolchain fails the test with the install command.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support;
use anyhow::{Context, Result, bail};
use wasmtaps::{
    Args, ErrorKind, InvokeOptions, LimitOverrides, ReadOnlyDir, Runtime, TaskError, TaskModule,
    Value,
};

/// `tests/all/fixtures/files` built by `scripts/componentize python`, once per process.
fn files_component() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let fixture = support::repo().join("tests/all/fixtures/files");
            let output = support::repo().join("target/polyglot/test-files/files.wasm");
            let built = Command::new(support::repo().join("scripts/componentize"))
                .arg("python")
                .arg("--wit")
                .arg(fixture.join("files.wit"))
                .args(["--world", "files"])
                .arg(fixture.join("app.py"))
                .arg("-o")
                .arg(&output)
                .output()
                .map_err(|e| format!("cannot run scripts/componentize: {e}"))?;
            if !built.status.success() {
                return Err(format!(
                    "scripts/componentize python failed (install the toolchain with \
                     `scripts/install-guest-toolchains python`):\n{}",
                    String::from_utf8_lossy(&built.stderr)
                ));
            }
            Ok(output)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn runtime() -> Runtime {
    support::component_runtime()
}

fn files() -> Result<TaskModule> {
    let path = files_component()?;
    runtime()
        .load_file(&path)
        .with_context(|| format!("loading {}", path.display()))
}

/// Calls `task` with `args`, `host` mounted read-only at `/data`, under a deadline that
/// only keeps a broken build from hanging the test.
fn call(task: &str, args: Args, host: &std::path::Path) -> Result<Result<Value, TaskError>> {
    let options = InvokeOptions {
        limits: LimitOverrides {
            timeout: Some(Duration::from_secs(60)),
            ..LimitOverrides::default()
        },
        read_only_dirs: vec![ReadOnlyDir {
            host_path: host.to_owned(),
            guest_path: "/data".into(),
        }],
    };
    Ok(runtime()
        .invoke(&files()?.task(task)?, &args, &options)
        .result)
}

fn failure(task: &str, args: Args, host: &std::path::Path) -> Result<TaskError> {
    match call(task, args, host)? {
        Ok(v) => bail!("{task} returned {v:?} instead of failing"),
        Err(e) => Ok(e),
    }
}

#[test]
fn a_python_task_reads_its_mount_and_nothing_else() -> Result<()> {
    let mounted = tempfile::tempdir()?;
    std::fs::write(mounted.path().join("words.txt"), "the cat the hat")?;
    let text = call(
        "read-file",
        Args::new().arg("/data/words.txt")?,
        mounted.path(),
    )??;
    assert_eq!(text.decode::<String>()?, "the cat the hat");

    // Writing a file in the mount, new or existing, is refused.
    for path in ["/data/words.txt", "/data/new.txt"] {
        let e = failure(
            "write-file",
            Args::new().arg(path)?.arg("overwritten")?,
            mounted.path(),
        )?;
        assert_eq!(
            e.kind(),
            &ErrorKind::GuestError("PermissionError".into()),
            "{path}: {e}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(mounted.path().join("words.txt"))?,
        "the cat the hat"
    );
    assert!(!mounted.path().join("new.txt").exists());

    // Outside the mount: a file beside it, `..` out of it, and the host's own files.
    let beside = tempfile::tempdir()?;
    std::fs::write(beside.path().join("secret.txt"), "classified")?;
    let escape = format!(
        "/data/../{}/secret.txt",
        beside.path().file_name().unwrap().to_string_lossy()
    );
    for path in [escape.as_str(), "/etc/passwd", "/data/../../etc/passwd"] {
        let e = failure("read-file", Args::new().arg(path)?, mounted.path())?;
        assert!(
            matches!(e.kind(), ErrorKind::GuestError(t) if t.ends_with("Error")),
            "{path}: {e}"
        );
        assert!(!e.message().contains("classified"), "{path}: {e}");
    }
    Ok(())
}

#[test]
fn a_fifo_in_a_mount_is_refused_not_waited_on() -> Result<()> {
    let mounted = tempfile::tempdir()?;
    let status = Command::new("mkfifo")
        .arg(mounted.path().join("fifo"))
        .status()
        .context("mkfifo (coreutils) is needed for this test: apt-get install coreutils")?;
    assert!(status.success(), "mkfifo failed");
    std::os::unix::fs::symlink("fifo", mounted.path().join("link"))?;
    for path in ["/data/fifo", "/data/link"] {
        let started = Instant::now();
        let e = failure("read-file", Args::new().arg(path)?, mounted.path())?;
        // Refused by the guard, not stopped by the 60 s deadline.
        assert!(!e.is_timeout(), "{path}: {e} after {:?}", started.elapsed());
        assert_eq!(
            e.kind(),
            &ErrorKind::GuestError("OSError".into()),
            "{path}: {e}"
        );
    }
    // The runtime serves on: a regular file beside the FIFO is read.
    std::fs::write(mounted.path().join("ok.txt"), "fine")?;
    let text = call(
        "read-file",
        Args::new().arg("/data/ok.txt")?,
        mounted.path(),
    )??;
    assert_eq!(text.decode::<String>()?, "fine");
    Ok(())
}
