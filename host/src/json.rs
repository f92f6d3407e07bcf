//! MessagePack to JSON, streamed: a value is written token by token, never decoded into a
//! tree, so writing a guest's value costs the host a constant amount of memory.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value as Json;

use crate::msgpack::{Reader, Token};
use crate::terminal::TerminalSafeJson;
use crate::value::ValueError;

/// The deepest nesting written as JSON, as deep as `rmpv` decodes.
pub(crate) const MAX_DEPTH: usize = 1024;

enum Frame {
    Array { left: u64 },
    Map { left: u64 },
}

/// Writes the one MessagePack value in `bytes` to `out` as compact JSON, in the form
/// [`Value::to_json`](crate::Value::to_json) documents; strings are escaped as
/// [`TerminalSafeJson`] does. On an error, part of the JSON may have been written.
pub(crate) fn write(bytes: &[u8], out: &mut dyn Write) -> Result<(), ValueError> {
    let mut reader = Reader::new(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let malformed = |e: crate::msgpack::MsgpackError| ValueError::Malformed(e.to_string());
    loop {
        if matches!(stack.last(), Some(Frame::Map { .. })) {
            write_key(reader.token().map_err(malformed)?, out)?;
            out.write_all(b":")?;
        }
        match reader.token().map_err(malformed)? {
            Token::Array(n) | Token::Map(n) if n > 0 && stack.len() >= MAX_DEPTH => {
                return Err(ValueError::NotJson(format!(
                    "nesting deeper than {MAX_DEPTH} levels"
                )));
            }
            Token::Array(0) => out.write_all(b"[]")?,
            Token::Map(0) => out.write_all(b"{}")?,
            Token::Array(n) => {
                out.write_all(b"[")?;
                stack.push(Frame::Array { left: n });
                continue;
            }
            Token::Map(n) => {
                out.write_all(b"{")?;
                stack.push(Frame::Map { left: n });
                continue;
            }
            scalar => write_scalar(scalar, out)?,
        }
        // A value is complete: close every container it completes.
        loop {
            let (left, close) = match stack.last_mut() {
                None => return Ok(()),
                Some(Frame::Array { left }) => (left, b"]"),
                Some(Frame::Map { left }) => (left, b"}"),
            };
            *left -= 1;
            if *left > 0 {
                out.write_all(b",")?;
                break;
            }
            out.write_all(close)?;
            stack.pop();
        }
    }
}

fn string(s: &str, out: &mut dyn Write) -> Result<(), ValueError> {
    s.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        TerminalSafeJson,
    ))
    .map_err(|e| ValueError::Io(io::Error::other(e)))
}

fn byte_array(bytes: &[u8], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(out, "{b}")?;
    }
    out.write_all(b"]")
}

fn write_scalar(token: Token<'_>, out: &mut dyn Write) -> Result<(), ValueError> {
    match token {
        Token::Nil => out.write_all(b"null")?,
        Token::Bool(b) => write!(out, "{b}")?,
        Token::Uint(u) => write!(out, "{u}")?,
        Token::Int(i) => write!(out, "{i}")?,
        Token::F32(f) => float(f64::from(f), out)?,
        Token::F64(f) => float(f, out)?,
        Token::Str(raw) => match std::str::from_utf8(raw) {
            Ok(s) => string(s, out)?,
            Err(_) => byte_array(raw, out)?,
        },
        Token::Bin(raw) => byte_array(raw, out)?,
        Token::Ext(kind, raw) => {
            write!(out, "{{\"data\":")?;
            byte_array(raw, out)?;
            write!(out, ",\"ext\":{kind}}}")?;
        }
        Token::Array(_) | Token::Map(_) => {
            return Err(ValueError::Malformed(
                "a container where a scalar was expected".into(),
            ));
        }
    }
    Ok(())
}

fn float(f: f64, out: &mut dyn Write) -> Result<(), ValueError> {
    if !f.is_finite() {
        return Err(ValueError::NotJson(format!("float {f}")));
    }
    serde_json::to_writer(out, &f).map_err(|e| ValueError::Io(io::Error::other(e)))
}

fn write_key(token: Token<'_>, out: &mut dyn Write) -> Result<(), ValueError> {
    string(&key_text(token)?, out)
}

