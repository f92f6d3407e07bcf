//! [`TaskError`]: why a task failed, classified by what happened, never by message text.

use std::fmt;

use wasmtime::{Trap, WasmBacktrace};

use crate::info::ExceptionInfo;
use crate::store::LimitExceeded;
use crate::wasi_misuse::WasiMisuse;

/// The class of a task failure. Its [`type_name`](ErrorKind::type_name) is the
/// `ExceptionInfo.type` recorded for the task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The wall-clock deadline passed (`Timeout`).
    Timeout,
    /// The task used up its fuel (`OutOfFuel`).
    OutOfFuel,
    /// Linear memory would have grown past the limit (`MemoryLimitExceeded`).
    MemoryLimitExceeded,
    /// A table would have grown past the limit (`TableLimitExceeded`).
    TableLimitExceeded,
    /// The wasm call stack overflowed (`StackOverflow`).
    StackOverflow,
    /// Any other wasm trap; the message names the trap code (`Trap`).
    Trap,
    /// The guest panicked and reported the message (`GuestPanic`).
    GuestPanic,
    /// The guest exited through WASI `proc_exit` with this code (`GuestExit`).
    GuestExit(i32),
    /// The guest returned an error of the given type (that type's name). A guest that
    /// claims one of the host's own type names gets the type `GuestError` instead, with
    /// the name it claimed in the message (see [`ErrorKind::from_guest_type`]).
    GuestError(String),
    /// The arguments do not fit the task's parameters (`ArgumentError`).
    ArgumentError,
    /// The guest misused a WASI call: a pointer outside its memory, flag bits or an enum
    /// value the call does not define, or more random bytes than one call may ask for
    /// (`WasiMisuse`).
    WasiMisuse,
    /// The guest broke the ABI (the violation's name, such as `MalformedResult`).
    Abi(AbiViolation),
    /// The limits asked for exceed the runtime's maximums (`InvalidLimits`).
    InvalidLimits,
    /// The task's module could not be instantiated: it imports something the host does
    /// not provide (`LinkError`, the WebAssembly JS API's name; TaPS's `import` failure).
    LinkError,
    /// A parent task failed, so this task never ran (`DependencyError`).
    DependencyError,
    /// The task was cancelled before it ran (`CancelledError`, Python's name, as TaPS
    /// records it).
    Cancelled,
    /// The host could not run the task, for a reason unrelated to the guest (`HostError`).
    HostError,
    /// The task was delivered to distributed workers the maximum number of times and
    /// never finished: it keeps killing its worker (`PoisonTask`).
    PoisonTask,
    /// A distributed task's result never came back by the engine's deadline for it (its
    /// worker's answer was lost, or its job was dropped) (`LostTask`).
    LostTask,
}

/// How a guest broke ABI v1 (see `docs/abi.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiViolation {
    /// The result pointer and length lie outside guest memory (`InvalidResultPointer`).
    InvalidResultPointer,
    /// The result bytes are not a well-formed `ok`/`err` envelope (`MalformedResult`).
    MalformedResult,
    /// The result is larger than the limit (`ResultTooLarge`).
    ResultTooLarge,
    /// The encoded arguments are larger than the limit (`ArgumentsTooLarge`).
    ArgumentsTooLarge,
    /// `wasmtaps_alloc` failed, trapped, or returned memory that is not there (`AllocFailed`).
    AllocFailed,
}

impl AbiViolation {
    /// The exception type name.
    pub fn type_name(self) -> &'static str {
        match self {
            AbiViolation::InvalidResultPointer => "InvalidResultPointer",
            AbiViolation::MalformedResult => "MalformedResult",
            AbiViolation::ResultTooLarge => "ResultTooLarge",
            AbiViolation::ArgumentsTooLarge => "ArgumentsTooLarge",
            AbiViolation::AllocFailed => "AllocFailed",
        }
    }
}

impl ErrorKind {
    /// The `ExceptionInfo.type` for this kind.
    pub fn type_name(&self) -> &str {
        match self {
            ErrorKind::Timeout => "Timeout",
            ErrorKind::OutOfFuel => "OutOfFuel",
            ErrorKind::MemoryLimitExceeded => "MemoryLimitExceeded",
            ErrorKind::TableLimitExceeded => "TableLimitExceeded",
            ErrorKind::StackOverflow => "StackOverflow",
            ErrorKind::Trap => "Trap",
            ErrorKind::GuestPanic => "GuestPanic",
            ErrorKind::GuestExit(_) => "GuestExit",
            ErrorKind::GuestError(name) => name,
            ErrorKind::ArgumentError => "ArgumentError",
            ErrorKind::WasiMisuse => "WasiMisuse",
            ErrorKind::Abi(v) => v.type_name(),
            ErrorKind::InvalidLimits => "InvalidLimits",
            ErrorKind::LinkError => "LinkError",
            ErrorKind::DependencyError => "DependencyError",
            ErrorKind::Cancelled => "CancelledError",
            ErrorKind::HostError => "HostError",
            ErrorKind::PoisonTask => "PoisonTask",
            ErrorKind::LostTask => "LostTask",
        }
    }

