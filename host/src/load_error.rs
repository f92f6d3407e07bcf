//! [`LoadError`]: why a module could not be loaded as a task module.

/// A module could not be loaded as a task module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read module {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are neither a wasm binary nor WAT text.
    #[error("{name} is not a wasm module: {reason}")]
    NotWasm {
        /// The module's name.
        name: String,
        /// What the WAT parser said (the bytes lacked the wasm magic number).
        reason: String,
    },
    /// wasmtime rejected the module (invalid wasm or unsupported features).
    #[error("{name} failed to compile: {reason}")]
    Compile {
        /// The module's name.
        name: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The module breaks ABI v1.
    #[error("{name} violates the wasmtaps ABI: {reason}")]
    Abi {
        /// The module's name.
        name: String,
        /// Which rule and how.
        reason: String,
    },
    /// The module imports something the host does not provide.
    #[error("{name} imports `{module}::{field}`, which wasmtaps does not provide: {reason}")]
    Import {
        /// The module's name.
        name: String,
        /// The import's module.
        module: String,
        /// The import's field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// An import cannot be satisfied (for example a WASI function that does not exist).
    #[error("{name} cannot be linked: {reason}")]
    Link {
        /// The module's name.
        name: String,
        /// wasmtime's explanation, naming the import.
        reason: String,
    },
    /// The module asks for more initial memory than the runtime allows.
    #[error(
        "{name} declares {declared} bytes of initial memory, more than the runtime maximum of {maximum} bytes"
    )]
    MemoryTooLarge {
        /// The module's name.
        name: String,
        /// Its initial memory.
        declared: u64,
        /// The runtime's maximum.
        maximum: u64,
    },
    /// The module is larger than the runtime's [`CompileBudget`](crate::runtime::CompileBudget)
    /// allows; nothing was compiled.
    #[error(
        "{name} is {bytes} bytes, more than the runtime's maximum module size of {maximum} bytes"
    )]
    ModuleTooLarge {
        /// The module's name.
        name: String,
        /// Its size (of the bytes given, or of the binary parsed from WAT text).
        bytes: u64,
        /// The runtime's maximum.
        maximum: u64,
    },
    /// A function body is larger than the runtime's [`CompileBudget`](crate::runtime::CompileBudget)
    /// allows (compiling it could take minutes); nothing was compiled.
    #[error(
        "{name}: function {index} has a body of {bytes} bytes, more than the runtime's maximum function size of {maximum} bytes"
    )]
    FunctionTooLarge {
        /// The module's name.
        name: String,
        /// The function's index in the module's function index space.
        index: u32,
        /// The size of its body.
        bytes: u64,
        /// The runtime's maximum.
        maximum: u64,
    },
    /// A function has more locals (parameters included) than the runtime's
    /// [`CompileBudget`](crate::runtime::CompileBudget) allows; nothing was compiled.
    #[error(
        "{name}: function {index} has {locals} locals, more than the runtime's maximum of {maximum} locals per function"
    )]
    TooManyLocals {
        /// The module's name.
        name: String,
        /// The function's index in the module's function index space.
        index: u32,
        /// Its locals, parameters included.
        locals: u64,
        /// The runtime's maximum.
        maximum: u64,
    },
    /// A function's body size times its locals (parameters included) is more than the
    /// runtime's [`CompileBudget`](crate::runtime::CompileBudget) allows: large and with
    /// many locals, it could take minutes to compile; nothing was compiled.
    #[error(
        "{name}: function {index} has a body of {bytes} bytes and {locals} locals, whose product is more than the runtime's maximum of {maximum} for bytes times locals"
    )]
    FunctionTooComplex {
        /// The module's name.
        name: String,
        /// The function's index in the module's function index space.
        index: u32,
        /// The size of its body.
        bytes: u64,
        /// Its locals, parameters included.
        locals: u64,
        /// The runtime's maximum for bytes times locals.
        maximum: u64,
    },
    /// The component exports a function of that name, but it cannot be a task (it takes
    /// or returns a resource, a stream or a future).
    #[error("{module}: `{task}` cannot be called as a task: {reason}")]
    NotCallable {
        /// The module's name.
        module: String,
        /// The name asked for.
        task: String,
        /// Why it cannot be called.
        reason: String,
    },
    /// No task with that name.
    #[error("module {module} has no task `{task}` (it has: {available})")]
    UnknownTask {
        /// The module's name.
        module: String,
        /// The name asked for.
        task: String,
        /// The tasks it has.
        available: String,
    },
}
