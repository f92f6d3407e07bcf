//! The mapreduce app: word count over text files (or generated text) with map tasks and
//! one reduce task; the most frequent words are written to `top_words.txt`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use wasmtaps::{Arg, TaskFuture};

use super::{AppContext, AppOutcome, Rng, arg};
use crate::run::config::MapReduceConfig;

/// Tasks the app submits: the map tasks and the reduce task.
pub(crate) fn task_count(c: &MapReduceConfig) -> u64 {
    let files = if c.generate {
        c.generated_files
    } else {
        c.data_dir
            .as_ref()
            .and_then(|d| std::fs::read_dir(d).ok())
            .map_or(1, |entries| entries.count() as u64)
    };
    map_tasks(c, files as usize) as u64 + 1
}

/// The map tasks: `map_tasks`, at most one per file, and one per file when not given
/// (as TaPS does).
fn map_tasks(c: &MapReduceConfig, files: usize) -> usize {
    let files = files.max(1);
    c.map_tasks.map_or(files, |n| {
        usize::try_from(n).unwrap_or(usize::MAX).min(files)
    })
}

/// The reduce task's result: a map from the core module, a list of `(word, count)` pairs
/// from a component (WIT has no map type).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum WordCounts {
    Map(BTreeMap<String, u64>),
    Pairs(Vec<(String, u64)>),
}

pub(crate) fn run(ctx: &AppContext, c: &MapReduceConfig) -> anyhow::Result<AppOutcome> {
    let texts = if c.generate {
        generate(c)
    } else {
        let dir = c
            .data_dir
            .as_ref()
            .context("mapreduce needs --data-dir or --generate")?;
        read_dir(dir)?
    };
    let total_bytes: usize = texts.iter().map(String::len).sum();
    let parts = map_tasks(c, texts.len());
    ctx.log.line(format!(
        "mapreduce: {} texts, {total_bytes} bytes, {parts} map tasks",
        texts.len(),
    ));
    let chunks = split(&texts, parts);
    let map = ctx.task("map_task")?;
    let maps: Vec<TaskFuture> = chunks
        .iter()
        .map(|chunk| ctx.submit(&map, vec![arg(chunk)]))
        .collect();
    let reduce = ctx.submit(
        &ctx.task("reduce_task")?,
        vec![Arg::List(maps.iter().map(Arg::from).collect())],
    );
    let counts: BTreeMap<String, u64> = match ctx.value(&reduce) {
        Ok(v) => match v.decode::<WordCounts>()? {
            WordCounts::Map(counts) => counts,
            WordCounts::Pairs(pairs) => pairs.into_iter().collect(),
        },
        Err(e) => {
            return Ok(AppOutcome {
                ok: false,
                lines: vec![format!("mapreduce failed: {e}")],
            });
        }
    };
    let mut ranked: Vec<(&String, &u64)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out = String::new();
    for (word, n) in ranked.iter().take(c.top) {
        let _ = writeln!(out, "{n}\t{word}");
    }
    std::fs::write(ctx.dir.join("top_words.txt"), &out)?;
    let words: u64 = counts.values().sum();
    let mut lines = vec![format!(
        "mapreduce: {words} words, {} distinct; top {} in top_words.txt:",
        counts.len(),
        c.top.min(ranked.len())
    )];
    lines.extend(
        ranked
            .iter()
            .take(c.top.min(10))
            .map(|(w, n)| format!("  {n:>8}  {w}")),
    );
    Ok(AppOutcome { ok: true, lines })
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read --data-dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    anyhow::ensure!(
        !paths.is_empty(),
        "--data-dir {} holds no files",
        dir.display()
    );
    paths
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .with_context(|| format!("cannot read {}", p.display()))
        })
        .collect()
}

/// Text with a Zipf-like word distribution over a fixed vocabulary.
fn generate(c: &MapReduceConfig) -> Vec<String> {
    const VOCABULARY: &[&str] = &[
        "the", "of", "and", "to", "in", "task", "data", "engine", "wasm", "future", "result",
        "worker", "sandbox", "module", "memory", "record", "phase", "graph", "value", "limit",
        "trap", "host", "guest", "bytes", "queue", "time", "reduce", "map", "word", "count",
    ];
    let mut rng = Rng::new(c.seed);
    (0..c.generated_files)
        .map(|_| {
            let mut text = String::new();
            for i in 0..c.generated_words {
                // P(rank r) ~ 1/r, by inverse transform on a harmonic scale.
                let r = ((VOCABULARY.len() as f64 + 1.0).powf(rng.unit()) - 1.0) as usize;
                text.push_str(VOCABULARY[r.min(VOCABULARY.len() - 1)]);
                text.push(if i % 12 == 11 { '\n' } else { ' ' });
            }
            text
        })
        .collect()
}

/// Deals the texts into `parts` chunks of about equal size, splitting at whitespace.
fn split(texts: &[String], parts: usize) -> Vec<String> {
    let all = texts.join("\n");
    let parts = parts.max(1);
    let target = all.len().div_ceil(parts).max(1);
    let mut chunks = Vec::with_capacity(parts);
    let mut rest = all.as_str();
    while chunks.len() + 1 < parts && rest.len() > target {
        let mut cut = target;
        while cut < rest.len() && !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let cut = rest[cut..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| cut + i);
        chunks.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    chunks.push(rest.to_owned());
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_word_once() {
        let texts = vec!["alpha beta gamma".to_owned(), "delta epsilon".to_owned()];
        let chunks = split(&texts, 3);
        assert_eq!(chunks.len(), 3);
        let rejoined: Vec<&str> = chunks.iter().flat_map(|c| c.split_whitespace()).collect();
        assert_eq!(rejoined, ["alpha", "beta", "gamma", "delta", "epsilon"]);
    }
}