    /// The kind whose [`type_name`](ErrorKind::type_name) is `name`: the inverse used to
    /// rebuild a failure reported by another process (a worker process or a Redis worker).
    /// A name the host does not use is a guest's own error type; `GuestExit` comes back
    /// with code 0 (the code is in the message).
    ///
    /// The mapping is unambiguous because a guest cannot report a host type name
    /// ([`ErrorKind::from_guest_type`]), so a task's kind is the same on every executor.
    pub fn from_type_name(name: &str) -> ErrorKind {
        HOST_KINDS
            .iter()
            .find(|kind| kind.type_name() == name)
            .cloned()
            .unwrap_or_else(|| ErrorKind::GuestError(name.to_owned()))
    }

    /// The kind for an `err.type` a guest reported, and the message to record with it.
    ///
    /// `ArgumentError` is the guest SDKs' own report that the arguments do not fit (the
    /// same kind the host uses when it finds that first). Every other type name the host
    /// gives its own failures (`Timeout`, `HostError`, `PoisonTask`, ..., see
    /// [`ErrorKind::is_host_type_name`]) is reserved: the guest's error becomes a
    /// `GuestError` whose message names the type it claimed, followed by its message, so
    /// no guest can pass for the host or a limit.
    pub fn from_guest_type(name: &str, message: &str) -> (ErrorKind, String) {
        if name == ErrorKind::ArgumentError.type_name() {
            (ErrorKind::ArgumentError, message.to_owned())
        } else if ErrorKind::is_host_type_name(name) {
            (
                ErrorKind::GuestError(SPOOFED_TYPE_NAME.to_owned()),
                format!(
                    "the guest reported an error of type {name:?}, a name reserved for the host: {message}"
                ),
            )
        } else {
            (ErrorKind::GuestError(name.to_owned()), message.to_owned())
        }
    }

    /// Whether the host gives its own failures this type name (then a guest's error may
    /// not claim it, except `ArgumentError`). Also true for `GuestError`, the type a
    /// guest's error gets when it claims a host name.
    pub fn is_host_type_name(name: &str) -> bool {
        name == SPOOFED_TYPE_NAME || HOST_KINDS.iter().any(|kind| kind.type_name() == name)
    }
}

/// The type a guest's error gets when it claims one of the host's type names.
const SPOOFED_TYPE_NAME: &str = "GuestError";

/// Every kind the host itself produces, by which [`ErrorKind::from_type_name`] maps type
/// names back to kinds and [`ErrorKind::from_guest_type`] refuses them to guests. A new
/// host kind belongs here (the test `every_host_kind_is_listed` checks each variant).
const HOST_KINDS: [ErrorKind; 22] = [
    ErrorKind::Timeout,
    ErrorKind::OutOfFuel,
    ErrorKind::MemoryLimitExceeded,
    ErrorKind::TableLimitExceeded,
    ErrorKind::StackOverflow,
    ErrorKind::Trap,
    ErrorKind::GuestPanic,
    ErrorKind::GuestExit(0),
    ErrorKind::ArgumentError,
    ErrorKind::WasiMisuse,
    ErrorKind::Abi(AbiViolation::InvalidResultPointer),
    ErrorKind::Abi(AbiViolation::MalformedResult),
    ErrorKind::Abi(AbiViolation::ResultTooLarge),
    ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
    ErrorKind::Abi(AbiViolation::AllocFailed),
    ErrorKind::InvalidLimits,
    ErrorKind::LinkError,
    ErrorKind::DependencyError,
    ErrorKind::Cancelled,
    ErrorKind::HostError,
    ErrorKind::PoisonTask,
    ErrorKind::LostTask,
];

/// Why a task failed.
///
/// Every failure of a guest, including hostile behaviour, ends here rather than in a host
/// panic; [`TaskError::to_exception_info`] gives the record's `ExceptionInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    kind: ErrorKind,
    message: String,
    traceback: Option<String>,
    /// What the record shows instead of this error: for a task that never ran because a
    /// parent failed, the parent's exception, as TaPS records it.
    recorded_as: Option<Box<ExceptionInfo>>,
}

