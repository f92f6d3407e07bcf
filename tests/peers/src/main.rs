//! The peers benchmark driver. Run it through `scripts/bench-peers`, which builds
//! everything and sets up Python first.
//!
//! - `wasmtaps-peers run [--python PY] [--out FILE] [--machine TEXT] [--command TEXT]
//!   [--rows a,b] [--workloads a,b] [--repeats N] [--smoke]`: runs every row on every
//!   workload `N` times (default 3), each run in its own child process, prints the
//!   markdown report and writes it to `FILE`. `--smoke` runs a hundredth of every
//!   workload once, as CI does, so a broken row fails the build.
//! - `wasmtaps-peers row ROW WORKLOAD [--smoke]`: runs one Rust row on one workload and
//!   prints one JSON object (`tasks`, `seconds`, `median_us`, `p99_us`, `rss_kib`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use wasmtaps_peers::{Measurement, ROWS, Runs, WORKERS, WORKLOADS, Workload, make_row};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("row") if args.len() == 3 => child(&args[1], &args[2], false),
        Some("row") if args.len() == 4 && args[3] == "--smoke" => child(&args[1], &args[2], true),
        Some("run") => run(&args[1..]),
        _ => {
            bail!("usage: wasmtaps-peers run [options] | wasmtaps-peers row ROW WORKLOAD [--smoke]")
        }
    }
}

/// One row on one workload, in this process; prints its JSON line.
fn child(row: &str, workload: &str, smoke: bool) -> Result<()> {
    let mut workload = Workload::named(workload).context("no such workload")?;
    if smoke {
        workload = workload.smoke();
    }
    let row = make_row(row)?;
    let m = workload.run(row.as_ref());
    drop(row);
    let line = json!({
        "tasks": m.tasks,
        "seconds": m.seconds,
        "median_us": m.median_us,
        "p99_us": m.p99_us,
        "rss_kib": peak_rss_kib()?,
    });
    println!("{line}");
    Ok(())
}

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?)
}

/// One run of a cell of the table: a measurement and the child's peak RSS, or why it
/// failed.
type Cell = Result<(Measurement, f64), String>;

struct Options {
    python: Option<PathBuf>,
    out: Option<PathBuf>,
    machine: String,
    command: String,
    rows: Vec<String>,
    workloads: Vec<String>,
    repeats: usize,
    smoke: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        python: None,
        out: None,
        machine: String::new(),
        command: String::new(),
        rows: ROWS.iter().map(|r| r.0.to_owned()).collect(),
        workloads: WORKLOADS.iter().map(|w| w.name.to_owned()).collect(),
        repeats: 3,
        smoke: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--smoke" {
            options.smoke = true;
            options.repeats = 1;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let list = || value.split(',').map(str::to_owned).collect::<Vec<_>>();
        match flag.as_str() {
            "--python" => options.python = Some(value.into()),
            "--out" => options.out = Some(value.into()),
            "--machine" => options.machine = value.clone(),
            "--command" => options.command = value.clone(),
            "--rows" => options.rows = list(),
            "--workloads" => options.workloads = list(),
            "--repeats" => {
                options.repeats = value
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .with_context(|| format!("--repeats takes a count ≥ 1, not {value:?}"))?
            }
            _ => bail!("unknown option {flag}"),
        }
    }
    Ok(options)
}

fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let exe = std::env::current_exe()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python_pools.py");
    let started = Instant::now();
    let mut cells: BTreeMap<(String, String), Vec<Cell>> = BTreeMap::new();
    // Repeats outermost, so that a burst of load on the shared machine hits one run of
    // every row rather than every run of one row.
    for repeat in 1..=options.repeats {
        for workload in WORKLOADS
            .iter()
            .filter(|w| options.workloads.iter().any(|n| n == w.name))
        {
            let scaled = if options.smoke {
                workload.smoke()
            } else {
                *workload
            };
            for (row, _) in ROWS
                .iter()
                .filter(|r| options.rows.iter().any(|n| n == r.0))
            {
                let mut cmd = if let Some(pool) = row.strip_prefix("python-") {
                    let Some(python) = &options.python else {
                        continue;
                    };
                    let mut cmd = Command::new(python);
                    cmd.arg(&script)
                        .args(["--pool", pool, "--workers", &WORKERS.to_string()])
                        .args(["--kind", scaled.kind.task_name()])
                        .args(["--shape", scaled.shape.name()])
                        .args(["--bytes", &scaled.bytes.to_string()])
                        .args(["--tasks", &scaled.python_tasks.to_string()]);
                    cmd
                } else {
                    let mut cmd = Command::new(&exe);
                    cmd.args(["row", row, workload.name]);
                    if options.smoke {
                        cmd.arg("--smoke");
                    }
                    cmd
                };
                let t = Instant::now();
                let cell = measure(&mut cmd);
                eprintln!(
                    "[{:6.1}s] run {repeat}/{} {:<17} {:<17} {}",
                    started.elapsed().as_secs_f64(),
                    options.repeats,
                    workload.name,
                    row,
                    match &cell {
                        Ok((m, _)) => format!(
                            "{:>10.0} tasks/s  median {:>10}  ({:.1}s)",
                            m.tasks as f64 / m.seconds,
                            duration(m.median_us),
                            t.elapsed().as_secs_f64()
                        ),
                        Err(e) => format!("FAILED: {e}"),
                    }
                );
                cells
                    .entry((workload.name.to_owned(), (*row).to_owned()))
                    .or_default()
                    .push(cell);
            }
        }
    }
    let failures: Vec<String> = cells
        .iter()
        .flat_map(|((w, r), runs)| {
            runs.iter()
                .filter_map(move |c| c.as_ref().err().map(|e| format!("{w} {r}: {e}")))
        })
        .collect();
    let report = render(&options, &cells, started.elapsed().as_secs_f64());
    print!("{report}");
    if let Some(out) = &options.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    if !failures.is_empty() {
        bail!("{} runs failed:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(())
}

fn measure(cmd: &mut Command) -> Cell {
    let output = cmd.output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!("{}: {}", output.status, last.unwrap_or("")));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().ok_or("no output")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let f = |k: &str| v[k].as_f64().ok_or(format!("no {k} in {line}"));
    Ok((
        Measurement {
            tasks: f("tasks")? as usize,
            seconds: f("seconds")?,
            median_us: f("median_us")?,
            p99_us: f("p99_us")?,
        },
        f("rss_kib")?,
    ))
}

