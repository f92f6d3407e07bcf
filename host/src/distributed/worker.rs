//! [`Worker`]: the loop behind `wasmtaps worker`, pulling jobs from the job stream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::info::unix_now;
use crate::invoke::{Invocation, InvokeOptions};
use crate::limits::LimitOverrides;
use crate::module::TaskModule;
use crate::runtime::Runtime;
use crate::value::Value;

use super::DistributedError;
use super::auth::{Auth, Purpose, Secret};
use super::conn::{self, Conn};
use super::key::StoreKey;
use super::lease::{self, Leases};
use super::protocol::{self, Entry, FIELD, GROUP, Job, Keys, Reply, WireError};
use super::store::Store;
use super::transform::{self, Transformer};

/// Test hook: a worker aborts its whole process when it starts a task of this name, as a
/// task that crashes its worker would (used by the poison-task test).
pub const ABORT_ON_TASK_ENV: &str = "WASMTAPS_TEST_ABORT_ON_TASK";

/// How long a worker thread blocks waiting for a new job before looking for expired
/// leases again.
const BLOCK: Duration = Duration::from_millis(500);

/// Writes an answer to the result stream (`KEYS[1]`) and, only if that worked,
/// acknowledges its job in the job stream (`KEYS[2]`): `ARGV` = field, message, group,
/// entry id. A failed `XADD` comes back as the script's error.
const ANSWER_SCRIPT: &str = "local written = redis.pcall('XADD', KEYS[1], '*', ARGV[1], ARGV[2]) \
    if type(written) == 'table' and written['err'] then return written end \
    return redis.call('XACK', KEYS[2], ARGV[3], ARGV[4])";

/// Configures a [`Worker`].
#[derive(Clone)]
pub struct WorkerBuilder {
    url: String,
    threads: usize,
    name: Option<String>,
    lease: Duration,
    prefix: String,
    runtime: Option<Runtime>,
    store: Option<Arc<dyn Store>>,
    compile_allowance: Duration,
    secret: Option<Secret>,
    insecure: bool,
}

impl WorkerBuilder {
    /// The secret every job is checked with and every reply signed with (the engine's).
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Runs without a secret: jobs are not checked, so anyone who can reach Redis can
    /// run modules on this worker. [`build`](WorkerBuilder::build) prints a warning.
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// How long past a task's own timeout the worker keeps renewing the lease on its job
    /// (default 60 s): time to fetch and compile the module. After that the lease lapses
    /// and another worker takes the job over, so a compile or task that never ends
    /// becomes a `PoisonTask` after the job's maximum deliveries instead of holding its
    /// job for ever. Tasks without a timeout are renewed for as long as they run.
    pub fn compile_allowance(mut self, allowance: Duration) -> Self {
        self.compile_allowance = allowance;
        self
    }

    /// Where this worker reads arguments passed by reference and writes results above a
    /// job's threshold (default: none, and such jobs fail with a `HostError`). It must be
    /// the store the engine's [`Transformer`] uses; it comes from the worker's own
    /// configuration, never from a job.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Worker threads, each running one task at a time (default: the number of cores).
    pub fn threads(mut self, count: usize) -> Self {
        self.threads = count.max(1);
        self
    }

    /// The consumer name prefix (default `<hostname>-<pid>`); each thread adds `-<n>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long a job may go without its worker renewing the lease before another
    /// worker takes it over (default 5 s). Running jobs are renewed every third of it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The prefix of every Redis key (default `wasmtaps`); engine and workers must agree.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The runtime tasks run in (default [`Runtime::new`]).
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Connects to Redis and creates the consumer group if needed.
    ///
    /// # Errors
    /// [`DistributedError::NoSecret`] without a [`secret`](WorkerBuilder::secret) or
    /// [`insecure`](WorkerBuilder::insecure); [`DistributedError::Unreachable`] when
    /// Redis does not answer, or the runtime cannot be built.
    pub fn build(self) -> Result<Worker, DistributedError> {
        let auth = Auth::choose(self.secret, self.insecure, "this worker")?;
        let client = conn::open(&self.url)?;
        let keys = Keys::new(&self.prefix);
        let mut conn = Conn::new(client.clone(), "worker");
        ensure_group(&mut conn, &keys, &|| false)?;
        let runtime = match self.runtime {
            Some(r) => r,
            None => Runtime::new().map_err(DistributedError::Runtime)?,
        };
        let name = self.name.unwrap_or_else(|| {
            format!(
                "{}-{}",
                gethostname::gethostname().to_string_lossy(),
                std::process::id()
            )
        });
        Ok(Worker {
            inner: Arc::new(WorkerInner {
                client,
                keys,
                runtime,
                name,
                threads: self.threads,
                lease: self.lease,
                leases: Arc::new(Leases::default()),
                modules: Mutex::new(HashMap::new()),
                stop: Arc::new(AtomicBool::new(false)),
                abort_on: std::env::var(ABORT_ON_TASK_ENV).ok(),
                store: self.store,
                compile_allowance: self.compile_allowance,
                auth,
                dropped: AtomicU64::new(0),
            }),
        })
    }
}

