//! TaPS's configuration schema, translated onto wasmtaps's own and back.
//!
//! A TaPS `config.toml` (`python -m taps.run -c config.toml`) names the app in `[app]
//! name`, puts the app's fields beside it (the failures app its base's in `[app.config]`),
//! the executor in `[engine.executor] name` with `max_threads`/`max_processes`, the record
//! file in `[engine] task_record_file_name`, data by reference in `[engine.filter]` and
//! `[engine.transformer]`, logging in `[logging]`, the run directory in `[run]
//! dir_format`, and a top-level `version`. [`to_wasmtaps`] turns such a table (which may
//! mix in wasmtaps's own sections, and a `[wasmtaps]` table for what TaPS has no name for)
//! into wasmtaps's own form, which [`RunConfig`](super::config::RunConfig) reads;
//! [`from_wasmtaps`] writes a resolved configuration back in TaPS's form. Field names may
//! use `_` or `-`, and the values of closed choices any case, as TaPS accepts them.

use toml::{Table, Value};

/// What wasmtaps offers instead of an executor only TaPS has.
const OFFERED_EXECUTORS: &str = "\"thread-pool\" (threads in this process, max_threads), \"process-pool\" (worker processes, max_processes) or \"redis\" (wasmtaps worker processes anywhere)";

/// TaPS's executors that wasmtaps does not have.
const TAPS_ONLY_EXECUTORS: &[&str] = &[
    "dask",
    "ray",
    "parsl",
    "parsl-local",
    "parsl-htex",
    "globus",
    "globus-compute",
    "taskvine",
];

/// TaPS's failure types that have no sandboxed counterpart here yet.
const SANDBOX_LESS_FAILURES: &[&str] = &["manager-killed", "node-killed"];

/// Keys whose values are one of a closed set of names (matched in any case, `_` as `-`).
const CHOICE_KEYS: &[&str] = &["name", "structure", "failure_type", "executor", "progress"];

/// Keys whose values are Python logging level names (matched in any case, written upper
/// case as TaPS writes them).
const LEVEL_KEYS: &[&str] = &["level", "file_level"];

/// The app a layer names: `app = "x"` or `[app] name = "x"`.
pub(crate) fn app_name(table: &Table) -> Option<String> {
    match table.get("app")? {
        Value::String(name) => Some(choice(name)),
        Value::Table(app) => app.get("name").and_then(Value::as_str).map(choice),
        _ => None,
    }
}

/// A choice's value as wasmtaps spells it: lower case, words joined by `-`.
fn choice(value: &str) -> String {
    value.trim().to_lowercase().replace('_', "-")
}

/// `table` with every key's `-` spelled `_`, and the values of [`CHOICE_KEYS`] as
/// [`choice`] spells them, at every depth.
fn normalise(table: Table) -> Table {
    table
        .into_iter()
        .map(|(key, value)| {
            let key = key.replace('-', "_");
            let value = match value {
                Value::Table(t) => Value::Table(normalise(t)),
                Value::String(s) if CHOICE_KEYS.contains(&key.as_str()) => {
                    Value::String(choice(&s))
                }
                Value::String(s) if LEVEL_KEYS.contains(&key.as_str()) => {
                    Value::String(s.trim().to_uppercase())
                }
                other => other,
            };
            (key, value)
        })
        .collect()
}

/// Takes the table at `key` out of `table` (an absent key is an empty table).
fn take_table(table: &mut Table, key: &str, origin: &str) -> Result<Table, String> {
    match table.remove(key) {
        None => Ok(Table::new()),
        Some(Value::Table(t)) => Ok(t),
        Some(other) => Err(format!(
            "{origin}: `{key}` must be a table, not {}",
            other.type_str()
        )),
    }
}

/// Inserts `value` at `section.key` of `out` (the top level for an empty section).
fn put(out: &mut Table, section: &str, key: &str, value: Value) {
    let target = if section.is_empty() {
        out
    } else {
        match out
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()))
        {
            Value::Table(t) => t,
            slot => {
                *slot = Value::Table(Table::new());
                match slot {
                    Value::Table(t) => t,
                    _ => unreachable!("just made a table"),
                }
            }
        }
    };
    target.insert(key.to_owned(), value);
}

