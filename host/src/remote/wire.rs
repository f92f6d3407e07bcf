//! The wire layer: what crosses a process boundary (to a worker process over a pipe,
//! or to a Redis worker through a stream) is encoded and decoded here, once, as one
//! [`Job`] and one [`Reply`] type.
//!
//! - messages are MessagePack maps (`rmp_serde`, named fields); decoding is bounded by
//!   the message's size (serde never preallocates more than a small cap from a declared
//!   array length), and every argument and result value inside is checked with
//!   [`Value::from_msgpack`] as it is decoded;
//! - a pipe frame is a little-endian `u32` length and that many bytes; the length is
//!   checked against the reader's maximum before anything is read, and the buffer grows
//!   with the bytes that actually arrive, never from the declared length;
//! - limits travel as [`LimitOverrides`] with every field set: resolved once, by the
//!   engine.
//!
//! Redis messages are additionally authenticated (`remote/auth.rs`) before they reach
//! [`decode`].

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::args::Args;
use crate::failure::{ErrorKind, TaskError};
use crate::info::{ExceptionInfo, ExecutionInfo};
use crate::invoke::Invocation;
use crate::limits::LimitOverrides;
use crate::value::Value;

/// One task to run in another process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    /// Unique per execution (a simple UUID); the first reply with this id wins.
    pub id: String,
    /// The module's SHA-256, in lowercase hex.
    pub module_hash: String,
    pub module_name: String,
    /// The module's bytes, sent to a worker process with the first job that needs it
    /// (Redis workers fetch modules by hash instead).
    #[serde(default)]
    pub wasm: Option<ByteBuf>,
    pub task: String,
    /// `[positional, keyword]`, each value checked as it is decoded.
    #[serde(with = "wire_args")]
    pub args: Args,
    /// Resolved by the engine: every field is set.
    pub limits: LimitOverrides,
    /// Read-only mounts as (host path, guest path); worker processes only.
    #[serde(default)]
    pub dirs: Vec<(String, String)>,
    /// The store keys the engine vouches for: an argument (or an item of a list
    /// argument) shaped like a reference is resolved only when its key is listed here;
    /// anything else stays a literal value. The store itself is the worker's own.
    #[serde(default)]
    pub references: Vec<String>,
    /// Results above this many bytes go to the worker's store, by reference.
    #[serde(default)]
    pub result_threshold: Option<u64>,
    /// Redis only: the result stream to answer on.
    #[serde(default)]
    pub reply_to: String,
    /// Redis only: after this many deliveries the task is failed as `PoisonTask`.
    #[serde(default)]
    pub max_deliveries: u64,
}

/// A job's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub id: String,
    /// The result, checked as it is decoded.
    #[serde(with = "wire_value")]
    pub value: Option<Value>,
    pub error: Option<ExceptionInfo>,
    pub execution: ExecutionInfo,
    pub stdout: ByteBuf,
    pub stderr: ByteBuf,
    pub output_dropped: u64,
    /// Store keys the worker wrote (the result, when stored by reference).
    #[serde(default)]
    pub stored: Vec<String>,
}

impl Reply {
    /// The reply to job `id` for `invocation`.
    pub(crate) fn new(id: &str, invocation: Invocation, stored: Vec<String>) -> Reply {
        let (value, error) = match invocation.result {
            Ok(value) => (Some(value), None),
            Err(error) => (None, Some(error.to_exception_info())),
        };
        Reply {
            id: id.to_owned(),
            value,
            error,
            execution: invocation.execution,
            stdout: ByteBuf::from(invocation.stdout),
            stderr: ByteBuf::from(invocation.stderr),
            output_dropped: invocation.output_dropped,
            stored,
        }
    }

    /// The invocation this reply reports. The failure's type goes through the one list
    /// of host type names, as a guest's does.
    pub(crate) fn into_invocation(self) -> Invocation {
        let result = match (self.value, self.error) {
            (Some(value), None) => Ok(value),
            (_, Some(info)) => Err(TaskError::from(&info)),
            (None, None) => Err(TaskError::new(
                ErrorKind::HostError,
                "the worker sent a reply with neither a result nor an error",
            )),
        };
        Invocation {
            result,
            execution: self.execution,
            stdout: self.stdout.into_vec(),
            stderr: self.stderr.into_vec(),
            output_dropped: self.output_dropped,
        }
    }
}

/// [`Args`] on the wire: `[[value, ...], [[name, value], ...]]`, values as bin.
mod wire_args {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use crate::args::Args;
    use crate::value::Value;

    type Borrowed<'a> = (Vec<&'a Bytes>, Vec<(&'a str, &'a Bytes)>);

    pub(super) fn serialize<S: Serializer>(args: &Args, s: S) -> Result<S::Ok, S::Error> {
        let shape: Borrowed<'_> = (
            args.positional()
                .iter()
                .map(|v| Bytes::new(v.as_msgpack()))
                .collect(),
            args.keyword()
                .iter()
                .map(|(k, v)| (k.as_str(), Bytes::new(v.as_msgpack())))
                .collect(),
        );
        shape.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Args, D::Error> {
        let (positional, keyword) = <(Vec<ByteBuf>, Vec<(String, ByteBuf)>)>::deserialize(d)?;
        let mut args = Args::new();
        for bytes in positional {
            args.push(checked(bytes)?);
        }
        for (name, bytes) in keyword {
            args.push_kwarg(name, checked(bytes)?);
        }
        Ok(args)
    }

    fn checked<E: serde::de::Error>(bytes: ByteBuf) -> Result<Value, E> {
        Value::from_msgpack(bytes.into_vec()).map_err(|e| E::custom(format!("argument: {e}")))
    }
}

/// An optional [`Value`] on the wire, as bin.
mod wire_value {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::ByteBuf;

    use crate::value::Value;

    pub(super) fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(serde_bytes::Bytes::new(v.as_msgpack())),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Option::<ByteBuf>::deserialize(d)?
            .map(|bytes| {
                Value::from_msgpack(bytes.into_vec())
                    .map_err(|e| serde::de::Error::custom(format!("result: {e}")))
            })
            .transpose()
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
        let mut job = Job {
            id: "0".repeat(32),
            module_hash: "0".repeat(64),
            module_name: "m".into(),
            wasm: None,
            task: "t".into(),
            args: Args::new().arg(&[1, 2]).expect("encodes"),
            limits: LimitOverrides::default(),
            dirs: Vec::new(),
            references: Vec::new(),
            result_threshold: None,
            reply_to: String::new(),
            max_deliveries: 0,
        };
        let back: Job = decode(&encode(&job)).expect("a well-formed job decodes");
        assert_eq!(back.args.positional(), job.args.positional());
        for bad in [vec![0xc1], vec![0x01, 0x02], vec![0x92, 0x01]] {
            job.args = Args::new();
            let mut bytes = encode(&job);
            // Splice a malformed value in place of the empty positional list.
            let empty = [0x92, 0x90, 0x90];
            let at = bytes
                .windows(3)
                .position(|w| w == empty)
                .expect("the empty args");
            let mut value = vec![0x92, 0x91, 0xc4, bad.len() as u8];
            value.extend(&bad);
            value.push(0x90);
            bytes.splice(at..at + 3, value);
            let error = decode::<Job>(&bytes).expect_err("a malformed value is refused");
            assert!(error.contains("argument"), "{error}");
        }
    }
}
