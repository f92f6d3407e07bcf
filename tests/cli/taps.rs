//! A TaPS user's configs, flags and records: `wasmtaps run` with configs written in TaPS's
//! schema (from TaPS's documentation, not copied from it) and TaPS's dotted flags, and
//! translations of TaPS's own record tests.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{Context, Result, ensure};
use wasmtaps::TaskInfo;

use crate::support::{EXCEPTION_FIELDS, EXECUTION_FIELDS, TASK_FIELDS, wasmtaps_in, write_file};

/// A synthetic diamond as TaPS's docs configure one: `[app]` with the app's fields,
/// `[engine.executor]` by name, the record file, logging and the run directory's format.
const TAPS_DIAMOND: &str = r#"
version = "0.2.2"

[app]
name = "synthetic"
structure = "diamond"
task_count = 4
task_data_bytes = 1000
task_sleep = 0.0
warmup_tasks = 3

[engine]
task_record_file_name = "records.jsonl"

[engine.executor]
name = "thread-pool"
max_threads = 2

[logging]
level = "WARNING"
file_level = "INFO"
file_name = "run.log"

[run]
dir_format = "runs/{name}_{executor}_{timestamp}"
env_vars = {}
"#;

/// `wasmtaps ARGS` in `dir`, expecting `code`; stdout and stderr.
fn wasmtaps(dir: &Path, args: &[&str], code: i32) -> Result<String> {
    let out: Output = wasmtaps_in(dir, args);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.code() == Some(code),
        "{args:?} exited {:?}, not {code}:\n{printed}",
        out.status.code()
    );
    Ok(printed)
}

/// The run directory a run printed.
fn run_dir(cwd: &Path, printed: &str) -> Result<PathBuf> {
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .context("the summary names the run directory")?;
    Ok(cwd.join(line.trim()))
}

/// Writes `toml` to `name` in `dir` and runs `wasmtaps run -c <that file> FLAGS...` there,
/// expecting `code`; stdout and stderr.
fn run_config(dir: &Path, name: &str, toml: &str, flags: &[&str], code: i32) -> Result<String> {
    let config = write_file(dir, name, toml)?;
    let mut args = vec!["run", "-c", &config];
    args.extend(flags);
    wasmtaps(dir, &args, code)
}

/// The records as JSON values and as TaPS's `TaskInfo`.
fn records(path: &Path) -> Result<Vec<(serde_json::Value, TaskInfo)>> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .lines()
        .map(|line| Ok((serde_json::from_str(line)?, serde_json::from_str(line)?)))
        .collect()
}

fn keys(value: &serde_json::Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn a_taps_config_runs_unchanged_without_a_subcommand() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let printed = run_config(tmp.path(), "taps.toml", TAPS_DIAMOND, &[], 0)?;
    let dir = run_dir(tmp.path(), &printed)?;
    let name = dir.file_name().context("a name")?.to_string_lossy();
    ensure!(
        dir.parent() == Some(&tmp.path().join("runs"))
            && name.starts_with("synthetic_thread-pool_"),
        "TaPS's dir_format: {}",
        dir.display()
    );
    for file in [
        "config.toml",
        "environment.json",
        "run.log",
        "records.jsonl",
    ] {
        ensure!(dir.join(file).is_file(), "{file} in {}", dir.display());
    }
    // Warm-up tasks are recorded too: 3 + the diamond's 4 + 2, under TaPS's task names.
    let all = records(&dir.join("records.jsonl"))?;
    ensure!(all.len() == 9, "{printed}");
    let named = |name: &str| all.iter().filter(|(_, t)| t.name == name).count();
    ensure!(
        named("warmup_task") == 3 && named("noop_task") == 6,
        "{all:?}"
    );
    // level = "WARNING" keeps the run's info lines off stderr; file_level = "INFO" keeps
    // them in the log file.
    let log = std::fs::read_to_string(dir.join("run.log"))?;
    ensure!(log.contains("run succeeded"), "{log}");
    ensure!(!printed.contains("run succeeded"), "{printed}");
    Ok(())
}

