//! [`Payload`]: the bytes a task takes and gives back, in the form each row has them.

use std::ops::Deref;
use std::sync::Arc;

use wasmtaps::Value;
use wasmtaps_guest::ResultBytes;

/// A task's input or result bytes as the caller holds them. Every row hands its result
/// over without a copy beyond the one it needs to get the bytes out of its sandbox: a
/// plain buffer, a wasmtaps [`Value`] whose MessagePack `bin` is read in place, or the
/// native function's own result buffer.
#[derive(Debug)]
pub enum Payload {
    /// A plain buffer.
    Owned(Vec<u8>),
    /// A wasmtaps value holding a `bin`, read through [`Value::as_bin`].
    Bin(Value),
    /// The native `reverse_bytes`'s result.
    Native(ResultBytes),
}

impl Payload {
    /// The bin of a wasmtaps result; panics (failing the run) if it is anything else.
    pub fn bin(value: Value) -> Payload {
        assert!(value.as_bin().is_some(), "not a bin: {value:?}");
        Payload::Bin(value)
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Payload::Owned(bytes) => bytes,
            Payload::Bin(value) => value.as_bin().expect("checked in Payload::bin"),
            Payload::Native(bytes) => bytes,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::Owned(bytes)
    }
}

impl Payload {
    /// The bytes as a wasmtaps `bin` argument that shares this payload instead of
    /// copying it (`Value::from_bin`): the host writes it into the guest straight from
    /// here.
    pub fn shared_bin(self: &Arc<Payload>) -> Value {
        Value::from_bin(bytes::Bytes::from_owner(Shared(self.clone()))).expect("bin")
    }
}

/// A payload shared with a `bytes::Bytes`.
struct Shared(Arc<Payload>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
