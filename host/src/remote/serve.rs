//! Running a [`Job`] that came over the wire: what a worker process and a Redis worker
//! share — the runtime for the job's limits, its module (from the runtime's one module
//! cache), its arguments with references resolved from the worker's own store, the
//! invocation, and a large result stored by reference.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::info::unix_now;
use crate::invoke::{Invocation, InvokeOptions, ReadOnlyDir};
use crate::module::TaskModule;
use crate::runtime::Runtime;
use crate::value::Value;

use super::key::StoreKey;
use super::store::Store;
use super::transform::{self, Filter, Transformer};
use super::wire::Job;
use super::{DistributedError, REFERENCE_EXT};

/// Runs jobs on this machine for a worker.
pub(crate) struct JobRunner {
    runtime: Runtime,
    /// A sibling of `runtime` with fuel metering, built the first time a job asks for
    /// fuel (metering costs every task, so it is not on by default).
    metered: OnceLock<Result<Runtime, String>>,
    store: Option<Arc<dyn Store>>,
}

fn host(message: String) -> TaskError {
    TaskError::new(ErrorKind::HostError, message)
}

impl JobRunner {
    pub(crate) fn new(runtime: Runtime, store: Option<Arc<dyn Store>>) -> JobRunner {
        JobRunner {
            runtime,
            metered: OnceLock::new(),
            store,
        }
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The runtime a job with these limits runs in: with fuel, the metered sibling.
    fn runtime_for(&self, job: &Job) -> Result<&Runtime, TaskError> {
        if job.limits.fuel.is_none() || self.runtime.fuel_metering() {
            return Ok(&self.runtime);
        }
        self.metered
            .get_or_init(|| {
                self.runtime
                    .with_fuel_metering()
                    .map_err(|e| format!("{e}"))
            })
            .as_ref()
            .map_err(|e| host(format!("this worker cannot meter fuel: {e}")))
    }

    /// The job's module: from the runtime's cache by hash, else from `fetch`, whose
    /// bytes must hash to the job's hash (whoever can write where they come from could
    /// otherwise swap the module).
    fn module(
        &self,
        runtime: &Runtime,
        job: &Job,
        fetch: impl FnOnce() -> Result<Vec<u8>, TaskError>,
    ) -> Result<TaskModule, TaskError> {
        let hash = parse_hash(&job.module_hash)
            .ok_or_else(|| host("the module hash is not a SHA-256".into()))?;
        if let Some(module) = runtime.cached(&hash) {
            return Ok(module);
        }
        let bytes = fetch()?;
        let actual: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(&bytes).into()
        };
        if actual != hash {
            return Err(host(format!(
                "the module sent as {} hashes to {}: refusing to run bytes that are not \
                 the module the engine sent (were they replaced?)",
                job.module_hash,
                hex(&actual)
            )));
        }
        runtime
            .load_bytes(&job.module_name, &bytes)
            .map_err(|e| host(format!("cannot load module {}: {e}", job.module_name)))
    }

