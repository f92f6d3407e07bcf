//! [`Store`]: where values passed by reference live, a directory or Redis.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::DistributedError;
use super::conn::{self, Conn};
use super::protocol::Keys;

/// A key-value store for values passed by reference (TaPS's ProxyStore connectors).
///
/// Keys are made by wasmtaps (letters, digits, `-`), so every store can use them as
/// file names.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing what was there.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), DistributedError>;

    /// The bytes under `key`. Reading does not evict: a retried task finds its input.
    ///
    /// # Errors
    /// [`DistributedError::Missing`] when nothing is stored under `key`, or the store
    /// cannot be read.
    fn get(&self, key: &str) -> Result<Vec<u8>, DistributedError>;

    /// Removes `key` (nothing happens if it is not there).
    ///
    /// # Errors
    /// When the store cannot be written.
    fn evict(&self, key: &str) -> Result<(), DistributedError>;

    /// How a worker opens the same store.
    fn spec(&self) -> StoreSpec;
}

/// How to open a store, as sent to workers with each job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreSpec {
    /// A directory every worker sees at this path (local, or a shared file system).
    Directory(PathBuf),
    /// The Redis the jobs travel through, under the job prefix.
    Redis,
}

/// Stores each object as a file in a directory.
#[derive(Clone, Debug)]
pub struct DirectoryStore {
    dir: PathBuf,
}

impl DirectoryStore {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<DirectoryStore, DistributedError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| DistributedError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(DirectoryStore { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DistributedError + '_ {
    move |source| DistributedError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store for DirectoryStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), DistributedError> {
        // Write then rename, so a reader never sees half an object.
        let path = self.path(key);
        let partial = self.path(&format!(".{key}.{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&partial, bytes).map_err(io(&partial))?;
        std::fs::rename(&partial, &path).map_err(io(&path))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, DistributedError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(DistributedError::Missing(key.to_owned()))
            }
            other => other.map_err(io(&path)),
        }
    }

    fn evict(&self, key: &str) -> Result<(), DistributedError> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(io(&path)),
        }
    }

    fn spec(&self) -> StoreSpec {
        StoreSpec::Directory(self.dir.clone())
    }
}

/// Stores each object as a Redis string, under the job prefix (default `wasmtaps`).
pub struct RedisStore {
    keys: Keys,
    conn: Mutex<Conn>,
}

impl RedisStore {
    /// A store in the Redis at `url`, with keys under `prefix`.
    ///
    /// # Errors
    /// When Redis does not answer.
    pub fn new(url: &str, prefix: &str) -> Result<RedisStore, DistributedError> {
        let client = conn::open(url)?;
        Ok(RedisStore::with_client(client, prefix))
    }

    pub(crate) fn with_client(client: redis::Client, prefix: &str) -> RedisStore {
        RedisStore {
            keys: Keys::new(prefix),
            conn: Mutex::new(Conn::new(client, "store")),
        }
    }

    fn run<T>(
        &self,
        f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, DistributedError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(conn.run(&|| false, f)?)
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish()
    }
}

impl Store for RedisStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), DistributedError> {
        let key = self.keys.object(key);
        self.run(|c| redis::cmd("SET").arg(&key).arg(bytes).query::<()>(c))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, DistributedError> {
        let full = self.keys.object(key);
        let found: Option<Vec<u8>> = self.run(|c| redis::cmd("GET").arg(&full).query(c))?;
        found.ok_or_else(|| DistributedError::Missing(key.to_owned()))
    }

    fn evict(&self, key: &str) -> Result<(), DistributedError> {
        let key = self.keys.object(key);
        self.run(|c| redis::cmd("DEL").arg(&key).query::<()>(c))
    }

    fn spec(&self) -> StoreSpec {
        StoreSpec::Redis
    }
}
