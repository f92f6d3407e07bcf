//! `wasmtaps run APP`: every app end to end, config precedence, run directories and
//! clear errors for bad flags and config values.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Result;
use wasmtaps::TaskInfo;

use crate::support::{WASMTAPS, wasmtaps_in, write_file};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn records(dir: &Path) -> Result<Vec<TaskInfo>> {
    let text = std::fs::read_to_string(dir.join("tasks.jsonl"))?;
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// Runs `wasmtaps run <args> --run-dir <tmp>/<name> --progress lines`, expecting `code`.
fn run(tmp: &Path, name: &str, args: &[&str], code: i32) -> Result<(PathBuf, String)> {
    let dir = tmp.join(name);
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let dir_text = dir.display().to_string();
    all.extend_from_slice(&["--run-dir", &dir_text, "--progress", "lines"]);
    let out = wasmtaps_in(tmp, &all);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(code), "{all:?}:\n{printed}");
    Ok((dir, printed))
}

/// Runs `wasmtaps run <args>` in `dir` and checks it is refused as a usage error (exit 2,
/// no panic) whose message names each of `named`.
fn refused(dir: &Path, args: &[&str], named: &[&str]) {
    let mut all = vec!["run"];
    all.extend(args);
    all.extend(["--run-dir", "should-not-matter"]);
    let out = wasmtaps_in(dir, &all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for name in named {
        assert!(
            stderr.contains(name),
            "{args:?}: the message should name {name}: {stderr}"
        );
    }
}

#[test]
fn synthetic_runs_every_structure_into_a_run_directory() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for (structure, expected) in [
        ("bag", 20),
        ("sequential", 20),
        ("diamond", 22),
        ("reduce", 21),
    ] {
        let (dir, printed) = run(
            tmp.path(),
            structure,
            &[
                "synthetic",
                "--structure",
                structure,
                "--task-count",
                "20",
                "--task-data-bytes",
                "1KiB",
                "--warmup-tasks",
                "0",
            ],
            0,
        )?;
        for file in ["config.toml", "log.txt", "tasks.jsonl"] {
            assert!(dir.join(file).is_file(), "{structure}: missing {file}");
        }
        let tasks = records(&dir)?;
        assert_eq!(tasks.len(), expected, "{structure}");
        assert!(
            tasks
                .iter()
                .all(|t| t.success == Some(true) && t.name == "noop_task")
        );
        let ids: std::collections::HashSet<_> = tasks.iter().map(|t| &t.task_id).collect();
        assert_eq!(ids.len(), tasks.len(), "unique task ids");
        if structure == "sequential" {
            assert_eq!(
                tasks
                    .iter()
                    .filter(|t| t.parent_task_ids.len() == 1)
                    .count(),
                19
            );
        }
        if structure == "reduce" {
            assert!(
                tasks.iter().any(|t| t.parent_task_ids.len() == 20),
                "the reduce task has 20 parents"
            );
        }
        assert!(
            printed.contains(&format!("tasks       {expected}")),
            "{printed}"
        );
        assert!(
            printed.contains("median"),
            "the summary has phase medians: {printed}"
        );
        let log = std::fs::read_to_string(dir.join("log.txt"))?;
        assert!(log.contains("run succeeded"), "{log}");
    }
    Ok(())
}

#[test]
fn synthetic_and_failures_run_on_worker_processes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for structure in ["bag", "sequential", "diamond", "reduce"] {
        let (dir, _) = run(
            tmp.path(),
            &format!("p-{structure}"),
            &[
                "synthetic",
                "--executor",
                "processes",
                "--workers",
                "2",
                "--structure",
                structure,
                "--task-count",
                "30",
            ],
            0,
        )?;
        assert!(
            records(&dir)?.iter().all(|t| t.success == Some(true)),
            "{structure}"
        );
        let config = std::fs::read_to_string(dir.join("config.toml"))?;
        assert!(config.contains("name = \"process-pool\""), "{config}");
    }
    let (_, printed) = run(
        tmp.path(),
        "p-failures",
        &[
            "failures",
            "--executor",
            "processes",
            "--failure-type",
            "random",
            "--failure-rate",
            "0.5",
            "--task-count",
            "40",
        ],
        0,
    )?;
    assert!(!printed.contains("MISMATCH"), "{printed}");
    Ok(())
}

