//! The closed sets of values `wasmtaps run` options take: each is a clap [`ValueEnum`] for
//! its flag and a serde enum for its config key, under the same kebab-case names, so a
//! wrong value is refused by the parser with the accepted values listed. TaPS's names for
//! the same choices (`thread-pool`, `zero-division`, ...) are aliases; config files may
//! spell any of them in any case (see `taps.rs`), flags too.

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// `Display` as the name the flag and the config file use.
macro_rules! display_as_value_name {
    ($($choice:ty),*) => {$(
        impl fmt::Display for $choice {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let value = self.to_possible_value().expect("no variant is skipped");
                f.write_str(value.get_name())
            }
        }
    )*};
}

display_as_value_name!(
    AppName,
    ExecutorKind,
    DeadlineMode,
    Structure,
    ProgressMode,
    FailureType
);

/// A Python logging level, as TaPS's `[logging] level` and `file_level` name them.
/// Ordered from the most to the least verbose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum LogLevel {
    Debug,
    Info,
    #[serde(alias = "WARN")]
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// The `tracing` level directive with the same meaning.
    pub(crate) fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        }
    }
}

/// Which of TaPS's applications a run is (the `run` subcommand; `app` in a config file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AppName {
    #[default]
    Synthetic,
    Failures,
    Mapreduce,
    Cholesky,
}

/// Where the run's tasks execute (`--executor`, `engine.executor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ExecutorKind {
    /// Worker threads in this process (TaPS's `thread-pool`).
    #[default]
    #[value(alias = "thread-pool")]
    #[serde(alias = "thread-pool")]
    Threads,
    /// Worker processes on this machine, `wasmtaps worker-process` (TaPS's `process-pool`).
    #[value(alias = "process-pool")]
    #[serde(alias = "process-pool")]
    Processes,
    /// `wasmtaps worker` processes anywhere, through Redis.
    Redis,
}

/// Who stops a task at its deadline (`--deadline-mode`, `engine.deadline_mode`; also
/// `wasmtaps worker-process --deadline-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DeadlineMode {
    /// The wasm code checks the clock on every loop back-edge and function entry (epoch
    /// interruption): any executor, within about 1 ms, at a compute cost.
    #[default]
    Epoch,
    /// Wasm runs unguarded in worker processes (`--executor processes`); the engine kills
    /// and replaces a worker whose task overruns, and runs its other tasks again.
    Process,
}

/// The shape of the synthetic app's task graph (`--structure`, `synthetic.structure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Structure {
    /// Independent tasks, a bounded number in flight.
    #[default]
    Bag,
    /// One task, `task_count` children of it, and one task joining them.
    Diamond,
    /// `task_count` independent tasks and one task joining them.
    Reduce,
    /// A chain: each task the child of the one before.
    Sequential,
}

/// How a run shows its progress (`--progress`, `run.progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProgressMode {
    /// A bar on a terminal, lines otherwise.
    #[default]
    Auto,
    /// A bar on stderr.
    Bar,
    /// A line in the log every two seconds.
    Lines,
    /// Nothing.
    None,
}

/// The failure the failures app injects (`--failure-type`, `failures.failure_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FailureType {
    /// An integer division by zero, a wasm trap (TaPS's `zero-division`).
    #[value(alias = "zero-division")]
    #[serde(alias = "zero-division")]
    Trap,
    /// A Rust panic in the guest.
    Panic,
    /// An error the task returns (TaPS's `failure`).
    #[value(alias = "failure")]
    #[serde(alias = "failure")]
    GuestError,
    /// Growing memory past a 16 MiB limit (TaPS's `memory` and `ulimit`).
    #[value(alias = "ulimit")]
    #[serde(alias = "ulimit")]
    Memory,
    /// Spinning past a 20 ms deadline (TaPS's `walltime`).
    #[value(alias = "walltime")]
    #[serde(alias = "walltime")]
    Timeout,
    /// Unbounded recursion.
    StackOverflow,
    /// A task whose parent fails.
    Dependency,
    /// A task whose module imports a function the host does not provide, so it cannot
    /// be instantiated (TaPS's `import`); recorded as `LinkError`.
    Import,
    /// The worker process that receives the task is killed (SIGKILL) before running it
    /// (TaPS's `worker-killed`); needs `--executor processes`, whose worker processes are
    /// started to die at that task. Not among `random`'s picks.
    WorkerKilled,
    /// Each injected failure one of the others, chosen at random.
    #[default]
    Random,
}

impl FailureType {
    /// Every failure type but `Random`, which picks one of these.
    pub(crate) const INJECTED: [FailureType; 8] = [
        FailureType::Trap,
        FailureType::Panic,
        FailureType::GuestError,
        FailureType::Memory,
        FailureType::Timeout,
        FailureType::StackOverflow,
        FailureType::Dependency,
        FailureType::Import,
    ];

    /// The exception type a task failing this way must be recorded with (`None` for
    /// `Random`, which is not a failure itself).
    pub(crate) fn expected_exception(self) -> Option<&'static str> {
        Some(match self {
            FailureType::Trap => "Trap",
            FailureType::Panic => "GuestPanic",
            FailureType::GuestError => "InjectedFailure",
            FailureType::Memory => "MemoryLimitExceeded",
            FailureType::Timeout => "Timeout",
            FailureType::StackOverflow => "StackOverflow",
            FailureType::Dependency => "DependencyError",
            FailureType::Import => "LinkError",
            // What the engine records for a task whose worker process died under it.
            FailureType::WorkerKilled => "HostError",
            FailureType::Random => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag's names are the config file's: each value read back from TOML is itself.
    #[test]
    fn flag_and_config_names_agree() {
        fn agree<
            T: ValueEnum
                + Serialize
                + for<'de> Deserialize<'de>
                + PartialEq
                + fmt::Debug
                + fmt::Display,
        >() {
            for value in T::value_variants() {
                let name = value.to_string();
                let toml = format!("v = {name:?}");
                let back: std::collections::BTreeMap<String, T> = toml::from_str(&toml).unwrap();
                assert_eq!(&back["v"], value, "{name}");
                assert_eq!(T::from_str(&name, false).as_ref(), Ok(value));
            }
        }
        agree::<AppName>();
        agree::<ExecutorKind>();
        agree::<Structure>();
        agree::<ProgressMode>();
        agree::<FailureType>();
        assert_eq!(FailureType::GuestError.to_string(), "guest-error");
        assert_eq!(FailureType::StackOverflow.to_string(), "stack-overflow");
    }
}
