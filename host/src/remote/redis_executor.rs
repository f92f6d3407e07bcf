//! [`RedisExecutor`]: the engine side, sending jobs to the job stream and completing
//! them from its own result stream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::engine::{Executor, ReadyTask, RunningTask};
use crate::failure::{ErrorKind, TaskError};
use crate::info::unix_now;
use crate::invoke::Invocation;
use crate::module::Task;

use super::DistributedError;
use super::auth::{Auth, Purpose, Secret};
use super::conn::{self, Conn};
use super::redis_jobs::send_loop;
use super::redis_worker::ensure_group;
use super::streams::{self, Keys};
use super::transform::{self, ByReference, Transformer};
use super::wire::{self, Job, Reply};

/// Configures a [`RedisExecutor`].
#[derive(Clone, Debug)]
pub struct RedisExecutorBuilder {
    url: String,
    prefix: String,
    max_deliveries: u64,
    transformer: Option<Transformer>,
    result_threshold: Option<u64>,
    lost_after: Duration,
    secret: Option<Secret>,
    insecure: bool,
}

impl RedisExecutorBuilder {
    /// The secret every job is signed with and every reply checked with (the workers').
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Runs without a secret: replies are not checked, so anyone who can reach Redis
    /// can forge results. [`build`](RedisExecutorBuilder::build) prints a warning.
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// How long the engine waits for a result beyond the task's own time (its timeout
    /// times its maximum deliveries) before failing it as `LostTask` (default 300 s): a
    /// job whose answer was lost or dropped never leaves the engine waiting for ever.
    /// Task timeouts come from the task's limit overrides, else the default limits; a
    /// task without a timeout is waited for as long as it takes.
    pub fn lost_after(mut self, grace: Duration) -> Self {
        self.lost_after = grace;
        self
    }

    /// The prefix of every Redis key (default `wasmtaps`); engine and workers must agree.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// After this many deliveries that never finished (the worker died or hung past its
    /// lease each time), a task fails with `PoisonTask` (default 3).
    pub fn max_deliveries(mut self, count: u64) -> Self {
        self.max_deliveries = count.max(1);
        self
    }

    /// Passes arguments the transformer's filter accepts by reference, and has workers
    /// store results above the same threshold in the same store.
    pub fn transformer(mut self, transformer: Transformer) -> Self {
        self.result_threshold = Some(transformer.filter().threshold());
        self.transformer = Some(transformer);
        self
    }

    /// Connects, creates the consumer group if needed, and starts the sender and the
    /// result reader threads.
    ///
    /// # Errors
    /// [`DistributedError::NoSecret`] without a [`secret`](RedisExecutorBuilder::secret)
    /// or [`insecure`](RedisExecutorBuilder::insecure); [`DistributedError::Unreachable`]
    /// when Redis does not answer.
    pub fn build(self) -> Result<RedisExecutor, DistributedError> {
        let auth = Auth::choose(self.secret, self.insecure, "this engine")?;
        let client = conn::open(&self.url)?;
        let keys = Keys::new(&self.prefix);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let results = keys.results(&id);
        let shared = Arc::new(Shared {
            client: client.clone(),
            keys: keys.clone(),
            results,
            auth,
            pending: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            duplicates: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            by_reference: self.transformer.map(ByReference::new),
        });
        let mut setup = Conn::new(client.clone(), "executor");
        ensure_group(&mut setup, &keys, &|| false)?;
        let (jobs, rx) = crossbeam_channel::unbounded();
        let sender = {
            let conn = Conn::new(client.clone(), "executor sender");
            let jobs_key = keys.jobs();
            std::thread::Builder::new()
                .name("wasmtaps-redis-send".into())
                .spawn(move || send_loop(conn, &jobs_key, &rx))
                .map_err(DistributedError::Thread)?
        };
        let reader = {
            let shared = shared.clone();
            let conn = Conn::new(client, "executor reader");
            std::thread::Builder::new()
                .name("wasmtaps-redis-recv".into())
                .spawn(move || read_loop(conn, &shared))
                .map_err(DistributedError::Thread)?
        };
        Ok(RedisExecutor {
            shared,
            jobs: Some(jobs),
            setup: Mutex::new(setup),
            modules: Mutex::new(HashSet::new()),
            max_deliveries: self.max_deliveries,
            lost_after: self.lost_after,
            result_threshold: self.result_threshold,
            threads: Mutex::new(vec![sender, reader]),
        })
    }
}