#[test]
fn failures_records_every_injected_failure_with_its_type() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for (kind, exception) in [
        ("trap", "Trap"),
        ("panic", "GuestPanic"),
        ("guest-error", "InjectedFailure"),
        ("memory", "MemoryLimitExceeded"),
        ("timeout", "Timeout"),
        ("stack-overflow", "StackOverflow"),
        // A dependent records its failed parent's exception, as TaPS does.
        ("dependency", "InjectedFailure"),
    ] {
        let (dir, printed) = run(
            tmp.path(),
            kind,
            &[
                "failures",
                "--failure-type",
                kind,
                "--failure-rate",
                "0.5",
                "--task-count",
                "16",
                "--seed",
                "3",
            ],
            0,
        )?;
        let tasks = records(&dir)?;
        let failed: Vec<&TaskInfo> = tasks.iter().filter(|t| t.success == Some(false)).collect();
        let of_type = failed
            .iter()
            .filter(|t| t.exception.as_ref().is_some_and(|e| e.kind == exception))
            .count();
        assert!(of_type > 0, "{kind}: no {exception} recorded\n{printed}");
        let injected_line = printed
            .lines()
            .find(|l| l.contains(&format!("injected {kind}")))
            .expect("count line");
        let numbers: Vec<usize> = injected_line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(
            numbers[0], numbers[1],
            "{kind}: every injected failure recorded as expected: {injected_line}"
        );
        // In dependency mode each injected task has its own failing parent (one injected
        // parent per task, as TaPS), and both record the parent's exception.
        let per_injection = if kind == "dependency" { 2 } else { 1 };
        assert_eq!(
            of_type,
            per_injection * numbers[0],
            "{kind}: records and summary agree"
        );
        if kind == "dependency" {
            let dependents = failed
                .iter()
                .filter(|t| t.execution.is_none() && !t.parent_task_ids.is_empty())
                .count();
            assert_eq!(dependents, numbers[0], "{kind}: every dependent never ran");
        }
        assert!(
            printed.contains(exception),
            "the summary counts failures by type: {printed}"
        );
    }
    Ok(())
}

