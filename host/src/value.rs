//! [`Value`]: one MessagePack-encoded value, the currency of arguments and results, and
//! [`TerminalSafeJson`], the JSON formatter that makes a guest's text safe to print.

pub use crate::terminal::TerminalSafeJson;

use std::fmt;

use bytes::Bytes;

use crate::msgpack::{self, Token};

/// One MessagePack value, kept encoded.
///
/// Task arguments and results travel as `Value`s: a parent's result is spliced into its
/// children's arguments without being decoded, and a caller decodes only what it reads
/// (or borrows a byte string or a string with [`Value::as_bin`] and [`Value::as_str`]).
/// Cloning is cheap (the bytes are shared), and so is encoding: the encoder's buffer
/// becomes the value's without a copy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value {
    bytes: Bytes,
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
            bytes: Bytes::copy_from_slice(bytes),
        }
    }

    /// Takes well-formed bytes as they are (no copy).
    pub(crate) fn from_trusted(bytes: Vec<u8>) -> Value {
        Value {
            bytes: Bytes::from(bytes),
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

    /// The bytes of a MessagePack `bin` value, borrowed without decoding or copying;
    /// `None` when the value is anything else (a `str` or an array of integers too).
    ///
    /// The header is checked against the bytes there are: a `bin` that declares more
    /// bytes than the value holds, or is followed by anything, gives `None`.
    ///
    /// # Examples
    /// ```
    /// use serde_bytes::Bytes;
    /// let value = wasmtaps::Value::encode(Bytes::new(b"\x00\x01"))?;
    /// assert_eq!(value.as_bin(), Some(&[0u8, 1][..]));
    /// assert_eq!(wasmtaps::Value::encode("text")?.as_bin(), None);
    /// # Ok::<(), wasmtaps::ValueError>(())
    /// ```
    pub fn as_bin(&self) -> Option<&[u8]> {
        match self.single_token()? {
            Token::Bin(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The text of a MessagePack `str` value, borrowed without decoding or copying;
    /// `None` when the value is anything else or its bytes are not UTF-8.
    ///
    /// # Examples
    /// ```
    /// let value = wasmtaps::Value::encode("héllo")?;
    /// assert_eq!(value.as_str(), Some("héllo"));
    /// assert_eq!(wasmtaps::Value::encode(&3)?.as_str(), None);
    /// # Ok::<(), wasmtaps::ValueError>(())
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self.single_token()? {
            Token::Str(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The value's one token, when it is a scalar that fills the bytes exactly.
    fn single_token(&self) -> Option<Token<'_>> {
        let mut reader = msgpack::Reader::new(&self.bytes);
        let token = reader.token().ok()?;
        reader.at_end().then_some(token)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_and_str_are_borrowed_without_a_copy() {
        let data: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        let value = Value::encode(serde_bytes::Bytes::new(&data)).unwrap();
        let bin = value.as_bin().unwrap();
        assert_eq!(bin, &data[..]);
        // The slice is inside the value's own bytes, after the 5-byte `bin 32` header.
        assert_eq!(bin.as_ptr(), value.as_msgpack()[5..].as_ptr());
        assert_eq!(value.as_str(), None);

        let text = Value::encode("héllo").unwrap();
        assert_eq!(text.as_str(), Some("héllo"));
        assert_eq!(text.as_bin(), None, "a str is not a bin");
        assert_eq!(
            Value::encode(&[1u8, 2]).unwrap().as_bin(),
            None,
            "nor an array"
        );
        assert_eq!(Value::nil().as_bin(), None);
        assert_eq!(
            Value::encode(serde_bytes::Bytes::new(b""))
                .unwrap()
                .as_bin(),
            Some(&[][..])
        );
    }

    #[test]
    fn hostile_shapes_give_none() {
        // A `bin` that declares more bytes than there are, a truncated header, trailing
        // bytes, a `str` that is not UTF-8, and a `bin` inside an array: none of them is
        // handed out. (`from_trusted` skips the check `from_msgpack` makes, as a value
        // that lied about its shape would.)
        let lying = [
            &[0xc6, 0x00, 0x10, 0x00, 0x00, 1, 2, 3][..],
            &[0xc5, 0x00],
            &[0xc4, 0x01, 7, 0xc0],
            &[0x91, 0xc4, 0x01, 7],
        ];
        for bytes in lying {
            assert_eq!(
                Value::from_trusted(bytes.to_vec()).as_bin(),
                None,
                "{bytes:x?}"
            );
        }
        assert_eq!(Value::from_trusted(vec![0xa2, 0xff, 0xfe]).as_str(), None);
        assert_eq!(Value::from_trusted(vec![0xdb, 0xff, 0xff]).as_str(), None);
        // `from_msgpack` refuses the truncated ones outright.
        assert!(Value::from_msgpack(lying[0].to_vec()).is_err());
    }

    #[test]
    fn encoding_keeps_the_encoder_buffer() {
        let data = vec![7u8; 1 << 20];
        let value = Value::encode(serde_bytes::Bytes::new(&data)).unwrap();
        let clone = value.clone();
        assert_eq!(clone.as_msgpack().as_ptr(), value.as_msgpack().as_ptr());
        assert_eq!(value.as_bin().unwrap().len(), 1 << 20);
    }
}
