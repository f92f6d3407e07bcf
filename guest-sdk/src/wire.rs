//! A minimal MessagePack reader for the argument envelope `[args, kwargs]`.
//!
//! It only finds where values start and end, so that the envelope can be checked and
//! kwargs matched to parameters without allocating; the values themselves are decoded
//! with `rmp_serde`.

use std::fmt;

/// Why the argument bytes are not well-formed MessagePack of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The input ended inside a value.
    Eof,
    /// A value of another kind was found where this kind was expected.
    Expected(&'static str),
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// The reserved marker byte `0xc1`.
    Reserved,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eof => f.write_str("unexpected end of input"),
            Self::Expected(what) => write!(f, "expected {what}"),
            Self::InvalidUtf8 => f.write_str("a string is not valid UTF-8"),
            Self::Reserved => f.write_str("the reserved marker 0xc1 was found"),
        }
    }
}

/// A cursor over MessagePack bytes.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        let byte = *self.buf.get(self.pos).ok_or(WireError::Eof)?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(len).ok_or(WireError::Eof)?;
        let bytes = self.buf.get(self.pos..end).ok_or(WireError::Eof)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads a big-endian unsigned integer of `len` (1, 2 or 4) bytes.
    fn uint(&mut self, len: usize) -> Result<usize, WireError> {
        let bytes = self.take(len)?;
        Ok(bytes
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte)))
    }

    /// Reads an array header and returns the number of elements.
    pub(crate) fn array_len(&mut self) -> Result<usize, WireError> {
        match self.byte()? {
            marker @ 0x90..=0x9f => Ok(usize::from(marker & 0x0f)),
            0xdc => self.uint(2),
            0xdd => self.uint(4),
            _ => Err(WireError::Expected("an array")),
        }
    }

    /// Reads a map header and returns the number of entries.
    pub(crate) fn map_len(&mut self) -> Result<usize, WireError> {
        match self.byte()? {
            marker @ 0x80..=0x8f => Ok(usize::from(marker & 0x0f)),
            0xde => self.uint(2),
            0xdf => self.uint(4),
            _ => Err(WireError::Expected("a map")),
        }
    }

    /// Reads a string, borrowing it from the input.
    pub(crate) fn str(&mut self) -> Result<&'a str, WireError> {
        let len = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.uint(1)?,
            0xda => self.uint(2)?,
            0xdb => self.uint(4)?,
            _ => return Err(WireError::Expected("a string")),
        };
        std::str::from_utf8(self.take(len)?).map_err(|_| WireError::InvalidUtf8)
    }

    /// Skips one complete value (however deeply nested, without recursion) and
    /// returns its bytes.
    pub(crate) fn value(&mut self) -> Result<&'a [u8], WireError> {
        let start = self.pos;
        // Values still to skip; every iteration consumes at least one byte, so this
        // ends even when a header claims more elements than the input holds.
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let marker = self.byte()?;
            let skip = match marker {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
                0x80..=0x8f => {
                    pending += 2 * u64::from(marker & 0x0f);
                    0
                }
                0x90..=0x9f => {
                    pending += u64::from(marker & 0x0f);
                    0
                }
                0xa0..=0xbf => usize::from(marker & 0x1f),
                0xc1 => return Err(WireError::Reserved),
                0xc4 | 0xd9 => self.uint(1)?,
                0xc5 | 0xda => self.uint(2)?,
                0xc6 | 0xdb => self.uint(4)?,
                0xc7 => self.uint(1)? + 1,
                0xc8 => self.uint(2)? + 1,
                0xc9 => self.uint(4)? + 1,
                0xca => 4,
                0xcb => 8,
                0xcc | 0xd0 => 1,
                0xcd | 0xd1 => 2,
                0xce | 0xd2 => 4,
                0xcf | 0xd3 => 8,
                0xd4 => 2,
                0xd5 => 3,
                0xd6 => 5,
                0xd7 => 9,
                0xd8 => 17,
                0xdc => {
                    pending += self.uint(2)? as u64;
                    0
                }
                0xdd => {
                    pending += self.uint(4)? as u64;
                    0
                }
                0xde => {
                    pending += 2 * self.uint(2)? as u64;
                    0
                }
                0xdf => {
                    pending += 2 * self.uint(4)? as u64;
                    0
                }
            };
            self.take(skip)?;
        }
        Ok(&self.buf[start..self.pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
        rmp_serde::to_vec(value).unwrap()
    }

    #[test]
    fn skips_every_kind_of_value() {
        let value = rmpv::Value::Array(vec![
            rmpv::Value::Nil,
            true.into(),
            (-5i64).into(),
            300u64.into(),
            u64::MAX.into(),
            i64::MIN.into(),
            1.5f32.into(),
            2.5f64.into(),
            "s".repeat(40).into(),
            "t".repeat(300).into(),
            rmpv::Value::Binary(vec![1; 70_000]),
            rmpv::Value::Ext(3, vec![1, 2, 3, 4]),
            rmpv::Value::Ext(3, vec![1; 5]),
            rmpv::Value::Map(vec![("k".into(), vec![rmpv::Value::Nil; 20].into())]),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        bytes.push(0x07);
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.value().unwrap().len(), bytes.len() - 1);
        assert_eq!(reader.value().unwrap(), &[0x07]);
        assert!(reader.is_at_end());
    }

    #[test]
    fn truncated_and_reserved() {
        let bytes = encode(&vec!["abc"; 3]);
        for end in 0..bytes.len() {
            assert_eq!(Reader::new(&bytes[..end]).value(), Err(WireError::Eof));
        }
        assert_eq!(Reader::new(&[0xc1]).value(), Err(WireError::Reserved));
        // A header that claims far more elements than there are bytes.
        assert_eq!(
            Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).value(),
            Err(WireError::Eof)
        );
    }

    #[test]
    fn headers_and_strings() {
        let bytes = encode(&(vec![1u8; 20], "k"));
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.array_len(), Ok(2));
        assert_eq!(reader.array_len(), Ok(20));
        for _ in 0..20 {
            reader.value().unwrap();
        }
        assert_eq!(reader.str(), Ok("k"));
        assert_eq!(
            Reader::new(&[0xa1, 0xff]).str(),
            Err(WireError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0x01]).map_len(),
            Err(WireError::Expected("a map"))
        );
        assert_eq!(Reader::new(&[0xde, 0, 17]).map_len(), Ok(17));
    }
}