/// A worker process's job loop: threads that take jobs from the job stream, run each in
/// a fresh instance with the job's limits, write the result, then acknowledge the job.
///
/// Jobs left pending by a worker that died or hung for longer than the lease are taken
/// over; a job delivered more than its `max_deliveries` times is answered with a
/// `PoisonTask` failure instead of run again. Modules are fetched by hash on first use
/// and kept compiled.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

struct WorkerInner {
    client: redis::Client,
    keys: Keys,
    runtime: Runtime,
    name: String,
    threads: usize,
    lease: Duration,
    leases: Arc<Leases>,
    modules: Mutex<HashMap<String, TaskModule>>,
    stop: Arc<AtomicBool>,
    abort_on: Option<String>,
    store: Option<Arc<dyn Store>>,
    compile_allowance: Duration,
    auth: Auth,
    /// Job entries acknowledged without running: undecodable, malformed, unanswerable.
    dropped: AtomicU64,
}

impl Worker {
    /// Starts configuring a worker for the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            url: url.into(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            name: None,
            lease: Duration::from_secs(5),
            prefix: "wasmtaps".into(),
            runtime: None,
            store: None,
            compile_allowance: Duration::from_secs(60),
            secret: None,
            insecure: false,
        }
    }

    /// The consumer name prefix.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Job entries this worker acknowledged without running them, because they could
    /// not be decoded or trusted (see `docs/security.md`).
    pub fn entries_dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Asks the worker threads to exit after their current job.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
    }

    /// Runs the worker threads until [`stop`](Worker::stop); survives Redis going away
    /// and coming back.
    ///
    /// # Errors
    /// When a thread cannot be started.
    pub fn run(&self) -> Result<(), DistributedError> {
        let inner = &self.inner;
        let renew = {
            let conn = Conn::new(inner.client.clone(), "worker lease");
            let (keys, leases, lease, stop) = (
                inner.keys.clone(),
                inner.leases.clone(),
                inner.lease,
                inner.stop.clone(),
            );
            std::thread::Builder::new()
                .name("wasmtaps-lease".into())
                .spawn(move || lease::renew_loop(conn, keys, leases, lease, stop))
                .map_err(DistributedError::Thread)?
        };
        let threads = (0..inner.threads)
            .map(|i| {
                let inner = inner.clone();
                std::thread::Builder::new()
                    .name(format!("wasmtaps-worker-{i}"))
                    .spawn(move || inner.thread(&format!("{}-{i}", inner.name)))
                    .map_err(DistributedError::Thread)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for thread in threads {
            let _ = thread.join();
        }
        let _ = renew.join();
        Ok(())
    }
}

fn ensure_group(
    conn: &mut Conn,
    keys: &Keys,
    give_up: &dyn Fn() -> bool,
) -> Result<(), DistributedError> {
    let created = conn.run(give_up, |c| {
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys.jobs())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query::<()>(c)
    });
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}

pub(crate) fn ensure_group_for(
    conn: &mut Conn,
    keys: &Keys,
    give_up: &dyn Fn() -> bool,
) -> Result<(), DistributedError> {
    ensure_group(conn, keys, give_up)
}

impl WorkerInner {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn thread(&self, consumer: &str) {
        let mut conn = Conn::new(self.client.clone(), "worker");
        let mut last_claim: Option<Instant> = None;
        let claim_every = (self.lease / 2).max(Duration::from_millis(20));
        while !self.stopping() {
            // Expired leases first: a job that has waited longest.
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                match self.autoclaim(&mut conn, consumer) {
                    Ok(Some((entry, bytes))) => {
                        self.handle(&mut conn, consumer, &entry, bytes.as_deref(), true);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => self.report(&mut conn, &e),
                }
            }
            let read = conn.run(&|| self.stopping(), |c| {
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(self.keys.jobs())
                    .arg(">")
                    .query::<redis::Value>(c)
            });
            match read {
                Ok(reply) => {
                    for (entry, bytes) in protocol::entries(&reply) {
                        self.handle(&mut conn, consumer, &entry, bytes.as_deref(), false);
                    }
                }
                Err(e) => self.report(&mut conn, &e.into()),
            }
        }
    }