#[test]
fn several_files_after_one_c_and_dotted_flags_layer_as_in_taps() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let first = write_file(
        tmp.path(),
        "first.toml",
        "[app]\nname = \"synthetic\"\nstructure = \"bag\"\ntask-count = 5\n",
    )?;
    // Field names with `-` or `_`, values in any case, as TaPS accepts them.
    let second = write_file(
        tmp.path(),
        "second.toml",
        "[app]\nstructure = \"REDUCE\"\ntask_count = 7\n[engine.executor]\nname = \"Thread_Pool\"\nmax-threads = 2\n",
    )?;
    let base = ["run", "-c", &first, &second, "--progress", "none"];
    let printed = wasmtaps(tmp.path(), &base, 0)?;
    let dir = run_dir(tmp.path(), &printed)?;
    ensure!(
        records(&dir.join("tasks.jsonl"))?.len() == 8,
        "the second file wins: a reduce of 7"
    );

    let mut args = base.to_vec();
    args.extend([
        "--app.task-count",
        "3",
        "--run.dir-format",
        "out/{name}-{executor}",
    ]);
    let printed = wasmtaps(tmp.path(), &args, 0)?;
    let dir = run_dir(tmp.path(), &printed)?;
    ensure!(
        dir == tmp.path().join("out/synthetic-thread-pool"),
        "{}",
        dir.display()
    );
    ensure!(
        records(&dir.join("tasks.jsonl"))?.len() == 4,
        "the dotted flag wins over the files"
    );

    // wasmtaps's own flags stay, and win over the dotted ones; `--app` replaces the
    // subcommand and `-c` may be repeated.
    let printed = wasmtaps(
        tmp.path(),
        &[
            "run",
            "--app",
            "synthetic",
            "-c",
            &first,
            "-c",
            &second,
            "--app.task-count",
            "3",
            "--task-count",
            "2",
            "--run-dir",
            "own",
            "--progress",
            "none",
        ],
        0,
    )?;
    let dir = run_dir(tmp.path(), &printed)?;
    ensure!(records(&dir.join("tasks.jsonl"))?.len() == 3, "{printed}");
    Ok(())
}

#[test]
fn config_toml_is_written_in_taps_schema_and_reruns() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let printed = run_config(
        tmp.path(),
        "taps.toml",
        TAPS_DIAMOND,
        &["--memory-limit", "32MiB", "--progress", "none"],
        0,
    )?;
    let dir = run_dir(tmp.path(), &printed)?;
    let written: toml::Table = std::fs::read_to_string(dir.join("config.toml"))?.parse()?;
    ensure!(written["version"].is_str());
    ensure!(written["app"]["name"].as_str() == Some("synthetic"));
    ensure!(written["app"]["task_count"].as_integer() == Some(4));
    ensure!(written["engine"]["task_record_file_name"].as_str() == Some("records.jsonl"));
    ensure!(written["engine"]["executor"]["name"].as_str() == Some("thread-pool"));
    ensure!(written["engine"]["executor"]["max_threads"].as_integer() == Some(2));
    ensure!(written["logging"]["level"].as_str() == Some("WARNING"));
    ensure!(written["run"]["dir_format"].as_str() == Some("runs/{name}_{executor}_{timestamp}"));
    // What TaPS has no name for is under [wasmtaps].
    ensure!(
        written["wasmtaps"]["limits"]["memory_limit"].as_integer() == Some(32 << 20),
        "{written}"
    );
    // The written file re-runs as it is, into a new directory.
    let again = dir.join("config.toml").display().to_string();
    let printed = wasmtaps(tmp.path(), &["run", "-c", &again], 0)?;
    let rerun = run_dir(tmp.path(), &printed)?;
    ensure!(rerun != dir);
    ensure!(records(&rerun.join("records.jsonl"))?.len() == 9);
    let rewritten: toml::Table = std::fs::read_to_string(rerun.join("config.toml"))?.parse()?;
    ensure!(rewritten == written, "{rewritten}\n---\n{written}");
    Ok(())
}