#[test]
fn mapreduce_counts_words_in_files_and_in_generated_text() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir(&data)?;
    std::fs::write(data.join("a.txt"), "the cat sat on the mat\n")?;
    std::fs::write(data.join("b.txt"), "The dog sat. THE END\n")?;
    let (dir, _) = run(
        tmp.path(),
        "files",
        &[
            "mapreduce",
            "--data-dir",
            &data.display().to_string(),
            "--map-tasks",
            "3",
            "--top",
            "2",
        ],
        0,
    )?;
    let top = std::fs::read_to_string(dir.join("top_words.txt"))?;
    assert_eq!(top, "4\tthe\n2\tsat\n");
    assert_eq!(
        records(&dir)?.len(),
        3,
        "3 map tasks asked for over 2 files: one per file (as TaPS caps them) and a reduce"
    );
    let (dir, _) = run(
        tmp.path(),
        "generated",
        &[
            "mapreduce",
            "--generate",
            "--generated-files",
            "3",
            "--generated-words",
            "500",
        ],
        0,
    )?;
    let counts: u64 = std::fs::read_to_string(dir.join("top_words.txt"))?
        .lines()
        .map(|l| {
            l.split('\t')
                .next()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert!(counts > 0 && counts <= 1500);
    Ok(())
}

#[test]
fn cholesky_factorises_and_verifies() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // `--native` is the same run through the same engine, the tasks' functions called
    // natively: the same graph, records and verification.
    let mut errors = Vec::new();
    for (name, extra, kernels) in [
        ("chol", None, "wasm"),
        ("native", Some("--native"), "native"),
    ] {
        let mut args = vec!["cholesky", "--matrix-size", "96", "--block-size", "24"];
        args.extend(extra);
        let (dir, printed) = run(tmp.path(), name, &args, 0)?;
        let verdict = std::fs::read_to_string(dir.join("cholesky.txt"))?;
        assert!(
            verdict.contains(&format!("({kernels} kernels)")),
            "{verdict}"
        );
        let error = verdict.trim().rsplit(' ').next().unwrap_or("1").to_owned();
        assert!(error.parse::<f64>()? < 1e-10, "{verdict}");
        errors.push(error);
        // 4 tiles: 4 potrf + 6 trsm + 6 syrk + 4 gemm, each executed.
        let records = records(&dir)?;
        assert_eq!(records.len(), 20, "{printed}");
        assert!(
            records
                .iter()
                .all(|r| r.success == Some(true) && r.execution.is_some()),
            "{printed}"
        );
    }
    // The guest's kernels and the native ones do the same arithmetic in the same order
    // (examples/apps/src/cholesky/register_blocked.rs), so L — and its error — is the
    // same to the last bit.
    assert_eq!(errors[0], errors[1], "wasm and native factors differ");
    // Natively, the kernels run on this process's threads: no other executor.
    refused(
        tmp.path(),
        &["cholesky", "--native", "--executor", "processes"],
        &["cholesky.native", "threads"],
    );
    let native_under_failures = tmp.path().join("native.toml");
    std::fs::write(
        &native_under_failures,
        "[failures]\nbase = \"cholesky\"\n[cholesky]\nnative = true\n",
    )?;
    refused(
        tmp.path(),
        &[
            "failures",
            "-c",
            native_under_failures.to_str().unwrap_or_default(),
        ],
        &["cholesky.native", "failures"],
    );
    Ok(())
}

#[test]
fn progress_lines_end_with_the_final_count() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (dir, printed) = run(tmp.path(), "lines", &["synthetic", "--task-count", "20"], 0)?;
    let log = std::fs::read_to_string(dir.join("log.txt"))?;
    assert!(
        log.contains("progress: 20/20 tasks done, 0 failed"),
        "{log}"
    );
    assert!(printed.contains("progress: 20/20 tasks done"), "{printed}");
    Ok(())
}

#[test]
fn config_files_layer_and_flags_win() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let first = tmp.path().join("first.toml");
    let second = tmp.path().join("second.toml");
    std::fs::write(&first, "[synthetic]\ntask_count = 5\nstructure = \"bag\"\n")?;
    std::fs::write(
        &second,
        "[synthetic]\ntask_count = 7\nstructure = \"reduce\"\n",
    )?;
    let (f1, f2) = (first.display().to_string(), second.display().to_string());
    let (dir, _) = run(tmp.path(), "files", &["synthetic", "-c", &f1, "-c", &f2], 0)?;
    assert_eq!(records(&dir)?.len(), 8, "second file wins: reduce of 7");
    let (dir, _) = run(
        tmp.path(),
        "flags",
        &["synthetic", "-c", &f1, "-c", &f2, "--task-count", "3"],
        0,
    )?;
    assert_eq!(records(&dir)?.len(), 4, "the flag wins over both files");
    let resolved = std::fs::read_to_string(dir.join("config.toml"))?;
    assert!(
        resolved.contains("task_count = 3") && resolved.contains("structure = \"reduce\""),
        "{resolved}"
    );
    // The resolved config re-runs as it is, into a new directory.
    let config = dir.join("config.toml").display().to_string();
    let (again, _) = run(tmp.path(), "again", &["synthetic", "-c", &config], 0)?;
    assert_eq!(records(&again)?.len(), 4);
    Ok(())
}