    /// Reports an error; recreates the group when Redis lost it (restarted empty).
    fn report(&self, conn: &mut Conn, e: &DistributedError) {
        if let DistributedError::Redis(r) = e
            && r.code() == Some("NOGROUP")
        {
            let _ = ensure_group(conn, &self.keys, &|| self.stopping());
            return;
        }
        if !self.stopping() {
            eprintln!("wasmtaps: worker: {e}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn autoclaim(
        &self,
        conn: &mut Conn,
        consumer: &str,
    ) -> Result<Option<Entry>, DistributedError> {
        let reply = conn.run(&|| self.stopping(), |c| {
            redis::cmd("XAUTOCLAIM")
                .arg(self.keys.jobs())
                .arg(GROUP)
                .arg(consumer)
                .arg(self.lease.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(1)
                .query::<redis::Value>(c)
        })?;
        let (claimed, _deleted) = protocol::autoclaim_entries(&reply);
        Ok(claimed.into_iter().next())
    }

    /// How many times the entry has been delivered (1 for a first delivery).
    fn deliveries(&self, conn: &mut Conn, entry: &str) -> u64 {
        let reply = conn.run(&|| self.stopping(), |c| {
            redis::cmd("XPENDING")
                .arg(self.keys.jobs())
                .arg(GROUP)
                .arg(entry)
                .arg(entry)
                .arg(1)
                .query::<redis::Value>(c)
        });
        if let Ok(redis::Value::Array(rows)) = reply
            && let Some(redis::Value::Array(row)) = rows.first()
            && let Some(redis::Value::Int(count)) = row.get(3)
        {
            return *count as u64;
        }
        1
    }

    /// Acknowledges an entry that can never run (undecodable, malformed, or answering
    /// somewhere it may not), so it is not claimed again for ever, and counts it.
    fn drop_entry(&self, conn: &mut Conn, entry: &str, why: &str) {
        eprintln!("wasmtaps: worker: dropping job entry {entry}: {why}");
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.ack(conn, entry);
    }

    /// The job in an entry, if it is one this worker may run and answer.
    fn check(&self, bytes: Option<&[u8]>) -> Result<Job, String> {
        let bytes = bytes.ok_or_else(|| format!("no `{FIELD}` field"))?;
        check_job(&self.auth, &self.keys, bytes)
    }

    fn handle(
        &self,
        conn: &mut Conn,
        consumer: &str,
        entry: &str,
        bytes: Option<&[u8]>,
        reclaimed: bool,
    ) {
        let job = match self.check(bytes) {
            Ok(job) => job,
            Err(why) => return self.drop_entry(conn, entry, &why),
        };
        if reclaimed {
            let deliveries = self.deliveries(conn, entry);
            if deliveries > job.max_deliveries {
                let error = TaskError::new(
                    ErrorKind::PoisonTask,
                    format!(
                        "task `{}` was delivered {} times and its worker died or hung \
                         each time (max deliveries {})",
                        job.task,
                        deliveries - 1,
                        job.max_deliveries
                    ),
                );
                let now = unix_now();
                let reply = reply_for(
                    &job,
                    Invocation::failed_before_start(error, self.runtime.hostname(), now),
                    vec![],
                );
                if !self.answer(conn, entry, &job, &reply) {
                    // Its answer cannot be written either: stop trying (the engine
                    // fails the task as LostTask at its own deadline).
                    self.drop_entry(conn, entry, "its PoisonTask answer cannot be written");
                }
                return;
            }
        }
        if self.abort_on.as_deref() == Some(job.task.as_str()) {
            eprintln!(
                "wasmtaps: worker: {ABORT_ON_TASK_ENV}={}: aborting (test hook)",
                job.task
            );
            std::process::abort();
        }
        // Renew the lease up to the task's own deadline plus time to fetch and compile
        // its module; after that a hung compile or task loses the job to another worker.
        let until = self
            .runtime
            .limits_for(&LimitOverrides::from(&job.limits))
            .ok()
            .and_then(|l| l.timeout)
            .and_then(|t| Instant::now().checked_add(t + self.compile_allowance));
        self.leases.hold(entry, consumer, until);
        let (invocation, stored) = self.execute(&job);
        let reply = reply_for(&job, invocation, stored);
        self.answer(conn, entry, &job, &reply);
        self.leases.release(entry);
    }

    /// Writes the result and, only once it is written, acknowledges the job (a job whose
    /// answer is lost stays pending and is delivered again after the lease). Whether the
    /// answer was written.
    fn answer(&self, conn: &mut Conn, entry: &str, job: &Job, reply: &Reply) -> bool {
        let message = self.auth.seal(
            Purpose::Reply,
            &job.reply_to,
            &job.id,
            &protocol::encode(reply),
        );
        // One round trip: the script acknowledges the job only if the answer was written
        // (inside MULTI, a failed XADD would not stop the XACK, and the result would be
        // lost), so a job whose answer cannot be written stays pending.
        let written = conn.run(&|| false, |c| {
            redis::cmd("EVAL")
                .arg(ANSWER_SCRIPT)
                .arg(2)
                .arg(&job.reply_to)
                .arg(self.keys.jobs())
                .arg(FIELD)
                .arg(&message)
                .arg(GROUP)
                .arg(entry)
                .query::<redis::Value>(c)
        });
        match written {
            Ok(_) => true,
            Err(e) => {
                eprintln!(
                    "wasmtaps: worker: cannot write the result of {}: {e}",
                    job.id
                );
                false
            }
        }
    }

    fn ack(&self, conn: &mut Conn, entry: &str) {
        let _ = conn.run(&|| false, |c| {
            redis::cmd("XACK")
                .arg(self.keys.jobs())
                .arg(GROUP)
                .arg(entry)
                .query::<()>(c)
        });
    }

    fn module(&self, job: &Job) -> Result<TaskModule, TaskError> {
        if let Some(m) = self
            .modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job.module_hash)
        {
            return Ok(m.clone());
        }
        let host = |m: String| TaskError::new(ErrorKind::HostError, m);
        let mut conn = Conn::new(self.client.clone(), "worker");
        let key = self.keys.module(&job.module_hash);
        let bytes: Option<Vec<u8>> = conn
            .run(&|| false, |c| redis::cmd("GET").arg(&key).query(c))
            .map_err(|e| host(format!("cannot fetch module {}: {e}", job.module_hash)))?;
        let bytes = bytes.ok_or_else(|| {
            host(format!(
                "module {} ({}) is not in Redis",
                job.module_name, job.module_hash
            ))
        })?;
        // Whoever can write to Redis can replace the bytes under a hash: only bytes that
        // hash to the name the job gives are compiled, and cached under that hash.
        let actual = sha256_hex(&bytes);
        if actual != job.module_hash {
            return Err(host(format!(
                "the module stored as {} hashes to {actual}: refusing to run bytes that are \
                 not the module the engine sent (was {key} replaced?)",
                job.module_hash
            )));
        }
        let module = self
            .runtime
            .load_bytes(&job.module_name, &bytes)
            .map_err(|e| host(format!("cannot load module {}: {e}", job.module_name)))?;
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.module_hash.clone(), module.clone());
        Ok(module)
    }

    /// Runs the job: resolves references (input transform), invokes, and stores a large
    /// result (result transform); both transforms are inside the timed phases.
    fn execute(&self, job: &Job) -> (Invocation, Vec<String>) {
        let start = unix_now();
        let hostname = self.runtime.hostname();
        let task = match self.module(job).and_then(|m| {
            m.task(&job.task)
                .map_err(|e| TaskError::new(ErrorKind::HostError, e.to_string()))
        }) {
            Ok(task) => task,
            Err(error) => {
                return (
                    Invocation::failed_before_start(error, hostname, start),
                    vec![],
                );
            }
        };
        let limits = LimitOverrides::from(&job.limits);
        let max_argument_bytes = match self.runtime.limits_for(&limits) {
            Ok(l) => l.max_argument_bytes,
            Err(e) => {
                let error = TaskError::new(ErrorKind::InvalidLimits, e.to_string());
                return (
                    Invocation::failed_before_start(error, hostname, start),
                    vec![],
                );
            }
        };
        let references = match job
            .references
            .iter()
            .map(|k| StoreKey::new(k.as_str()))
            .collect::<Result<HashSet<_>, _>>()
        {
            Ok(keys) => keys,
            Err(e) => {
                let error = TaskError::new(ErrorKind::HostError, format!("job: {e}"));
                return (
                    Invocation::failed_before_start(error, hostname, start),
                    vec![],
                );
            }
        };
        let store = self.store.as_ref();
        let fetch = |key: &StoreKey| -> Option<Result<Value, DistributedError>> {
            if !references.contains(key) {
                return None;
            }
            Some(match store {
                Some(store) => transform::fetch(store.as_ref(), key, max_argument_bytes),
                None => Err(DistributedError::NoStore),
            })
        };
        let resolve = |bytes: &ByteBuf| -> Result<Value, TaskError> {
            let value = Value::from_msgpack(bytes.to_vec())
                .map_err(|e| TaskError::new(ErrorKind::ArgumentError, e.to_string()))?;
            transform::resolve_with(&value, &fetch).map_err(|e| {
                TaskError::new(
                    ErrorKind::HostError,
                    format!("cannot resolve an argument passed by reference: {e}"),
                )
            })
        };
        let input_start = unix_now();
        let mut args = Args::new();
        for bytes in &job.positional {
            match resolve(bytes) {
                Ok(v) => args.push(v),
                Err(error) => {
                    return (
                        Invocation::failed_before_start(error, hostname, start),
                        vec![],
                    );
                }
            }
        }
        for (name, bytes) in &job.keyword {
            match resolve(bytes) {
                Ok(v) => args.push_kwarg(name.clone(), v),
                Err(error) => {
                    return (
                        Invocation::failed_before_start(error, hostname, start),
                        vec![],
                    );
                }
            }
        }
        let options = InvokeOptions {
            limits,
            ..InvokeOptions::default()
        };
        let mut invocation = self.runtime.invoke(&task, &args, &options);
        drop(args);
        // Only the host mints references: a guest result shaped like one is refused.
        if let Ok(value) = &invocation.result
            && transform::has_reference_shape(value)
        {
            invocation.result = Err(TaskError::new(
                ErrorKind::HostError,
                format!(
                    "the task returned a MessagePack extension of type {} where a store \
                     reference would go; that type is reserved for references the host makes",
                    super::REFERENCE_EXT
                ),
            ));
        }
        let mut stored = Vec::new();
        if let (Ok(value), Some(threshold)) = (&invocation.result, job.result_threshold)
            && super::Filter::larger_than(threshold).accepts(value)
        {
            let Some(store) = store else {
                invocation.result = Err(TaskError::new(
                    ErrorKind::HostError,
                    DistributedError::NoStore.to_string(),
                ));
                return (invocation, stored);
            };
            let transformer =
                Transformer::new(store.clone(), super::Filter::larger_than(threshold));
            let key = result_key(&job.id);
            match transformer.transform(&key, value) {
                Ok(reference) => {
                    if Transformer::reference_key(&reference).is_some() {
                        stored.push(key);
                    }
                    invocation.result = Ok(reference);
                }
                Err(e) => {
                    invocation.result = Err(TaskError::new(
                        ErrorKind::HostError,
                        format!("cannot store the result by reference: {e}"),
                    ));
                }
            }
        }
        let end = unix_now();
        let info = &mut invocation.execution;
        info.execution_start_time = start;
        info.input_transform_start_time = input_start;
        info.result_transform_end_time = end.max(info.result_transform_end_time);
        info.execution_end_time = end.max(info.execution_end_time);
        (invocation, stored)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Authenticates, decodes and validates a job message read from the job stream of
/// `keys`: its tag first, then its body, then its id, reply stream and module hash.
pub(crate) fn check_job(auth: &Auth, keys: &Keys, message: &[u8]) -> Result<Job, String> {
    let (id, body) = auth
        .open(Purpose::Job, &keys.jobs(), message)
        .map_err(|e| e.to_string())?;
    let job: Job = protocol::decode(body)?;
    if !protocol::is_valid_id(&job.id) || job.id.as_bytes() != id {
        return Err("the job id is not a wasmtaps id".into());
    }
    let reply_to = job
        .reply_to
        .strip_prefix(&keys.results(""))
        .ok_or("the reply stream is not a result stream")?;
    if !protocol::is_valid_id(reply_to) {
        return Err("the reply stream is not a result stream".into());
    }
    if !protocol::is_valid_hash(&job.module_hash) {
        return Err("the module hash is not a SHA-256".into());
    }
    Ok(job)
}

/// The store key of a job's result (the job id is validated before a job runs).
pub(crate) fn result_key(job_id: &str) -> String {
    format!("result-{job_id}")
}

fn reply_for(job: &Job, invocation: Invocation, stored: Vec<String>) -> Reply {
    let (value, error) = match invocation.result {
        Ok(v) => (Some(ByteBuf::from(v.as_msgpack().to_vec())), None),
        Err(e) => (
            None,
            Some(WireError {
                kind: e.type_name().to_owned(),
                message: e.message().to_owned(),
                traceback: e.traceback().map(str::to_owned),
            }),
        ),
    };
    Reply {
        id: job.id.clone(),
        value,
        error,
        execution: invocation.execution,
        stdout: ByteBuf::from(invocation.stdout),
        stderr: ByteBuf::from(invocation.stderr),
        output_dropped: invocation.output_dropped,
        stored,
    }
}