    /// Runs `job` once: the module from the cache or `fetch`, arguments passed by
    /// reference resolved (input transform), the invocation with the job's limits and
    /// `dirs`, and a result above the job's threshold stored (result transform); both
    /// transforms are inside the timed phases. Returns the invocation and the store keys
    /// written.
    pub(crate) fn run(
        &self,
        job: &Job,
        dirs: Vec<ReadOnlyDir>,
        fetch: impl FnOnce() -> Result<Vec<u8>, TaskError>,
    ) -> (Invocation, Vec<String>) {
        let start = unix_now();
        let failed = |error: TaskError| {
            (
                Invocation::failed_before_start(error, self.runtime.hostname(), start),
                Vec::new(),
            )
        };
        let runtime = match self.runtime_for(job) {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        // The engine resolved the limits; this worker still holds them to its own
        // maximums.
        let limits = match runtime.limits_for(&job.limits) {
            Ok(l) => l,
            Err(e) => return failed(TaskError::new(ErrorKind::InvalidLimits, e.to_string())),
        };
        let task = match self.module(runtime, job, fetch).and_then(|m| {
            m.task(&job.task)
                .map_err(|e| TaskError::new(ErrorKind::HostError, e.to_string()))
        }) {
            Ok(task) => task,
            Err(e) => return failed(e),
        };
        let input_start = unix_now();
        let resolved;
        let args = if job.references.is_empty() {
            &job.args
        } else {
            match self.resolve(job, limits.max_argument_bytes) {
                Ok(args) => {
                    resolved = args;
                    &resolved
                }
                Err(e) => return failed(e),
            }
        };
        let options = InvokeOptions {
            limits: job.limits.clone(),
            read_only_dirs: dirs,
        };
        let mut invocation = runtime.invoke(&task, args, &options);
        // Only the host mints references: a guest result shaped like one is refused.
        if let Ok(value) = &invocation.result
            && transform::has_reference_shape(value)
        {
            invocation.result = Err(host(format!(
                "the task returned a MessagePack extension of type {REFERENCE_EXT} where a \
                 store reference would go; that type is reserved for references the host \
                 makes"
            )));
        }
        let stored = self.store_large_result(job, &mut invocation);
        let end = unix_now();
        let info = &mut invocation.execution;
        // The phases now span this worker's own steps too, timed on the wall clock: the
        // guest's monotonic durations no longer describe them.
        info.durations = None;
        info.execution_start_time = start;
        info.input_transform_start_time = input_start;
        info.result_transform_end_time = end.max(info.result_transform_end_time);
        info.execution_end_time = end.max(info.execution_end_time);
        (invocation, stored)
    }

    /// The job's arguments with each reference it vouches for replaced by the stored
    /// value, read from this worker's own store, at most `max_bytes` each.
    fn resolve(&self, job: &Job, max_bytes: u64) -> Result<Args, TaskError> {
        let references = job
            .references
            .iter()
            .map(|k| StoreKey::new(k.as_str()))
            .collect::<Result<HashSet<_>, _>>()
            .map_err(|e| host(format!("job: {e}")))?;
        let store = self.store.as_ref();
        let fetch = |key: &StoreKey| -> Option<Result<Value, DistributedError>> {
            if !references.contains(key) {
                return None;
            }
            Some(match store {
                Some(store) => transform::fetch(store.as_ref(), key, max_bytes),
                None => Err(DistributedError::NoStore),
            })
        };
        let resolve = |value: &Value| {
            transform::resolve_with(value, &fetch).map_err(|e| {
                host(format!(
                    "cannot resolve an argument passed by reference: {e}"
                ))
            })
        };
        let mut args = Args::new();
        for value in job.args.positional() {
            args.push(resolve(value)?);
        }
        for (name, value) in job.args.keyword() {
            args.push_kwarg(name.clone(), resolve(value)?);
        }
        Ok(args)
    }

    /// Stores a result above the job's threshold in this worker's store and replaces it
    /// with the reference; the keys written.
    fn store_large_result(&self, job: &Job, invocation: &mut Invocation) -> Vec<String> {
        let (Ok(value), Some(threshold)) = (&invocation.result, job.result_threshold) else {
            return Vec::new();
        };
        if !Filter::larger_than(threshold).accepts(value) {
            return Vec::new();
        }
        let Some(store) = &self.store else {
            invocation.result = Err(host(DistributedError::NoStore.to_string()));
            return Vec::new();
        };
        let transformer = Transformer::new(store.clone(), Filter::larger_than(threshold));
        let key = result_key(&job.id);
        match transformer.transform(&key, value) {
            Ok(reference) => {
                let stored = Transformer::reference_key(&reference).is_some();
                invocation.result = Ok(reference);
                if stored { vec![key] } else { Vec::new() }
            }
            Err(e) => {
                invocation.result = Err(host(format!("cannot store the result by reference: {e}")));
                Vec::new()
            }
        }
    }
}

/// The store key of a job's result (the job id is validated before a job runs).
pub(crate) fn result_key(job_id: &str) -> String {
    format!("result-{job_id}")
}

/// A SHA-256 in lowercase hex, as bytes.
pub(crate) fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