/// A map key as JSON has it: strings as they are, integers in decimal.
fn key_text(token: Token<'_>) -> Result<Cow<'_, str>, ValueError> {
    match token {
        Token::Str(raw) => std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| ValueError::NotJson("map key is a string that is not UTF-8".into())),
        Token::Uint(u) => Ok(Cow::Owned(u.to_string())),
        Token::Int(i) => Ok(Cow::Owned(i.to_string())),
        other => Err(ValueError::NotJson(format!(
            "map key {}",
            match other {
                Token::Nil => "nil",
                Token::Bool(_) => "of type bool",
                Token::F32(_) | Token::F64(_) => "of type float",
                Token::Bin(_) => "of type binary",
                Token::Ext(..) => "of type ext",
                Token::Array(_) => "of type array",
                _ => "of type map",
            }
        ))),
    }
}

/// A container being filled while [`tree`] reads its contents.
enum Open {
    Array(Vec<Json>, u64),
    Map(serde_json::Map<String, Json>, u64, String),
}

/// The JSON tree of the one MessagePack value in `bytes`, built without recursion and
/// without an intermediate MessagePack tree (each container grows as its items arrive,
/// never from its declared length).
pub(crate) fn tree(bytes: &[u8]) -> Result<Json, ValueError> {
    let mut reader = Reader::new(bytes);
    let mut stack: Vec<Open> = Vec::new();
    let malformed = |e: crate::msgpack::MsgpackError| ValueError::Malformed(e.to_string());
    loop {
        if let Some(Open::Map(_, _, key)) = stack.last_mut() {
            *key = key_text(reader.token().map_err(malformed)?)?.into_owned();
        }
        let mut value = match reader.token().map_err(malformed)? {
            Token::Array(n) | Token::Map(n) if n > 0 && stack.len() >= MAX_DEPTH => {
                return Err(ValueError::NotJson(format!(
                    "nesting deeper than {MAX_DEPTH} levels"
                )));
            }
            Token::Array(0) => Json::Array(Vec::new()),
            Token::Map(0) => Json::Object(serde_json::Map::new()),
            Token::Array(n) => {
                stack.push(Open::Array(Vec::new(), n));
                continue;
            }
            Token::Map(n) => {
                stack.push(Open::Map(serde_json::Map::new(), n, String::new()));
                continue;
            }
            scalar => scalar_json(scalar)?,
        };
        // Place the value, closing every container it completes.
        loop {
            let left = match stack.last_mut() {
                None => return Ok(value),
                Some(Open::Array(items, left)) => {
                    items.push(value);
                    left
                }
                Some(Open::Map(entries, left, key)) => {
                    entries.insert(std::mem::take(key), value);
                    left
                }
            };
            *left -= 1;
            if *left > 0 {
                break;
            }
            value = match stack.pop() {
                Some(Open::Array(items, _)) => Json::Array(items),
                Some(Open::Map(entries, _, _)) => Json::Object(entries),
                None => return Err(ValueError::Malformed("a container closed twice".into())),
            };
        }
    }
}

fn bytes_json(bytes: &[u8]) -> Json {
    Json::Array(bytes.iter().map(|b| Json::from(*b)).collect())
}

fn float_json(f: f64) -> Result<Json, ValueError> {
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| ValueError::NotJson(format!("float {f}")))
}