/// Moves every field of `fields` into `out`'s `section`.
fn put_all(out: &mut Table, section: &str, fields: Table) {
    for (key, value) in fields {
        put(out, section, &key, value);
    }
}

/// `env_vars` must be empty: a sandboxed task sees no environment, so no variable would
/// reach it, and the run's own process takes its environment from its caller.
fn check_env_vars(value: Option<Value>, origin: &str) -> Result<(), String> {
    match value {
        None => Ok(()),
        Some(Value::Table(t)) if t.is_empty() => Ok(()),
        Some(_) => Err(format!(
            "{origin}: env_vars is not supported: wasmtaps tasks run sandboxed with no environment, so no task would see these variables (set them in the environment of `wasmtaps run` itself if the host should)"
        )),
    }
}

/// Translates one layer (a config file, or the TaPS-style dotted flags) into wasmtaps's
/// own form. `app` is the run's app, for an `[app]` table that does not name one.
///
/// # Errors
/// Names the key, the value and (for an executor only TaPS has) what wasmtaps offers.
pub(crate) fn to_wasmtaps(table: Table, app: &str, origin: &str) -> Result<Table, String> {
    let mut taps = normalise(table);
    // What TaPS has no name for, in wasmtaps's own form; the TaPS keys below go on top.
    let mut out = take_table(&mut taps, "wasmtaps", origin)?;
    if let Some(version) = taps.remove("version")
        && !version.is_str()
    {
        return Err(format!(
            "{origin}: version must be a string, not {}",
            version.type_str()
        ));
    }
    check_env_vars(taps.remove("env_vars"), origin)?;
    match taps.remove("app") {
        None => {}
        Some(Value::String(name)) => put(&mut out, "", "app", Value::String(name)),
        Some(Value::Table(mut fields)) => {
            let name = match fields.remove("name") {
                Some(Value::String(name)) => name,
                Some(other) => {
                    return Err(format!(
                        "{origin}: app.name must be a string, not {}",
                        other.type_str()
                    ));
                }
                None => app.to_owned(),
            };
            put(&mut out, "", "app", Value::String(name.clone()));
            app_fields(&mut out, &name, fields, origin)?;
        }
        Some(other) => {
            return Err(format!(
                "{origin}: app must be a name or a table, not {}",
                other.type_str()
            ));
        }
    }
    let mut engine = take_table(&mut taps, "engine", origin)?;
    match engine.remove("executor") {
        None => {}
        Some(Value::String(name)) => put(&mut out, "engine", "executor", executor(&name, origin)?),
        Some(Value::Table(mut fields)) => {
            if let Some(name) = fields.remove("name") {
                let name = name
                    .as_str()
                    .ok_or_else(|| format!("{origin}: engine.executor.name must be a string"))?;
                put(&mut out, "engine", "executor", executor(name, origin)?);
            }
            for key in ["max_threads", "max_processes"] {
                if let Some(count) = fields.remove(key) {
                    put(&mut out, "engine", "workers", count);
                }
            }
            put_all(&mut out, "engine", fields);
        }
        Some(other) => {
            return Err(format!(
                "{origin}: engine.executor must be a name or a table, not {}",
                other.type_str()
            ));
        }
    }
    if let Some(name) = engine.remove("task_record_file_name") {
        put(&mut out, "run", "record_file", name);
    }
    let filter = take_table(&mut engine, "filter", origin)?;
    let transformer = take_table(&mut engine, "transformer", origin)?;
    by_reference(&mut out, filter, transformer, origin)?;
    put_all(&mut out, "engine", engine);
    let mut run = take_table(&mut taps, "run", origin)?;
    check_env_vars(run.remove("env_vars"), origin)?;
    put_all(&mut out, "run", run);
    let failure_type = taps
        .get("failures")
        .and_then(|f| f.get("failure_type"))
        .or_else(|| out.get("failures").and_then(|f| f.get("failure_type")))
        .and_then(Value::as_str);
    if let Some(kind) = failure_type
        && SANDBOX_LESS_FAILURES.contains(&kind)
    {
        return Err(format!(
            "{origin}: failure_type = {kind:?} is one of TaPS's failure types that wasmtaps does not inject: a sandboxed task cannot kill its manager or node; wasmtaps injects zero-division, failure, import, memory, ulimit, walltime, dependency, panic, stack-overflow, worker-killed (with the processes executor) and random"
        ));
    }
    // `[logging]` and wasmtaps's own sections (`[limits]`, `[synthetic]`, ...) as they are;
    // unknown keys are named by the configuration's reader.
    for (key, value) in taps {
        match value {
            Value::Table(fields) => put_all(&mut out, &key, fields),
            value => put(&mut out, "", &key, value),
        }
    }
    Ok(out)
}

