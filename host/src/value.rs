//! [`Value`]: one MessagePack-encoded value, the currency of arguments and results, and
//! [`TerminalSafeJson`], the JSON formatter that makes a guest's text safe to print.

pub use crate::terminal::TerminalSafeJson;

use std::fmt;
use std::sync::Arc;

use crate::msgpack;

/// One MessagePack value, kept encoded.
///
/// Task arguments and results travel as `Value`s: a parent's result is spliced into its
/// children's arguments without being decoded, and a caller decodes only what it reads.
/// Cloning is cheap (the bytes are shared).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value {
    bytes: Arc<[u8]>,
}

/// A value could not be encoded, decoded or converted.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// The bytes are not exactly one well-formed MessagePack value.
    #[error("malformed MessagePack: {0}")]
    Malformed(String),
    /// Serialising a Rust value failed.
    #[error("cannot encode value as MessagePack")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Deserialising into the requested Rust type failed.
    #[error("cannot decode value")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The value has no JSON form (for example a map with non-string keys).
    #[error("value has no JSON form: {0}")]
    NotJson(String),
    /// Writing the value's JSON form failed.
    #[error("cannot write value as JSON")]
    Io(#[from] std::io::Error),
}

impl Value {
    /// Encodes a serde value (structs as maps with field names).
    ///
    /// # Errors
    /// [`ValueError::Encode`] when serde refuses the value.
    pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
        Ok(Value::from_trusted(rmp_serde::to_vec_named(value)?))
    }

    /// Wraps bytes that must hold exactly one well-formed MessagePack value.
    ///
    /// # Errors
    /// [`ValueError::Malformed`] naming what is wrong with the bytes.
    pub fn from_msgpack(bytes: impl Into<Vec<u8>>) -> Result<Value, ValueError> {
        let bytes = bytes.into();
        msgpack::check_single(&bytes).map_err(|e| ValueError::Malformed(e.to_string()))?;
        Ok(Value::from_trusted(bytes))
    }

    /// Copies well-formed bytes once, straight into the shared buffer.
    pub(crate) fn from_trusted_slice(bytes: &[u8]) -> Value {
        Value {
            bytes: Arc::from(bytes),
        }
    }

    pub(crate) fn from_trusted(bytes: Vec<u8>) -> Value {
        Value {
            bytes: bytes.into(),
        }
    }

    /// The nil value.
    pub fn nil() -> Value {
        Value::from_trusted(vec![0xc0])
    }

    /// Converts a JSON value (numbers, strings, arrays, objects, booleans, null).
    pub fn from_json(json: &serde_json::Value) -> Value {
        Value::encode(json).expect("JSON values always encode as MessagePack")
    }

    /// Decodes into a Rust type.
    ///
    /// # Errors
    /// [`ValueError::Decode`] when the value does not fit `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, ValueError> {
        Ok(rmp_serde::from_slice(&self.bytes)?)
    }

    /// Decodes into a dynamic MessagePack value.
    ///
    /// The tree costs about 40 bytes of host memory per byte of the value (an array of
    /// nils); for a value from an untrusted guest, prefer [`Value::decode`] into the type
    /// expected or [`Value::write_json`].
    ///
    /// # Errors
    /// [`ValueError::Malformed`] if the bytes are nested too deeply to decode.
    pub fn to_rmpv(&self) -> Result<rmpv::Value, ValueError> {
        rmpv::decode::read_value(&mut &self.bytes[..])
            .map_err(|e| ValueError::Malformed(e.to_string()))
    }

    /// Converts to JSON. Binary data becomes an array of byte values; extension types
    /// become `{"ext": type, "data": [bytes]}`.
    ///
    /// The tree is built directly, without recursion or an intermediate MessagePack tree,
    /// but a tree costs tens of bytes per byte of the value (an array of nils); to print
    /// or store an untrusted value, stream it with [`Value::write_json`].
    ///
    /// # Errors
    /// [`ValueError::NotJson`] for maps whose keys are not strings or numbers, for
    /// floats that are not finite, and for nesting deeper than 1024 levels.
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        crate::json::tree(&self.bytes)
    }

    /// Writes the value's JSON form (as [`Value::to_json`] gives it) to `out`, streamed
    /// token by token: the host's memory stays constant whatever the value holds.
    /// Strings are escaped as [`TerminalSafeJson`] does, so the
    /// output is safe to print on a terminal. `out` is written in small pieces; give it a
    /// buffered writer.
    ///
    /// # Errors
    /// [`ValueError::NotJson`] as for [`Value::to_json`], and [`ValueError::Io`] if
    /// writing fails. The JSON written may then be incomplete: to print nothing on error,
    /// check first by writing to [`std::io::sink`].
    pub fn write_json(&self, mut out: impl std::io::Write) -> Result<(), ValueError> {
        crate::json::write(&self.bytes, &mut out)
    }

    /// The encoded bytes.
    pub fn as_msgpack(&self) -> &[u8] {
        &self.bytes
    }
}

/// The first bytes written to it, refusing the rest.
struct Prefix {
    bytes: Vec<u8>,
    limit: usize,
    full: bool,
}

impl std::io::Write for Prefix {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit - self.bytes.len();
        if buf.len() > room {
            self.bytes.extend_from_slice(&buf[..room]);
            self.full = true;
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Shows the start of the JSON form (at most 256 bytes), so printing a value costs the
/// same whatever its size.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = Prefix {
            bytes: Vec::new(),
            limit: 256,
            full: false,
        };
        let written = self.write_json(&mut prefix);
        let text = String::from_utf8_lossy(&prefix.bytes);
        match written {
            Ok(()) => write!(f, "Value({text})"),
            Err(_) if prefix.full => {
                write!(f, "Value({text}… ({} bytes))", self.bytes.len())
            }
            Err(_) => write!(f, "Value({} bytes)", self.bytes.len()),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        Value::from_json(&json)
    }
}
