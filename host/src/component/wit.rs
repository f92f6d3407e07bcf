//! WIT types as text (for signatures) and which of them a task can pass.

use std::fmt::Write;

use wasmtime::component::Type;
use wasmtime::component::types::ComponentFunc;

/// How deeply a task's WIT types may nest. The host walks values by their type
/// recursively, so a component declaring a type nested thousands of levels deep could
/// otherwise exhaust the host's stack; such a function is listed as not callable.
pub(crate) const MAX_TYPE_DEPTH: usize = 64;

/// The longest signature kept for display; a longer one is cut with `…`.
const MAX_SIGNATURE_CHARS: usize = 4096;

/// Why a function cannot be a task, if it cannot: it takes or returns a resource, a
/// stream, a future or an error context, is `async`, or its types nest too deeply.
///
/// The walk visits each function's types as trees. Shared types could make a tree
/// exponentially larger than the binary, but wasmparser refuses a component whose
/// effective type size passes 1,000,000 (five functions over a 2^18-node type already
/// fail to load), which bounds the walk.
pub(crate) fn uncallable_reason(func: &ComponentFunc) -> Option<String> {
    if func.async_() {
        return Some("it is an async function, which tasks do not support".into());
    }
    for (name, ty) in func.params() {
        if let Err(why) = passable(&ty, 0) {
            return Some(format!("parameter `{name}` {why}"));
        }
    }
    for ty in func.results() {
        if let Err(why) = passable(&ty, 0) {
            return Some(format!("its result {why}"));
        }
    }
    None
}

fn passable(ty: &Type, depth: usize) -> Result<(), String> {
    if depth > MAX_TYPE_DEPTH {
        return Err(format!(
            "has types nested more than {MAX_TYPE_DEPTH} levels deep"
        ));
    }
    let next = depth + 1;
    match ty {
        Type::Own(_) | Type::Borrow(_) => {
            Err("is or holds a resource, which cannot be passed as MessagePack".into())
        }
        Type::Future(_) => Err("is or holds a future, which tasks do not support".into()),
        Type::Stream(_) => Err("is or holds a stream, which tasks do not support".into()),
        Type::ErrorContext => {
            Err("is or holds an error-context, which tasks do not support".into())
        }
        Type::List(l) => passable(&l.ty(), next),
        Type::FixedLengthList(l) => passable(&l.ty(), next),
        Type::Map(m) => {
            passable(&m.key(), next)?;
            passable(&m.value(), next)
        }
        Type::Record(r) => r.fields().try_for_each(|f| passable(&f.ty, next)),
        Type::Tuple(t) => t.types().try_for_each(|t| passable(&t, next)),
        Type::Variant(v) => v
            .cases()
            .try_for_each(|c| c.ty.map_or(Ok(()), |t| passable(&t, next))),
        Type::Option(o) => passable(&o.ty(), next),
        Type::Result(r) => {
            if let Some(ok) = r.ok() {
                passable(&ok, next)?;
            }
            r.err().map_or(Ok(()), |e| passable(&e, next))
        }
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => Ok(()),
    }
}

/// The function's signature in WIT syntax, such as `func(a: s64, b: s64) -> s64`, with
/// records, variants, enums and flags spelled out (a component does not name them).
pub(crate) fn signature(func: &ComponentFunc) -> String {
    let mut out = String::from(if func.async_() {
        "async func("
    } else {
        "func("
    });
    for (i, (name, ty)) in func.params().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{name}: ");
        render(&ty, &mut out, 0);
    }
    out.push(')');
    for ty in func.results() {
        out.push_str(" -> ");
        render(&ty, &mut out, 0);
    }
    if out.chars().count() > MAX_SIGNATURE_CHARS {
        out = out.chars().take(MAX_SIGNATURE_CHARS).collect();
        out.push('…');
    }
    out
}

/// The name of a type's kind, for messages (`expected u8, got string`).
pub(crate) fn type_name(ty: &Type) -> String {
    let mut out = String::new();
    render(ty, &mut out, MAX_TYPE_DEPTH - 2);
    out
}

fn render(ty: &Type, out: &mut String, depth: usize) {
    if depth >= MAX_TYPE_DEPTH || out.len() > MAX_SIGNATURE_CHARS {
        out.push('…');
        return;
    }
    let next = depth + 1;
    let simple = match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        Type::Own(_) => "own<resource>",
        Type::Borrow(_) => "borrow<resource>",
        _ => "",
    };
    if !simple.is_empty() {
        out.push_str(simple);
        return;
    }
    match ty {
        Type::List(l) => {
            out.push_str("list<");
            render(&l.ty(), out, next);
            out.push('>');
        }
        Type::FixedLengthList(l) => {
            out.push_str("list<");
            render(&l.ty(), out, next);
            let _ = write!(out, ", {}>", l.len());
        }
        Type::Map(m) => {
            out.push_str("map<");
            render(&m.key(), out, next);
            out.push_str(", ");
            render(&m.value(), out, next);
            out.push('>');
        }
        Type::Record(r) => {
            out.push_str("record { ");
            for (i, f) in r.fields().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", f.name);
                render(&f.ty, out, next);
            }
            out.push_str(" }");
        }
        Type::Tuple(t) => {
            out.push_str("tuple<");
            for (i, t) in t.types().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(&t, out, next);
            }
            out.push('>');
        }
        Type::Variant(v) => {
            out.push_str("variant { ");
            for (i, c) in v.cases().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(c.name);
                if let Some(t) = c.ty {
                    out.push('(');
                    render(&t, out, next);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        Type::Enum(e) => {
            let _ = write!(
                out,
                "enum {{ {} }}",
                e.names().collect::<Vec<_>>().join(", ")
            );
        }
        Type::Flags(f) => {
            let _ = write!(
                out,
                "flags {{ {} }}",
                f.names().collect::<Vec<_>>().join(", ")
            );
        }
        Type::Option(o) => {
            out.push_str("option<");
            render(&o.ty(), out, next);
            out.push('>');
        }
        Type::Result(r) => {
            out.push_str("result");
            match (r.ok(), r.err()) {
                (None, None) => {}
                (Some(ok), None) => {
                    out.push('<');
                    render(&ok, out, next);
                    out.push('>');
                }
                (ok, Some(err)) => {
                    out.push('<');
                    match ok {
                        Some(ok) => render(&ok, out, next),
                        None => out.push('_'),
                    }
                    out.push_str(", ");
                    render(&err, out, next);
                    out.push('>');
                }
            }
        }
        Type::Future(f) => {
            out.push_str("future");
            if let Some(t) = f.ty() {
                out.push('<');
                render(&t, out, next);
                out.push('>');
            }
        }
        Type::Stream(s) => {
            out.push_str("stream");
            if let Some(t) = s.ty() {
                out.push('<');
                render(&t, out, next);
                out.push('>');
            }
        }
        _ => {}
    }
}
