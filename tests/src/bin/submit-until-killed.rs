//! `submit-until-killed MODULE.wat RECORDS.jsonl`: submits the module's `noop` and `inc`
//! tasks to an engine recording into `RECORDS.jsonl`, for ever (for a minute at most).
//!
//! Not a test: `engine::records_survive_kill_9` (tests/all/engine.rs) starts it and kills
//! it with SIGKILL mid-run, then checks what the record file kept.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtaps::{Arg, Engine, Runtime};

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(module), Some(records)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: submit-until-killed MODULE.wat RECORDS.jsonl");
    };
    let wat = std::fs::read_to_string(&module).context("reading the module")?;
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("engine-tasks", &wat)?;
    let (noop, inc) = (module.task("noop")?, module.task("inc")?);
    let engine = Engine::builder(runtime).record_file(records).build()?;
    // Killed long before this, unless the test that started it died first.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let root = engine.submit(&inc, vec![Arg::encode(&0)?], vec![]);
        engine.submit(&inc, vec![root.into()], vec![]);
        engine.submit(&noop, vec![], vec![]);
    }
    Ok(())
}
