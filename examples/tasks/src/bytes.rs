//! Byte strings, sent as MessagePack `bin`.

use wasmtaps_guest::serde_bytes::ByteBuf;
use wasmtaps_guest::{ResultBytes, task};

/// `data` reversed: read where the host wrote it and copied once, into the buffer the
/// host reads the result from.
#[task]
pub fn reverse_bytes(data: &[u8]) -> ResultBytes {
    let mut out = ResultBytes::with_capacity(data.len());
    out.extend_from_slice(data);
    out.reverse();
    out
}

/// The length of `data`.
#[task]
pub fn byte_len(data: ByteBuf) -> u64 {
    data.len() as u64
}

/// `len` bytes where byte `i` is `i % 251` (a prime, so the pattern does not line up
/// with powers of two).
#[task]
pub fn make_bytes(len: u64) -> ByteBuf {
    ByteBuf::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

/// The 64-bit FNV-1a hash of `data`, read where the host wrote it.
#[task]
pub fn checksum(data: &[u8]) -> u64 {
    fnv1a(data)
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_and_measures() {
        assert_eq!(reverse_bytes(&[1, 2, 3]).into_vec(), [3, 2, 1]);
        assert!(reverse_bytes(&[]).is_empty());
        assert_eq!(byte_len(ByteBuf::from(vec![0; 7])), 7);
    }

    #[test]
    fn makes_deterministic_bytes() {
        let bytes = make_bytes(300);
        assert_eq!(bytes.len(), 300);
        assert_eq!(bytes[250], 250);
        assert_eq!(bytes[251], 0);
        assert_eq!(make_bytes(300), bytes);
    }

    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(checksum(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(checksum(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(checksum(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
