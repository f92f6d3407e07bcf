//! Precompiled modules on disk: native code, so the directory must be private, every file
//! is checked before it is read, and each artifact is bound to the wasm it came from.
//!
//! A file is wasmtime's serialized module followed by a trailer that binds it:
//!
//! | bytes | content |
//! | --- | --- |
//! | all but the last 80 | `Module::serialize` (an ELF image wasmtime maps as it is) |
//! | 16 | [`MAGIC`] |
//! | 32 | SHA-256 of the module's wasm binary |
//! | 32 | [`engine_key`]: SHA-256 of wasmtaps's version and the engine's compatibility hash |
//!
//! A file whose trailer does not name the wasm being loaded and this engine is never
//! handed to wasmtime, so an artifact renamed or copied over another cannot run as the
//! other module. The binding is at the end so that wasmtime can map the file itself
//! (its image must start the file): a warm process maps the pages of the 35 MB Python
//! artifact it touches rather than reading and copying all of it. The directory is
//! capped in size: the least recently used artifacts (by modification time, touched on
//! every hit) go first.

use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::trust::{self, Untrusted};

/// The trailer's first bytes (format version 2: the binding at the end; version 1
/// files, with it at the start, have other names and are never looked up).
const MAGIC: &[u8; 16] = b"wasmtaps-cwasm\x00\x02";
const TRAILER: usize = 16 + 32 + 32;
/// The file name suffix of artifacts; nothing else in the directory is touched.
const SUFFIX: &str = "cwasm";

/// A private directory of precompiled modules.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    engine_key: [u8; 32],
    /// Whether artifacts are mapped rather than read (see [`Artifact`]).
    map: bool,
}

/// A checked artifact, as handed to wasmtime.
///
/// Mapped, wasmtime touches only the pages it needs (a warm `wasmtaps call` of the 35 MB
/// Python artifact reads a fraction of it), but a mapped file truncated while in use
/// kills the process with `SIGBUS`. Only this user and root can write a cache file
/// (checked) and wasmtaps never writes one in place, so only they could; even so, only
/// short-lived processes map (`RuntimeBuilder::map_cache_artifacts`, which `wasmtaps
/// call` sets). Read, the file is copied once into memory and wasmtime copies it again.
pub(crate) enum Artifact {
    /// The open, checked file; wasmtime maps all of it (its image, then the trailer,
    /// which it ignores).
    Mapped(File),
    /// The file's bytes without the trailer.
    Read(Vec<u8>),
}

/// What happened when the cache was asked for a module (for tests and logs).
#[derive(Debug)]
pub(crate) enum Lookup<T> {
    Hit(T),
    Miss,
    /// A file was there but was not used, and why.
    Refused(String),
}

