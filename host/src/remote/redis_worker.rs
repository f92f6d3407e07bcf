//! [`Worker`]: the loop behind `wasmtaps worker`, pulling jobs from the job stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::failure::{ErrorKind, TaskError};
use crate::info::unix_now;
use crate::invoke::Invocation;
use crate::runtime::Runtime;

use super::DistributedError;
use super::auth::{Auth, Secret};
use super::conn::{self, Conn};
use super::lease::{self, Leases};
use super::redis_jobs::{Answer, check_job, write_answers};
use super::serve::JobRunner;
use super::store::Store;
use super::streams::{self, Entry, FIELD, GROUP, Keys};
use super::wire::{Job, Reply};

/// How long a worker thread blocks waiting for a new job before looking for expired
/// leases again.
const BLOCK: Duration = Duration::from_millis(500);

/// About how long a batch of jobs read at once should take (see [`next_batch`]).
const BATCH_TIME: Duration = Duration::from_millis(5);

/// The most jobs a worker thread reads at once.
const MAX_BATCH: usize = 64;

/// How many jobs to read next, after jobs that took `per_job` each: as many as fit in
/// [`BATCH_TIME`], at least one, at most [`MAX_BATCH`]. A slow task makes the next read a
/// single job, so quick jobs are not held back behind it on this worker while others idle.
fn next_batch(per_job: Duration) -> usize {
    let per_job = per_job.as_nanos().max(1);
    usize::try_from(BATCH_TIME.as_nanos() / per_job)
        .unwrap_or(MAX_BATCH)
        .clamp(1, MAX_BATCH)
}

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
    abort_on_task: Option<String>,
}