/// Runs tasks on `wasmtaps worker` processes through Redis Streams.
///
/// Use it as an engine's [`executor`](crate::engine::EngineBuilder::executor): every ready task
/// becomes a job at once; a sender thread pipelines jobs to Redis and a reader thread
/// completes them from this executor's result stream. Records, futures and
/// dependencies work as with local execution; `ExecutionInfo.hostname` is the worker's.
/// The first result for a job wins; later duplicates (from a job retried after a lease
/// ran out) are counted in [`duplicates_dropped`](RedisExecutor::duplicates_dropped).
///
/// Dropping the executor stops its threads, evicts the objects it and its workers stored
/// by reference, and deletes its result stream.
pub struct RedisExecutor {
    shared: Arc<Shared>,
    jobs: Option<Sender<Vec<Vec<u8>>>>,
    setup: Mutex<Conn>,
    modules: Mutex<HashSet<String>>,
    max_deliveries: u64,
    lost_after: Duration,
    result_threshold: Option<u64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A job sent and not yet answered.
struct Pending {
    task: RunningTask,
    /// When to give up on it (`LostTask`), and how long that is after sending.
    deadline: Option<(Instant, Duration)>,
}

struct Shared {
    client: redis::Client,
    keys: Keys,
    results: String,
    auth: Auth,
    pending: Mutex<HashMap<String, Pending>>,
    stop: AtomicBool,
    duplicates: AtomicU64,
    /// Result entries that could not be decoded or trusted.
    dropped: AtomicU64,
    /// Values passed by reference: the arguments this run stores, the results its
    /// workers store, all evicted when the executor is dropped.
    by_reference: Option<ByReference>,
}

impl RedisExecutor {
    /// Starts configuring an executor for the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisExecutorBuilder {
        RedisExecutorBuilder {
            url: url.into(),
            prefix: "wasmtaps".into(),
            max_deliveries: 3,
            transformer: None,
            result_threshold: None,
            lost_after: Duration::from_secs(300),
            secret: None,
            insecure: false,
        }
    }

    /// Result entries that could not be decoded or trusted, and were dropped.
    pub fn replies_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Results that arrived for a job already completed, and were dropped.
    pub fn duplicates_dropped(&self) -> u64 {
        self.shared.duplicates.load(Ordering::Relaxed)
    }

    /// The transformer, if values are passed by reference; use it to
    /// [`resolve`](Transformer::resolve) a result that came back as a reference.
    pub fn transformer(&self) -> Option<&Transformer> {
        self.shared
            .by_reference
            .as_ref()
            .map(ByReference::transformer)
    }

    /// Stores the module's binary under its hash, once per executor.
    fn ensure_module(&self, task: &Task) -> Result<(), TaskError> {
        let module = task.module();
        let hash = module.hash();
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if modules.contains(&hash) {
            return Ok(());
        }
        let key = self.shared.keys.module(&hash);
        let mut conn = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        conn.run(&|| false, |c| {
            // Not `NX`: bytes someone planted under the hash are replaced (and workers
            // check the hash of whatever they fetch).
            redis::cmd("SET")
                .arg(&key)
                .arg(module.wasm_bytes())
                .query::<()>(c)
        })
        .map_err(|e| {
            TaskError::new(
                ErrorKind::HostError,
                format!("cannot store the module: {e}"),
            )
        })?;
        modules.insert(hash);
        Ok(())
    }

    fn job(&self, id: &str, task: &RunningTask) -> Result<Job, TaskError> {
        let (args, references) = match &self.shared.by_reference {
            Some(by_reference) => by_reference.transform_args(id, task.args()).map_err(|e| {
                TaskError::new(
                    ErrorKind::HostError,
                    format!("cannot store an argument by reference: {e}"),
                )
            })?,
            None => (task.args().clone(), Vec::new()),
        };
        let module = task.task().module();
        Ok(Job {
            id: id.to_owned(),
            module_hash: module.hash(),
            module_name: module.name().to_owned(),
            wasm: None,
            task: task.task().name().to_owned(),
            args,
            limits: task.invoke_options().limits.clone(),
            dirs: Vec::new(),
            references,
            result_threshold: self.result_threshold,
            reply_to: self.shared.results.clone(),
            max_deliveries: self.max_deliveries,
        })
    }
}

impl Executor for RedisExecutor {
    fn start(&self, tasks: Vec<ReadyTask>) {
        let mut messages = Vec::with_capacity(tasks.len());
        let mut ids = Vec::with_capacity(tasks.len());
        for task in tasks {
            let Some(task) = task.claim() else {
                continue;
            };
            let start = unix_now();
            if !task.invoke_options().read_only_dirs.is_empty() {
                let error = TaskError::new(
                    ErrorKind::HostError,
                    "read-only directories are not supported by the Redis executor",
                );
                task.complete(host_failure(error, start));
                continue;
            }
            // The task's own UUID, simple form: unique per task, and shared by every
            // delivery of its job, so the first answer wins.
            let id: String = task.id().chars().filter(|&c| c != '-').collect();
            let job = match self
                .ensure_module(task.task())
                .and_then(|()| self.job(&id, &task))
            {
                Ok(job) => job,
                Err(error) => {
                    task.complete(host_failure(error, start));
                    continue;
                }
            };
            messages.push(self.shared.auth.seal(
                Purpose::Job,
                &self.shared.keys.jobs(),
                &id,
                &wire::encode(&job),
            ));
            let deadline = task
                .limits()
                .timeout
                .and_then(|t| t.checked_mul(self.max_deliveries.try_into().unwrap_or(u32::MAX)))
                .and_then(|t| t.checked_add(self.lost_after))
                .and_then(|wait| Some((Instant::now().checked_add(wait)?, wait)));
            self.shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), Pending { task, deadline });
            ids.push(id);
        }
        if messages.is_empty() {
            return;
        }
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(messages).is_ok());
        if !sent {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let lost: Vec<_> = ids.iter().filter_map(|id| pending.remove(id)).collect();
            drop(pending);
            for p in lost {
                p.task.fail(TaskError::new(
                    ErrorKind::HostError,
                    "the Redis executor was shut down",
                ));
            }
        }
    }
}