impl TaskError {
    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> TaskError {
        TaskError {
            kind,
            message: message.into(),
            traceback: None,
            recorded_as: None,
        }
    }

    /// A [`ErrorKind::DependencyError`]: the task never ran because its parent
    /// `parent_id` failed with `parent`. The Rust API sees the dependency error; the
    /// record carries the parent's exception (type, message, traceback) unchanged, as
    /// TaPS records a task whose argument future raised, so a chain of dependents all
    /// record the exception of the task that really failed.
    pub fn dependency(parent_id: &str, parent: &TaskError) -> TaskError {
        TaskError {
            kind: ErrorKind::DependencyError,
            message: format!("parent task {parent_id} failed: {parent}"),
            traceback: None,
            recorded_as: Some(Box::new(parent.to_exception_info())),
        }
    }

    /// Attaches a traceback.
    pub fn with_traceback(mut self, traceback: Option<String>) -> TaskError {
        self.traceback = traceback;
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The `ExceptionInfo.type` of this failure.
    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The traceback (a wasm backtrace for traps), if any.
    pub fn traceback(&self) -> Option<&str> {
        self.traceback.as_deref()
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Whether the fuel ran out.
    pub fn is_out_of_fuel(&self) -> bool {
        self.kind == ErrorKind::OutOfFuel
    }

    /// Whether a memory or table limit was hit.
    pub fn is_resource_limit(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::MemoryLimitExceeded | ErrorKind::TableLimitExceeded
        )
    }

    /// Whether the guest panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::GuestPanic
    }

    /// Whether the guest returned an error value.
    pub fn is_guest_error(&self) -> bool {
        matches!(self.kind, ErrorKind::GuestError(_))
    }

    /// Whether the guest broke the ABI.
    pub fn is_abi_violation(&self) -> bool {
        matches!(self.kind, ErrorKind::Abi(_))
    }

    /// Whether a parent task failed.
    pub fn is_dependency_failure(&self) -> bool {
        self.kind == ErrorKind::DependencyError
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// The record form of this failure: for a dependency failure, the exception of the
    /// parent that failed (see [`TaskError::dependency`]). The traceback is always a
    /// string, as in TaPS's records: the wasm backtrace or the guest's traceback when there
    /// is one, else the exception formatted as Python's last traceback line,
    /// `Type: message`.
    pub fn to_exception_info(&self) -> ExceptionInfo {
        if let Some(parent) = &self.recorded_as {
            return (**parent).clone();
        }
        ExceptionInfo {
            kind: self.type_name().to_owned(),
            message: self.message.clone(),
            traceback: Some(
                self.traceback
                    .clone()
                    .unwrap_or_else(|| format!("{}: {}", self.type_name(), self.message)),
            ),
        }
    }

    /// Classifies an error from instantiating or calling into a guest.
    ///
    /// `panic_message` is what the guest reported through `wasmtaps.panic`, if anything;
    /// `limit_hit` is the limit the store's limiter refused, if any.
    pub(crate) fn from_wasm(
        error: &wasmtime::Error,
        panic_message: Option<&str>,
        limit_hit: Option<&LimitExceeded>,
    ) -> TaskError {
        let traceback = error
            .downcast_ref::<WasmBacktrace>()
            .map(|bt| bt.to_string());
        let (kind, message) = if let Some(limit) =
            error.downcast_ref::<LimitExceeded>().or(limit_hit)
        {
            (limit.kind(), limit.to_string())
        } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            (
                ErrorKind::GuestExit(exit.0),
                format!("guest exited with code {}", exit.0),
            )
        } else if let Some(misuse) = error.downcast_ref::<WasiMisuse>() {
            (ErrorKind::WasiMisuse, misuse.to_string())
        } else if let Some(bad_call) = error.downcast_ref::<wiggle::GuestError>() {
            (
                ErrorKind::WasiMisuse,
                format!("the guest made an invalid WASI call: {bad_call}"),
            )
        } else if let Some(trap) = error.downcast_ref::<Trap>() {
            match (trap, panic_message) {
                (Trap::OutOfFuel, _) => (ErrorKind::OutOfFuel, "task ran out of fuel".to_owned()),
                (Trap::Interrupt, _) => {
                    (ErrorKind::Timeout, "task exceeded its deadline".to_owned())
                }
                (Trap::StackOverflow, _) => (
                    ErrorKind::StackOverflow,
                    "wasm call stack exhausted".to_owned(),
                ),
                (_, Some(panic)) => (ErrorKind::GuestPanic, panic.to_owned()),
                (trap, None) => (ErrorKind::Trap, format!("{trap} ({trap:?})")),
            }
        } else if let Some(panic) = panic_message {
            (ErrorKind::GuestPanic, panic.to_owned())
        } else {
            (ErrorKind::HostError, format!("{error:#}"))
        };
        TaskError {
            kind,
            message,
            traceback,
            recorded_as: None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name(), self.message)
    }
}