impl WorkerBuilder {
    /// For tests of crash recovery: the worker aborts its whole process when it starts a
    /// task of this name, as a task that crashes its worker would.
    #[doc(hidden)]
    pub fn abort_on_task(mut self, name: impl Into<String>) -> Self {
        self.abort_on_task = Some(name.into());
        self
    }

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
    /// the store the engine's [`Transformer`](super::Transformer) uses; it comes from the worker's own
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
                runner: JobRunner::new(runtime, self.store),
                name,
                threads: self.threads,
                lease: self.lease,
                leases: Arc::new(Leases::default()),
                stop: Arc::new(AtomicBool::new(false)),
                abort_on: self.abort_on_task,
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
    runner: JobRunner,
    name: String,
    threads: usize,
    lease: Duration,
    leases: Arc<Leases>,
    stop: Arc<AtomicBool>,
    abort_on: Option<String>,
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
            abort_on_task: None,
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

pub(crate) fn ensure_group(
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

impl WorkerInner {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn thread(&self, consumer: &str) {
        let mut conn = Conn::new(self.client.clone(), "worker");
        let mut last_claim: Option<Instant> = None;
        let claim_every = (self.lease / 2).max(Duration::from_millis(20));
        // Jobs read at once: one while tasks are slow, more while they are quick, so a
        // batch takes about BATCH_TIME and quick tasks cost one round trip per batch,
        // not two per task.
        let mut count = 1usize;
        while !self.stopping() {
            // Expired leases first: a job that has waited longest.
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                match self.autoclaim(&mut conn, consumer) {
                    Ok(Some(entry)) => {
                        self.handle(&mut conn, consumer, vec![entry], true);
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
                    .arg(count)
                    .arg("BLOCK")
                    .arg(BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(self.keys.jobs())
                    .arg(">")
                    .query::<redis::Value>(c)
            });
            match read {
                Ok(reply) => {
                    let entries = streams::entries(&reply);
                    let read = entries.len();
                    let started = Instant::now();
                    self.handle(&mut conn, consumer, entries, false);
                    if read > 0 {
                        let per_job = started.elapsed() / u32::try_from(read).unwrap_or(1);
                        count = next_batch(per_job);
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
            tracing::warn!("worker: {e}");
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
        let (claimed, _deleted) = streams::autoclaim_entries(&reply);
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
        tracing::warn!("worker: dropping job entry {entry}: {why}");
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.ack(conn, entry);
    }

    /// The job in an entry, if it is one this worker may run and answer.
    fn check(&self, bytes: Option<&[u8]>) -> Result<Job, String> {
        let bytes = bytes.ok_or_else(|| format!("no `{FIELD}` field"))?;
        check_job(&self.auth, &self.keys, bytes)
    }

    /// Runs a batch of entries in order and answers them in one round trip (sooner if
    /// the batch runs past BATCH_TIME); reclaimed entries are first checked against
    /// their maximum deliveries.
    fn handle(&self, conn: &mut Conn, consumer: &str, entries: Vec<Entry>, reclaimed: bool) {
        let mut jobs = Vec::with_capacity(entries.len());
        for (entry, bytes) in entries {
            match self.check(bytes.as_deref()) {
                Ok(job) => jobs.push((entry, job)),
                Err(why) => self.drop_entry(conn, &entry, &why),
            }
        }
        // Every job read is this worker's until answered: hold its lease from now.
        for (entry, job) in &jobs {
            self.leases.hold(entry, consumer, self.lease_until(job));
        }
        let mut answers: Vec<Answer<'_>> = Vec::with_capacity(jobs.len());
        let mut batch_start = Instant::now();
        for (entry, job) in &jobs {
            let poisoned = reclaimed.then(|| self.poisoned(conn, entry, job)).flatten();
            let last = poisoned.is_some();
            let reply = match poisoned {
                Some(reply) => reply,
                None => {
                    if self.abort_on.as_deref() == Some(job.task.as_str()) {
                        tracing::error!("worker: aborting at task `{}` (test hook)", job.task);
                        std::process::abort();
                    }
                    // Renewed up to the task's own deadline from its start.
                    self.leases.hold(entry, consumer, self.lease_until(job));
                    let (invocation, stored) =
                        self.runner.run(job, Vec::new(), || self.fetch_module(job));
                    Reply::new(&job.id, invocation, stored)
                }
            };
            answers.push(Answer {
                entry,
                job,
                reply,
                last,
            });
            if batch_start.elapsed() >= BATCH_TIME {
                self.answer(conn, &mut answers);
                batch_start = Instant::now();
            }
        }
        self.answer(conn, &mut answers);
    }

    /// When to stop renewing the lease on a job that starts now: its own deadline (the
    /// engine resolved it) plus time to fetch and compile its module; after that a hung
    /// compile or task loses the job to another worker.
    fn lease_until(&self, job: &Job) -> Option<Instant> {
        job.limits
            .timeout
            .and_then(|t| Instant::now().checked_add(t.saturating_add(self.compile_allowance)))
    }

    /// The `PoisonTask` answer of a reclaimed job delivered more than its maximum.
    fn poisoned(&self, conn: &mut Conn, entry: &str, job: &Job) -> Option<Reply> {
        let deliveries = self.deliveries(conn, entry);
        if deliveries <= job.max_deliveries {
            return None;
        }
        let error = TaskError::new(
            ErrorKind::PoisonTask,
            format!(
                "task `{}` was delivered {} times and its worker died or hung each time \
                 (max deliveries {})",
                job.task,
                deliveries - 1,
                job.max_deliveries
            ),
        );
        let now = unix_now();
        let hostname = self.runner.runtime().hostname();
        Some(Reply::new(
            &job.id,
            Invocation::failed_before_start(error, hostname, now),
            vec![],
        ))
    }

    /// Writes and acknowledges the answers so far, and releases their leases. A job
    /// whose `PoisonTask` answer cannot be written is dropped (the engine fails the task
    /// as `LostTask` at its own deadline); any other stays pending, to be delivered again.
    fn answer(&self, conn: &mut Conn, answers: &mut Vec<Answer<'_>>) {
        let written = write_answers(&self.auth, &self.keys, conn, answers);
        for (answer, written) in answers.drain(..).zip(written) {
            if !written && answer.last {
                self.drop_entry(conn, answer.entry, "its answer cannot be written");
            }
            self.leases.release(answer.entry);
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

    /// The module's bytes from Redis (the runner checks them against the hash).
    fn fetch_module(&self, job: &Job) -> Result<Vec<u8>, TaskError> {
        let host = |m: String| TaskError::new(ErrorKind::HostError, m);
        let mut conn = Conn::new(self.client.clone(), "worker");
        let key = self.keys.module(&job.module_hash);
        let bytes: Option<Vec<u8>> = conn
            .run(&|| false, |c| redis::cmd("GET").arg(&key).query(c))
            .map_err(|e| host(format!("cannot fetch module {}: {e}", job.module_hash)))?;
        bytes.ok_or_else(|| {
            host(format!(
                "module {} ({}) is not in Redis",
                job.module_name, job.module_hash
            ))
        })
    }
}
