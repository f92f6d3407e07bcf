//! TaPS's command line (`python -m taps.run`) beside wasmtaps's own: `-c FILE [FILE ...]`
//! (several files after one flag, or the flag repeated), `--app NAME` instead of a
//! subcommand, and dotted flags that set a config key (`--app.task-count 100`,
//! `--engine.executor thread-pool`, `--engine.executor.max-threads 4`,
//! `--run.dir-format DIR`, `--logging.level DEBUG`).
//!
//! [`split`] takes these out of the command line before clap reads it: the config files
//! stay `-c` flags of the app's subcommand (inserted when the command line has none, from
//! `--app` or the files' `[app] name`), and the dotted flags become one TOML layer in
//! TaPS's schema that goes over the files (and under wasmtaps's own flags).

use std::ffi::OsString;

use toml::{Table, Value};

use super::taps;

/// The apps `run` has as subcommands.
const APPS: &[&str] = &["synthetic", "failures", "mapreduce", "cholesky"];

/// The command line for clap, and the dotted flags as a TOML layer.
pub(crate) struct Split {
    pub argv: Vec<OsString>,
    pub layer: Table,
}

/// Rewrites a `wasmtaps run` command line (any other is returned as it is).
///
/// # Errors
/// A dotted flag without a value, a key that is not a TaPS key path, or no app named
/// anywhere.
pub(crate) fn split(argv: Vec<OsString>) -> Result<Split, String> {
    let mut layer = Table::new();
    // The subcommand is the first argument that is not a (global) flag.
    let Some(run_at) = argv
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|i| i + 1)
    else {
        return Ok(Split { argv, layer });
    };
    if argv[run_at] != "run" {
        return Ok(Split { argv, layer });
    }
    let mut head: Vec<OsString> = argv[..=run_at].to_vec();
    let mut files: Vec<OsString> = Vec::new();
    let mut rest: Vec<OsString> = Vec::new();
    let mut args = argv[run_at + 1..].iter().cloned().peekable();
    let mut subcommand: Option<OsString> = None;
    let mut first = true;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let was_first = std::mem::replace(&mut first, false);
        if was_first && (APPS.contains(&text.as_str()) || text == "help") {
            subcommand = Some(arg);
            continue;
        }
        if text == "-c" || text == "--config" {
            let before = files.len();
            while let Some(next) = args.peek() {
                if next.to_string_lossy().starts_with('-') {
                    break;
                }
                files.push(args.next().expect("peeked"));
            }
            if files.len() == before {
                return Err(format!("{text} needs at least one config file"));
            }
            continue;
        }
        if let Some(file) = text.strip_prefix("--config=") {
            files.push(file.into());
            continue;
        }
        let Some(flag) = text.strip_prefix("--") else {
            rest.push(arg);
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag.to_owned(), None),
        };
        if name != "app" && !name.contains('.') {
            rest.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| format!("--{name} needs a value"))?,
        };
        let path: Vec<String> = name.split('.').map(|k| k.replace('-', "_")).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("--{name} is not a config key path"));
        }
        insert(&mut layer, &path, literal(&value), &name)?;
    }
    let subcommand = match subcommand {
        Some(s) => Some(s),
        None if rest.iter().any(|a| a == "-h" || a == "--help") => None,
        None => Some(
            taps::app_name(&layer)
                .or_else(|| app_from_files(&files))
                .ok_or_else(|| {
                    "wasmtaps run needs an app: a subcommand (synthetic, failures, mapreduce, cholesky), --app NAME, or [app] name in a -c config file".to_owned()
                })?
                .into(),
        ),
    };
    head.extend(subcommand);
    for file in files {
        head.push("-c".into());
        head.push(file);
    }
    head.extend(rest);
    Ok(Split { argv: head, layer })
}

/// A flag's value as TOML would read it (a number, a boolean), else as a string.
fn literal(text: &str) -> Value {
    format!("v = {text}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// Sets `path` in `table`. A name and fields of the same key meet in one table:
/// `--engine.executor thread-pool` sets `engine.executor.name`, beside
/// `--engine.executor.max-threads 4`.
fn insert(table: &mut Table, path: &[String], value: Value, flag: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("a path has a key");
    let mut at = table;
    for key in parents {
        let slot = at
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::String(name) = slot {
            let mut named = Table::new();
            named.insert("name".into(), Value::String(name.clone()));
            *slot = Value::Table(named);
        }
        at = match slot {
            Value::Table(t) => t,
            _ => return Err(format!("--{flag}: {key} is a value, not a table")),
        };
    }
    match at.get_mut(last) {
        Some(Value::Table(t)) => {
            t.insert("name".into(), value);
        }
        _ => {
            at.insert(last.clone(), value);
        }
    }
    Ok(())
}

/// The app the last config file that names one names (`app = "x"` or `[app] name`).
fn app_from_files(files: &[OsString]) -> Option<String> {
    files
        .iter()
        .rev()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| text.parse::<Table>().ok())
        .find_map(|t| taps::app_name(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn taps_command_lines_become_a_subcommand_and_a_layer() {
        let split = split(args(&[
            "wasmtaps",
            "-v",
            "run",
            "--app",
            "synthetic",
            "--app.structure",
            "bag",
            "--app.task-count",
            "100",
            "--engine.executor",
            "thread-pool",
            "--engine.executor.max-threads",
            "4",
            "--logging.level=DEBUG",
            "-c",
            "a.toml",
            "b.toml",
            "--workers",
            "2",
        ]))
        .unwrap();
        assert_eq!(
            split.argv,
            args(&[
                "wasmtaps",
                "-v",
                "run",
                "synthetic",
                "-c",
                "a.toml",
                "-c",
                "b.toml",
                "--workers",
                "2"
            ])
        );
        let expected: Table = r#"
            app = { name = "synthetic", structure = "bag", task_count = 100 }
            engine = { executor = { name = "thread-pool", max_threads = 4 } }
            logging = { level = "DEBUG" }
        "#
        .parse()
        .unwrap();
        assert_eq!(split.layer, expected);
    }

    #[test]
    fn other_subcommands_are_left_alone() {
        let line = args(&["wasmtaps", "call", "m.wasm", "--app.x", "1"]);
        assert_eq!(split(line.clone()).unwrap().argv, line);
    }

    #[test]
    fn no_app_anywhere_is_an_error() {
        let error = split(args(&["wasmtaps", "run", "--workers", "2"]))
            .err()
            .unwrap();
        assert!(error.contains("needs an app"), "{error}");
    }
}
