//! [`TaskModule`] and [`Task`]: a validated, compiled task module (a core module or a
//! component) and one task in it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{ExternType, FuncType, InstancePre, Module, ModuleExport, ValType};

use crate::component::{ComponentCode, UncallableExport};
pub use crate::load_error::LoadError;
use crate::manifest::{self, MANIFEST_SECTION, TASK_EXPORT_PREFIX, TaskSpec};
use crate::runtime::Runtime;
use crate::store::StoreState;
use crate::survey::{Survey, survey};

/// A compiled task module, validated against ABI v1 and ready to instantiate.
///
/// Cheap to clone. Loading the same bytes twice returns the same compiled module.
#[derive(Clone)]
pub struct TaskModule {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) name: String,
    pub(crate) hash: [u8; 32],
    /// The wasm binary, for executors that send the module to other processes.
    pub(crate) wasm: Arc<[u8]>,
    pub(crate) tasks: Vec<TaskSpec>,
    /// Each task's index in `tasks`, by name.
    pub(crate) task_index: HashMap<String, usize>,
    pub(crate) has_manifest: bool,
    pub(crate) code: Code,
}

/// What runs the tasks: a core module (ABI v1) or a component.
pub(crate) enum Code {
    Core(CoreCode),
    Component(ComponentCode),
}

/// A core module's pre-linked instance and the exports ABI v1 calls.
pub(crate) struct CoreCode {
    pub(crate) pre: InstancePre<StoreState>,
    /// By task index.
    pub(crate) task_exports: Vec<ModuleExport>,
    pub(crate) alloc: ModuleExport,
    pub(crate) memory: ModuleExport,
    pub(crate) initialize: Option<ModuleExport>,
}

