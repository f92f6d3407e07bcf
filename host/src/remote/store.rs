//! [`Store`]: where values passed by reference live, a directory or Redis.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::DistributedError;
use super::conn::{self, Conn};
use super::key::StoreKey;
use super::streams::Keys;

/// A key-value store for values passed by reference (TaPS's ProxyStore connectors).
///
/// Keys are [`StoreKey`]s, validated once, so no store ever sees a path. Every read is
/// bounded: [`get`](Store::get) refuses an object larger than `max_bytes` without reading
/// more than `max_bytes + 1` bytes of it.
///
/// Where a worker's store is comes from the worker's own configuration
/// ([`WorkerBuilder::store`](super::WorkerBuilder::store), `wasmtaps worker --store`),
/// never from a job.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing what was there.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn put(&self, key: &StoreKey, bytes: &[u8]) -> Result<(), DistributedError>;

    /// The bytes under `key`, at most `max_bytes` of them. Reading does not evict: a
    /// retried task finds its input.
    ///
    /// # Errors
    /// [`DistributedError::Missing`] when nothing is stored under `key`,
    /// [`DistributedError::TooLarge`] when the object is larger than `max_bytes`, or the
    /// store cannot be read.
    fn get(&self, key: &StoreKey, max_bytes: u64) -> Result<Vec<u8>, DistributedError>;

    /// Removes `key` (nothing happens if it is not there).
    ///
    /// # Errors
    /// When the store cannot be written.
    fn evict(&self, key: &StoreKey) -> Result<(), DistributedError>;
}

/// Stores each object as a regular file in a directory.
///
/// Reads open the file without following a symbolic link and without blocking, refuse
/// anything but a regular file (a FIFO, a device, a directory), and stop after the limit.
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

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(key.as_str())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DistributedError + '_ {
    move |source| DistributedError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store for DirectoryStore {
    fn put(&self, key: &StoreKey, bytes: &[u8]) -> Result<(), DistributedError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Write then rename, so a reader never sees half an object; the partial file is
        // created new (never through a link planted under its name).
        let path = self.path(key);
        let partial = self
            .dir
            .join(format!(".{key}.{}", uuid::Uuid::new_v4().simple()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&partial)
            .map_err(io(&partial))?;
        file.write_all(bytes).map_err(io(&partial))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(io(&path))
    }

    fn get(&self, key: &StoreKey, max_bytes: u64) -> Result<Vec<u8>, DistributedError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path(key);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path);
        let file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DistributedError::Missing(key.to_string()));
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(DistributedError::NotAnObject(key.to_string()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let meta = file.metadata().map_err(io(&path))?;
        if !meta.file_type().is_file() {
            return Err(DistributedError::NotAnObject(key.to_string()));
        }
        if meta.len() > max_bytes {
            return Err(DistributedError::TooLarge {
                key: key.to_string(),
                limit: max_bytes,
            });
        }
        // The file may grow after the check: read at most one byte past the limit.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io(&path))?;
        if bytes.len() as u64 > max_bytes {
            return Err(DistributedError::TooLarge {
                key: key.to_string(),
                limit: max_bytes,
            });
        }
        Ok(bytes)
    }

    fn evict(&self, key: &StoreKey) -> Result<(), DistributedError> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(io(&path)),
        }
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
    fn put(&self, key: &StoreKey, bytes: &[u8]) -> Result<(), DistributedError> {
        let key = self.keys.object(key);
        self.run(|c| redis::cmd("SET").arg(&key).arg(bytes).query::<()>(c))
    }

    fn get(&self, key: &StoreKey, max_bytes: u64) -> Result<Vec<u8>, DistributedError> {
        let full = self.keys.object(key);
        // Length and a bounded range in one transaction: never more than the limit
        // crosses the wire, even if the object is replaced meanwhile.
        let (exists, len, bytes): (bool, u64, Vec<u8>) = self.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("EXISTS")
                .arg(&full)
                .cmd("STRLEN")
                .arg(&full)
                .cmd("GETRANGE")
                .arg(&full)
                .arg(0)
                .arg(max_bytes.min(i64::MAX as u64 - 1) as i64)
                .query(c)
        })?;
        if !exists {
            return Err(DistributedError::Missing(key.to_string()));
        }
        if len > max_bytes || bytes.len() as u64 > max_bytes {
            return Err(DistributedError::TooLarge {
                key: key.to_string(),
                limit: max_bytes,
            });
        }
        Ok(bytes)
    }

    fn evict(&self, key: &StoreKey) -> Result<(), DistributedError> {
        let key = self.keys.object(key);
        self.run(|c| redis::cmd("DEL").arg(&key).query::<()>(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> StoreKey {
        StoreKey::new(k).expect("valid key")
    }

    #[test]
    fn directory_store_reads_regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DirectoryStore::new(dir.path()).expect("store");
        store.put(&key("small"), b"hello").expect("put");
        assert_eq!(store.get(&key("small"), 5).expect("get"), b"hello");
        assert!(matches!(
            store.get(&key("small"), 4),
            Err(DistributedError::TooLarge { limit: 4, .. })
        ));
        assert!(matches!(
            store.get(&key("absent"), 10),
            Err(DistributedError::Missing(_))
        ));
        // A link to a host file is not followed.
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).expect("symlink");
        assert!(matches!(
            store.get(&key("link"), 1 << 20),
            Err(DistributedError::NotAnObject(_))
        ));
        // A FIFO is refused without blocking.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            store.get(&key("fifo"), 1 << 20),
            Err(DistributedError::NotAnObject(_))
        ));
        // A directory is refused.
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        assert!(matches!(
            store.get(&key("sub"), 1 << 20),
            Err(DistributedError::NotAnObject(_))
        ));
        store.evict(&key("small")).expect("evict");
        store.evict(&key("small")).expect("evict twice");
    }
}
