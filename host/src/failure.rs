//! [`TaskError`]: why a task failed, classified by what happened, never by message text.

use std::fmt;

use wasmtime::{Trap, WasmBacktrace};

use crate::info::ExceptionInfo;
use crate::store::LimitExceeded;

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
    /// The guest returned an error of the given type (that type's name).
    GuestError(String),
    /// The arguments do not fit the task's parameters (`ArgumentError`).
    ArgumentError,
    /// The guest broke the ABI (the violation's name, such as `MalformedResult`).
    Abi(AbiViolation),
    /// The limits asked for exceed the runtime's maximums (`InvalidLimits`).
    InvalidLimits,
    /// A parent task failed, so this task never ran (`DependencyError`).
    DependencyError,
    /// The task was cancelled before it ran (`Cancelled`).
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
            ErrorKind::Abi(v) => v.type_name(),
            ErrorKind::InvalidLimits => "InvalidLimits",
            ErrorKind::DependencyError => "DependencyError",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::HostError => "HostError",
            ErrorKind::PoisonTask => "PoisonTask",
            ErrorKind::LostTask => "LostTask",
        }
    }

    /// The kind whose [`type_name`](ErrorKind::type_name) is `name`: the inverse used to
    /// rebuild a failure reported by another process (an unknown name is a guest's own
    /// error type; `GuestExit` comes back with code 0, the code is in the message).
    pub fn from_type_name(name: &str) -> ErrorKind {
        match name {
            "Timeout" => ErrorKind::Timeout,
            "OutOfFuel" => ErrorKind::OutOfFuel,
            "MemoryLimitExceeded" => ErrorKind::MemoryLimitExceeded,
            "TableLimitExceeded" => ErrorKind::TableLimitExceeded,
            "StackOverflow" => ErrorKind::StackOverflow,
            "Trap" => ErrorKind::Trap,
            "GuestPanic" => ErrorKind::GuestPanic,
            "GuestExit" => ErrorKind::GuestExit(0),
            "ArgumentError" => ErrorKind::ArgumentError,
            "InvalidResultPointer" => ErrorKind::Abi(AbiViolation::InvalidResultPointer),
            "MalformedResult" => ErrorKind::Abi(AbiViolation::MalformedResult),
            "ResultTooLarge" => ErrorKind::Abi(AbiViolation::ResultTooLarge),
            "ArgumentsTooLarge" => ErrorKind::Abi(AbiViolation::ArgumentsTooLarge),
            "AllocFailed" => ErrorKind::Abi(AbiViolation::AllocFailed),
            "InvalidLimits" => ErrorKind::InvalidLimits,
            "DependencyError" => ErrorKind::DependencyError,
            "Cancelled" => ErrorKind::Cancelled,
            "HostError" => ErrorKind::HostError,
            "PoisonTask" => ErrorKind::PoisonTask,
            "LostTask" => ErrorKind::LostTask,
            other => ErrorKind::GuestError(other.to_owned()),
        }
    }
}

/// Why a task failed.
///
/// Every failure of a guest, including hostile behaviour, ends here rather than in a host
/// panic; [`TaskError::to_exception_info`] gives the record's `ExceptionInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    kind: ErrorKind,
    message: String,
    traceback: Option<String>,
}

impl TaskError {
    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> TaskError {
        TaskError {
            kind,
            message: message.into(),
            traceback: None,
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

    /// The record form of this failure.
    pub fn to_exception_info(&self) -> ExceptionInfo {
        ExceptionInfo {
            kind: self.type_name().to_owned(),
            message: self.message.clone(),
            traceback: self.traceback.clone(),
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
        }
    }
}