impl TaskModule {
    /// The module's name (its file stem, or the name it was loaded under).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The SHA-256 of the module's binary, in hex.
    pub fn hash(&self) -> String {
        self.inner.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The module's wasm binary (WAT text is kept compiled to binary), whose SHA-256 is
    /// [`hash`](TaskModule::hash).
    pub fn wasm_bytes(&self) -> &[u8] {
        &self.inner.wasm
    }

    /// The tasks the module offers.
    pub fn tasks(&self) -> &[TaskSpec] {
        &self.inner.tasks
    }

    /// Whether the module carries a `wasmtaps.tasks` manifest (and so accepts kwargs).
    /// A component's WIT types name its parameters, so a component counts as having one.
    pub fn has_manifest(&self) -> bool {
        self.inner.has_manifest
    }

    /// Whether this is a WebAssembly component (its tasks typed by WIT) rather than a
    /// core module implementing ABI v1.
    pub fn is_component(&self) -> bool {
        matches!(self.inner.code, Code::Component(_))
    }

    /// The functions a component exports that cannot be tasks, and why (empty for a
    /// core module).
    pub fn uncallable(&self) -> &[UncallableExport] {
        match &self.inner.code {
            Code::Component(c) => &c.uncallable,
            Code::Core(_) => &[],
        }
    }

    /// The ABI version the module implements.
    pub fn abi_version(&self) -> u64 {
        manifest::ABI_VERSION
    }

    /// A handle to the task called `name`.
    ///
    /// A component's tasks have WIT names (`word-count`); the Python spelling
    /// (`word_count`) finds them too.
    ///
    /// # Errors
    /// [`LoadError::UnknownTask`] listing the tasks the module does have, or
    /// [`LoadError::NotCallable`] for a component function that cannot be a task.
    pub fn task(&self, name: &str) -> Result<Task, LoadError> {
        let found = self.inner.task_index.get(name).or_else(|| {
            if self.is_component() && name.contains('_') {
                self.inner.task_index.get(&name.replace('_', "-"))
            } else {
                None
            }
        });
        match found {
            Some(&index) => Ok(Task {
                module: self.clone(),
                index,
            }),
            None => {
                if let Some(export) = self.uncallable().iter().find(|e| e.name == name) {
                    return Err(LoadError::NotCallable {
                        module: self.inner.name.clone(),
                        task: name.to_owned(),
                        reason: export.reason.clone(),
                    });
                }
                Err(LoadError::UnknownTask {
                    module: self.inner.name.clone(),
                    task: name.to_owned(),
                    available: self
                        .inner
                        .tasks
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
}

impl fmt::Debug for TaskModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskModule")
            .field("name", &self.inner.name)
            .field("hash", &self.hash())
            .field("tasks", &self.inner.tasks)
            .finish()
    }
}

/// One task of a [`TaskModule`]: what [`Runtime::invoke`] runs.
#[derive(Clone)]
pub struct Task {
    pub(crate) module: TaskModule,
    pub(crate) index: usize,
}

impl Task {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.spec().name
    }

    /// The module it belongs to.
    pub fn module(&self) -> &TaskModule {
        &self.module
    }

    /// Its parameter names, if the module has a manifest.
    pub fn params(&self) -> Option<&[String]> {
        self.spec().params.as_deref()
    }

    /// Its WIT signature, such as `func(a: s64, b: s64) -> s64`, if it is a component's.
    pub fn signature(&self) -> Option<&str> {
        match &self.module.inner.code {
            Code::Component(c) => Some(&c.tasks[self.index].signature),
            Code::Core(_) => None,
        }
    }

    pub(crate) fn spec(&self) -> &TaskSpec {
        &self.module.inner.tasks[self.index]
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({}::{})", self.module.name(), self.name())
    }
}

const WASM_MAGIC: &[u8] = b"\0asm";

impl Runtime {
    /// Loads a task module from a `.wasm` binary or `.wat` text file.
    ///
    /// # Errors
    /// See [`LoadError`]: unreadable file, not wasm, invalid, or not a task module.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<TaskModule, LoadError> {
        let path = path.as_ref();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let bytes = self
            .read_module_file(&name, path)
            .map_err(|source| LoadError::Io {
                path: path.display().to_string(),
                source,
            })??;
        self.load_shared(&name, Some(bytes.clone()), &bytes)
    }

    /// Reads a module file into the buffer the module keeps (no copy after reading),
    /// refusing one larger than the compile budget before reading it.
    fn read_module_file(
        &self,
        name: &str,
        path: &Path,
    ) -> std::io::Result<Result<Arc<[u8]>, LoadError>> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            let mut bytes = Vec::new();
            file.take(self.inner.budget.max_module_bytes.saturating_add(1))
                .read_to_end(&mut bytes)?;
            return Ok(self
                .check_module_size(name, bytes.len())
                .map(|()| bytes.into()));
        }
        if let Err(e) = self.check_module_size(name, meta.len() as usize) {
            return Ok(Err(e));
        }
        let len = usize::try_from(meta.len()).map_err(std::io::Error::other)?;
        let buffer = Arc::<[u8]>::new_zeroed_slice(len);
        // SAFETY: zeroed bytes are valid `u8`s.
        let mut buffer = unsafe { buffer.assume_init() };
        let bytes = Arc::get_mut(&mut buffer).expect("not shared yet");
        file.read_exact(bytes)?;
        if file.read(&mut [0])? != 0 {
            return Err(std::io::Error::other("the file grew while it was read"));
        }
        Ok(Ok(buffer))
    }

    /// Loads a task module from WAT text.
    ///
    /// # Errors
    /// See [`LoadError`].
    pub fn load_wat(&self, name: &str, text: &str) -> Result<TaskModule, LoadError> {
        self.load_bytes(name, text.as_bytes())
    }

    /// Loads a task module from a wasm binary or WAT text in memory.
    ///
    /// Modules are compiled once per content hash: loading the same bytes again returns
    /// the module compiled before, and with a [cache directory](crate::runtime::RuntimeBuilder::cache_dir)
    /// a module compiled by an earlier process is loaded instead of compiled.
    ///
    /// # Errors
    /// See [`LoadError`].
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<TaskModule, LoadError> {
        self.load_shared(name, None, bytes)
    }