#[test]
fn bad_flags_and_config_values_exit_2_naming_them() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let unknown_key = tmp.path().join("unknown.toml");
    std::fs::write(&unknown_key, "[synthetic]\ntask_cuont = 5\n")?;
    let wrong_type = tmp.path().join("wrong.toml");
    std::fs::write(&wrong_type, "[synthetic]\ntask_count = \"many\"\n")?;
    let not_toml = tmp.path().join("broken.toml");
    std::fs::write(&not_toml, "[synthetic\n")?;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["synthetic".into(), "--structure".into(), "star".into()],
            "structure",
        ),
        (
            vec!["synthetic".into(), "--task-count".into(), "lots".into()],
            "--task-count",
        ),
        (vec!["synthetic".into(), "--bogus".into()], "--bogus"),
        (
            vec![
                "synthetic".into(),
                "-c".into(),
                unknown_key.display().to_string(),
            ],
            "task_cuont",
        ),
        (
            vec![
                "synthetic".into(),
                "-c".into(),
                wrong_type.display().to_string(),
            ],
            "wrong.toml",
        ),
        (
            vec![
                "synthetic".into(),
                "-c".into(),
                not_toml.display().to_string(),
            ],
            "broken.toml",
        ),
        (
            vec![
                "synthetic".into(),
                "-c".into(),
                "/no/such/config.toml".into(),
            ],
            "/no/such/config.toml",
        ),
        (
            vec!["failures".into(), "--failure-rate".into(), "1.5".into()],
            "failure_rate",
        ),
        (
            vec!["failures".into(), "--failure-type".into(), "meteor".into()],
            "--failure-type",
        ),
        (vec!["mapreduce".into()], "--data-dir"),
        (
            vec![
                "cholesky".into(),
                "--matrix-size".into(),
                "100".into(),
                "--block-size".into(),
                "32".into(),
            ],
            "block_size",
        ),
        (
            vec!["synthetic".into(), "--memory-limit".into(), "64GiB".into()],
            "memory_bytes",
        ),
        (vec!["synthetic".into(), "--timeout=-1".into()], "timeout"),
        (
            vec!["synthetic".into(), "--executor".into(), "cloud".into()],
            "executor",
        ),
    ];
    for (args, named) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(tmp.path(), &args, &[named]);
    }
    Ok(())
}

#[test]
fn choices_are_refused_by_the_parser_listing_the_accepted_values() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = |name: &str, text: &str| write_file(tmp.path(), name, text);
    let executor = config("executor.toml", "[engine]\nexecutor = \"cloud\"\n")?;
    let failure = config("failure.toml", "[failures]\nfailure_type = \"meteor\"\n")?;
    let progress = config("progress.toml", "[run]\nprogress = \"sometimes\"\n")?;
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["synthetic", "--executor", "cloud"],
            &["--executor", "threads, processes, redis"],
        ),
        (
            vec!["synthetic", "-c", &executor],
            &[
                "engine.executor",
                "`threads`, `process-pool`, `processes`, `redis`",
            ],
        ),
        (
            vec!["synthetic", "--structure", "star"],
            &["--structure", "bag, diamond, reduce, sequential"],
        ),
        (
            vec!["synthetic", "--progress", "sometimes"],
            &["--progress", "auto, bar, lines, none"],
        ),
        (
            vec!["synthetic", "-c", &progress],
            &["run.progress", "`auto`, `bar`, `lines`, `none`"],
        ),
        (
            vec!["failures", "--failure-type", "meteor"],
            &[
                "--failure-type",
                "guest-error, memory, timeout, stack-overflow",
            ],
        ),
        (
            vec!["failures", "-c", &failure],
            &["failures.failure_type", "`guest-error`"],
        ),
    ];
    for (args, named) in cases {
        refused(tmp.path(), &args, named);
    }
    Ok(())
}

