//! Per-task resource limits and their overrides.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The resources one task invocation may use.
///
/// A [`Runtime`](crate::Runtime) holds default limits for every invocation and maximums
/// that no invocation may exceed; [`LimitOverrides`] adjusts the defaults for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory in bytes, including the module's initial memory.
    pub memory_bytes: u64,
    /// Elements across the module's tables.
    pub table_elements: u64,
    /// Fuel (roughly one unit per wasm instruction); `None` means unmetered.
    pub fuel: Option<u64>,
    /// Wall-clock deadline for instantiation (including the start function) and the call.
    pub timeout: Option<Duration>,
    /// Largest MessagePack argument payload the host writes into the guest.
    pub max_argument_bytes: u64,
    /// Largest result the host reads back.
    pub max_result_bytes: u64,
    /// Bytes of stdout and of stderr kept per invocation; the rest is dropped and counted.
    pub max_output_bytes: u64,
}

impl Limits {
    /// The defaults: 256 MiB of memory, 10,000 table elements, no fuel metering, a
    /// 60 s deadline, 64 MiB arguments, 64 MiB results, 1 MiB of stdout and of stderr.
    pub const DEFAULT: Limits = Limits {
        memory_bytes: 256 << 20,
        table_elements: 10_000,
        fuel: None,
        timeout: Some(Duration::from_secs(60)),
        max_argument_bytes: 64 << 20,
        max_result_bytes: 64 << 20,
        max_output_bytes: 1 << 20,
    };

    /// The ceilings: 4 GiB of memory, 1,000,000 table elements, unlimited fuel and time,
    /// 1 GiB arguments and results, 64 MiB of output.
    pub const MAXIMUM: Limits = Limits {
        memory_bytes: 4 << 30,
        table_elements: 1_000_000,
        fuel: None,
        timeout: None,
        max_argument_bytes: 1 << 30,
        max_result_bytes: 1 << 30,
        max_output_bytes: 64 << 20,
    };

    /// These limits with `overrides` applied.
    ///
    /// # Errors
    /// Names the first override that asks for more than `maximum` allows.
    pub fn with_overrides(
        &self,
        overrides: &LimitOverrides,
        maximum: &Limits,
    ) -> Result<Limits, LimitError> {
        fn pick(
            name: &'static str,
            default: u64,
            over: Option<u64>,
            max: u64,
        ) -> Result<u64, LimitError> {
            let value = over.unwrap_or(default);
            if value > max {
                return Err(LimitError {
                    name,
                    requested: value.to_string(),
                    maximum: max.to_string(),
                });
            }
            Ok(value)
        }
        let fuel = match (overrides.fuel.or(self.fuel), maximum.fuel) {
            (Some(f), Some(max)) if f > max => {
                return Err(LimitError {
                    name: "fuel",
                    requested: f.to_string(),
                    maximum: max.to_string(),
                });
            }
            (None, Some(max)) => Some(max),
            (f, _) => f,
        };
        let timeout = match (overrides.timeout.or(self.timeout), maximum.timeout) {
            (Some(t), Some(max)) if t > max => {
                return Err(LimitError {
                    name: "timeout",
                    requested: format!("{t:?}"),
                    maximum: format!("{max:?}"),
                });
            }
            (None, Some(max)) => Some(max),
            (t, _) => t,
        };
        Ok(Limits {
            memory_bytes: pick(
                "memory_bytes",
                self.memory_bytes,
                overrides.memory_bytes,
                maximum.memory_bytes,
            )?,
            table_elements: pick(
                "table_elements",
                self.table_elements,
                overrides.table_elements,
                maximum.table_elements,
            )?,
            fuel,
            timeout,
            max_argument_bytes: pick(
                "max_argument_bytes",
                self.max_argument_bytes,
                overrides.max_argument_bytes,
                maximum.max_argument_bytes,
            )?,
            max_result_bytes: pick(
                "max_result_bytes",
                self.max_result_bytes,
                overrides.max_result_bytes,
                maximum.max_result_bytes,
            )?,
            max_output_bytes: pick(
                "max_output_bytes",
                self.max_output_bytes,
                overrides.max_output_bytes,
                maximum.max_output_bytes,
            )?,
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Changes to the default [`Limits`] for one invocation; `None` keeps the default.
///
/// The one form limits take outside a runtime: in the engine's defaults and per-task
/// overrides, in config files, and on the wire to worker processes and Redis workers
/// (serialized with the timeout as seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::memory_bytes`].
    pub memory_bytes: Option<u64>,
    /// See [`Limits::table_elements`].
    pub table_elements: Option<u64>,
    /// See [`Limits::fuel`].
    pub fuel: Option<u64>,
    /// See [`Limits::timeout`].
    #[serde(default, with = "seconds")]
    pub timeout: Option<Duration>,
    /// See [`Limits::max_argument_bytes`].
    pub max_argument_bytes: Option<u64>,
    /// See [`Limits::max_result_bytes`].
    pub max_result_bytes: Option<u64>,
    /// See [`Limits::max_output_bytes`].
    pub max_output_bytes: Option<u64>,
}

impl LimitOverrides {
    /// These overrides, with each field left unset here taken from `defaults`.
    pub fn or(&self, defaults: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            memory_bytes: self.memory_bytes.or(defaults.memory_bytes),
            table_elements: self.table_elements.or(defaults.table_elements),
            fuel: self.fuel.or(defaults.fuel),
            timeout: self.timeout.or(defaults.timeout),
            max_argument_bytes: self.max_argument_bytes.or(defaults.max_argument_bytes),
            max_result_bytes: self.max_result_bytes.or(defaults.max_result_bytes),
            max_output_bytes: self.max_output_bytes.or(defaults.max_output_bytes),
        }
    }
}

/// A timeout as (non-negative, finite) seconds: what TaPS's configs and the wire use.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| {
                Duration::try_from_secs_f64(secs).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "timeout of {secs} s is not a non-negative, finite number of seconds"
                    ))
                })
            })
            .transpose()
    }
}