fn duration(us: f64) -> String {
    if us < 1.0 {
        format!("{:.0} ns", us * 1e3)
    } else if us < 1e3 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        let s = format!("{per_second:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{per_second:.2}")
    }
}

fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}×")
    } else if x >= 10.0 {
        format!("{x:.1}×")
    } else if x >= 0.01 {
        format!("{x:.2}×")
    } else {
        format!("{x:.4}×")
    }
}

fn render(
    options: &Options,
    cells: &BTreeMap<(String, String), Vec<Cell>>,
    seconds: f64,
) -> String {
    let mut out = String::new();
    let w = |out: &mut String, s: &str| out.push_str(s);
    w(&mut out, "# wasmtaps and its peers, side by side\n\n");
    w(
        &mut out,
        "## How to reproduce\n\n\
         From a fresh clone on Debian with the Rust toolchain and `python3` (with `venv`), \
         run `scripts/bench-peers`. It adds the `wasm32-wasip1` target, builds the example \
         task module, the Extism guest (`tests/peers/extism-guest`, Extism's own PDK) and \
         the harness (`tests/peers`, its own cargo workspace, so the main build never \
         compiles Extism), creates a Python venv in `target/peers-venv`, runs every peer \
         on every workload — each pair in its own process, so each peak RSS is that \
         row's alone — prints this report and writes it to `docs/peers-results.md`. \
         `scripts/bench-peers --rows wasmtaps,native --workloads noop` runs a subset, \
         `--repeats N` sets the runs per pair (default 3), and `scripts/bench-peers \
         --smoke` (run by `scripts/test`) runs a hundredth of every workload once. \
         The criterion view of the no-op and 1 KiB rows is \
         `cargo bench --manifest-path tests/peers/Cargo.toml`.\n\n",
    );
    let _ = writeln!(out, "Command: `{}`\n", options.command);
    let _ = writeln!(out, "Machine: {}\n", options.machine);
    let _ = writeln!(
        out,
        "Measurement (excluding the build): {seconds:.0} s, {} run(s) of every row on \
         every workload. Every figure below comes from this one invocation.\n",
        options.repeats
    );
    w(
        &mut out,
        "## Method\n\n\
         Every row runs the same task logic with 2 workers (threads; processes for the \
         Python process pool), in its own child process, after a warm-up of 20 tasks \
         (1 for 64 MiB) that pays for compilation and first instances. Every Rust row \
         except `wasmtaps-engine` goes through one and the same dispatch (a thread pool \
         fed by one `crossbeam-channel` queue, the queue type of the wasmtaps engine's \
         own executor, each result on its own channel), so those rows differ only in \
         what a worker does with a task; `wasmtaps-engine` is wasmtaps as a user runs \
         it, through its `Engine` (futures, dependency graph, its own workers). The \
         Python rows use `concurrent.futures` as TaPS does.\n\n",
    );
    for (name, what) in ROWS {
        let _ = writeln!(out, "- `{name}`: {what}");
    }
    w(
        &mut out,
        "\nThe task logic is `examples/tasks` (`noop`, `reverse_bytes`, `checksum`): the \
         wasmtaps and raw wasmtime rows run its wasm module through the wasmtaps ABI \
         (MessagePack arguments and results); the native row calls the same Rust \
         functions; Extism runs the same logic written with `extism-pdk` (raw bytes in \
         and out); Python runs it in `tests/peers/python_pools.py`. Latency is what the \
         caller sees, from submitting a task to holding its decoded result (each row \
         hands its result over as it has it: the raw wasmtime and Extism rows copy it \
         out into a `Vec`, wasmtaps copies it into a `Value` and reads the `bin` in \
         place; the wasmtaps rows pass the input as a `Value::from_bin` sharing the \
         caller's buffer, the raw wasmtime row copies it into one request buffer); for the \
         chain it is the time from one result to the next (the parent → child hop plus \
         the child); for the 100k batch it includes the queueing behind earlier tasks. \
         tasks/s is tasks over the wall time of the measured tasks. Peak RSS is the \
         child's `VmHWM` (for the Python process pool, the parent's plus each \
         worker's). Every row/workload pair runs several times, each run in a new \
         process, interleaved with the other rows' runs: tasks/s and the median latency \
         are the median over the runs with the best run in brackets (highest tasks/s, \
         lowest latency), p99 is the median over the runs, peak RSS the highest. \
         `× wasmtaps` is the peer's median figure over the `wasmtaps` row's: above 1 is \
         more tasks/s, more latency or more memory. Results are checked (every \
         reversal's length and ends, every hash, the chain's final bytes).\n\n",
    );
    let mut slower = Vec::new();
    for workload in WORKLOADS
        .iter()
        .filter(|w| options.workloads.iter().any(|n| n == w.name))
    {
        let _ = writeln!(out, "## `{}`: {}\n", workload.name, workload.description);
        let measured = if options.smoke {
            workload.smoke()
        } else {
            *workload
        };
        w(
            &mut out,
            "| peer | tasks | runs | tasks/s (best) | × wasmtaps | median (best) | × | p99 | × \
             | peak RSS | × | wasmtaps is |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: \
             | ---: | ---: | ---: | ---: | --- |\n",
        );
        let reduce = |row: &str| {
            let runs = cells.get(&(workload.name.to_owned(), row.to_owned()))?;
            Some(match runs.iter().find_map(|c| c.as_ref().err()) {
                Some(e) => Err(e.clone()),
                None => Ok(Runs::of(
                    &runs
                        .iter()
                        .filter_map(|c| c.clone().ok())
                        .collect::<Vec<_>>(),
                )
                .expect("a cell has at least one run")),
            })
        };
        let base = reduce("wasmtaps").and_then(Result::ok);
        for (row, _) in ROWS {
            let Some(cell) = reduce(row) else {
                continue;
            };
            match cell {
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "| `{row}` | failed: {} | | | | | | | | | | |",
                        e.replace('|', "/")
                    );
                }
                Ok(m) => {
                    let r = |x: f64, b: f64| {
                        if base.is_some() {
                            ratio(x / b)
                        } else {
                            "—".into()
                        }
                    };
                    let (btps, bmed, bp99, brss) =
                        base.as_ref().map_or((1.0, 1.0, 1.0, 1.0), |b| {
                            (b.tasks_per_s, b.median_us, b.p99_us, b.rss_kib)
                        });
                    let tps = m.tasks_per_s;
                    let verdict = if *row == "wasmtaps" || base.is_none() {
                        "—".to_owned()
                    } else if tps > btps * 1.05 {
                        slower.push(format!(
                            "`{}`: `{row}` runs {} the tasks/s of wasmtaps",
                            workload.name,
                            ratio(tps / btps)
                        ));
                        format!("**slower** ({} fewer tasks/s)", ratio(tps / btps))
                    } else if tps < btps * 0.95 {
                        format!("faster ({})", ratio(btps / tps))
                    } else {
                        "even (±5%)".to_owned()
                    };
                    let tasks = if m.tasks == measured.tasks {
                        m.tasks.to_string()
                    } else {
                        format!("{}¹", m.tasks)
                    };
                    let _ = writeln!(
                        out,
                        "| `{row}` | {tasks} | {} | {} ({}) | {} | {} ({}) | {} | {} | {} | {:.1} MiB \
                         | {} | {verdict} |",
                        m.runs,
                        rate(tps),
                        rate(m.best_tasks_per_s),
                        r(tps, btps),
                        duration(m.median_us),
                        duration(m.best_median_us),
                        r(m.median_us, bmed),
                        duration(m.p99_us),
                        r(m.p99_us, bp99),
                        m.rss_kib / 1024.0,
                        r(m.rss_kib, brss),
                    );
                }
            }
        }
        if measured.python_tasks != measured.tasks {
            let _ = writeln!(
                out,
                "\n¹ Fewer tasks for the Python rows: pure Python is slow at this."
            );
        }
        out.push('\n');
    }
    w(
        &mut out,
        "## Where wasmtaps is slower (by tasks/s, beyond ±5%)\n\n",
    );
    if slower.is_empty() {
        w(&mut out, "Nowhere in this run.\n");
    }
    for line in &slower {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    let notes = Path::new(env!("CARGO_MANIFEST_DIR")).join("NOTES.md");
    if let Ok(notes) = std::fs::read_to_string(notes) {
        out.push_str(&notes);
    }
    out
}