impl std::error::Error for TaskError {}

impl From<&ExceptionInfo> for TaskError {
    fn from(info: &ExceptionInfo) -> TaskError {
        let kind = ErrorKind::from_type_name(&info.kind);
        TaskError {
            kind,
            message: info.message.clone(),
            traceback: info.traceback.clone(),
            recorded_as: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One kind of every variant; the match has no wildcard, so a new variant does not
    /// compile until it is added here, and then the test asks for it in `HOST_KINDS`.
    fn is_listed(kind: &ErrorKind) -> bool {
        match kind {
            ErrorKind::GuestError(_) => true,
            ErrorKind::GuestExit(_) => HOST_KINDS.contains(&ErrorKind::GuestExit(0)),
            ErrorKind::Timeout
            | ErrorKind::OutOfFuel
            | ErrorKind::MemoryLimitExceeded
            | ErrorKind::TableLimitExceeded
            | ErrorKind::StackOverflow
            | ErrorKind::Trap
            | ErrorKind::GuestPanic
            | ErrorKind::ArgumentError
            | ErrorKind::WasiMisuse
            | ErrorKind::Abi(_)
            | ErrorKind::InvalidLimits
            | ErrorKind::LinkError
            | ErrorKind::DependencyError
            | ErrorKind::Cancelled
            | ErrorKind::HostError
            | ErrorKind::PoisonTask
            | ErrorKind::LostTask => HOST_KINDS.contains(kind),
        }
    }

    #[test]
    fn every_host_kind_is_listed() {
        let every = [
            ErrorKind::Timeout,
            ErrorKind::OutOfFuel,
            ErrorKind::MemoryLimitExceeded,
            ErrorKind::TableLimitExceeded,
            ErrorKind::StackOverflow,
            ErrorKind::Trap,
            ErrorKind::GuestPanic,
            ErrorKind::GuestExit(3),
            ErrorKind::ArgumentError,
            ErrorKind::WasiMisuse,
            ErrorKind::Abi(AbiViolation::InvalidResultPointer),
            ErrorKind::Abi(AbiViolation::MalformedResult),
            ErrorKind::Abi(AbiViolation::ResultTooLarge),
            ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
            ErrorKind::Abi(AbiViolation::AllocFailed),
            ErrorKind::InvalidLimits,
            ErrorKind::LinkError,
            ErrorKind::DependencyError,
            ErrorKind::Cancelled,
            ErrorKind::HostError,
            ErrorKind::PoisonTask,
            ErrorKind::LostTask,
        ];
        for kind in &every {
            assert!(is_listed(kind), "{kind:?} is missing from HOST_KINDS");
            assert!(ErrorKind::is_host_type_name(kind.type_name()), "{kind:?}");
        }
        for kind in &HOST_KINDS {
            assert_eq!(&ErrorKind::from_type_name(kind.type_name()), kind);
        }
    }

    #[test]
    fn a_guest_cannot_claim_a_host_type_name() {
        for kind in HOST_KINDS
            .iter()
            .filter(|k| **k != ErrorKind::ArgumentError)
        {
            let (guest, message) = ErrorKind::from_guest_type(kind.type_name(), "spoofed");
            assert_eq!(guest.type_name(), "GuestError", "{kind:?}");
            assert!(message.contains(kind.type_name()), "{message}");
            assert!(message.ends_with("spoofed"), "{message}");
            // Off the wire, the recorded name maps back to the same kind.
            assert_eq!(ErrorKind::from_type_name(guest.type_name()), guest);
        }
        let (kind, _) = ErrorKind::from_guest_type("GuestError", "m");
        assert_eq!(kind, ErrorKind::GuestError("GuestError".into()));
        // The guest SDKs report arguments that do not fit as `ArgumentError`.
        let (kind, message) = ErrorKind::from_guest_type("ArgumentError", "add() missing 'b'");
        assert_eq!(kind, ErrorKind::ArgumentError);
        assert_eq!(message, "add() missing 'b'");
        let (kind, message) = ErrorKind::from_guest_type("ValueError", "bad");
        assert_eq!(kind, ErrorKind::GuestError("ValueError".into()));
        assert_eq!(ErrorKind::from_type_name("ValueError"), kind);
        assert_eq!(message, "bad");
    }
}
