//! Everything that crosses a process boundary: tasks run in worker processes on this
//! machine ([`ProcessExecutor`], served by [`serve_worker_process`]) or on workers
//! anywhere through Redis Streams ([`RedisExecutor`], served by [`Worker`]). Both
//! executors implement the engine's [`Executor`](crate::Executor); both carry the same
//! wire messages (`remote/wire.rs`), and both workers run them the same way
//! (`remote/serve.rs`).
//! `remote/` uses `engine/`, never the reverse.
//!
//! Redis: the engine side is [`RedisExecutor`]; the other side is [`Worker`], the loop
//! behind `wasmtaps worker`. Jobs go to one stream read by a
//! consumer group, so each job is delivered to one worker and stays pending until that
//! worker acknowledges it; a worker that dies leaves its job pending, and another worker
//! claims it once its lease has run out (`XAUTOCLAIM`). Modules travel by content hash,
//! stored once. Results go to a stream per executor, written before the acknowledgement,
//! and the first result for a job wins. Large values travel by reference through a
//! [`Transformer`]; references are minted only by the host, and each worker's store
//! comes from its own configuration. Every job and reply is signed with a shared
//! [`Secret`] (HMAC-SHA256) and checked before it is decoded; see the "Deployment on
//! Redis" section of `docs/security.md`.

mod auth;
mod conn;
mod key;
mod lease;
mod process;
mod process_server;
mod process_slot;
mod redis_executor;
mod redis_jobs;
mod redis_worker;
mod serve;
mod store;
mod streams;
mod transform;
pub(crate) mod wire;

pub use auth::{SECRET_ENV, Secret};
pub use key::StoreKey;
pub use process::{ProcessExecutor, WorkerCommand};
pub use process_server::{
    serve_worker_process, serve_worker_process_killed_at_task, serve_worker_process_with_store,
};
pub use redis_executor::{RedisExecutor, RedisExecutorBuilder};
pub use redis_worker::{Worker, WorkerBuilder};
pub use store::{DirectoryStore, RedisStore, Store};
pub(crate) use transform::ByReference;
pub use transform::{Filter, REFERENCE_EXT, Transformer};

/// A distributed executor, worker or store could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributedError {
    /// Redis did not answer at the given URL.
    #[error("cannot reach Redis at {url} (is redis-server running there?)")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// A Redis command failed.
    #[error("Redis command failed")]
    Redis(#[from] redis::RedisError),
    /// A store's file could not be read or written.
    #[error("store I/O failed on {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A reference names an object that is not in the store.
    #[error("object {0} is not in the store")]
    Missing(String),
    /// A store key is not one wasmtaps makes (a path, `..`, empty, too long, ..).
    #[error("invalid store key {0}")]
    BadKey(String),
    /// A stored object is larger than the reader's limit.
    #[error("object {key} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The key.
        key: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A key names something that is not a stored object (a link, a FIFO, a device,
    /// a directory).
    #[error("{0} is not a stored object (not a regular file)")]
    NotAnObject(String),
    /// A job passes a value by reference but this worker was started without a store.
    #[error("a value is passed by reference but this worker has no store (start it with --store)")]
    NoStore,
    /// A message or reference is malformed.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The worker's default runtime could not be built.
    #[error("cannot build the worker's runtime")]
    Runtime(#[source] crate::runtime::RuntimeError),
    /// Neither a secret nor an explicit opt-out was given.
    #[error(
        "no secret: give one with --secret-file PATH or the {} environment variable \
         (the same on the engine and every worker), or pass --insecure to run \
         without authentication",
        auth::SECRET_ENV
    )]
    NoSecret,
    /// The secret cannot be used.
    #[error("unusable secret: {0}")]
    BadSecret(String),
    /// A thread could not be started.
    #[error("cannot start a thread")]
    Thread(#[source] std::io::Error),
}

/// For `crate::__fuzz`: `message` checked as a worker checks a job and as an engine checks
/// a reply (with `secret`, or insecure without one). With `seal`, the message is first
/// signed, so the decoders behind the tag see arbitrary authenticated bytes.
pub(crate) fn check_messages(
    secret: Option<&[u8]>,
    seal: bool,
    message: &[u8],
) -> [Result<(), String>; 2] {
    use auth::{Auth, Purpose};
    let auth = match secret.map(|s| Secret::new(s.to_vec())).transpose() {
        Ok(Some(secret)) => Auth::Secret(secret),
        Ok(None) => Auth::Insecure,
        Err(e) => return [Err(e.to_string()), Err(e.to_string())],
    };
    let keys = streams::Keys::new("wasmtaps");
    let results = keys.results(&"0".repeat(32));
    let sealed = |purpose, stream: &str| match seal {
        true => auth.seal(purpose, stream, "", message),
        false => message.to_vec(),
    };
    // Values are checked as the messages decode.
    let job = redis_jobs::check_job(&auth, &keys, &sealed(Purpose::Job, &keys.jobs())).map(drop);
    let reply = redis_executor::open_reply(&auth, &results, &sealed(Purpose::Reply, &results)).map(
        |reply| {
            if let Some(value) = reply.value {
                let _ = transform::reference_keys(&value);
            }
        },
    );
    [job, reply]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_redis_job_naming_directories_or_carrying_module_bytes_is_refused() {
        use super::auth::{Auth, Purpose};
        let keys = super::streams::Keys::new("wasmtaps");
        let id = "0".repeat(32);
        let job = super::wire::Job {
            id: id.clone(),
            module_hash: "a".repeat(64),
            module_name: "m".into(),
            wasm: None,
            task: "t".into(),
            args: crate::Args::new(),
            limits: crate::LimitOverrides::default(),
            dirs: Vec::new(),
            references: Vec::new(),
            result_threshold: None,
            reply_to: keys.results(&id),
            max_deliveries: 3,
        };
        let check = |job: &super::wire::Job| {
            let sealed =
                Auth::Insecure.seal(Purpose::Job, &keys.jobs(), &id, &super::wire::encode(job));
            super::redis_jobs::check_job(&Auth::Insecure, &keys, &sealed)
        };
        assert!(check(&job).is_ok());
        let mounting = super::wire::Job {
            dirs: vec![("/etc".into(), "/data".into())],
            ..job.clone()
        };
        assert!(
            check(&mounting).is_err(),
            "a job may not mount a worker's files"
        );
        let carrying = super::wire::Job {
            wasm: Some(serde_bytes::ByteBuf::from(b"\0asm".to_vec())),
            ..job
        };
        assert!(check(&carrying).is_err(), "modules are fetched by hash");
    }

    #[test]
    fn the_wire_fuzz_seeds_reach_past_the_decoders() {
        let job = include_bytes!("../../../tests/fuzz/corpus/wire/job");
        let reply = include_bytes!("../../../tests/fuzz/corpus/wire/reply");
        assert_eq!(super::check_messages(None, false, job)[0], Ok(()));
        assert_eq!(super::check_messages(None, false, reply)[1], Ok(()));
        // The same bytes fail a secret's check, and pass once signed.
        let secret = Some(&b"0123456789abcdef0123"[..]);
        assert!(super::check_messages(secret, false, job)[0].is_err());
        assert!(super::check_messages(secret, false, reply)[1].is_err());
    }
}
