//! [`Value`]: one MessagePack-encoded value, the currency of arguments and results, and
//! [`TerminalSafeJson`], the JSON formatter that makes a guest's text safe to print.

pub use crate::terminal::TerminalSafeJson;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::msgpack::{self, Token};

/// One MessagePack value, kept encoded.
///
/// Task arguments and results travel as `Value`s: a parent's result is spliced into its
/// children's arguments without being decoded, and a caller decodes only what it reads
/// (or borrows a byte string or a string with [`Value::as_bin`] and [`Value::as_str`]).
/// Cloning is cheap (the bytes are shared), and so is encoding: the encoder's buffer
/// becomes the value's without a copy. A byte string the caller already holds becomes a
/// `bin` value without a copy at all through [`Value::from_bin`].
#[derive(Clone)]
pub struct Value {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// The whole encoding in one buffer.
    Encoded(Bytes),
    /// A `bin` whose body is the caller's buffer ([`Value::from_bin`]).
    Bin(Arc<SharedBin>),
}

/// A `bin` kept as its header and the caller's buffer: an invocation writes the two
/// into the guest one after the other, and they are joined into one buffer only when
/// something asks for the whole encoding ([`Value::as_msgpack`]).
struct SharedBin {
    /// The smallest `bin` header for the body, as `Value::encode` writes it.
    header: Vec<u8>,
    body: Bytes,
    joined: OnceLock<Bytes>,
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.as_msgpack() == other.as_msgpack()
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_msgpack().hash(state);
    }
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

    /// A MessagePack `bin` holding `body`, which is shared, not copied: an invocation
    /// writes it into the guest straight from the caller's buffer (a `Vec<u8>`, a
    /// `bytes::Bytes`, or any owner through `Bytes::from_owner`).
    ///
    /// # Examples
    /// ```
    /// let value = wasmtaps::Value::from_bin(vec![1u8, 2, 3])?;
    /// assert_eq!(value.as_bin(), Some(&[1u8, 2, 3][..]));
    /// assert_eq!(value.as_msgpack(), [0xc4, 3, 1, 2, 3]);
    /// assert_eq!(value, wasmtaps::Value::encode(serde_bytes::Bytes::new(&[1, 2, 3]))?);
    /// # Ok::<(), wasmtaps::ValueError>(())
    /// ```
    ///
    /// # Errors
    /// [`ValueError::Encode`] when `body` is 4 GiB or more, more than a `bin` holds.
    pub fn from_bin(body: impl Into<Bytes>) -> Result<Value, ValueError> {
        let body = body.into();
        let len = u32::try_from(body.len()).map_err(|_| {
            rmp_serde::encode::Error::Syntax(format!(
                "a MessagePack bin holds less than 4 GiB, not {} bytes",
                body.len()
            ))
        })?;
        let mut header = Vec::with_capacity(5);
        rmp::encode::write_bin_len(&mut header, len).expect("writing to a Vec cannot fail");
        Ok(Value {
            repr: Repr::Bin(Arc::new(SharedBin {
                header,
                body,
                joined: OnceLock::new(),
            })),
        })
    }

    /// Copies well-formed bytes once, straight into the shared buffer.
    pub(crate) fn from_trusted_slice(bytes: &[u8]) -> Value {
        Value {
            repr: Repr::Encoded(Bytes::copy_from_slice(bytes)),
        }
    }

    /// Takes well-formed bytes as they are (no copy).
    pub(crate) fn from_trusted(bytes: Vec<u8>) -> Value {
        Value {
            repr: Repr::Encoded(Bytes::from(bytes)),
        }
    }

    /// The length of the encoding, without joining a shared `bin`.
    pub(crate) fn msgpack_len(&self) -> usize {
        match &self.repr {
            Repr::Encoded(bytes) => bytes.len(),
            Repr::Bin(bin) => bin.header.len() + bin.body.len(),
        }
    }

    /// Writes the encoding into `out` (exactly [`Value::msgpack_len`] bytes), a shared
    /// `bin`'s body straight from the caller's buffer.
    pub(crate) fn write_msgpack(&self, out: &mut [u8]) {
        match &self.repr {
            Repr::Encoded(bytes) => out.copy_from_slice(bytes),
            Repr::Bin(bin) => {
                let (header, body) = out.split_at_mut(bin.header.len());
                header.copy_from_slice(&bin.header);
                body.copy_from_slice(&bin.body);
            }
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
        Ok(rmp_serde::from_slice(self.as_msgpack())?)
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
        rmpv::decode::read_value(&mut self.as_msgpack())
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
        crate::json::tree(self.as_msgpack())
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
        crate::json::write(self.as_msgpack(), &mut out)
    }

    /// The encoded bytes. (A [`Value::from_bin`] value joins its header and body into
    /// one buffer the first time it is asked.)
    pub fn as_msgpack(&self) -> &[u8] {
        match &self.repr {
            Repr::Encoded(bytes) => bytes,
            Repr::Bin(bin) => bin.joined.get_or_init(|| {
                let mut joined = Vec::with_capacity(bin.header.len() + bin.body.len());
                joined.extend_from_slice(&bin.header);
                joined.extend_from_slice(&bin.body);
                Bytes::from(joined)
            }),
        }
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
        if let Repr::Bin(bin) = &self.repr {
            return Some(&bin.body);
        }
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
        let mut reader = msgpack::Reader::new(self.as_msgpack());
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
                write!(f, "Value({text}… ({} bytes))", self.msgpack_len())
            }
            Err(_) => write!(f, "Value({} bytes)", self.msgpack_len()),
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
    fn a_shared_bin_is_the_same_value_as_an_encoded_one() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |v: &Value| {
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            h.finish()
        };
        let body: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        let shared = Value::from_bin(body.clone()).unwrap();
        let encoded = Value::encode(serde_bytes::Bytes::new(&body)).unwrap();
        // Borrowed straight from the caller's buffer, written without joining.
        assert_eq!(shared.as_bin(), Some(&body[..]));
        assert_eq!(shared.msgpack_len(), encoded.as_msgpack().len());
        let mut written = vec![0; shared.msgpack_len()];
        shared.write_msgpack(&mut written);
        assert_eq!(written, encoded.as_msgpack());
        // Joined only when asked, then equal, hashed and decoded alike.
        assert_eq!(shared.as_msgpack(), encoded.as_msgpack());
        assert_eq!(shared, encoded);
        assert_eq!(hash(&shared), hash(&encoded));
        let decoded: serde_bytes::ByteBuf = shared.decode().unwrap();
        assert_eq!(decoded.as_slice(), &body[..]);
        assert!(
            format!("{shared:?}").ends_with("(70005 bytes))"),
            "{shared:?}"
        );
        // The smallest header, as an encoder writes it.
        let small = Value::from_bin(&b"ab"[..]).unwrap();
        assert_eq!(small.as_msgpack(), [0xc4, 2, b'a', b'b']);
        assert_eq!(
            small,
            Value::encode(serde_bytes::Bytes::new(b"ab")).unwrap()
        );
        assert_eq!(
            small.decode::<serde_bytes::ByteBuf>().unwrap().as_slice(),
            b"ab"
        );
        assert_eq!(Value::from_bin(Vec::new()).unwrap().as_bin(), Some(&[][..]));
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