#[test]
fn environment_json_names_the_host_and_versions() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let printed = wasmtaps(
        tmp.path(),
        &[
            "run",
            "--app",
            "synthetic",
            "--app.task-count",
            "2",
            "--progress",
            "none",
        ],
        0,
    )?;
    let dir = run_dir(tmp.path(), &printed)?;
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("environment.json"))?)?;
    ensure!(
        env["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "{env}"
    );
    ensure!(
        env["versions"]["wasmtime"].as_str() == Some("48.0.8"),
        "{env}"
    );
    ensure!(env["versions"]["wasmtaps"].is_string(), "{env}");
    ensure!(
        env["wasmtime"]["task_limits"]["memory_bytes"].is_u64(),
        "{env}"
    );
    Ok(())
}

#[test]
fn taps_only_executors_are_refused_naming_what_wasmtaps_offers() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for executor in [
        "dask",
        "ray",
        "parsl-local",
        "parsl-htex",
        "globus-compute",
        "taskvine",
    ] {
        let config = write_file(
            tmp.path(),
            "x.toml",
            &format!("[app]\nname = \"synthetic\"\n[engine.executor]\nname = \"{executor}\"\n"),
        )?;
        for args in [
            vec!["run", "-c", &config],
            vec!["run", "--app", "synthetic", "--engine.executor", executor],
        ] {
            let printed = wasmtaps(tmp.path(), &args, 2)?;
            for named in [executor, "thread-pool", "process-pool", "redis"] {
                ensure!(
                    printed.contains(named),
                    "{args:?} should name {named}: {printed}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn options_that_would_be_ignored_are_refused() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let filter = write_file(
        tmp.path(),
        "filter.toml",
        "[app]\nname = \"synthetic\"\n[engine.filter]\nname = \"object-type\"\n[engine.transformer]\nname = \"file\"\nfile_dir = \"store\"\n",
    )?;
    let file_store = write_file(
        tmp.path(),
        "file.toml",
        "[app]\nname = \"synthetic\"\n[engine.filter]\nname = \"object-size\"\nmin_size = 100\n[engine.transformer]\nname = \"file\"\nfile_dir = \"store\"\n",
    )?;
    let env_vars = write_file(
        tmp.path(),
        "env.toml",
        "[app]\nname = \"synthetic\"\n[run]\nenv_vars = { OMP_NUM_THREADS = \"1\" }\n",
    )?;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // The default store for values by reference is Redis's: no URL, nowhere to go.
        (
            vec!["run", "synthetic", "--transform-threshold", "1KiB"],
            "--redis URL",
        ),
        (vec!["run", "synthetic", "--insecure"], "would be ignored"),
        (
            vec!["run", "synthetic", "--store", "dir:somewhere"],
            "would be ignored",
        ),
        (
            vec!["run", "synthetic", "--redis", "redis://127.0.0.1:1"],
            "would be ignored",
        ),
        (
            vec!["run", "--app", "failures", "--app.base", "mapreduce"],
            "--generate",
        ),
        (vec!["run", "-c", &filter], "object-type"),
        (vec!["run", "-c", &env_vars], "env_vars"),
        (
            vec![
                "run",
                "--app",
                "failures",
                "--app.failure-type",
                "worker-killed",
            ],
            "--executor processes",
        ),
        (
            vec!["run", "--app", "failures", "--app.base", "failures"],
            "own base",
        ),
        (
            vec![
                "run",
                "--app",
                "synthetic",
                "--run.dir-format",
                "runs/{nme}",
            ],
            "{nme}",
        ),
        (vec!["run", "--workers", "2"], "needs an app"),
    ];
    for (args, named) in cases {
        let printed = wasmtaps(tmp.path(), &args, 2)?;
        ensure!(
            printed.contains(named),
            "{args:?} should name {named}: {printed}"
        );
    }
    ensure!(!tmp.path().join("runs").exists(), "no run started");
    // TaPS's object-size filter and file transformer on the thread pool: values of at
    // least min_size bytes go through file_dir, which the run leaves empty.
    let printed = wasmtaps(
        tmp.path(),
        &[
            "run",
            "-c",
            &file_store,
            "--app.task-data-bytes",
            "1000",
            "--app.task-count",
            "8",
        ],
        0,
    )?;
    ensure!(printed.contains("0 failed"), "{printed}");
    let store = tmp.path().join("store");
    // mapreduce's tasks under TaPS's names.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data)?;
    for (file, text) in [("a.txt", "one two"), ("b.txt", "two three")] {
        std::fs::write(data.join(file), text)?;
    }
    let data_dir = data.display().to_string();
    let out = wasmtaps(
        tmp.path(),
        &[
            "run",
            "--app",
            "mapreduce",
            "--app.data-dir",
            &data_dir,
            "--progress",
            "none",
        ],
        0,
    )?;
    let names: Vec<String> = records(&run_dir(tmp.path(), &out)?.join("tasks.jsonl"))?
        .into_iter()
        .map(|(_, t)| t.name)
        .collect();
    ensure!(
        names.iter().filter(|n| *n == "map_task").count() == 2
            && names.iter().filter(|n| *n == "reduce_task").count() == 1,
        "one map_task per file and a reduce_task: {names:?}"
    );
    ensure!(
        store.is_dir() && std::fs::read_dir(&store)?.count() == 0,
        "{printed}"
    );
    let dir = run_dir(tmp.path(), &printed)?;
    let written: toml::Table = std::fs::read_to_string(dir.join("config.toml"))?.parse()?;
    ensure!(
        written["engine"]["filter"]["min_size"].as_integer() == Some(100),
        "{written}"
    );
    ensure!(
        written["engine"]["transformer"]["file_dir"].as_str() == Some("store"),
        "{written}"
    );
    Ok(())
}

/// TaPS's record tests: every record holds TaPS's field set and nothing else, reads into
/// `TaskInfo` and writes back unchanged; failed records have string type, message and
/// traceback.
#[test]
fn records_round_trip_with_taps_field_set_and_string_exceptions() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let printed = wasmtaps(
        tmp.path(),
        &[
            "run",
            "--app",
            "failures",
            "--app.failure-type",
            "random",
            "--app.failure-rate",
            "0.5",
            "--app.config.task-count",
            "40",
            "--app.seed",
            "5",
            "--progress",
            "none",
        ],
        0,
    )?;
    let dir = run_dir(tmp.path(), &printed)?;
    let all = records(&dir.join("tasks.jsonl"))?;
    let (mut failed, mut executed_failures) = (0, 0);
    for (json, info) in &all {
        ensure!(keys(json) == TASK_FIELDS.into_iter().collect(), "{json}");
        ensure!(&serde_json::to_value(info)? == json, "round trip: {json}");
        if let Some(execution) = json["execution"].as_object() {
            let fields: BTreeSet<&str> = execution.keys().map(String::as_str).collect();
            ensure!(fields == EXECUTION_FIELDS.into_iter().collect(), "{json}");
        }
        if info.success == Some(false) {
            failed += 1;
            let exception = &json["exception"];
            ensure!(
                keys(exception) == EXCEPTION_FIELDS.into_iter().collect(),
                "{json}"
            );
            for field in EXCEPTION_FIELDS {
                ensure!(
                    exception[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{field} is a string: {json}"
                );
            }
            // `execution` is kept for a failure that ran: scripts test `success`.
            executed_failures += usize::from(info.execution.is_some());
        } else {
            ensure!(json["exception"].is_null(), "{json}");
        }
    }
    ensure!(failed > 0 && executed_failures > 0, "{printed}");
    Ok(())
}

/// A task that never runs because its parent failed records the parent's exception
/// (type, message and traceback), as TaPS does; the failures app in dependency mode
/// injects one failing parent per task, and the record count is every task submitted.
#[test]
fn dependents_carry_their_parents_exception_and_every_task_is_recorded() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let printed = run_config(
        tmp.path(),
        "failures.toml",
        r#"
[app]
name = "failures"
base = "synthetic"
failure_type = "dependency"
failure_rate = 0.5
seed = 3

[app.config]
structure = "bag"
task_count = 20
"#,
        &["--progress", "none"],
        0,
    )?;
    let dir = run_dir(tmp.path(), &printed)?;
    let all = records(&dir.join("tasks.jsonl"))?;
    let by_id: HashMap<&str, &TaskInfo> =
        all.iter().map(|(_, t)| (t.task_id.as_str(), t)).collect();
    let dependents: Vec<&TaskInfo> = all
        .iter()
        .map(|(_, t)| t)
        .filter(|t| t.success == Some(false) && t.execution.is_none())
        .collect();
    ensure!(!dependents.is_empty(), "{printed}");
    for dependent in &dependents {
        ensure!(dependent.parent_task_ids.len() == 1, "{dependent:?}");
        let parent = by_id[dependent.parent_task_ids[0].as_str()];
        ensure!(parent.execution.is_some() && parent.success == Some(false));
        ensure!(
            dependent.exception == parent.exception,
            "{dependent:?}\n{parent:?}"
        );
    }
    ensure!(
        all.len() == 20 + dependents.len(),
        "20 tasks plus one injected parent per dependent: {}",
        all.len()
    );
    Ok(())
}

