//! Decoding the argument envelope `[args, kwargs]` into a task's parameters.

use std::fmt;

use serde::Deserialize;

use crate::wire::{Reader, WireError};

/// What the generated code knows about a task: its name and parameter names.
#[derive(Debug)]
pub struct TaskSpec {
    /// The task name (the export is `wasmtaps_task_<name>`).
    pub name: &'static str,
    /// The parameter names, in order: the names kwargs may use.
    pub params: &'static [&'static str],
}

/// The arguments did not fit the task's parameters: the `ArgumentError` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    message: String,
}

impl ArgumentError {
    fn new(message: String) -> Self {
        Self { message }
    }

    /// The message, which names the task, the parameter and what was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ArgumentError {}

/// Checked arguments of one call, handed out parameter by parameter.
///
/// [`Args::parse`] checks the envelope and matches positional and keyword arguments
/// to the parameters without allocating; [`Args::next_param`] then decodes the value of
/// each parameter in order.
pub struct Args<'a> {
    spec: &'a TaskSpec,
    positional: Reader<'a>,
    positional_len: usize,
    kwargs: Reader<'a>,
    kwargs_len: usize,
    next: usize,
}

impl<'a> Args<'a> {
    /// Checks `input` against `spec`.
    ///
    /// # Errors
    ///
    /// When `input` is not a MessagePack array `[array, map]`, has more positional
    /// arguments than parameters, a keyword that is not a string, names no
    /// parameter or repeats a positional one, or leaves a parameter without a value.
    pub fn parse(input: &'a [u8], spec: &'a TaskSpec) -> Result<Self, ArgumentError> {
        let task = spec.name;
        let malformed = |err: WireError| {
            ArgumentError::new(format!(
                "{task}(): malformed arguments: {err} (the input must be the MessagePack \
                 array [args, kwargs])"
            ))
        };
        let mut reader = Reader::new(input);
        if reader.array_len().map_err(malformed)? != 2 {
            return Err(malformed(WireError::Expected("an array of 2 elements")));
        }
        let positional_len = reader.array_len().map_err(malformed)?;
        let positional = reader.clone();
        for _ in 0..positional_len {
            reader.value().map_err(malformed)?;
        }
        let kwargs_len = reader.map_len().map_err(malformed)?;
        let kwargs = reader.clone();
        for _ in 0..kwargs_len {
            reader.str().map_err(|err| match err {
                WireError::Expected(_) => {
                    ArgumentError::new(format!("{task}(): keyword argument names must be strings"))
                }
                err => malformed(err),
            })?;
            reader.value().map_err(malformed)?;
        }
        if !reader.is_at_end() {
            return Err(malformed(WireError::Expected(
                "nothing after [args, kwargs]",
            )));
        }

        let params = spec.params;
        if positional_len > params.len() {
            return Err(ArgumentError::new(format!(
                "{task}() takes {} but {positional_len} were given",
                plural(params.len(), "positional argument"),
            )));
        }
        let args = Self {
            spec,
            positional,
            positional_len,
            kwargs,
            kwargs_len,
            next: 0,
        };
        let mut keys = args.kwargs();
        for index in 0..kwargs_len {
            let (key, _) = keys.next().expect("kwargs were checked above");
            match params.iter().position(|param| *param == key) {
                None => {
                    return Err(ArgumentError::new(format!(
                        "{task}() got an unexpected keyword argument '{key}'"
                    )));
                }
                Some(position) if position < positional_len => {
                    return Err(ArgumentError::new(format!(
                        "{task}() got multiple values for argument '{key}'"
                    )));
                }
                Some(_) => {
                    if args.kwargs().take(index).any(|(earlier, _)| earlier == key) {
                        return Err(ArgumentError::new(format!(
                            "{task}() got multiple values for keyword argument '{key}'"
                        )));
                    }
                }
            }
        }
        let missing = params[positional_len..]
            .iter()
            .filter(|param| args.kwarg(param).is_none());
        if missing.clone().next().is_some() {
            let names: Vec<String> = missing.map(|param| format!("'{param}'")).collect();
            return Err(ArgumentError::new(format!(
                "{task}() missing {}: {}",
                plural(names.len(), "required argument"),
                names.join(", ")
            )));
        }
        Ok(args)
    }

