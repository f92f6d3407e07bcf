//! The wire layer: what crosses a process boundary (to a worker process over a pipe,
//! or to a Redis worker through a stream) is encoded and decoded here, once.
//!
//! - messages are MessagePack maps (`rmp_serde`, named fields); decoding is bounded by
//!   the message's size (serde never preallocates more than a small cap from a declared
//!   array length), and every value inside is checked with [`Value::from_msgpack`]
//!   before use;
//! - a pipe frame is a little-endian `u32` length and that many bytes; the length is
//!   checked against the reader's maximum before anything is read, and the buffer grows
//!   with the bytes that actually arrive, never from the declared length;
//! - limits travel as [`WireLimits`], resolved once on the sending side.
//!
//! Redis messages are additionally authenticated (`distributed/auth.rs`) before they
//! reach [`decode`].

use std::io::{Read, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::limits::LimitOverrides;
use crate::value::Value;

/// Limits on the wire (durations as seconds).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct WireLimits {
    memory_bytes: Option<u64>,
    table_elements: Option<u64>,
    fuel: Option<u64>,
    timeout: Option<f64>,
    max_argument_bytes: Option<u64>,
    max_result_bytes: Option<u64>,
    max_output_bytes: Option<u64>,
}

impl From<&LimitOverrides> for WireLimits {
    fn from(l: &LimitOverrides) -> Self {
        WireLimits {
            memory_bytes: l.memory_bytes,
            table_elements: l.table_elements,
            fuel: l.fuel,
            timeout: l.timeout.map(|t| t.as_secs_f64()),
            max_argument_bytes: l.max_argument_bytes,
            max_result_bytes: l.max_result_bytes,
            max_output_bytes: l.max_output_bytes,
        }
    }
}

impl From<&WireLimits> for LimitOverrides {
    fn from(l: &WireLimits) -> Self {
        LimitOverrides {
            memory_bytes: l.memory_bytes,
            table_elements: l.table_elements,
            fuel: l.fuel,
            timeout: l
                .timeout
                .and_then(|t| Duration::try_from_secs_f64(t.max(0.0)).ok()),
            max_argument_bytes: l.max_argument_bytes,
            max_result_bytes: l.max_result_bytes,
            max_output_bytes: l.max_output_bytes,
        }
    }
}

/// Encodes a message.
pub(crate) fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(message).expect("wire messages always encode")
}

/// Decodes a message, bounded by its size.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// A value off the wire, checked to be exactly one well-formed MessagePack value.
pub(crate) fn value(bytes: ByteBuf) -> Result<Value, String> {
    Value::from_msgpack(bytes.into_vec()).map_err(|e| e.to_string())
}

/// Writes one frame.
pub(crate) fn write_frame(out: &mut impl Write, message: &impl Serialize) -> std::io::Result<()> {
    let bytes = encode(message);
    let len = u32::try_from(bytes.len())
        .map_err(|_| std::io::Error::other("a frame is larger than 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&bytes)
}

/// Reads one frame of at most `max_bytes`; `Ok(None)` at a clean end of input.
///
/// # Errors
/// A frame declared larger than `max_bytes` (before reading it), a frame cut short, or
/// one that does not decode.
pub(crate) fn read_frame<T: serde::de::DeserializeOwned>(
    input: &mut impl Read,
    max_bytes: u64,
) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from(u32::from_le_bytes(len));
    if len > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is larger than the maximum of {max_bytes}"),
        ));
    }
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    decode(&bytes)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_is_checked_before_reading_and_never_allocated() {
        // Declares 4 GiB - 1 and sends 3 bytes: refused at the maximum, or cut short.
        let frame = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let error = read_frame::<u8>(&mut &frame[..], 1 << 20).expect_err("too large");
        assert!(
            error.to_string().contains("larger than the maximum"),
            "{error}"
        );
        let error = read_frame::<u8>(&mut &frame[..], u64::MAX).expect_err("cut short");
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
        let mut ok = Vec::new();
        write_frame(&mut ok, &7u8).expect("writes");
        assert_eq!(read_frame::<u8>(&mut &ok[..], 16).expect("reads"), Some(7));
        assert_eq!(read_frame::<u8>(&mut &[][..], 16).expect("clean end"), None);
    }

    #[test]
    fn values_off_the_wire_are_validated() {
        assert!(value(ByteBuf::from(vec![0xc1])).is_err());
        assert!(value(ByteBuf::from(vec![0x01, 0x02])).is_err());
        assert!(value(ByteBuf::from(vec![0x92, 0x01])).is_err());
        assert!(value(ByteBuf::from(vec![0x92, 0x01, 0x02])).is_ok());
    }
}