#[test]
fn taps_failure_types_map_onto_their_sandbox_counterparts() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for (taps_type, recorded) in [
        ("zero-division", "Trap"),
        ("failure", "InjectedFailure"),
        ("ulimit", "MemoryLimitExceeded"),
        ("memory", "MemoryLimitExceeded"),
        ("walltime", "Timeout"),
        ("import", "LinkError"),
    ] {
        let printed = wasmtaps(
            tmp.path(),
            &[
                "run",
                "--app",
                "failures",
                "--app.failure-type",
                taps_type,
                "--app.failure-rate",
                "1",
                "--app.config.task-count",
                "3",
                "--progress",
                "none",
            ],
            0,
        )?;
        let dir = run_dir(tmp.path(), &printed)?;
        let all = records(&dir.join("tasks.jsonl"))?;
        ensure!(all.len() == 3, "{taps_type}: {printed}");
        for (json, _) in &all {
            ensure!(json["exception"]["type"] == recorded, "{taps_type}: {json}");
            ensure!(
                json["exception"]["traceback"].is_string(),
                "{taps_type}: {json}"
            );
        }
    }
    // `import` by a TaPS config, beside benign tasks: the unloadable tasks are recorded
    // under their name with the missing import named, and the others run.
    let printed = run_config(
        tmp.path(),
        "import.toml",
        "[app]\nname = \"failures\"\nfailure_type = \"IMPORT\"\nfailure_rate = 0.5\nseed = 2\n[app.config]\ntask_count = 10\n",
        &["--progress", "none"],
        0,
    )?;
    ensure!(!printed.contains("MISMATCH"), "{printed}");
    let all = records(&run_dir(tmp.path(), &printed)?.join("tasks.jsonl"))?;
    ensure!(all.len() == 10, "{printed}");
    let failed: Vec<_> = all
        .iter()
        .filter(|(_, t)| t.success != Some(true))
        .collect();
    ensure!(!failed.is_empty() && failed.len() < 10, "{printed}");
    for (json, info) in &failed {
        ensure!(info.name == "fail_import", "{json}");
        ensure!(json["exception"]["type"] == "LinkError", "{json}");
        let message = json["exception"]["message"].as_str().unwrap_or_default();
        ensure!(message.contains("taps::missing_module"), "{json}");
    }
    // What a sandboxed task cannot do is refused, naming what is injected instead.
    let refused = run_config(
        tmp.path(),
        "manager.toml",
        "[app]\nname = \"failures\"\nfailure_type = \"manager-killed\"\n",
        &["--progress", "none"],
        2,
    )?;
    ensure!(
        refused.contains("manager-killed") && refused.contains("import"),
        "{refused}"
    );
    Ok(())
}

