//! The task's manifest entry, MessagePack-encoded at expansion time.
//!
//! One entry is `{"abi": 1, "name": str, "export": str, "params": [str, ...]}`; the
//! linker concatenates the entries of all tasks into the `wasmtaps.tasks` section.

/// The ABI version this macro generates code for.
const ABI_VERSION: u8 = 1;

/// Encodes the manifest entry of one task.
pub fn entry(name: &str, export: &str, params: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(0x84); // fixmap with 4 entries
    str(&mut out, "abi");
    out.push(ABI_VERSION); // positive fixint
    str(&mut out, "name");
    str(&mut out, name);
    str(&mut out, "export");
    str(&mut out, export);
    str(&mut out, "params");
    array_len(&mut out, params.len());
    for param in params {
        str(&mut out, param);
    }
    out
}

fn str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if let Ok(len) = u8::try_from(len) {
        out.extend([0xd9, len]);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0xda);
        out.extend(len.to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend((len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn array_len(out: &mut Vec<u8>, len: usize) {
    if len < 16 {
        out.push(0x90 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0xdc);
        out.extend(len.to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend((len as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_entry() {
        let bytes = entry("add", "wasmtaps_task_add", &["a".into(), "b".into()]);
        let mut expected = vec![0x84, 0xa3, b'a', b'b', b'i', 0x01, 0xa4];
        expected.extend(b"name");
        expected.extend([0xa3]);
        expected.extend(b"add");
        expected.extend([0xa6]);
        expected.extend(b"export");
        expected.extend([0xb1]);
        expected.extend(b"wasmtaps_task_add");
        expected.extend([0xa6]);
        expected.extend(b"params");
        expected.extend([0x92, 0xa1, b'a', 0xa1, b'b']);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn long_strings_and_arrays() {
        let long = "x".repeat(40);
        let mut out = Vec::new();
        str(&mut out, &long);
        assert_eq!(&out[..2], &[0xd9, 40]);
        let mut out = Vec::new();
        str(&mut out, &"y".repeat(300));
        assert_eq!(&out[..3], &[0xda, 1, 44]);
        let mut out = Vec::new();
        array_len(&mut out, 20);
        assert_eq!(out, [0xdc, 0, 20]);
    }
}
