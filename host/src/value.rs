//! [`Value`]: one MessagePack-encoded value, the currency of arguments and results.

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
    #[error("cannot encode value as MessagePack: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Deserialising into the requested Rust type failed.
    #[error("cannot decode value: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The value has no JSON form (for example a map with non-string keys).
    #[error("value has no JSON form: {0}")]
    NotJson(String),
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
    /// # Errors
    /// [`ValueError::Malformed`] if the bytes are nested too deeply to decode.
    pub fn to_rmpv(&self) -> Result<rmpv::Value, ValueError> {
        rmpv::decode::read_value(&mut &self.bytes[..])
            .map_err(|e| ValueError::Malformed(e.to_string()))
    }

    /// Converts to JSON. Binary data becomes an array of byte values; extension types
    /// become `{"ext": type, "data": [bytes]}`.
    ///
    /// # Errors
    /// [`ValueError::NotJson`] for maps whose keys are not strings or numbers, and for
    /// floats that are not finite.
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        rmpv_to_json(&self.to_rmpv()?)
    }

    /// The encoded bytes.
    pub fn as_msgpack(&self) -> &[u8] {
        &self.bytes
    }
}

fn rmpv_to_json(value: &rmpv::Value) -> Result<serde_json::Value, ValueError> {
    use serde_json::Value as J;
    Ok(match value {
        rmpv::Value::Nil => J::Null,
        rmpv::Value::Boolean(b) => J::Bool(*b),
        rmpv::Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                J::from(u)
            } else {
                J::from(i.as_i64().unwrap_or_default())
            }
        }
        rmpv::Value::F32(f) => float_json(f64::from(*f))?,
        rmpv::Value::F64(f) => float_json(*f)?,
        rmpv::Value::String(s) => match s.as_str() {
            Some(s) => J::String(s.to_owned()),
            None => J::Array(s.as_bytes().iter().map(|b| J::from(*b)).collect()),
        },
        rmpv::Value::Binary(b) => J::Array(b.iter().map(|b| J::from(*b)).collect()),
        rmpv::Value::Array(items) => {
            J::Array(items.iter().map(rmpv_to_json).collect::<Result<_, _>>()?)
        }
        rmpv::Value::Map(entries) => {
            let mut object = serde_json::Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    rmpv::Value::String(s) if s.as_str().is_some() => {
                        s.as_str().unwrap_or_default().to_owned()
                    }
                    rmpv::Value::Integer(i) => i.to_string(),
                    other => return Err(ValueError::NotJson(format!("map key {other}"))),
                };
                object.insert(key, rmpv_to_json(v)?);
            }
            J::Object(object)
        }
        rmpv::Value::Ext(kind, data) => serde_json::json!({"ext": kind, "data": data}),
    })
}

fn float_json(f: f64) -> Result<serde_json::Value, ValueError> {
    serde_json::Number::from_f64(f)
        .map(serde_json::Value::Number)
        .ok_or_else(|| ValueError::NotJson(format!("float {f}")))
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rmpv() {
            Ok(v) => write!(f, "Value({v})"),
            Err(_) => write!(f, "Value({} bytes)", self.bytes.len()),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        Value::from_json(&json)
    }
}