    /// Decodes the value of the next parameter. A borrowing type (`&[u8]`, `&str`,
    /// `&serde_bytes::Bytes`, or a struct of them) points into the argument buffer
    /// instead of copying out of it.
    ///
    /// # Errors
    ///
    /// When the value does not deserialize as `T`; the message names the parameter.
    pub fn next_param<T: Deserialize<'a>>(&mut self) -> Result<T, ArgumentError> {
        let index = self.next;
        self.next += 1;
        let Some(param) = self.spec.params.get(index) else {
            return Err(ArgumentError::new(format!(
                "{}() has only {}",
                self.spec.name,
                plural(self.spec.params.len(), "parameter")
            )));
        };
        let bytes = if index < self.positional_len {
            self.positional.value()
        } else {
            self.kwarg(param).ok_or(WireError::Eof)
        }
        .map_err(|err| ArgumentError::new(format!("argument '{param}': {err}")))?;
        rmp_serde::from_slice(bytes).map_err(|err| {
            let problem = match err {
                // rmp_serde names only the marker byte; say what was found instead.
                rmp_serde::decode::Error::TypeMismatch(marker) => {
                    let found = kind(&[marker.to_u8()]);
                    let outer = kind(bytes);
                    let expected = short_type_path(std::any::type_name::<T>());
                    if found == outer {
                        format!("invalid type: {found}, expected {expected}")
                    } else {
                        format!("invalid type: {found} inside the {outer}, expected {expected}")
                    }
                }
                err => err.to_string(),
            };
            // A borrowed parameter cannot take what would need decoding into new
            // memory (an array of integers for `&[u8]`, say): say how to accept it.
            let hint = if std::any::type_name::<T>().starts_with('&') {
                " (a borrowed parameter takes the bytes as they are: MessagePack bin or \
                 str; an owned type such as `ByteBuf` or `String` accepts more)"
            } else {
                ""
            };
            ArgumentError::new(format!(
                "{}() argument '{param}' (parameter {}): {problem}{hint}",
                self.spec.name,
                index + 1
            ))
        })
    }

    /// The (already checked) keyword arguments as (name, value bytes).
    fn kwargs(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let mut reader = self.kwargs.clone();
        (0..self.kwargs_len).map_while(move |_| Some((reader.str().ok()?, reader.value().ok()?)))
    }

    fn kwarg(&self, name: &str) -> Option<&'a [u8]> {
        self.kwargs()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// What kind of MessagePack value starts `bytes`.
fn kind(bytes: &[u8]) -> &'static str {
    match bytes.first() {
        Some(0x00..=0x7f | 0xcc..=0xd3 | 0xe0..=0xff) => "integer",
        Some(0x80..=0x8f | 0xde | 0xdf) => "map",
        Some(0x90..=0x9f | 0xdc | 0xdd) => "array",
        Some(0xa0..=0xbf | 0xd9..=0xdb) => "string",
        Some(0xc0) => "nil",
        Some(0xc2 | 0xc3) => "boolean",
        Some(0xc4..=0xc6) => "binary",
        Some(0xca | 0xcb) => "float",
        Some(0xc7..=0xc9 | 0xd4..=0xd8) => "extension",
        Some(0xc1) | None => "invalid value",
    }
}

/// `alloc::vec::Vec<alloc::string::String>` as `Vec<String>`.
fn short_type_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment_start = 0;
    for (at, c) in name.char_indices() {
        if !(c.is_alphanumeric() || c == '_' || c == ':') {
            out.push_str(last_segment(&name[segment_start..at]));
            out.push(c);
            segment_start = at + c.len_utf8();
        }
    }
    out.push_str(last_segment(&name[segment_start..]));
    out
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_type_paths() {
        assert_eq!(super::short_type_path("i64"), "i64");
        assert_eq!(
            super::short_type_path("alloc::vec::Vec<alloc::string::String>"),
            "Vec<String>"
        );
        assert_eq!(
            super::short_type_path("(u8, core::option::Option<a::B>)"),
            "(u8, Option<B>)"
        );
    }
}