#[test]
fn run_and_call_parse_timeout_with_one_parser() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let first_line = |args: &[&str]| {
        let out = wasmtaps_in(tmp.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.lines().next().unwrap_or_default().to_owned()
    };
    for bad in ["0", "-1", "1e20", "inf", "NaN", "soon"] {
        let flag = format!("--timeout={bad}");
        let call = first_line(&["call", "no-such-module.wasm", "t", &flag]);
        let run = first_line(&["run", "synthetic", "--run-dir", "unused", &flag]);
        assert_eq!(call, run, "--timeout {bad}");
        assert!(call.contains("--timeout"), "{call}");
    }
    // The config key goes through the same check.
    let zero = write_file(tmp.path(), "zero.toml", "[limits]\ntimeout = 0\n")?;
    let line = first_line(&["run", "synthetic", "-c", &zero]);
    assert!(
        line.contains("limits.timeout") && line.contains("more than 0 seconds"),
        "{line}"
    );
    Ok(())
}

#[test]
fn run_writes_the_librarys_events_into_log_txt() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir()?;
    // A cache directory others may write to: the library warns and does not use it.
    let open = tmp.path().join("open-cache");
    std::fs::create_dir(&open)?;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777))?;
    // Runs into `name` with RUST_LOG as given; returns stderr and log.txt.
    let run_logging = |name: &str, rust_log: Option<&str>| -> Result<(String, String)> {
        let dir = tmp.path().join(name);
        let mut command = Command::new(WASMTAPS);
        command
            .args([
                "run",
                "synthetic",
                "--task-count",
                "2",
                "--progress",
                "none",
            ])
            .arg("--cache-dir")
            .arg(&open)
            .arg("--run-dir")
            .arg(&dir)
            .env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let out = command.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        Ok((stderr, std::fs::read_to_string(dir.join("log.txt"))?))
    };
    let warning = "WARN module cache: not using";
    let (stderr, log) = run_logging("default", None)?;
    assert!(stderr.contains(warning), "stderr: {stderr}");
    let line = log
        .lines()
        .find(|l| l.contains(warning))
        .unwrap_or_else(|| panic!("log.txt has no {warning}: {log}"));
    // Timestamped like the run's own lines, and without colour codes.
    assert!(
        line.starts_with("[20") && !line.contains('\u{1b}'),
        "{line}"
    );
    assert!(log.contains("run succeeded"), "{log}");
    // RUST_LOG chooses the events, for the terminal and log.txt alike.
    let (stderr, log) = run_logging("errors-only", Some("error"))?;
    assert!(!stderr.contains(warning), "stderr: {stderr}");
    assert!(
        !log.contains(warning) && log.contains("run succeeded"),
        "{log}"
    );
    Ok(())
}