/// An executor's name as wasmtaps's `engine.executor` takes it.
fn executor(name: &str, origin: &str) -> Result<Value, String> {
    let name = choice(name);
    if TAPS_ONLY_EXECUTORS.contains(&name.as_str()) || name.starts_with("parsl-") {
        return Err(format!(
            "{origin}: engine.executor = {name:?} is one of TaPS's executors that wasmtaps does not have; wasmtaps offers {OFFERED_EXECUTORS}"
        ));
    }
    Ok(Value::String(match name.as_str() {
        "thread-pool" => "threads".to_owned(),
        "process-pool" => "processes".to_owned(),
        _ => name,
    }))
}

/// The app's own fields (`[app]` beside `name`) into wasmtaps's section for that app; the
/// failures app's base app's fields (`[app.config]`) into the base's section.
fn app_fields(out: &mut Table, app: &str, mut fields: Table, origin: &str) -> Result<(), String> {
    match app {
        "failures" => {
            let base = match fields.get("base") {
                None => "synthetic".to_owned(),
                Some(Value::String(b)) => choice(b),
                Some(other) => {
                    return Err(format!(
                        "{origin}: app.base must be an app's name, not {}",
                        other.type_str()
                    ));
                }
            };
            fields.insert("base".into(), Value::String(base.clone()));
            if let Some(config) = fields.remove("config") {
                let Value::Table(config) = config else {
                    return Err(format!("{origin}: app.config must be a table"));
                };
                let (base_name, config) = match base.as_str() {
                    "failures" => {
                        return Err(format!(
                            "{origin}: app.base = \"failures\": the failures app cannot be its own base"
                        ));
                    }
                    other => (other.to_owned(), config),
                };
                put_all(out, &base_name, config);
            }
            put_all(out, "failures", fields);
        }
        other => put_all(out, other, fields),
    }
    Ok(())
}

