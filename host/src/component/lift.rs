//! Component values to MessagePack: a task's result as every other task's.
//!
//! | WIT | MessagePack |
//! | --- | --- |
//! | bool, integers, floats | bool, int, float |
//! | char, string | str |
//! | `list<u8>` | bin |
//! | other lists, tuples | array |
//! | record | map by field name |
//! | `map<K, V>` | map |
//! | enum | str (the case name) |
//! | variant | str (the case name) when the case has no payload, else `{case: payload}` |
//! | `option<T>` | nil, or the value |
//! | `result<T, E>` (nested) | `{"ok": value}` or `{"err": value}` (nil without a payload) |
//! | flags | array of the names set |
//!
//! The recursion follows the value, whose depth the WIT type bounds (the loader refused
//! types nested deeper than [`MAX_TYPE_DEPTH`](super::wit::MAX_TYPE_DEPTH)).

use wasmtime::component::{Type, Val};

/// The value cannot be written within the result limit, or cannot be written at all.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LiftError {
    /// The encoded value passed `limit` bytes.
    TooLarge { limit: u64 },
    /// A value of a kind tasks do not return (a resource, stream or future).
    Unsupported(&'static str),
}

/// Encodes `value` of type `ty`, giving up once the encoding passes `limit` bytes.
pub(crate) fn lift(value: &Val, ty: &Type, limit: u64) -> Result<Vec<u8>, LiftError> {
    let mut out = Vec::new();
    write(&mut out, value, Some(ty), limit)?;
    Ok(out)
}

/// Writes `value`; its type `ty` tells a `list<u8>` (bin) from other lists, even empty.
fn write(out: &mut Vec<u8>, value: &Val, ty: Option<&Type>, limit: u64) -> Result<(), LiftError> {
    use rmp::encode as mp;
    const VEC: &str = "writing to a Vec cannot fail";
    if out.len() as u64 > limit {
        return Err(LiftError::TooLarge { limit });
    }
    match value {
        Val::Bool(b) => mp::write_bool(out, *b).expect(VEC),
        Val::S8(n) => write_int(out, i64::from(*n)),
        Val::S16(n) => write_int(out, i64::from(*n)),
        Val::S32(n) => write_int(out, i64::from(*n)),
        Val::S64(n) => write_int(out, *n),
        Val::U8(n) => write_uint(out, u64::from(*n)),
        Val::U16(n) => write_uint(out, u64::from(*n)),
        Val::U32(n) => write_uint(out, u64::from(*n)),
        Val::U64(n) => write_uint(out, *n),
        Val::Float32(x) => mp::write_f32(out, *x).expect(VEC),
        Val::Float64(x) => mp::write_f64(out, *x).expect(VEC),
        Val::Char(c) => mp::write_str(out, c.encode_utf8(&mut [0; 4])).expect(VEC),
        Val::String(s) => mp::write_str(out, s).expect(VEC),
        Val::List(items) | Val::FixedLengthList(items) => {
            let element = match ty {
                Some(Type::List(l)) => Some(l.ty()),
                Some(Type::FixedLengthList(l)) => Some(l.ty()),
                _ => None,
            };
            if element == Some(Type::U8) {
                let bytes: Vec<u8> = items
                    .iter()
                    .map(|v| match v {
                        Val::U8(b) => *b,
                        _ => 0,
                    })
                    .collect();
                mp::write_bin(out, &bytes).expect(VEC);
            } else {
                mp::write_array_len(out, len32(items.len())?).expect(VEC);
                for item in items {
                    write(out, item, element.as_ref(), limit)?;
                }
            }
        }
        Val::Map(pairs) => {
            let (key, val) = match ty {
                Some(Type::Map(m)) => (Some(m.key()), Some(m.value())),
                _ => (None, None),
            };
            mp::write_map_len(out, len32(pairs.len())?).expect(VEC);
            for (k, v) in pairs {
                write(out, k, key.as_ref(), limit)?;
                write(out, v, val.as_ref(), limit)?;
            }
        }
        Val::Record(fields) => {
            let types: Vec<Type> = match ty {
                Some(Type::Record(r)) => r.fields().map(|f| f.ty).collect(),
                _ => Vec::new(),
            };
            mp::write_map_len(out, len32(fields.len())?).expect(VEC);
            for (i, (name, v)) in fields.iter().enumerate() {
                mp::write_str(out, name).expect(VEC);
                write(out, v, types.get(i), limit)?;
            }
        }
        Val::Tuple(items) => {
            let types: Vec<Type> = match ty {
                Some(Type::Tuple(t)) => t.types().collect(),
                _ => Vec::new(),
            };
            mp::write_array_len(out, len32(items.len())?).expect(VEC);
            for (i, item) in items.iter().enumerate() {
                write(out, item, types.get(i), limit)?;
            }
        }
        Val::Enum(name) | Val::Variant(name, None) => mp::write_str(out, name).expect(VEC),
        Val::Variant(name, Some(payload)) => {
            let case = match ty {
                Some(Type::Variant(v)) => v.cases().find(|c| c.name == name).and_then(|c| c.ty),
                _ => None,
            };
            mp::write_map_len(out, 1).expect(VEC);
            mp::write_str(out, name).expect(VEC);
            write(out, payload, case.as_ref(), limit)?;
        }
        Val::Option(None) => mp::write_nil(out).expect(VEC),
        Val::Option(Some(v)) => {
            let inner = match ty {
                Some(Type::Option(o)) => Some(o.ty()),
                _ => None,
            };
            write(out, v, inner.as_ref(), limit)?;
        }
        Val::Result(result) => {
            let (case, payload, payload_ty) = match (result, ty) {
                (Ok(p), Some(Type::Result(r))) => ("ok", p, r.ok()),
                (Err(p), Some(Type::Result(r))) => ("err", p, r.err()),
                (Ok(p), _) => ("ok", p, None),
                (Err(p), _) => ("err", p, None),
            };
            mp::write_map_len(out, 1).expect(VEC);
            mp::write_str(out, case).expect(VEC);
            match payload {
                Some(v) => write(out, v, payload_ty.as_ref(), limit)?,
                None => mp::write_nil(out).expect(VEC),
            }
        }
        Val::Flags(names) => {
            mp::write_array_len(out, len32(names.len())?).expect(VEC);
            for name in names {
                mp::write_str(out, name).expect(VEC);
            }
        }
        Val::Resource(_) => return Err(LiftError::Unsupported("resource")),
        Val::Future(_) => return Err(LiftError::Unsupported("future")),
        Val::Stream(_) => return Err(LiftError::Unsupported("stream")),
        Val::ErrorContext(_) => return Err(LiftError::Unsupported("error-context")),
    }
    if out.len() as u64 > limit {
        return Err(LiftError::TooLarge { limit });
    }
    Ok(())
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    rmp::encode::write_sint(out, n).expect("writing to a Vec cannot fail");
}

fn write_uint(out: &mut Vec<u8>, n: u64) {
    rmp::encode::write_uint(out, n).expect("writing to a Vec cannot fail");
}

fn len32(len: usize) -> Result<u32, LiftError> {
    u32::try_from(len).map_err(|_| LiftError::TooLarge {
        limit: u64::from(u32::MAX),
    })
}