#[test]
fn durations_and_sizes_out_of_range_exit_2_naming_them_never_panic() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = |name: &str, text: &str| write_file(tmp.path(), name, text);
    let huge_timeout = config("timeout.toml", "[limits]\ntimeout = 1e300\n")?;
    let huge_sleep = config("sleep.toml", "[synthetic]\ntask_sleep = 1e300\n")?;
    let huge_data = config(
        "data.toml",
        "[synthetic]\ntask_data_bytes = 9223372036854775807\n",
    )?;
    let negative_size = config("size.toml", "[limits]\nmemory_limit = -5\n")?;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["synthetic", "--timeout", "1e20"], "--timeout"),
        (vec!["synthetic", "--timeout", "inf"], "--timeout"),
        (vec!["synthetic", "-c", &huge_timeout], "limits.timeout"),
        (vec!["synthetic", "--task-sleep", "1e300"], "task_sleep"),
        (vec!["synthetic", "-c", &huge_sleep], "task_sleep"),
        (vec!["synthetic", "-c", &huge_data], "task_data_bytes"),
        (vec!["synthetic", "-c", &negative_size], "memory_limit"),
        (
            vec!["synthetic", "--memory-limit", "1e30GiB"],
            "--memory-limit",
        ),
        (
            vec!["synthetic", "--max-function-size", "lots"],
            "--max-function-size",
        ),
        (
            vec![
                "cholesky",
                "--matrix-size",
                "4294967296",
                "--block-size",
                "1",
            ],
            "matrix_size",
        ),
    ];
    for (args, named) in cases {
        refused(tmp.path(), &args, &[named]);
    }
    let out = wasmtaps_in(
        tmp.path(),
        ["call", "no-such-module.wasm", "t", "--timeout", "1e20"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--timeout"), "{stderr}");
    Ok(())
}

#[test]
fn the_compile_budget_flags_refuse_a_module_before_compiling_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (_, printed) = run(
        tmp.path(),
        "tiny-functions",
        &[
            "synthetic",
            "--task-count",
            "1",
            "--max-function-size",
            "64B",
        ],
        2,
    )?;
    assert!(
        printed.contains("maximum function size of 64 bytes"),
        "{printed}"
    );
    let (_, printed) = run(
        tmp.path(),
        "tiny-module",
        &[
            "synthetic",
            "--task-count",
            "1",
            "--max-module-size",
            "1KiB",
        ],
        2,
    )?;
    assert!(
        printed.contains("maximum module size of 1024 bytes"),
        "{printed}"
    );
    let (_, printed) = run(
        tmp.path(),
        "few-locals",
        &[
            "synthetic",
            "--task-count",
            "1",
            "--max-function-locals",
            "2",
        ],
        2,
    )?;
    assert!(printed.contains("maximum of 2 locals"), "{printed}");
    let (_, printed) = run(
        tmp.path(),
        "light-functions",
        &[
            "synthetic",
            "--task-count",
            "1",
            "--max-function-bytes-times-locals",
            "100",
        ],
        2,
    )?;
    assert!(
        printed.contains("maximum of 100 for bytes times locals"),
        "{printed}"
    );
    let (dir, _) = run(
        tmp.path(),
        "roomy",
        &[
            "synthetic",
            "--task-count",
            "2",
            "--max-function-size",
            "1MiB",
            "--max-module-size",
            "16MiB",
            "--max-function-locals",
            "1000",
        ],
        0,
    )?;
    assert_eq!(records(&dir)?.len(), 2);
    Ok(())
}

#[test]
fn report_reads_a_real_run_directory() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (dir, _) = run(
        tmp.path(),
        "for-report",
        &[
            "failures",
            "--failure-type",
            "panic",
            "--failure-rate",
            "0.5",
            "--task-count",
            "10",
        ],
        0,
    )?;
    let out = wasmtaps_in(tmp.path(), ["report", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(dir.join("report.html"))?;
    assert!(
        html.contains("<svg"),
        "the report draws its timeline as SVG"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("GuestPanic"));
    Ok(())
}

/// `run synthetic` and `run mapreduce` with a JavaScript component implementing the world
/// `apps` (wit/wasmtaps-apps.wit) instead of the Rust core module: the same top words.
#[test]
fn the_apps_run_with_a_component_standing_in_for_their_module() -> Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = Command::new(repo.join("scripts/build-polyglot"))
        .arg("js")
        .output()?;
    assert!(
        built.status.success(),
        "scripts/build-polyglot js failed (install the toolchain with \
         `scripts/install-guest-toolchains js`):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let module = repo.join("target/polyglot/js/apps.wasm");
    let module = module.display().to_string();
    let tmp = tempfile::tempdir()?;
    let (dir, _) = run(
        tmp.path(),
        "synthetic",
        &["synthetic", "--task-count", "20", "--module", &module],
        0,
    )?;
    assert_eq!(records(&dir)?.len(), 20);
    let mapreduce = ["mapreduce", "--generate", "--map-tasks", "4"];
    let (core, _) = run(tmp.path(), "core", &mapreduce, 0)?;
    let mut with_module = mapreduce.to_vec();
    with_module.extend(["--module", &module]);
    let (component, _) = run(tmp.path(), "component", &with_module, 0)?;
    let top = |dir: &Path| std::fs::read_to_string(dir.join("top_words.txt"));
    assert_eq!(top(&component)?, top(&core)?);
    Ok(())
}
