//! `wasmtaps call MODULE TASK`: one invocation, printed as JSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use wasmtaps::{Args, Invocation, InvokeOptions, LimitOverrides, ReadOnlyDir, TaskInfo};

use crate::parse;
use crate::terminal::write_terminal_safe_json;

#[derive(ClapArgs)]
pub(crate) struct CallArgs {
    /// The task module: a `.wasm` binary or `.wat` text file.
    module: PathBuf,
    /// The task's name.
    task: String,
    /// Positional arguments as a JSON array.
    #[arg(long, default_value = "[]", value_parser = parse::json)]
    args: serde_json::Value,
    /// Keyword arguments as a JSON object.
    #[arg(long, default_value = "{}", value_parser = parse::json)]
    kwargs: serde_json::Value,
    /// Linear memory limit, e.g. 64MiB.
    #[arg(long, value_parser = parse::bytes)]
    memory_limit: Option<u64>,
    /// Fuel limit (about one unit per wasm instruction).
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock deadline in seconds.
    #[arg(long, value_parser = parse::timeout)]
    timeout: Option<Duration>,
    /// Largest result accepted, e.g. 1MiB.
    #[arg(long, value_parser = parse::bytes)]
    max_result_bytes: Option<u64>,
    /// Captured stdout/stderr kept, e.g. 64KiB.
    #[arg(long, value_parser = parse::bytes)]
    max_output_bytes: Option<u64>,
    #[command(flatten)]
    budget: super::BudgetFlags,
    /// Let the task read a host directory: HOST_DIR[:GUEST_PATH]. Repeatable.
    #[arg(long = "dir", value_parser = parse::read_only_dir)]
    dirs: Vec<ReadOnlyDir>,
    /// Keep compiled modules in this directory between runs ("none" to compile every
    /// time; default $WASMTAPS_CACHE_DIR, $XDG_CACHE_HOME/wasmtaps or ~/.cache/wasmtaps).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

pub(crate) fn run(a: CallArgs) -> anyhow::Result<ExitCode> {
    let args = Args::from_json(&a.args, &a.kwargs)?;
    // One task, then exit: two instance slots (a component may have two memories), no
    // spare instance (it would be made for a call that never comes), and cached
    // artifacts mapped rather than read (only the pages the task needs are touched).
    let runtime = super::runtime_builder(a.cache_dir.as_deref())
        .instance_slots(2)
        .spare_instances(false)
        .map_cache_artifacts(true)
        .fuel_metering(a.fuel.is_some())
        .compile_budget(a.budget.budget())
        .build()?;
    let module = runtime.load_file(&a.module)?;
    let task = module.task(&a.task)?;
    let options = InvokeOptions {
        limits: LimitOverrides {
            memory_bytes: a.memory_limit,
            fuel: a.fuel,
            timeout: a.timeout,
            max_result_bytes: a.max_result_bytes,
            max_output_bytes: a.max_output_bytes,
            ..LimitOverrides::default()
        },
        read_only_dirs: a.dirs,
    };
    runtime.limits_for(&options.limits)?;
    let submit_time = unix_now();
    let outcome = runtime.invoke(&task, &args, &options);
    let received_time = unix_now();
    // Check the value has a JSON form before printing anything; both passes stream it.
    if let Ok(value) = &outcome.result {
        value
            .write_json(std::io::sink())
            .context("the task's value has no JSON form")?;
    }
    let info = TaskInfo {
        task_id: uuid::Uuid::new_v4().to_string(),
        name: task.name().to_owned(),
        parent_task_ids: Vec::new(),
        submit_time,
        received_time: Some(received_time),
        success: Some(outcome.result.is_ok()),
        exception: outcome.result.as_ref().err().map(|e| e.to_exception_info()),
        execution: Some(outcome.execution.clone()),
    };
    print_outcome(&outcome, &info).context("cannot print the outcome")?;
    Ok(if outcome.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints `{"value": ..., "info": ..., "stdout": ..., "stderr": ...}` on one line, the
/// value streamed and every string escaped so that the terminal shows it rather than
/// acting on it (the JSON is the same).
fn print_outcome(outcome: &Invocation, info: &TaskInfo) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    out.write_all(b"{\"value\":")?;
    match &outcome.result {
        Ok(value) => value.write_json(&mut out)?,
        Err(_) => out.write_all(b"null")?,
    }
    out.write_all(b",\"info\":")?;
    write_terminal_safe_json(&mut out, info)?;
    out.write_all(b",\"stdout\":")?;
    write_terminal_safe_json(&mut out, &String::from_utf8_lossy(&outcome.stdout))?;
    out.write_all(b",\"stderr\":")?;
    write_terminal_safe_json(&mut out, &String::from_utf8_lossy(&outcome.stderr))?;
    out.write_all(b"}\n")?;
    out.flush()?;
    Ok(())
}

/// The current time as float Unix seconds, as the records' times are.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