/// TaPS's `worker-killed` on the process pool: the worker process that receives an
/// injected task is killed (SIGKILL) and replaced; the task is recorded as wasmtaps
/// records any task whose worker process died (`HostError`), and the run goes on.
#[test]
fn worker_killed_kills_a_worker_process_and_the_run_goes_on() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    const DEAD_WORKER: &str = "the worker process exited while running the task";
    // By flags, one task running at a time: only the injected task is on a worker when
    // it dies, so every other task succeeds.
    let printed = wasmtaps(
        tmp.path(),
        &[
            "run",
            "--app",
            "failures",
            "--app.failure-type",
            "worker-killed",
            "--app.failure-rate",
            "0.3",
            "--app.seed",
            "3",
            "--app.config.task-count",
            "12",
            "--app.config.bag-max-running",
            "1",
            "--engine.executor",
            "process-pool",
            "--engine.executor.max-processes",
            "2",
            "--progress",
            "none",
        ],
        0,
    )?;
    let injected = injected_count(&printed, "worker-killed")?;
    ensure!(injected > 0, "{printed}");
    ensure!(
        printed.contains(&format!("recorded as expected {injected:>6}")),
        "{printed}"
    );
    let all = records(&run_dir(tmp.path(), &printed)?.join("tasks.jsonl"))?;
    ensure!(all.len() == 12, "{printed}");
    let killed: Vec<_> = all
        .iter()
        .filter(|(_, t)| t.success != Some(true))
        .collect();
    ensure!(killed.len() == injected, "{printed}");
    for (json, _) in &killed {
        ensure!(json["exception"]["type"] == "HostError", "{json}");
        ensure!(json["exception"]["message"] == DEAD_WORKER, "{json}");
        ensure!(json["exception"]["traceback"].is_string(), "{json}");
    }

    // By a TaPS config, tasks pipelined to the process: the run goes on, every injected
    // task is recorded as a dead worker's, and every record is there.
    let printed = run_config(
        tmp.path(),
        "killed.toml",
        "[app]\nname = \"failures\"\nfailure_type = \"worker-killed\"\nfailure_rate = 0.2\nseed = 5\n[app.config]\ntask_count = 30\n[engine.executor]\nname = \"process-pool\"\nmax_processes = 2\n",
        &["--progress", "none"],
        0,
    )?;
    ensure!(!printed.contains("MISMATCH"), "{printed}");
    let injected = injected_count(&printed, "worker-killed")?;
    let all = records(&run_dir(tmp.path(), &printed)?.join("tasks.jsonl"))?;
    ensure!(all.len() == 30, "{printed}");
    // The tasks queued behind the killed one had not started: they run on the
    // replacement process, so only the injected tasks fail.
    let failed: Vec<_> = all
        .iter()
        .filter(|(_, t)| t.success != Some(true))
        .collect();
    ensure!(failed.len() == injected && injected > 0, "{printed}");
    for (json, _) in &failed {
        ensure!(json["exception"]["message"] == DEAD_WORKER, "{json}");
    }
    Ok(())
}