/// TaPS's `[engine.filter]` and `[engine.transformer]` as wasmtaps's
/// `engine.transform_threshold` and `engine.store`.
///
/// Filters: `all` (every value by reference), `never`/`null` (none), `object-size` with
/// `min_size` (values of at least that many bytes; `max_size` is refused: wasmtaps has no
/// upper bound), `pickle-size` (the same, sizes measured as MessagePack). `object-type`
/// has no meaning here: values reach a sandbox as MessagePack bytes, not Python objects.
/// Transformers: `null` (nothing by reference), `file` with `file_dir` (a directory
/// store), `redis` (the Redis store at `engine.redis`).
fn by_reference(
    out: &mut Table,
    mut filter: Table,
    mut transformer: Table,
    origin: &str,
) -> Result<(), String> {
    let transformer_name = match transformer.remove("name") {
        None if transformer.is_empty() => None,
        None => return Err(format!("{origin}: engine.transformer needs a name")),
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            return Err(format!(
                "{origin}: engine.transformer.name must be a string"
            ));
        }
    };
    let store = match transformer_name.as_deref() {
        None | Some("null") => None,
        Some("file") => {
            let dir = transformer
                .remove("file_dir")
                .and_then(|d| d.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    format!(
                        "{origin}: engine.transformer name = \"file\" needs file_dir (a directory)"
                    )
                })?;
            Some(format!("dir:{dir}"))
        }
        Some("redis") => Some("redis".to_owned()),
        Some(other) => {
            return Err(format!(
                "{origin}: engine.transformer name = {other:?} is not supported; wasmtaps offers \"null\", \"file\" (file_dir) and \"redis\""
            ));
        }
    };
    if let Some((key, _)) = transformer.iter().next() {
        return Err(format!(
            "{origin}: engine.transformer.{key} is not a field of the {:?} transformer",
            transformer_name.unwrap_or_default()
        ));
    }
    let filter_name = match filter.remove("name") {
        None if filter.is_empty() => None,
        None => return Err(format!("{origin}: engine.filter needs a name")),
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(format!("{origin}: engine.filter.name must be a string")),
    };
    // The smallest encoded size passed by reference; `None`: nothing is.
    let min_size: Option<i64> = match filter_name.as_deref() {
        None | Some("all") => Some(0),
        Some("never" | "null") => None,
        Some(name @ ("object-size" | "pickle-size")) => {
            if filter.remove("max_size").is_some() {
                return Err(format!(
                    "{origin}: engine.filter.max_size is not supported: wasmtaps passes every value of at least min_size bytes by reference"
                ));
            }
            match filter.remove("min_size") {
                None => Some(0),
                Some(Value::Integer(n)) if n >= 0 => Some(n),
                Some(other) => {
                    return Err(format!(
                        "{origin}: engine.filter.min_size of the {name:?} filter must be a number of bytes, not {other}"
                    ));
                }
            }
        }
        Some("object-type") => {
            return Err(format!(
                "{origin}: engine.filter name = \"object-type\" has no meaning in wasmtaps: values reach a sandbox as MessagePack bytes, not Python objects; use \"object-size\" with min_size"
            ));
        }
        Some(other) => {
            return Err(format!(
                "{origin}: engine.filter name = {other:?} is not supported; wasmtaps offers \"all\", \"never\", \"object-size\" and \"pickle-size\" (min_size)"
            ));
        }
    };
    if let Some((key, _)) = filter.iter().next() {
        return Err(format!(
            "{origin}: engine.filter.{key} is not a field of the {:?} filter",
            filter_name.unwrap_or_default()
        ));
    }
    match (store, min_size) {
        (Some(store), Some(min)) => {
            put(out, "engine", "store", Value::String(store));
            // wasmtaps passes values *larger than* the threshold by reference.
            put(
                out,
                "engine",
                "transform_threshold",
                Value::Integer((min - 1).max(0)),
            );
        }
        (Some(_), None) | (None, None) => {}
        (None, Some(_)) if filter_name.is_none() => {}
        (None, Some(_)) => {
            return Err(format!(
                "{origin}: engine.filter is set but engine.transformer is not (or is \"null\"): nothing would be passed by reference"
            ));
        }
    }
    Ok(())
}

