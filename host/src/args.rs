//! [`Args`]: a task's positional and keyword arguments, and their ABI encoding.

use crate::manifest::TaskSpec;
use crate::msgpack;
use crate::value::{Value, ValueError};

/// Why JSON given as a task's arguments ([`Args::from_json`]) was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonArgsError {
    /// The positional arguments were not a JSON array.
    #[error("args must be a JSON array, not {found}")]
    ArgsNotAnArray {
        /// What they were, such as "an object" or "a string".
        found: &'static str,
    },
    /// The keyword arguments were not a JSON object.
    #[error("kwargs must be a JSON object, not {found}")]
    KwargsNotAnObject {
        /// What they were, such as "an array" or "null".
        found: &'static str,
    },
}

/// The JSON type of `value`, with its article, for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The arguments of one task call: positional values and keyword values.
///
/// # Examples
/// ```
/// use wasmtaps::{Args, Value};
/// let args = Args::new().arg(&2)?.arg(&"two")?.kwarg("scale", &1.5)?;
/// assert_eq!(args.positional().len(), 2);
/// # Ok::<(), wasmtaps::ValueError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    positional: Vec<Value>,
    keyword: Vec<(String, Value)>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Args {
        Args::default()
    }

    /// These positional values, no keywords.
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Args {
        Args {
            positional: values.into_iter().collect(),
            keyword: Vec::new(),
        }
    }

    /// Adds a positional argument.
    ///
    /// # Errors
    /// When the value cannot be encoded.
    pub fn arg<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Result<Args, ValueError> {
        self.positional.push(Value::encode(value)?);
        Ok(self)
    }

    /// Adds a keyword argument.
    ///
    /// # Errors
    /// When the value cannot be encoded.
    pub fn kwarg<T: serde::Serialize + ?Sized>(
        mut self,
        name: &str,
        value: &T,
    ) -> Result<Args, ValueError> {
        self.keyword.push((name.to_owned(), Value::encode(value)?));
        Ok(self)
    }

    /// Adds an already encoded positional argument.
    pub fn push(&mut self, value: Value) {
        self.positional.push(value);
    }

    /// Adds an already encoded keyword argument.
    pub fn push_kwarg(&mut self, name: impl Into<String>, value: Value) {
        self.keyword.push((name.into(), value));
    }

    /// Arguments from a JSON array and a JSON object (the CLI's `--args`/`--kwargs`).
    ///
    /// # Examples
    /// ```
    /// use serde_json::json;
    /// let args = wasmtaps::Args::from_json(&json!([40, 2]), &json!({"scale": 1.5}))?;
    /// assert_eq!((args.positional().len(), args.keyword().len()), (2, 1));
    /// let wrong = wasmtaps::Args::from_json(&json!({"a": 1}), &json!({}));
    /// assert_eq!(wrong.unwrap_err().to_string(), "args must be a JSON array, not an object");
    /// # Ok::<(), wasmtaps::JsonArgsError>(())
    /// ```
    ///
    /// # Errors
    /// [`JsonArgsError`] naming which of the two has the wrong JSON type.
    pub fn from_json(
        args: &serde_json::Value,
        kwargs: &serde_json::Value,
    ) -> Result<Args, JsonArgsError> {
        let positional = match args {
            serde_json::Value::Array(items) => items.iter().map(Value::from_json).collect(),
            other => {
                return Err(JsonArgsError::ArgsNotAnArray {
                    found: json_type(other),
                });
            }
        };
        let keyword = match kwargs {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
            other => {
                return Err(JsonArgsError::KwargsNotAnObject {
                    found: json_type(other),
                });
            }
        };
        Ok(Args {
            positional,
            keyword,
        })
    }

    /// The positional arguments.
    pub fn positional(&self) -> &[Value] {
        &self.positional
    }

    /// The keyword arguments, in the order given.
    pub fn keyword(&self) -> &[(String, Value)] {
        &self.keyword
    }

    /// Lays out `[args, kwargs]` for `task`, mapping keywords onto positions when the
    /// module's manifest names the parameters; nothing is copied until
    /// [`CallArgs::write_to`].
    ///
    /// # Errors
    /// A message in the style of Python's `TypeError` when the arguments do not fit.
    pub(crate) fn call_for(&self, task: &TaskSpec) -> Result<CallArgs<'_>, String> {
        let Some(params) = &task.params else {
            if let Some((name, _)) = self.keyword.first() {
                return Err(format!(
                    "{}() got keyword argument '{name}', but its module has no manifest naming parameters; pass it positionally",
                    task.name
                ));
            }
            return Ok(CallArgs::new(self.positional.iter().collect()));
        };
        if self.positional.len() > params.len() {
            return Err(format!(
                "{}() takes {} positional argument{} but {} were given",
                task.name,
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                self.positional.len()
            ));
        }
        if self.keyword.is_empty() {
            if self.positional.len() < params.len() {
                return Err(missing(&task.name, &params[self.positional.len()..]));
            }
            return Ok(CallArgs::new(self.positional.iter().collect()));
        }
        let mut slots: Vec<Option<&Value>> = self.positional.iter().map(Some).collect();
        slots.resize(params.len(), None);
        for (name, value) in &self.keyword {
            match params.iter().position(|p| p == name) {
                None => {
                    return Err(format!(
                        "{}() got an unexpected keyword argument '{name}'",
                        task.name
                    ));
                }
                Some(i) if slots[i].is_some() => {
                    return Err(format!(
                        "{}() got multiple values for argument '{name}'",
                        task.name
                    ));
                }
                Some(i) => slots[i] = Some(value),
            }
        }
        let absent: Vec<String> = params
            .iter()
            .zip(&slots)
            .filter(|(_, s)| s.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        if !absent.is_empty() {
            return Err(missing(&task.name, &absent));
        }
        Ok(CallArgs::new(slots.into_iter().flatten().collect()))
    }
}

/// The argument bytes of one call, `[[positional...], {}]`, laid out but not yet
/// written: the values stay where they are until [`CallArgs::write_to`] copies each
/// once, straight into the guest's buffer.
pub(crate) struct CallArgs<'a> {
    /// The array header of the positional values.
    header: Vec<u8>,
    positional: Vec<&'a Value>,
    len: usize,
}

/// `[` and `]` of `[args, kwargs]` cost one byte each; `{}` (no keywords: the host has
/// mapped them onto positions) one.
const OUTER_ARRAY: u8 = 0x92;
const EMPTY_MAP: u8 = 0x80;

impl<'a> CallArgs<'a> {
    fn new(positional: Vec<&'a Value>) -> CallArgs<'a> {
        let mut header = Vec::with_capacity(5);
        msgpack::write_array_len(&mut header, positional.len());
        let values: usize = positional.iter().map(|v| v.msgpack_len()).sum();
        let len = 1 + header.len() + values + 1;
        CallArgs {
            header,
            positional,
            len,
        }
    }

    /// The number of bytes [`CallArgs::write_to`] writes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Writes the argument bytes into `out`, which holds exactly [`CallArgs::len`]
    /// bytes.
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        debug_assert_eq!(out.len(), self.len);
        let (first, rest) = out.split_at_mut(1);
        first[0] = OUTER_ARRAY;
        let (header, mut rest) = rest.split_at_mut(self.header.len());
        header.copy_from_slice(&self.header);
        for value in &self.positional {
            let (into, after) = rest.split_at_mut(value.msgpack_len());
            value.write_msgpack(into);
            rest = after;
        }
        rest[0] = EMPTY_MAP;
    }
}

fn missing(task: &str, names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "{task}() missing {} required argument{}: {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        quoted.join(", ")
    )
}
