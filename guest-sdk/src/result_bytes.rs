//! [`ResultBytes`]: a byte string that a task returns without the SDK copying it.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// The bytes of the result envelope before the value: `{"ok":` (`81 a2 6f 6b`) and a
/// `bin 32` header (`c6` and the length, big-endian).
const ENVELOPE_PREFIX: usize = 9;

/// A byte string returned as a task's result (MessagePack `bin`), built where the
/// result envelope will be.
///
/// A task that returns a `ByteBuf` or a `Vec<u8>` has the SDK copy it into the result
/// envelope; `ResultBytes` keeps room for the envelope's few bytes in front of the data,
/// so returning it hands its buffer to the host as it is. For large results that saves
/// a copy and the memory it would touch.
///
/// It is a growable byte buffer (it dereferences to `[u8]`, and implements
/// [`std::io::Write`] and [`Extend`]). Filling it with `extend_from_slice`, `extend` or
/// `write` after [`ResultBytes::with_capacity`] touches each byte once;
/// [`ResultBytes::zeroed`] clears the memory first (the guest's allocator does), which
/// costs one more pass. It is meant to be returned, alone or as the `Ok` of a `Result`;
/// it is not [`serde::Serialize`], so it cannot be part of another value.
///
/// # Examples
///
/// ```
/// use wasmtaps_guest::{ResultBytes, task};
///
/// /// `data` reversed: borrowed from the argument buffer, written straight into the
/// /// buffer the host reads the result from.
/// #[task]
/// pub fn reverse_bytes(data: &[u8]) -> ResultBytes {
///     let mut out = ResultBytes::with_capacity(data.len());
///     out.extend(data.iter().rev());
///     out
/// }
/// # fn main() { assert_eq!(&reverse_bytes(&[1, 2, 3])[..], [3, 2, 1]); }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResultBytes {
    /// `ENVELOPE_PREFIX` reserved bytes, then the data.
    buf: Vec<u8>,
}

impl ResultBytes {
    /// An empty buffer.
    pub fn new() -> ResultBytes {
        ResultBytes::with_capacity(0)
    }

    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ResultBytes {
        let mut buf = Vec::with_capacity(capacity.saturating_add(ENVELOPE_PREFIX));
        buf.resize(ENVELOPE_PREFIX, 0);
        ResultBytes { buf }
    }

    /// `len` zero bytes, to be filled through [`DerefMut`] (in any order). The guest's
    /// allocator clears them, a pass over the memory that `with_capacity` and
    /// `extend_from_slice` avoid when every byte is written in order anyway.
    pub fn zeroed(len: usize) -> ResultBytes {
        ResultBytes {
            buf: vec![0; len.saturating_add(ENVELOPE_PREFIX)],
        }
    }

    /// Appends a byte.
    pub fn push(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Appends bytes.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Shortens the buffer to `len` bytes (nothing happens when it is not longer).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len.saturating_add(ENVELOPE_PREFIX));
    }

    /// The bytes as a `Vec` (moving them to the front of the buffer).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..ENVELOPE_PREFIX);
        self.buf
    }

    /// The whole result envelope `{"ok": bin}`, written in front of the data; `None`
    /// when the data is too long for a MessagePack `bin` (4 GiB or more).
    pub(crate) fn into_ok_envelope(mut self) -> Option<Vec<u8>> {
        let len = u32::try_from(self.buf.len() - ENVELOPE_PREFIX).ok()?;
        self.buf[..5].copy_from_slice(&[0x81, 0xa2, b'o', b'k', 0xc6]);
        self.buf[5..ENVELOPE_PREFIX].copy_from_slice(&len.to_be_bytes());
        Some(self.buf)
    }
}

impl Default for ResultBytes {
    fn default() -> ResultBytes {
        ResultBytes::new()
    }
}

impl Deref for ResultBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[ENVELOPE_PREFIX..]
    }
}

impl DerefMut for ResultBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[ENVELOPE_PREFIX..]
    }
}

impl AsRef<[u8]> for ResultBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for ResultBytes {
    fn from(bytes: &[u8]) -> ResultBytes {
        let mut out = ResultBytes::with_capacity(bytes.len());
        out.extend_from_slice(bytes);
        out
    }
}

impl Extend<u8> for ResultBytes {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.buf.extend(iter);
    }
}

impl<'a> Extend<&'a u8> for ResultBytes {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, iter: I) {
        self.buf.extend(iter);
    }
}

impl FromIterator<u8> for ResultBytes {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> ResultBytes {
        let mut out = ResultBytes::new();
        out.extend(iter);
        out
    }
}

impl std::io::Write for ResultBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for ResultBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResultBytes").field(&&self[..]).finish()
    }
}
