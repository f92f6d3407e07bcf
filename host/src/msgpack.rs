//! A bounds-checked, allocation-free MessagePack walker for untrusted bytes.
//!
//! Guest results are validated here before anything decodes them. The walk is iterative
//! (a count of values still to skip), so hostile nesting cannot exhaust the host's stack.

use std::fmt;

/// What is wrong with a MessagePack byte string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MsgpackError {
    /// The bytes end inside a value.
    Truncated { offset: usize },
    /// 0xc1 is never used.
    ReservedByte { offset: usize },
    /// Bytes follow the value.
    TrailingBytes { offset: usize },
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgpackError::Truncated { offset } => {
                write!(f, "input ends inside a value (at byte {offset})")
            }
            MsgpackError::ReservedByte { offset } => {
                write!(f, "reserved marker 0xc1 at byte {offset}")
            }
            MsgpackError::TrailingBytes { offset } => {
                write!(f, "unexpected bytes after the value, from byte {offset}")
            }
        }
    }
}

/// One MessagePack token: a scalar with its bytes borrowed, or a container header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Token<'a> {
    Nil,
    Bool(bool),
    /// Any non-negative integer.
    Uint(u64),
    /// A negative integer.
    Int(i64),
    F32(f32),
    F64(f64),
    /// A string's bytes (not checked to be UTF-8).
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Ext(i8, &'a [u8]),
    /// An array header: this many values follow.
    Array(u64),
    /// A map header: this many key-value pairs follow.
    Map(u64),
}

/// Reads big-endian integers out of a slice with bounds checks.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(MsgpackError::Truncated { offset: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn uint(&mut self, n: usize) -> Result<u64, MsgpackError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn marker(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?[0])
    }

    /// Skips one complete value (and everything nested in it).
    pub(crate) fn skip_value(&mut self) -> Result<(), MsgpackError> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let offset = self.pos;
            let m = self.marker()?;
            let (skip, children): (u64, u64) = match m {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
                0x80..=0x8f => (0, 2 * u64::from(m & 0x0f)),
                0x90..=0x9f => (0, u64::from(m & 0x0f)),
                0xa0..=0xbf => (u64::from(m & 0x1f), 0),
                0xc1 => return Err(MsgpackError::ReservedByte { offset }),
                0xc4 | 0xd9 => (self.uint(1)?, 0),
                0xc5 | 0xda => (self.uint(2)?, 0),
                0xc6 | 0xdb => (self.uint(4)?, 0),
                0xc7 => (self.uint(1)? + 1, 0),
                0xc8 => (self.uint(2)? + 1, 0),
                0xc9 => (self.uint(4)? + 1, 0),
                0xca => (4, 0),
                0xcb => (8, 0),
                0xcc | 0xd0 => (1, 0),
                0xcd | 0xd1 => (2, 0),
                0xce | 0xd2 => (4, 0),
                0xcf | 0xd3 => (8, 0),
                0xd4 => (2, 0),
                0xd5 => (3, 0),
                0xd6 => (5, 0),
                0xd7 => (9, 0),
                0xd8 => (17, 0),
                0xdc => (0, self.uint(2)?),
                0xdd => (0, self.uint(4)?),
                0xde => (0, 2 * self.uint(2)?),
                0xdf => (0, 2 * self.uint(4)?),
            };
            let skip = usize::try_from(skip).map_err(|_| MsgpackError::Truncated { offset })?;
            self.take(skip)?;
            // Every child needs at least one byte, so more children than bytes left
            // means truncation; checking here keeps `pending` from overflowing.
            let left = (self.bytes.len() - self.pos) as u64;
            pending = pending
                .checked_add(children)
                .filter(|&p| p <= left)
                .ok_or(MsgpackError::Truncated { offset })?;
        }
        Ok(())
    }

    /// Reads a map header, returning its length, or `None` if the next value is not a map.
    pub(crate) fn map_len(&mut self) -> Result<Option<u64>, MsgpackError> {
        let m = self.marker()?;
        Ok(match m {
            0x80..=0x8f => Some(u64::from(m & 0x0f)),
            0xde => Some(self.uint(2)?),
            0xdf => Some(self.uint(4)?),
            _ => None,
        })
    }

    /// Reads an array header, returning its length, or `None` if the next value is not an
    /// array.
    pub(crate) fn array_len(&mut self) -> Result<Option<u64>, MsgpackError> {
        let m = self.marker()?;
        Ok(match m {
            0x90..=0x9f => Some(u64::from(m & 0x0f)),
            0xdc => Some(self.uint(2)?),
            0xdd => Some(self.uint(4)?),
            _ => None,
        })
    }

    /// Reads a string, or `None` if the next value is not a valid UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<Option<&'a str>, MsgpackError> {
        let m = self.marker()?;
        let len = match m {
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xd9 => self.uint(1)?,
            0xda => self.uint(2)?,
            0xdb => self.uint(4)?,
            _ => return Ok(None),
        };
        let len = usize::try_from(len).map_err(|_| MsgpackError::Truncated { offset: self.pos })?;
        Ok(std::str::from_utf8(self.take(len)?).ok())
    }

    /// Reads the next token, allocating nothing: scalars borrow their bytes, containers
    /// give their length and leave their contents to the following calls.
    pub(crate) fn token(&mut self) -> Result<Token<'a>, MsgpackError> {
        let offset = self.pos;
        let m = self.marker()?;
        let len = |r: &mut Self, n: usize| -> Result<usize, MsgpackError> {
            usize::try_from(r.uint(n)?).map_err(|_| MsgpackError::Truncated { offset })
        };
        let ext = |r: &mut Self, n: usize| -> Result<Token<'a>, MsgpackError> {
            let kind = r.marker()? as i8;
            Ok(Token::Ext(kind, r.take(n)?))
        };
        let signed = |r: &mut Self, n: usize| -> Result<Token<'a>, MsgpackError> {
            let bits = 64 - 8 * n as u32;
            let v = ((r.uint(n)? << bits) as i64) >> bits;
            Ok(if v >= 0 {
                Token::Uint(v as u64)
            } else {
                Token::Int(v)
            })
        };
        Ok(match m {
            0x00..=0x7f => Token::Uint(u64::from(m)),
            0xe0..=0xff => Token::Int(i64::from(m as i8)),
            0x80..=0x8f => Token::Map(u64::from(m & 0x0f)),
            0x90..=0x9f => Token::Array(u64::from(m & 0x0f)),
            0xa0..=0xbf => Token::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Token::Nil,
            0xc1 => return Err(MsgpackError::ReservedByte { offset }),
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0xc4 => Token::Bin({
                let n = len(self, 1)?;
                self.take(n)?
            }),
            0xc5 => Token::Bin({
                let n = len(self, 2)?;
                self.take(n)?
            }),
            0xc6 => Token::Bin({
                let n = len(self, 4)?;
                self.take(n)?
            }),
            0xc7 => {
                let n = len(self, 1)?;
                ext(self, n)?
            }
            0xc8 => {
                let n = len(self, 2)?;
                ext(self, n)?
            }
            0xc9 => {
                let n = len(self, 4)?;
                ext(self, n)?
            }
            0xca => Token::F32(f32::from_bits(self.uint(4)? as u32)),
            0xcb => Token::F64(f64::from_bits(self.uint(8)?)),
            0xcc => Token::Uint(self.uint(1)?),
            0xcd => Token::Uint(self.uint(2)?),
            0xce => Token::Uint(self.uint(4)?),
            0xcf => Token::Uint(self.uint(8)?),
            0xd0 => signed(self, 1)?,
            0xd1 => signed(self, 2)?,
            0xd2 => signed(self, 4)?,
            0xd3 => signed(self, 8)?,
            0xd4 => ext(self, 1)?,
            0xd5 => ext(self, 2)?,
            0xd6 => ext(self, 4)?,
            0xd7 => ext(self, 8)?,
            0xd8 => ext(self, 16)?,
            0xd9 => Token::Str({
                let n = len(self, 1)?;
                self.take(n)?
            }),
            0xda => Token::Str({
                let n = len(self, 2)?;
                self.take(n)?
            }),
            0xdb => Token::Str({
                let n = len(self, 4)?;
                self.take(n)?
            }),
            0xdc => Token::Array(self.uint(2)?),
            0xdd => Token::Array(self.uint(4)?),
            0xde => Token::Map(self.uint(2)?),
            0xdf => Token::Map(self.uint(4)?),
        })
    }

    /// Reads a string and returns it; if the next value is anything else (including a
    /// string that is not valid UTF-8), skips that whole value and returns `None`.
    pub(crate) fn str_or_skip(&mut self) -> Result<Option<&'a str>, MsgpackError> {
        let start = self.pos;
        let marker = self.marker()?;
        self.pos = start;
        if matches!(marker, 0xa0..=0xbf | 0xd9..=0xdb) {
            self.str()
        } else {
            self.skip_value()?;
            Ok(None)
        }
    }

    /// Consumes a nil and returns `true`, or returns `false` and consumes nothing.
    pub(crate) fn nil(&mut self) -> Result<bool, MsgpackError> {
        let start = self.pos;
        if self.marker()? == 0xc0 {
            return Ok(true);
        }
        self.pos = start;
        Ok(false)
    }

    /// The bytes between two positions.
    pub(crate) fn span(&self, start: usize, end: usize) -> &'a [u8] {
        &self.bytes[start..end]
    }
}