impl Shared {
    /// The invocation a trusted reply reports; a reference in its result must be one the
    /// worker stored for this job.
    fn invocation(&self, reply: Reply) -> Invocation {
        let start = unix_now();
        let adopted = match &self.by_reference {
            Some(by_reference) => by_reference.adopt_stored(&reply.id, &reply.stored),
            None => transform::adopt_nothing(&reply.stored),
        };
        let own = match adopted {
            Ok(own) => own,
            Err(error) => return host_failure(error, start),
        };
        let mut invocation = reply.into_invocation();
        if let Err(error) = transform::check_references(own.as_ref(), &invocation.result) {
            invocation.result = Err(error);
        }
        invocation
    }

    /// Fails the jobs whose answers are overdue as `LostTask`.
    fn fail_lost(&self) {
        let now = Instant::now();
        let lost: Vec<Pending> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let overdue: Vec<String> = pending
                .iter()
                .filter(|(_, p)| p.deadline.is_some_and(|(at, _)| at <= now))
                .map(|(id, _)| id.clone())
                .collect();
            overdue.iter().filter_map(|id| pending.remove(id)).collect()
        };
        for p in lost {
            let waited = p.deadline.map(|(_, wait)| wait).unwrap_or_default();
            let error = TaskError::new(
                ErrorKind::LostTask,
                format!(
                    "no result came back for task `{}` within {waited:?} (its timeout \
                     times its maximum deliveries, plus the executor's grace): its answer \
                     was lost or its job dropped",
                    p.task.task().name(),
                ),
            );
            p.task.fail(error);
        }
    }
}

/// Authenticates and decodes a reply message read from `results`: its tag first, then
/// its body, whose id must be the authenticated one.
pub(crate) fn open_reply(auth: &Auth, results: &str, message: &[u8]) -> Result<Reply, String> {
    let (id, body) = auth
        .open(Purpose::Reply, results, message)
        .map_err(|e| e.to_string())?;
    let reply: Reply = wire::decode(body)?;
    if reply.id.as_bytes() != id {
        return Err("its id is not the authenticated one".into());
    }
    Ok(reply)
}

/// Completes pending jobs from the result stream until the executor stops.
fn read_loop(mut conn: Conn, shared: &Shared) {
    let mut last = "0-0".to_owned();
    let stopping = || shared.stop.load(Ordering::Relaxed);
    let mut lost_checked = Instant::now();
    while !stopping() {
        if lost_checked.elapsed() >= Duration::from_secs(1) {
            lost_checked = Instant::now();
            shared.fail_lost();
        }
        let read = conn.run(&stopping, |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(200)
                .arg("STREAMS")
                .arg(&shared.results)
                .arg(&last)
                .query::<redis::Value>(c)
        });
        let entries = match read {
            Ok(reply) => streams::entries(&reply),
            Err(e) => {
                if !stopping() {
                    tracing::warn!("executor: cannot read results: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                continue;
            }
        };
        if entries.is_empty() {
            continue;
        }
        let ids: Vec<String> = entries.iter().map(|(id, _)| id.clone()).collect();
        for (entry, bytes) in entries {
            last = entry;
            let Some(bytes) = bytes else {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let reply = match open_reply(&shared.auth, &shared.results, &bytes) {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!("executor: dropping a result: {e}");
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let waiting = shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&reply.id);
            match waiting {
                Some(pending) => pending.task.complete(shared.invocation(reply)),
                None => {
                    shared.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Read entries are not needed again.
        let _ = conn.run(&stopping, |c| {
            redis::cmd("XDEL")
                .arg(&shared.results)
                .arg(&ids)
                .query::<()>(c)
        });
    }
}

impl Drop for RedisExecutor {
    fn drop(&mut self) {
        self.jobs = None;
        self.shared.stop.store(true, Ordering::SeqCst);
        // The last reference may go with a task the reader thread completes: that thread
        // ends by itself once `stop` is set, and cannot join itself.
        let me = std::thread::current().id();
        for thread in std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner())) {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
        if let Some(by_reference) = &self.shared.by_reference {
            by_reference.evict_stored();
        }
        let mut conn = Conn::new(self.shared.client.clone(), "executor");
        let _ = conn.run(&|| true, |c| {
            redis::cmd("DEL").arg(&self.shared.results).query::<()>(c)
        });
    }
}

impl std::fmt::Debug for RedisExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisExecutor")
            .field("results", &self.shared.results)
            .field("max_deliveries", &self.max_deliveries)
            .finish()
    }
}

fn host_failure(error: TaskError, start: f64) -> Invocation {
    Invocation::failed_before_start(error, &gethostname::gethostname().to_string_lossy(), start)
}