    /// [`Runtime::load_bytes`], keeping `shared` (the same bytes) as the module's wasm
    /// rather than a copy when it is given and is wasm.
    fn load_shared(
        &self,
        name: &str,
        shared: Option<Arc<[u8]>>,
        bytes: &[u8],
    ) -> Result<TaskModule, LoadError> {
        self.check_module_size(name, bytes.len())?;
        let wasm: std::borrow::Cow<'_, [u8]> = if bytes.starts_with(WASM_MAGIC) {
            bytes.into()
        } else {
            wat::parse_bytes(bytes)
                .map_err(|e| LoadError::NotWasm {
                    name: name.to_owned(),
                    reason: format!(
                        "it does not start with the wasm magic number, and as WAT text: {e}"
                    ),
                })?
                .into_owned()
                .into()
        };
        let hash: [u8; 32] = Sha256::digest(&wasm).into();
        if let Some(found) = self.cached(&hash) {
            return Ok(found);
        }
        let surveyed = self.survey_within_budget(name, &wasm)?;
        let wasm: Arc<[u8]> = match (shared, wasm) {
            (Some(shared), std::borrow::Cow::Borrowed(_)) => shared,
            (_, wasm) => wasm.as_ref().into(),
        };
        if wasmparser::Parser::is_component(&wasm) {
            let loaded = self.load_component(name, hash, &wasm)?;
            return Ok(self.inner.modules.insert(hash, loaded));
        }
        let module = crate::cache::compile(self, name, &hash, &wasm)?;
        let loaded = self.validate(name, hash, &wasm, surveyed, module)?;
        Ok(self.inner.modules.insert(hash, loaded))
    }

    fn check_module_size(&self, name: &str, bytes: usize) -> Result<(), LoadError> {
        let maximum = self.inner.budget.max_module_bytes;
        if bytes as u64 > maximum {
            return Err(LoadError::ModuleTooLarge {
                name: name.to_owned(),
                bytes: bytes as u64,
                maximum,
            });
        }
        Ok(())
    }

    /// Reads the binary once and refuses it, before any compiling, when it breaks the
    /// compile budget or declares more memory than the runtime allows.
    pub(crate) fn survey_within_budget(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<Survey, LoadError> {
        self.check_module_size(name, wasm.len())?;
        let surveyed = survey(wasm).map_err(|e| LoadError::Compile {
            name: name.to_owned(),
            reason: format!("malformed wasm binary: {e}"),
        })?;
        let maximum = self.inner.budget.max_function_bytes;
        if let Some((index, bytes)) = surveyed.largest_function
            && bytes > maximum
        {
            return Err(LoadError::FunctionTooLarge {
                name: name.to_owned(),
                index,
                bytes,
                maximum,
            });
        }
        let maximum = self.inner.budget.max_function_locals;
        if let Some((index, locals)) = surveyed.most_locals
            && locals > maximum
        {
            return Err(LoadError::TooManyLocals {
                name: name.to_owned(),
                index,
                locals,
                maximum,
            });
        }
        let maximum = self.inner.budget.max_function_bytes_times_locals;
        if let Some((index, bytes, locals)) = surveyed.heaviest_function
            && bytes.saturating_mul(locals) > maximum
        {
            return Err(LoadError::FunctionTooComplex {
                name: name.to_owned(),
                index,
                bytes,
                locals,
                maximum,
            });
        }
        if surveyed.largest_memory > self.inner.maximum.memory_bytes {
            return Err(LoadError::MemoryTooLarge {
                name: name.to_owned(),
                declared: surveyed.largest_memory,
                maximum: self.inner.maximum.memory_bytes,
            });
        }
        Ok(surveyed)
    }

    /// The module with this SHA-256, if it is loaded (in the runtime's module cache).
    pub(crate) fn cached(&self, hash: &[u8; 32]) -> Option<TaskModule> {
        self.inner.modules.get(hash)
    }

    fn validate(
        &self,
        name: &str,
        hash: [u8; 32],
        wasm: &Arc<[u8]>,
        surveyed: Survey,
        module: Module,
    ) -> Result<TaskModule, LoadError> {
        let abi = |reason: String| LoadError::Abi {
            name: name.to_owned(),
            reason,
        };
        for import in module.imports() {
            let refuse = |reason: &str| LoadError::Import {
                name: name.to_owned(),
                module: import.module().to_owned(),
                field: import.name().to_owned(),
                reason: reason.to_owned(),
            };
            match import.module() {
                "wasi_snapshot_preview1" => {}
                "wasmtaps" => match (import.name(), import.ty()) {
                    ("panic", ExternType::Func(f))
                        if signature_is(&f, &[ValType::I32, ValType::I32], &[]) => {}
                    ("panic", _) => {
                        return Err(refuse(
                            "`wasmtaps.panic` must be a function (i32, i32) -> ()",
                        ));
                    }
                    _ => return Err(refuse("the only `wasmtaps` import is `panic`")),
                },
                _ => {
                    return Err(refuse(
                        "task modules may import only from `wasi_snapshot_preview1` and `wasmtaps`",
                    ));
                }
            }
        }
        let memory_export = module
            .get_export_index("memory")
            .ok_or_else(|| abi("it does not export `memory`".into()))?;
        match module.get_export("memory") {
            Some(ExternType::Memory(m)) => {
                if m.is_64() || m.is_shared() {
                    return Err(abi(
                        "the exported `memory` must be a 32-bit, unshared memory".into(),
                    ));
                }
                let declared = m.minimum().saturating_mul(m.page_size());
                if declared > self.inner.maximum.memory_bytes {
                    return Err(LoadError::MemoryTooLarge {
                        name: name.to_owned(),
                        declared,
                        maximum: self.inner.maximum.memory_bytes,
                    });
                }
            }
            _ => return Err(abi("the export `memory` is not a memory".into())),
        }
        let func_export =
            |export: &str, params: &[ValType], results: &[ValType], shape: &str| match module
                .get_export(export)
            {
                Some(ExternType::Func(f)) if signature_is(&f, params, results) => module
                    .get_export_index(export)
                    .ok_or_else(|| abi(format!("export `{export}` cannot be looked up"))),
                Some(ExternType::Func(f)) => Err(abi(format!(
                    "export `{export}` has type {f}, expected {shape}"
                ))),
                Some(_) => Err(abi(format!("export `{export}` is not a function"))),
                None => Err(abi(format!("it does not export `{export}` ({shape})"))),
            };
        let alloc = func_export(
            "wasmtaps_alloc",
            &[ValType::I32],
            &[ValType::I32],
            "(func (param i32) (result i32))",
        )?;
        let initialize = match module.get_export("_initialize") {
            None => None,
            Some(_) => Some(func_export("_initialize", &[], &[], "(func)")?),
        };
        let has_manifest = surveyed.manifest.is_some();
        let tasks = match surveyed.manifest {
            Some(bytes) => manifest::parse(&bytes)
                .map_err(|e| abi(format!("bad `{MANIFEST_SECTION}` section: {e}")))?,
            None => module
                .exports()
                .filter_map(|e| {
                    e.name()
                        .strip_prefix(TASK_EXPORT_PREFIX)
                        .map(|task| TaskSpec {
                            name: task.to_owned(),
                            export: e.name().to_owned(),
                            params: None,
                        })
                })
                .collect(),
        };
        if tasks.is_empty() {
            return Err(abi(format!(
                "it offers no tasks (no `{TASK_EXPORT_PREFIX}*` exports or manifest entries)"
            )));
        }
        let task_exports = tasks
            .iter()
            .map(|t| {
                func_export(
                    &t.export,
                    &[ValType::I32, ValType::I32],
                    &[ValType::I64],
                    "(func (param i32 i32) (result i64))",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let task_index = tasks
            .iter()
            .enumerate()
            .map(|(index, t)| (t.name.clone(), index))
            .collect();
        let pre = self
            .inner
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Link {
                name: name.to_owned(),
                reason: format!("{e:#}"),
            })?;
        Ok(TaskModule {
            inner: Arc::new(ModuleInner {
                name: name.to_owned(),
                hash,
                wasm: wasm.clone(),
                tasks,
                task_index,
                has_manifest,
                code: Code::Core(CoreCode {
                    pre,
                    task_exports,
                    alloc,
                    memory: memory_export,
                    initialize,
                }),
            }),
        })
    }
}

fn signature_is(f: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    fn same(a: impl ExactSizeIterator<Item = ValType>, b: &[ValType]) -> bool {
        a.len() == b.len() && a.zip(b).all(|(x, y)| ValType::eq(&x, y))
    }
    same(f.params(), params) && same(f.results(), results)
}
