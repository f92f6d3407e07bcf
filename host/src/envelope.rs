//! Decoding the guest's result envelope: `{"ok": value}` or `{"err": {...}}`.

use crate::failure::{AbiViolation, ErrorKind, TaskError};
use crate::msgpack::{self, Reader};
use crate::value::Value;

/// Decodes a result envelope read out of guest memory.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, TaskError> {
    let malformed = |what: String| {
        TaskError::new(
            ErrorKind::Abi(AbiViolation::MalformedResult),
            format!(
                "result is not a valid {{\"ok\": value}} or {{\"err\": {{...}}}} envelope: {what}"
            ),
        )
    };
    msgpack::check_single(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut r = Reader::new(bytes);
    match r.map_len().map_err(|e| malformed(e.to_string()))? {
        Some(1) => {}
        Some(n) => return Err(malformed(format!("the map has {n} entries, not 1"))),
        None => return Err(malformed("it is not a map".into())),
    }
    let key = r.str().map_err(|e| malformed(e.to_string()))?;
    let start = r.pos();
    r.skip_value().map_err(|e| malformed(e.to_string()))?;
    let body = r.span(start, r.pos());
    match key {
        Some("ok") => Ok(Value::from_trusted_slice(body)),
        Some("err") => Err(guest_error(body).map_err(malformed)?),
        Some(other) => Err(malformed(format!("unknown key {other:?}"))),
        None => Err(malformed("the key is not a string".into())),
    }
}

/// Reads the `err` body by walking it: a map whose `type`, `message` and `traceback` are
/// borrowed from `body` and copied once, every other entry skipped without decoding. The
/// host allocates nothing else, whatever the body holds.
fn guest_error(body: &[u8]) -> Result<TaskError, String> {
    let mut r = Reader::new(body);
    let entries = r
        .map_len()
        .map_err(|e| e.to_string())?
        .ok_or("`err` is not a map")?;
    let (mut kind, mut message, mut traceback) = (None, None, None);
    for _ in 0..entries {
        let key = r.str_or_skip().map_err(|e| e.to_string())?;
        let slot = match key {
            Some("type") => &mut kind,
            Some("message") => &mut message,
            Some("traceback") => {
                if r.nil().map_err(|e| e.to_string())? {
                    continue;
                }
                &mut traceback
            }
            // Unknown keys are ignored (reserved for later revisions of the ABI).
            _ => {
                r.skip_value().map_err(|e| e.to_string())?;
                continue;
            }
        };
        let name = key.unwrap_or_default();
        let value = r
            .str()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| match name {
                "traceback" => "`err.traceback` must be a string or nil".to_owned(),
                _ => format!("`err.{name}` must be a string"),
            })?;
        if slot.replace(value).is_some() {
            return Err(format!("`err` has the key {name:?} twice"));
        }
    }
    let kind = kind
        .filter(|s| !s.is_empty())
        .ok_or("`err.type` must be a non-empty string")?;
    let message = message.ok_or("`err.message` must be a string")?;
    let (kind, message) = ErrorKind::from_guest_type(kind, message);
    Ok(TaskError::new(kind, message).with_traceback(traceback.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ok_err_and_rejects_the_rest() {
        let ok = rmp_serde::to_vec_named(&std::collections::BTreeMap::from([("ok", 3)])).unwrap();
        assert_eq!(decode(&ok).unwrap().decode::<i64>().unwrap(), 3);
        let err = rmpv::Value::Map(vec![(
            "err".into(),
            rmpv::Value::Map(vec![
                ("type".into(), "ValueError".into()),
                ("message".into(), "bad".into()),
                ("traceback".into(), rmpv::Value::Nil),
            ]),
        )]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &err).unwrap();
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.type_name(), "ValueError");
        assert_eq!(e.message(), "bad");
        for bad in [
            &[0x90][..],
            &[0x81, 0xa2, b'n', b'o', 0xc0],
            &[0x81, 0xa2, b'o', b'k'],
            &[],
        ] {
            assert_eq!(decode(bad).unwrap_err().type_name(), "MalformedResult");
        }
    }

    fn err_envelope(body: rmpv::Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &rmpv::Value::Map(vec![("err".into(), body)]))
            .unwrap();
        bytes
    }

    #[test]
    fn walks_the_err_body_skipping_what_it_does_not_know() {
        use rmpv::Value as V;
        let body = V::Map(vec![
            (V::from(7), V::Array(vec![V::Nil; 1000])),
            (
                "extra".into(),
                V::Map(vec![("deep".into(), V::Array(vec![]))]),
            ),
            ("traceback".into(), "at line 3".into()),
            ("message".into(), "bad".into()),
            ("type".into(), "ParseIntError".into()),
        ]);
        let e = decode(&err_envelope(body)).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::GuestError("ParseIntError".into()));
        assert_eq!(e.message(), "bad");
        assert_eq!(e.traceback(), Some("at line 3"));

        let malformed = |body: V, what: &str| {
            let e = decode(&err_envelope(body)).unwrap_err();
            assert_eq!(e.type_name(), "MalformedResult", "{e}");
            assert!(e.message().contains(what), "{e} should say {what}");
        };
        let field = |k: &str, v: V| (V::from(k), v);
        malformed(V::Array(vec![V::Nil; 100]), "`err` is not a map");
        malformed(
            V::Map(vec![field("type", "A".into()), field("message", V::Nil)]),
            "`err.message` must be a string",
        );
        malformed(
            V::Map(vec![field("type", "".into()), field("message", "m".into())]),
            "non-empty",
        );
        malformed(
            V::Map(vec![
                field("type", "A".into()),
                field("message", "m".into()),
                field("traceback", 3.into()),
            ]),
            "string or nil",
        );
        malformed(
            V::Map(vec![
                field("type", "A".into()),
                field("type", "Timeout".into()),
                field("message", "m".into()),
            ]),
            "twice",
        );
        malformed(V::Map(vec![field("message", "m".into())]), "`err.type`");
    }

    #[test]
    fn a_guest_error_cannot_claim_a_host_type() {
        let body = |ty: &str| {
            rmpv::Value::Map(vec![
                ("type".into(), ty.into()),
                ("message".into(), "took too long".into()),
            ])
        };
        let e = decode(&err_envelope(body("Timeout"))).unwrap_err();
        assert!(!e.is_timeout());
        assert_eq!(e.type_name(), "GuestError");
        assert!(e.message().contains("\"Timeout\""), "{e}");
        let e = decode(&err_envelope(body("ArgumentError"))).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::ArgumentError);
        assert_eq!(e.message(), "took too long");
    }
}