/// How many tasks of `kind` the failures app's summary says it injected.
fn injected_count(printed: &str, kind: &str) -> Result<usize> {
    Ok(printed
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("injected {kind}")))
        .and_then(|l| l.split_whitespace().next())
        .context("the summary counts the injected tasks")?
        .parse()?)
}

/// The longest chain of parent → child in the records, as the sum of its tasks' run
/// times (`task_end_time - task_start_time`), and its length in tasks.
fn critical_path(tasks: &[TaskInfo]) -> Result<(f64, usize)> {
    let by_id: HashMap<&str, &TaskInfo> = tasks.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let mut memo: HashMap<&str, (f64, usize)> = HashMap::new();
    // Records are written as tasks finish, so parents come before their children.
    let mut order: Vec<&TaskInfo> = tasks.iter().collect();
    order.sort_by(|a, b| {
        a.received_time
            .partial_cmp(&b.received_time)
            .expect("times")
    });
    for task in order {
        let execution = task.execution.as_ref().context("every task ran")?;
        let own = execution.task_end_time - execution.task_start_time;
        let longest_parent = task
            .parent_task_ids
            .iter()
            .filter(|p| by_id.contains_key(p.as_str()))
            .map(|p| memo.get(p.as_str()).copied().unwrap_or((0.0, 0)))
            .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
        memo.insert(
            &task.task_id,
            (longest_parent.0 + own, longest_parent.1 + 1),
        );
    }
    memo.values()
        .copied()
        .fold(None, |a: Option<(f64, usize)>, b| match a {
            Some(a) if a.0 >= b.0 => Some(a),
            _ => Some(b),
        })
        .context("no tasks")
}

