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
        Some("ok") => Ok(Value::from_trusted(body.to_vec())),
        Some("err") => Err(guest_error(body).map_err(malformed)?),
        Some(other) => Err(malformed(format!("unknown key {other:?}"))),
        None => Err(malformed("the key is not a string".into())),
    }
}

fn guest_error(body: &[u8]) -> Result<TaskError, String> {
    let value = rmpv::decode::read_value(&mut &body[..]).map_err(|e| e.to_string())?;
    let entries = value.as_map().ok_or("`err` is not a map")?;
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    };
    let kind = field("type")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or("`err.type` must be a non-empty string")?;
    let message = field("message")
        .and_then(|v| v.as_str())
        .ok_or("`err.message` must be a string")?;
    let traceback = match field("traceback") {
        None | Some(rmpv::Value::Nil) => None,
        Some(v) => Some(
            v.as_str()
                .ok_or("`err.traceback` must be a string or nil")?
                .to_owned(),
        ),
    };
    Ok(TaskError::new(ErrorKind::GuestError(kind.to_owned()), message).with_traceback(traceback))
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
}