/// Checks that `bytes` is exactly one well-formed value.
pub(crate) fn check_single(bytes: &[u8]) -> Result<(), MsgpackError> {
    let mut r = Reader::new(bytes);
    r.skip_value()?;
    if !r.at_end() {
        return Err(MsgpackError::TrailingBytes { offset: r.pos() });
    }
    Ok(())
}

/// Writes an array header for `len` elements.
pub(crate) fn write_array_len(out: &mut Vec<u8>, len: usize) {
    rmp::encode::write_array_len(out, len as u32).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_values_and_rejects_bad_ones() {
        let v = rmp_serde::to_vec(&(
            1,
            "two",
            vec![3.0f64],
            std::collections::BTreeMap::from([("k", true)]),
        ))
        .unwrap();
        check_single(&v).unwrap();
        assert!(matches!(
            check_single(&v[..v.len() - 1]),
            Err(MsgpackError::Truncated { .. })
        ));
        let mut extra = v.clone();
        extra.push(0xc0);
        assert!(matches!(
            check_single(&extra),
            Err(MsgpackError::TrailingBytes { .. })
        ));
        assert!(matches!(
            check_single(&[0xc1]),
            Err(MsgpackError::ReservedByte { .. })
        ));
        // An array claiming 4 billion elements in 5 bytes is truncated, not a hang.
        assert!(matches!(
            check_single(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(MsgpackError::Truncated { .. })
        ));
        // Deep nesting is walked without recursion.
        let deep: Vec<u8> = std::iter::repeat_n(0x91, 1_000_000).chain([0xc0]).collect();
        check_single(&deep).unwrap();
    }
}
