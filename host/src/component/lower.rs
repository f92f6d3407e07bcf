//! MessagePack arguments to component values, by the function's WIT types.
//!
//! Each argument is walked token by token ([`Reader`]), never decoded into a tree first,
//! and nothing is allocated from a length the bytes declare: containers grow as their
//! elements are read, so the values built are bounded by a constant times the argument
//! bytes. The recursion follows the WIT type, whose depth the loader bounded
//! ([`MAX_TYPE_DEPTH`](super::wit::MAX_TYPE_DEPTH)); a value nested deeper than its type
//! fails at the first level that does not fit.

use std::fmt;

use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val};

use super::wit;
use crate::args::Args;
use crate::msgpack::{Reader, Token};

/// An argument that does not fit its parameter: the path to the value and what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub(crate) path: String,
    pub(crate) problem: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Binds `args` to the parameters of `func` (`task` names it in messages) and converts
/// each to its WIT type.
///
/// Keyword arguments match parameters by name; a Python-style name (`max_len`) also
/// matches the WIT name (`max-len`). A missing `option<T>` parameter is `none`.
///
/// # Errors
/// A message in the style of Python's `TypeError` when the arguments do not bind, or a
/// [`Mismatch`] naming the parameter and the path inside it.
pub(crate) fn lower_args(
    task: &str,
    func: &ComponentFunc,
    args: &Args,
) -> Result<Vec<Val>, String> {
    let params: Vec<(&str, Type)> = func.params().collect();
    let positional = args.positional();
    if positional.len() > params.len() {
        return Err(format!(
            "{task}() takes {} positional argument{} but {} were given",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            positional.len()
        ));
    }
    let mut slots: Vec<Option<&[u8]>> = positional.iter().map(|v| Some(v.as_msgpack())).collect();
    slots.resize(params.len(), None);
    for (name, value) in args.keyword() {
        let index = params
            .iter()
            .position(|(p, _)| *p == name || *p == name.replace('_', "-"))
            .ok_or_else(|| format!("{task}() got an unexpected keyword argument '{name}'"))?;
        if slots[index].is_some() {
            return Err(format!(
                "{task}() got multiple values for argument '{}'",
                params[index].0
            ));
        }
        slots[index] = Some(value.as_msgpack());
    }
    let missing: Vec<String> = params
        .iter()
        .zip(&slots)
        .filter(|((_, ty), slot)| slot.is_none() && !matches!(ty, Type::Option(_)))
        .map(|((name, _), _)| format!("'{name}'"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{task}() missing {} required argument{}: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    params
        .iter()
        .zip(slots)
        .map(|((name, ty), slot)| match slot {
            None => Ok(Val::Option(None)),
            Some(bytes) => lower_value(name, ty, bytes).map_err(|m| m.to_string()),
        })
        .collect()
}

/// Converts one MessagePack value to a value of `ty`; `name` starts the error path.
pub(crate) fn lower_value(name: &str, ty: &Type, bytes: &[u8]) -> Result<Val, Mismatch> {
    let mut lowering = Lowering {
        reader: Reader::new(bytes),
        path: vec![Segment::Name(name.to_owned())],
        values_left: values_allowed(bytes.len()),
    };
    lowering.value(ty)
}

/// How many component values an argument of `bytes` bytes may become: every value read
/// takes at least one byte, but a record's missing `option` fields take none, so a
/// small map could otherwise stand for millions of `none`s.
fn values_allowed(bytes: usize) -> usize {
    bytes.saturating_mul(2).saturating_add(64)
}

enum Segment {
    Name(String),
    Index(u64),
    Field(String),
}

struct Lowering<'a> {
    reader: Reader<'a>,
    path: Vec<Segment>,
    /// Values this argument may still become (see [`values_allowed`]).
    values_left: usize,
}

/// What a token is, for messages.
fn describe(token: &Token<'_>) -> String {
    match token {
        Token::Nil => "nil".into(),
        Token::Bool(b) => format!("bool {b}"),
        Token::Uint(n) => format!("integer {n}"),
        Token::Int(n) => format!("integer {n}"),
        Token::F32(_) | Token::F64(_) => "float".into(),
        Token::Str(_) => "string".into(),
        Token::Bin(_) => "bin".into(),
        Token::Ext(..) => "ext".into(),
        Token::Array(n) => format!("array of {n}"),
        Token::Map(n) => format!("map of {n}"),
    }
}

impl<'a> Lowering<'a> {
    fn fail(&self, problem: impl Into<String>) -> Mismatch {
        let mut path = String::new();
        for segment in &self.path {
            match segment {
                Segment::Name(n) => path.push_str(n),
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
                Segment::Field(f) => path.push_str(&format!(".{f}")),
            }
        }
        Mismatch {
            path,
            problem: problem.into(),
        }
    }

    fn expected(&self, ty: &Type, got: &Token<'_>) -> Mismatch {
        self.fail(format!(
            "expected {}, got {}",
            wit::type_name(ty),
            describe(got)
        ))
    }

    fn token(&mut self) -> Result<Token<'a>, Mismatch> {
        self.reader
            .token()
            .map_err(|e| self.fail(format!("malformed MessagePack: {e}")))
    }

    fn string(&self, bytes: &'a [u8]) -> Result<&'a str, Mismatch> {
        std::str::from_utf8(bytes).map_err(|_| self.fail("the string is not valid UTF-8"))
    }

    fn nested<T>(
        &mut self,
        segment: Segment,
        walk: impl FnOnce(&mut Self) -> Result<T, Mismatch>,
    ) -> Result<T, Mismatch> {
        self.path.push(segment);
        let result = walk(self)?;
        self.path.pop();
        Ok(result)
    }

    fn value(&mut self, ty: &Type) -> Result<Val, Mismatch> {
        let token = self.token()?;
        self.value_from(ty, token)
    }

    /// Counts one more value built, failing past the argument's allowance.
    fn spend(&mut self) -> Result<(), Mismatch> {
        self.values_left = self.values_left.checked_sub(1).ok_or_else(|| {
            self.fail("the value stands for more component values than its size allows (missing `option` fields)")
        })?;
        Ok(())
    }

    fn value_from(&mut self, ty: &Type, token: Token<'a>) -> Result<Val, Mismatch> {
        self.spend()?;
        macro_rules! int {
            ($variant:ident, $t:ty) => {{
                let fits = match token {
                    Token::Uint(n) => <$t>::try_from(n).ok(),
                    Token::Int(n) => <$t>::try_from(n).ok(),
                    _ => return Err(self.expected(ty, &token)),
                };
                match fits {
                    Some(n) => Val::$variant(n),
                    None => {
                        return Err(self.fail(format!(
                            "{} is out of range for {} ({}..={})",
                            describe(&token),
                            wit::type_name(ty),
                            <$t>::MIN,
                            <$t>::MAX
                        )));
                    }
                }
            }};
        }
        Ok(match ty {
            Type::Bool => match token {
                Token::Bool(b) => Val::Bool(b),
                _ => return Err(self.expected(ty, &token)),
            },
            Type::S8 => int!(S8, i8),
            Type::U8 => int!(U8, u8),
            Type::S16 => int!(S16, i16),
            Type::U16 => int!(U16, u16),
            Type::S32 => int!(S32, i32),
            Type::U32 => int!(U32, u32),
            Type::S64 => int!(S64, i64),
            Type::U64 => int!(U64, u64),
            Type::Float32 => Val::Float32(match token {
                Token::F32(x) => x,
                Token::F64(x) => x as f32,
                Token::Uint(n) => n as f32,
                Token::Int(n) => n as f32,
                _ => return Err(self.expected(ty, &token)),
            }),
            Type::Float64 => Val::Float64(match token {
                Token::F32(x) => f64::from(x),
                Token::F64(x) => x,
                Token::Uint(n) => n as f64,
                Token::Int(n) => n as f64,
                _ => return Err(self.expected(ty, &token)),
            }),
            Type::Char => match token {
                Token::Str(bytes) => {
                    let s = self.string(bytes)?;
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Val::Char(c),
                        _ => {
                            return Err(self.fail(format!(
                                "expected char (a string of one character), got a string of {} characters",
                                s.chars().count()
                            )));
                        }
                    }
                }
                _ => return Err(self.expected(ty, &token)),
            },
            Type::String => match token {
                Token::Str(bytes) => Val::String(self.string(bytes)?.to_owned()),
                _ => return Err(self.expected(ty, &token)),
            },
            Type::List(list) => Val::List(self.list(ty, &list.ty(), token, None)?),
            Type::FixedLengthList(list) => {
                Val::FixedLengthList(self.list(ty, &list.ty(), token, Some(list.len()))?)
            }
            Type::Map(map) => {
                let Token::Map(len) = token else {
                    return Err(self.expected(ty, &token));
                };
                let mut pairs = Vec::new();
                for i in 0..len {
                    let pair = self.nested(Segment::Index(i), |l| {
                        Ok((l.value(&map.key())?, l.value(&map.value())?))
                    })?;
                    pairs.push(pair);
                }
                Val::Map(pairs)
            }
            Type::Record(record) => {
                let fields: Vec<(String, Type)> =
                    record.fields().map(|f| (f.name.to_owned(), f.ty)).collect();
                match token {
                    Token::Array(len) => {
                        if len != fields.len() as u64 {
                            return Err(self.fail(format!(
                                "expected {} as an array of its {} fields, got an array of {len}",
                                wit::type_name(ty),
                                fields.len()
                            )));
                        }
                        let mut values = Vec::new();
                        for (name, field_ty) in fields {
                            let v =
                                self.nested(Segment::Field(name.clone()), |l| l.value(&field_ty))?;
                            values.push((name, v));
                        }
                        Val::Record(values)
                    }
                    Token::Map(len) => {
                        let mut values: Vec<Option<Val>> = fields.iter().map(|_| None).collect();
                        for _ in 0..len {
                            let key = match self.token()? {
                                Token::Str(k) => self.string(k)?,
                                other => {
                                    return Err(self.fail(format!(
                                        "record keys must be field names, got {}",
                                        describe(&other)
                                    )));
                                }
                            };
                            let index = fields
                                .iter()
                                .position(|(f, _)| f == key || *f == key.replace('_', "-"))
                                .ok_or_else(|| {
                                    self.fail(format!(
                                        "unknown field `{key}` (fields: {})",
                                        fields
                                            .iter()
                                            .map(|(f, _)| f.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ))
                                })?;
                            if values[index].is_some() {
                                return Err(self.fail(format!("field `{key}` given twice")));
                            }
                            let (name, field_ty) = &fields[index];
                            let v =
                                self.nested(Segment::Field(name.clone()), |l| l.value(field_ty))?;
                            values[index] = Some(v);
                        }
                        let mut record = Vec::new();
                        for ((name, field_ty), value) in fields.into_iter().zip(values) {
                            let value = match (value, &field_ty) {
                                (Some(v), _) => v,
                                (None, Type::Option(_)) => {
                                    self.spend()?;
                                    Val::Option(None)
                                }
                                (None, _) => {
                                    return Err(self.fail(format!("missing field `{name}`")));
                                }
                            };
                            record.push((name, value));
                        }
                        Val::Record(record)
                    }
                    _ => return Err(self.expected(ty, &token)),
                }
            }
            Type::Tuple(tuple) => {
                let types: Vec<Type> = tuple.types().collect();
                match token {
                    Token::Array(len) if len == types.len() as u64 => {
                        let mut values = Vec::new();
                        for (i, t) in types.iter().enumerate() {
                            values.push(self.nested(Segment::Index(i as u64), |l| l.value(t))?);
                        }
                        Val::Tuple(values)
                    }
                    _ => {
                        return Err(self.fail(format!(
                            "expected {} (an array of {}), got {}",
                            wit::type_name(ty),
                            types.len(),
                            describe(&token)
                        )));
                    }
                }
            }
            Type::Variant(variant) => {
                let (name, payload) = self.case_and_payload(ty, token)?;
                let case = variant.cases().find(|c| c.name == name).ok_or_else(|| {
                    self.fail(format!(
                        "unknown case `{name}` (cases: {})",
                        variant
                            .cases()
                            .map(|c| c.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                let payload = self.payload(name, case.ty.as_ref(), payload)?;
                Val::Variant(name.to_owned(), payload)
            }
            Type::Enum(cases) => match token {
                Token::Str(bytes) => {
                    let name = self.string(bytes)?;
                    if !cases.names().any(|c| c == name) {
                        return Err(self.fail(format!(
                            "unknown case `{name}` (cases: {})",
                            cases.names().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    Val::Enum(name.to_owned())
                }
                _ => return Err(self.expected(ty, &token)),
            },
            Type::Option(option) => match token {
                Token::Nil => Val::Option(None),
                other => Val::Option(Some(Box::new(self.value_from(&option.ty(), other)?))),
            },
            Type::Result(result) => {
                let (name, payload) = self.case_and_payload(ty, token)?;
                match name {
                    "ok" => Val::Result(Ok(self.payload("ok", result.ok().as_ref(), payload)?)),
                    "err" => {
                        Val::Result(Err(self.payload("err", result.err().as_ref(), payload)?))
                    }
                    other => {
                        return Err(self.fail(format!(
                            "expected {} as {{\"ok\": ...}} or {{\"err\": ...}}, got case `{other}`",
                            wit::type_name(ty)
                        )));
                    }
                }
            }
            Type::Flags(flags) => {
                let Token::Array(len) = token else {
                    return Err(self.expected(ty, &token));
                };
                let mut set = Vec::new();
                for i in 0..len {
                    let name = self.nested(Segment::Index(i), |l| match l.token()? {
                        Token::Str(bytes) => Ok(l.string(bytes)?.to_owned()),
                        other => {
                            Err(l.fail(format!("expected a flag name, got {}", describe(&other))))
                        }
                    })?;
                    if !flags.names().any(|f| f == name) {
                        return Err(self.fail(format!(
                            "unknown flag `{name}` (flags: {})",
                            flags.names().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    if !set.contains(&name) {
                        set.push(name);
                    }
                }
                Val::Flags(set)
            }
            Type::Own(_)
            | Type::Borrow(_)
            | Type::Future(_)
            | Type::Stream(_)
            | Type::ErrorContext => {
                return Err(self.fail(format!(
                    "{} cannot be passed as MessagePack",
                    wit::type_name(ty)
                )));
            }
        })
    }

    fn list(
        &mut self,
        ty: &Type,
        element: &Type,
        token: Token<'a>,
        exact_len: Option<u32>,
    ) -> Result<Vec<Val>, Mismatch> {
        let check_len = |l: &Self, len: u64| match exact_len {
            Some(want) if u64::from(want) != len => Err(l.fail(format!(
                "expected {} of exactly {want} elements, got {len}",
                wit::type_name(ty)
            ))),
            _ => Ok(()),
        };
        match (token, element) {
            (Token::Bin(bytes), Type::U8) => {
                check_len(self, bytes.len() as u64)?;
                Ok(bytes.iter().map(|&b| Val::U8(b)).collect())
            }
            (Token::Array(len), _) => {
                check_len(self, len)?;
                let mut values = Vec::new();
                for i in 0..len {
                    values.push(self.nested(Segment::Index(i), |l| l.value(element))?);
                }
                Ok(values)
            }
            (other, _) => Err(self.expected(ty, &other)),
        }
    }

    /// A variant or result case: `"name"` alone, or `{"name": payload}`.
    fn case_and_payload(
        &mut self,
        ty: &Type,
        token: Token<'a>,
    ) -> Result<(&'a str, Option<Token<'a>>), Mismatch> {
        match token {
            Token::Str(bytes) => Ok((self.string(bytes)?, None)),
            Token::Map(1) => {
                let name = match self.token()? {
                    Token::Str(bytes) => self.string(bytes)?,
                    other => {
                        return Err(self.fail(format!(
                            "expected a case name as the key, got {}",
                            describe(&other)
                        )));
                    }
                };
                let payload = self.token()?;
                Ok((name, Some(payload)))
            }
            other => Err(self.fail(format!(
                "expected {} as \"case\" or {{\"case\": payload}}, got {}",
                wit::type_name(ty),
                describe(&other)
            ))),
        }
    }

    fn payload(
        &mut self,
        case: &str,
        ty: Option<&Type>,
        payload: Option<Token<'a>>,
    ) -> Result<Option<Box<Val>>, Mismatch> {
        match (ty, payload) {
            (None, None | Some(Token::Nil)) => Ok(None),
            (None, Some(other)) => Err(self.fail(format!(
                "case `{case}` has no payload, got {}",
                describe(&other)
            ))),
            (Some(_), None) => Err(self.fail(format!(
                "case `{case}` needs a payload: {{\"{case}\": value}}"
            ))),
            (Some(t), Some(token)) => Ok(Some(Box::new(
                self.nested(Segment::Field(case.to_owned()), |l| l.value_from(t, token))?,
            ))),
        }
    }
}