/// TaPS's critical-path test: a diamond has 3 layers, a reduce 2, a sequential chain one
/// per task, and each layer sleeps `task_sleep`.
#[test]
fn critical_path_is_at_least_layers_times_task_sleep() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let sleep = 0.02;
    for (structure, layers) in [("diamond", 3), ("reduce", 2), ("sequential", 4)] {
        let printed = wasmtaps(
            tmp.path(),
            &[
                "run",
                "--app",
                "synthetic",
                "--app.structure",
                structure,
                "--app.task-count",
                "4",
                "--app.task-sleep",
                "0.02",
                "--engine.executor.max-threads",
                "4",
                "--progress",
                "none",
            ],
            0,
        )?;
        let dir = run_dir(tmp.path(), &printed)?;
        let tasks: Vec<TaskInfo> = records(&dir.join("tasks.jsonl"))?
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let (seconds, length) = critical_path(&tasks)?;
        ensure!(
            length == layers,
            "{structure}: a chain of {length} tasks, not {layers}"
        );
        ensure!(
            seconds >= layers as f64 * sleep,
            "{structure}: critical path {seconds} s < {layers} x {sleep} s"
        );
    }
    Ok(())
}

/// TaPS's failures app wraps any app: `base` = mapreduce or cholesky with its fields in
/// `[app.config]`; every injected failure is recorded with its type, the base app's own
/// verdict is reported beside.
#[test]
fn failures_inject_into_any_base_app() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for (base, config, kind, recorded) in [
        (
            "mapreduce",
            "generate = true\ngenerated_files = 6",
            "zero-division",
            "Trap",
        ),
        (
            "cholesky",
            "matrix_size = 128\nblock_size = 32",
            "failure",
            "InjectedFailure",
        ),
        (
            "mapreduce",
            "generate = true\ngenerated_files = 6",
            "dependency",
            "InjectedFailure",
        ),
        (
            "synthetic",
            "structure = \"diamond\"\ntask_count = 8",
            "walltime",
            "Timeout",
        ),
    ] {
        let printed = run_config(
            tmp.path(),
            "f.toml",
            &format!(
                "[app]\nname = \"failures\"\nbase = \"{base}\"\nfailure_type = \"{kind}\"\nfailure_rate = 0.5\nseed = 1\n[app.config]\n{config}\n"
            ),
            &["--progress", "none"],
            0,
        )?;
        ensure!(printed.contains(&format!("{base} (base):")), "{printed}");
        ensure!(!printed.contains("MISMATCH"), "{printed}");
        let dir = run_dir(tmp.path(), &printed)?;
        let all = records(&dir.join("tasks.jsonl"))?;
        let of_type = all
            .iter()
            .filter(|(j, _)| j["exception"]["type"] == recorded)
            .count();
        ensure!(of_type > 0, "{base}/{kind}: no {recorded}: {printed}");
    }
    Ok(())
}