/// A resolved configuration in wasmtaps's own form (`config` as TOML) written in TaPS's
/// form: what TaPS has names for in its sections, the rest in `[wasmtaps]`.
pub(crate) fn from_wasmtaps(mut own: Table) -> Table {
    let mut taps = Table::new();
    taps.insert(
        "version".into(),
        Value::String(env!("CARGO_PKG_VERSION").to_owned()),
    );
    let mut wasmtaps = Table::new();
    let app = own
        .remove("app")
        .and_then(|a| a.as_str().map(str::to_owned))
        .unwrap_or_else(|| "synthetic".into());
    let mut sections: Table = Table::new();
    for name in ["synthetic", "failures", "mapreduce", "cholesky"] {
        if let Some(Value::Table(t)) = own.remove(name) {
            sections.insert(name.into(), Value::Table(t));
        }
    }
    let section = |name: &str| match sections.get(name) {
        Some(Value::Table(t)) => t.clone(),
        _ => Table::new(),
    };
    let mut app_table = Table::new();
    app_table.insert("name".into(), Value::String(app.clone()));
    if app == "failures" {
        let failures = section("failures");
        let base = failures
            .get("base")
            .and_then(Value::as_str)
            .unwrap_or("synthetic")
            .to_owned();
        app_table.extend(failures);
        app_table.insert("config".into(), Value::Table(section(&base)));
    } else {
        app_table.extend(section(&app));
    }
    taps.insert("app".into(), Value::Table(app_table));

    let mut engine = match own.remove("engine") {
        Some(Value::Table(t)) => t,
        _ => Table::new(),
    };
    let mut run = match own.remove("run") {
        Some(Value::Table(t)) => t,
        _ => Table::new(),
    };
    let mut executor = Table::new();
    let kind = engine
        .remove("executor")
        .and_then(|e| e.as_str().map(str::to_owned))
        .unwrap_or_else(|| "threads".into());
    let workers = engine.remove("workers");
    let (name, count_key) = match kind.as_str() {
        "threads" => ("thread-pool", Some("max_threads")),
        "processes" => ("process-pool", Some("max_processes")),
        other => (other, None),
    };
    executor.insert("name".into(), Value::String(name.to_owned()));
    match (count_key, workers) {
        // 0 is wasmtaps's "one per core", TaPS's default when the key is absent.
        (_, Some(Value::Integer(0))) | (_, None) => {}
        (Some(key), Some(count)) => {
            executor.insert(key.into(), count);
        }
        (None, Some(count)) => put(&mut wasmtaps, "engine", "workers", count),
    }
    let mut taps_engine = Table::new();
    if let Some(file) = run.remove("record_file") {
        taps_engine.insert("task_record_file_name".into(), file);
    }
    taps_engine.insert("executor".into(), Value::Table(executor));
    if let Some(Value::Integer(threshold)) = engine.remove("transform_threshold") {
        let store = engine.remove("store");
        let mut filter = Table::new();
        filter.insert("name".into(), Value::String("object-size".into()));
        filter.insert(
            "min_size".into(),
            Value::Integer(threshold.saturating_add(1)),
        );
        let mut transformer = Table::new();
        match store.as_ref().and_then(Value::as_str) {
            Some(s) if s.starts_with("dir:") => {
                transformer.insert("name".into(), Value::String("file".into()));
                transformer.insert(
                    "file_dir".into(),
                    Value::String(s.trim_start_matches("dir:").to_owned()),
                );
            }
            _ => {
                transformer.insert("name".into(), Value::String("redis".into()));
            }
        }
        taps_engine.insert("filter".into(), Value::Table(filter));
        taps_engine.insert("transformer".into(), Value::Table(transformer));
    }
    taps.insert("engine".into(), Value::Table(taps_engine));
    if let Some(Value::Table(logging)) = own.remove("logging") {
        taps.insert("logging".into(), Value::Table(logging));
    }
    let mut taps_run = Table::new();
    if let Some(format) = run.remove("dir_format") {
        taps_run.insert("dir_format".into(), format);
    }
    taps.insert("run".into(), Value::Table(taps_run));
    if !engine.is_empty() {
        put_all(&mut wasmtaps, "engine", engine);
    }
    if !run.is_empty() {
        put_all(&mut wasmtaps, "run", run);
    }
    for (key, value) in own {
        match value {
            Value::Table(t) => put_all(&mut wasmtaps, &key, t),
            value => put(&mut wasmtaps, "", &key, value),
        }
    }
    // The other apps' sections, so the file still holds every resolved value.
    for (name, value) in sections {
        let used = name == app
            || (app == "failures"
                && taps["app"].get("base").and_then(Value::as_str) == Some(name.as_str()));
        if !used && let Value::Table(t) = value {
            put_all(&mut wasmtaps, &name, t);
        }
    }
    if !wasmtaps.is_empty() {
        taps.insert("wasmtaps".into(), Value::Table(wasmtaps));
    }
    taps
}

#[cfg(test)]
mod tests {
    use super::super::config::{resolve, to_toml};
    use std::path::Path;

    /// `config.toml` (TaPS's schema) resolves to the configuration it was written from.
    #[test]
    fn written_configs_resolve_to_themselves() {
        for text in [
            "app = \"synthetic\"\n[synthetic]\ntask_count = 3\ntask_std = 0.5\n",
            "app = \"failures\"\n[failures]\nfailure_type = \"zero-division\"\n[synthetic]\nstructure = \"reduce\"\n",
            "app = \"mapreduce\"\n[mapreduce]\ngenerate = true\nmap_tasks = 3\n[engine]\nexecutor = \"processes\"\nworkers = 2\n",
            "app = \"cholesky\"\n[engine]\nexecutor = \"redis\"\nredis = \"redis://h\"\ntransform_threshold = 100\nstore = \"dir:/x\"\n[limits]\nmemory_limit = \"32MiB\"\n[logging]\nlevel = \"DEBUG\"\n[run]\ndir_format = \"r/{name}\"\n",
        ] {
            let table: toml::Table = text.parse().unwrap();
            let config = resolve(&[], table, toml::Table::new()).unwrap();
            let written = to_toml(&config, Path::new("runs/x"));
            let again = resolve(&[], written.parse().unwrap(), toml::Table::new())
                .unwrap_or_else(|e| panic!("{e}\n{written}"));
            assert_eq!(format!("{config:?}"), format!("{again:?}"), "{written}");
        }
    }
}