fn scalar_json(token: Token<'_>) -> Result<Json, ValueError> {
    Ok(match token {
        Token::Nil => Json::Null,
        Token::Bool(b) => Json::Bool(b),
        Token::Uint(u) => Json::from(u),
        Token::Int(i) => Json::from(i),
        Token::F32(f) => float_json(f64::from(f))?,
        Token::F64(f) => float_json(f)?,
        Token::Str(raw) => match std::str::from_utf8(raw) {
            Ok(s) => Json::String(s.to_owned()),
            Err(_) => bytes_json(raw),
        },
        Token::Bin(raw) => bytes_json(raw),
        Token::Ext(kind, raw) => serde_json::json!({"ext": kind, "data": raw}),
        Token::Array(_) | Token::Map(_) => {
            return Err(ValueError::Malformed(
                "a container where a scalar was expected".into(),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::value::{Value, ValueError};
    use rmpv::Value as V;

    fn value(v: &V) -> Value {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, v).unwrap();
        Value::from_msgpack(bytes).unwrap()
    }

    fn streamed(v: &Value) -> Result<serde_json::Value, ValueError> {
        let mut out = Vec::new();
        v.write_json(&mut out)?;
        Ok(serde_json::from_slice(&out).expect("the streamed JSON parses"))
    }

    #[test]
    fn streams_the_json_that_to_json_builds() {
        let cases = [
            V::Nil,
            V::from(true),
            V::from(0),
            V::from(127),
            V::from(-1),
            V::from(-33),
            V::from(-129),
            V::from(i64::MIN),
            V::from(u64::MAX),
            V::F32(0.1),
            V::F64(-2.5e300),
            V::from("plain \"quoted\" \\ é \u{1b}[2J"),
            V::Binary(vec![0, 1, 255]),
            V::Ext(-5, vec![9, 8]),
            V::Array(vec![]),
            V::Map(vec![]),
            V::Array(vec![
                V::Nil,
                V::Array(vec![V::from(1), V::Map(vec![])]),
                V::Map(vec![
                    (V::from("a"), V::Array(vec![V::from(2)])),
                    (V::from(7), V::from("seven")),
                    (V::from(-7), V::Nil),
                ]),
            ]),
        ];
        for case in &cases {
            let v = value(case);
            assert_eq!(streamed(&v).unwrap(), v.to_json().unwrap(), "{case}");
        }
        // A string that is not UTF-8 becomes its bytes, as binary does.
        let v = Value::from_msgpack(vec![0xa2, 0xff, 0xfe]).unwrap();
        assert_eq!(streamed(&v).unwrap(), v.to_json().unwrap());
        assert_eq!(v.to_json().unwrap(), serde_json::json!([255, 254]));
        let mixed = value(&V::Map(vec![
            (V::from(-7), V::Ext(-5, vec![9, 8])),
            (V::from("b"), V::Binary(vec![1])),
            (V::from("f"), V::F32(0.5)),
        ]));
        let expected = serde_json::json!({"-7": {"ext": -5, "data": [9, 8]}, "b": [1], "f": 0.5});
        assert_eq!(mixed.to_json().unwrap(), expected);
        assert_eq!(streamed(&mixed).unwrap(), expected);
    }

    #[test]
    fn refuses_what_has_no_json_form() {
        let not_json = |v: &V| {
            let e = streamed(&value(v)).unwrap_err();
            assert!(matches!(e, ValueError::NotJson(_)), "{v}: {e}");
            let e = value(v).to_json().unwrap_err();
            assert!(matches!(e, ValueError::NotJson(_)), "{v}: {e}");
        };
        not_json(&V::F64(f64::NAN));
        not_json(&V::Array(vec![V::F32(f32::INFINITY)]));
        not_json(&V::Map(vec![(V::from(true), V::Nil)]));
        not_json(&V::Map(vec![(V::Array(vec![]), V::Nil)]));
        let nested = |depth: usize| {
            let bytes: Vec<u8> = std::iter::repeat_n(0x91, depth).chain([0xc0]).collect();
            Value::from_msgpack(bytes).unwrap()
        };
        let to_sink = |v: Value| v.write_json(std::io::sink());
        assert!(to_sink(nested(super::MAX_DEPTH)).is_ok());
        assert!(nested(super::MAX_DEPTH).to_json().is_ok());
        assert!(matches!(
            to_sink(nested(super::MAX_DEPTH + 1)),
            Err(ValueError::NotJson(_))
        ));
        assert!(matches!(
            nested(super::MAX_DEPTH + 1).to_json(),
            Err(ValueError::NotJson(_))
        ));
        // A million levels are refused at the limit, without recursion.
        assert!(to_sink(nested(1_000_000)).is_err());
        assert!(nested(1_000_000).to_json().is_err());
    }

    #[test]
    fn debug_shows_a_bounded_prefix() {
        let small = value(&V::Array(vec![V::from(1), V::from("two")]));
        assert_eq!(format!("{small:?}"), r#"Value([1,"two"])"#);
        let big = value(&V::Array(vec![V::Nil; 100_000]));
        let shown = format!("{big:?}");
        assert!(shown.len() < 400, "{shown}");
        assert!(shown.starts_with("Value([null,null") && shown.ends_with("(100005 bytes))"));
    }
}