impl DiskCache {
    /// Opens (creating it `0700` if missing) the cache directory, or says why it cannot
    /// be trusted with native code.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        engine: &Engine,
        map: bool,
    ) -> Result<DiskCache, String> {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        trust::check_directory(dir).map_err(|e| e.to_string())?;
        Ok(DiskCache {
            dir: dir.to_owned(),
            max_bytes,
            engine_key: engine_key(engine),
            map,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, wasm_hash: &[u8; 32]) -> PathBuf {
        let engine: String = self.engine_key[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir
            .join(format!("{}-{engine}.{SUFFIX}", hex(wasm_hash)))
    }

    /// The module compiled from the wasm whose SHA-256 is `wasm_hash`, if a trusted
    /// artifact for it and this engine is on disk.
    pub(crate) fn load(&self, engine: &Engine, wasm_hash: &[u8; 32]) -> Lookup<Module> {
        // SAFETY: see `load_artifact`, which hands over only files that passed every
        // check; wasmtime checks its own header and version.
        self.load_artifact(wasm_hash, |artifact| unsafe {
            match artifact {
                Artifact::Mapped(file) => Module::deserialize_open_file(engine, file),
                Artifact::Read(bytes) => Module::deserialize(engine, bytes),
            }
        })
    }

    /// The component compiled from the wasm whose SHA-256 is `wasm_hash`, if a trusted
    /// artifact for it and this engine is on disk.
    pub(crate) fn load_component(
        &self,
        engine: &Engine,
        wasm_hash: &[u8; 32],
    ) -> Lookup<Component> {
        // SAFETY: as for `load`. wasmtime takes no open file for a component, so it is
        // given the checked descriptor's `/proc/self/fd` link, which opens that very
        // file whatever became of its name since.
        self.load_artifact(wasm_hash, |artifact| unsafe {
            match artifact {
                Artifact::Mapped(file) => {
                    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
                    Component::deserialize_file(engine, link)
                }
                Artifact::Read(bytes) => Component::deserialize(engine, bytes),
            }
        })
    }

    /// Opens the artifact for `wasm_hash` and, once every check passed, hands it to
    /// `deserialize`, mapped or read (see [`Artifact`]).
    ///
    /// The file is in a directory only this user can write (checked when the cache was
    /// opened), is a regular file owned by this user that nobody else can write (checked
    /// on the open descriptor), and its trailer binds it to this wasm and this engine
    /// configuration: only then is `deserialize` called, which is what makes its
    /// `unsafe` deserialisation sound. Mapping it is sound for the same reason: nobody
    /// but this user (and root) can change the file while it is mapped, and wasmtaps
    /// never writes an artifact in place (a new one is renamed over the old, eviction
    /// unlinks), so the mapped pages stay those that were checked. Without `/proc`
    /// (whose fd links map a component's checked file), artifacts are read.
    fn load_artifact<T>(
        &self,
        wasm_hash: &[u8; 32],
        deserialize: impl FnOnce(Artifact) -> wasmtime::Result<T>,
    ) -> Lookup<T> {
        let path = self.path(wasm_hash);
        let (file, len) = match self.open_trusted(&path) {
            Ok(Some(opened)) => opened,
            Ok(None) => return Lookup::Miss,
            Err(why) => return Lookup::Refused(why),
        };
        let mut trailer = [0u8; TRAILER];
        if len < TRAILER as u64
            || file
                .read_exact_at(&mut trailer, len - TRAILER as u64)
                .is_err()
            || &trailer[..16] != MAGIC
        {
            return Lookup::Refused(format!("{} has no wasmtaps trailer", path.display()));
        }
        if trailer[16..48] != wasm_hash[..] {
            return Lookup::Refused(format!(
                "{} holds the artifact of another module ({})",
                path.display(),
                hex(&trailer[16..48])
            ));
        }
        if trailer[48..] != self.engine_key[..] {
            return Lookup::Refused(format!(
                "{} was compiled for another engine configuration",
                path.display()
            ));
        }
        let artifact = if self.map && Path::new("/proc/self/fd").is_dir() {
            Artifact::Mapped(file)
        } else {
            let image = len - TRAILER as u64;
            let mut bytes = Vec::with_capacity(image as usize);
            match (&file).take(image).read_to_end(&mut bytes) {
                Ok(read) if read as u64 == image => Artifact::Read(bytes),
                Ok(_) => return Lookup::Refused(format!("{} shrank", path.display())),
                Err(e) => return Lookup::Refused(format!("cannot read {}: {e}", path.display())),
            }
        };
        match deserialize(artifact) {
            Ok(compiled) => {
                // Touch it: the least recently used artifacts are evicted first.
                if let Ok(file) = File::options().write(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Lookup::Hit(compiled)
            }
            Err(e) => Lookup::Refused(format!("{}: {e:#}", path.display())),
        }
    }

    /// Opens a cache file if it is a regular file this user owns and nobody else can
    /// write, and not larger than the cache: the file and its length, or `Ok(None)` if
    /// there is none.
    fn open_trusted(&self, path: &Path) -> Result<Option<(File, u64)>, String> {
        // O_NOFOLLOW: a symlink is refused, not followed; O_NONBLOCK: a FIFO planted
        // here cannot block the open.
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(Untrusted::Kind {
                path: path.display().to_string(),
                expected: "regular file",
            }
            .to_string());
        }
        trust::check_owned(path, &meta).map_err(|e| e.to_string())?;
        if meta.len() > self.max_bytes {
            return Err(format!(
                "{} is {} bytes, more than the cache's {} bytes",
                path.display(),
                meta.len(),
                self.max_bytes
            ));
        }
        Ok(Some((file, meta.len())))
    }

    /// Stores `module`'s artifact for `wasm_hash`, then evicts the least recently used
    /// artifacts until the directory is within its size. An artifact larger than the
    /// whole cache is not stored.
    pub(crate) fn store(&self, wasm_hash: &[u8; 32], module: &Module) -> Result<(), String> {
        let artifact = module
            .serialize()
            .map_err(|e| format!("cannot serialize the module: {e:#}"))?;
        self.store_artifact(wasm_hash, &artifact)
    }

    /// Stores `component`'s artifact for `wasm_hash`, as [`DiskCache::store`] does.
    pub(crate) fn store_component(
        &self,
        wasm_hash: &[u8; 32],
        component: &Component,
    ) -> Result<(), String> {
        let artifact = component
            .serialize()
            .map_err(|e| format!("cannot serialize the component: {e:#}"))?;
        self.store_artifact(wasm_hash, &artifact)
    }

    fn store_artifact(&self, wasm_hash: &[u8; 32], artifact: &[u8]) -> Result<(), String> {
        let size = (artifact.len() + TRAILER) as u64;
        if size > self.max_bytes {
            return Err(format!(
                "the artifact is {size} bytes, more than the cache's {} bytes",
                self.max_bytes
            ));
        }
        let path = self.path(wasm_hash);
        let tmp = self.dir.join(format!(
            ".{}.{}.tmp",
            hex(wasm_hash),
            uuid::Uuid::new_v4().simple()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            file.write_all(artifact)?;
            file.write_all(MAGIC)?;
            file.write_all(wasm_hash)?;
            file.write_all(&self.engine_key)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        self.evict(&path);
        Ok(())
    }

    /// Removes the least recently used artifacts until the directory's artifacts fit in
    /// `max_bytes`, never the one just written (`keep`).
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == SUFFIX))
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// SHA-256 of the file format, wasmtaps's version and the engine's precompile
/// compatibility hash (which covers wasmtime's version, the compiler settings and the
/// enabled features). File names carry it, so files of another format or engine are
/// never looked up.
fn engine_key(engine: &Engine) -> [u8; 32] {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha(Sha256::new());
    hasher.write(MAGIC);
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
