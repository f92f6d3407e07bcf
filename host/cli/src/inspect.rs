//! `wasmtaps inspect MODULE`: the tasks a module offers.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::terminal::{terminal_line, write_terminal_safe_json};
use clap::Args as ClapArgs;
use serde_json::json;

#[derive(ClapArgs)]
pub(crate) struct InspectArgs {
    /// The task module: a `.wasm` binary or `.wat` text file.
    module: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    budget: super::BudgetFlags,
}

pub(crate) fn run(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime_builder(None)
        .compile_budget(a.budget.budget())
        .build()?;
    let module = runtime.load_file(&a.module)?;
    if a.json {
        let tasks: Vec<_> = module
            .tasks()
            .iter()
            .map(|t| {
                let signature = module.task(&t.name).ok().and_then(|task| task.signature().map(str::to_owned));
                json!({"name": t.name, "export": t.export, "params": t.params, "signature": signature})
            })
            .collect();
        let uncallable: Vec<_> = module
            .uncallable()
            .iter()
            .map(|u| json!({"name": u.name, "signature": u.signature, "reason": u.reason}))
            .collect();
        let doc = json!({
            "module": module.name(),
            "sha256": module.hash(),
            "abi": module.abi_version(),
            "manifest": module.has_manifest(),
            "component": module.is_component(),
            "tasks": tasks,
            "uncallable": uncallable,
        });
        // Task names come from the module: JSON-escaped, and safe for a terminal.
        let mut out = std::io::stdout().lock();
        write_terminal_safe_json(&mut out, &doc)?;
        println!();
    } else {
        println!("module  {}", terminal_line(module.name()));
        println!("sha256  {}", module.hash());
        if module.is_component() {
            println!("kind    component (tasks typed by WIT)");
        } else {
            println!(
                "abi     {}{}",
                module.abi_version(),
                if module.has_manifest() {
                    ""
                } else {
                    " (no manifest: positional arguments only)"
                }
            );
        }
        println!("tasks");
        for t in module.tasks() {
            let task = module.task(&t.name)?;
            if let Some(signature) = task.signature() {
                println!("  {}: {}", terminal_line(&t.name), terminal_line(signature));
                continue;
            }
            match &t.params {
                Some(params) => println!(
                    "  {}({})",
                    terminal_line(&t.name),
                    terminal_line(&params.join(", "))
                ),
                None => println!("  {}(...)", terminal_line(&t.name)),
            }
        }
        if !module.uncallable().is_empty() {
            println!("not callable");
            for u in module.uncallable() {
                println!(
                    "  {}: {} ({})",
                    terminal_line(&u.name),
                    terminal_line(&u.signature),
                    terminal_line(&u.reason)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