impl From<&Limits> for LimitOverrides {
    /// Overrides that reproduce `limits` exactly, whatever the defaults they are applied to.
    fn from(limits: &Limits) -> LimitOverrides {
        LimitOverrides {
            memory_bytes: Some(limits.memory_bytes),
            table_elements: Some(limits.table_elements),
            fuel: limits.fuel,
            timeout: limits.timeout,
            max_argument_bytes: Some(limits.max_argument_bytes),
            max_result_bytes: Some(limits.max_result_bytes),
            max_output_bytes: Some(limits.max_output_bytes),
        }
    }
}

/// A limit asked for more than the runtime's maximum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("limit `{name}` of {requested} exceeds the runtime's maximum of {maximum}")]
pub struct LimitError {
    /// Which limit.
    pub name: &'static str,
    /// What was asked for.
    pub requested: String,
    /// What the runtime allows.
    pub maximum: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_fall_back_field_by_field() {
        let over = LimitOverrides {
            fuel: Some(5),
            ..LimitOverrides::default()
        };
        let defaults = LimitOverrides {
            fuel: Some(9),
            memory_bytes: Some(1 << 20),
            ..LimitOverrides::default()
        };
        let merged = over.or(&defaults);
        assert_eq!(merged.fuel, Some(5));
        assert_eq!(merged.memory_bytes, Some(1 << 20));
        assert_eq!(merged.timeout, None);
    }

    #[test]
    fn overrides_round_trip_with_the_timeout_in_seconds() {
        let limits = LimitOverrides::from(&Limits::DEFAULT);
        let bytes = rmp_serde::to_vec_named(&limits).expect("encodes");
        let back: LimitOverrides = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, limits);
        let json: LimitOverrides =
            serde_json::from_str(r#"{"timeout": 1.5, "fuel": 10}"#).expect("decodes");
        assert_eq!(json.timeout, Some(Duration::from_millis(1500)));
        for bad in [
            r#"{"timeout": -1}"#,
            r#"{"timeout": 1e300}"#,
            r#"{"memory": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<LimitOverrides>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
