//! Component failures with the guest language's meaning: an error a task returns
//! through `result<T, E>`, and an uncaught Python exception.

use wasmtime::component::Val;

use crate::failure::{ErrorKind, TaskError};

/// The type recorded for a returned error that names none (a string, a number, ...).
const UNNAMED_ERROR_TYPE: &str = "Error";
/// The longest exception type name kept; a longer one is not taken as a type.
const MAX_TYPE_CHARS: usize = 256;
/// The most of a message or traceback kept, in bytes.
const MAX_TEXT_BYTES: usize = 64 << 10;

/// The failure for the error `E` of a `result<T, E>` the task returned.
///
/// - no payload: type `Error`, an empty message;
/// - a string: type `Error`, the string as its message;
/// - a record with a string `type` and/or `message` field (and optionally
///   `traceback`): those;
/// - a variant: the case's name as the type, its payload as the message (a string, or
///   a record's `message` field); an enum: the case's name;
/// - anything else: type `Error`, the value's debug form (bounded) as its message.
///
/// The type always goes through [`ErrorKind::from_guest_type`], so a guest cannot report
/// a failure under one of the host's type names.
pub(crate) fn returned_error(error: Option<&Val>) -> TaskError {
    let (kind, message, traceback) = match error {
        None => (None, String::new(), None),
        Some(Val::String(s)) => (None, s.clone(), None),
        Some(Val::Record(fields)) if has_text_field(fields, &["type", "message"]) => (
            text_field(fields, "type"),
            text_field(fields, "message").unwrap_or_default(),
            text_field(fields, "traceback"),
        ),
        Some(Val::Variant(case, payload)) => (
            Some(case.clone()),
            match payload.as_deref() {
                None => String::new(),
                Some(Val::String(s)) => s.clone(),
                Some(Val::Record(fields)) => {
                    text_field(fields, "message").unwrap_or_else(|| describe(payload.as_deref()))
                }
                Some(other) => describe(Some(other)),
            },
            None,
        ),
        Some(Val::Enum(case)) => (Some(case.clone()), String::new(), None),
        Some(other) => (None, describe(Some(other)), None),
    };
    let kind = kind
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| UNNAMED_ERROR_TYPE.to_owned());
    let (kind, message) = ErrorKind::from_guest_type(&bounded(kind), &bounded(message));
    TaskError::new(kind, message).with_traceback(traceback.map(bounded))
}

fn has_text_field(fields: &[(String, Val)], names: &[&str]) -> bool {
    fields
        .iter()
        .any(|(n, v)| names.contains(&n.as_str()) && matches!(v, Val::String(_)))
}

fn text_field(fields: &[(String, Val)], name: &str) -> Option<String> {
    fields.iter().find_map(|(n, v)| match v {
        Val::String(s) if n == name => Some(s.clone()),
        _ => None,
    })
}

/// A value as text for a message, bounded: formatting stops at the bound, so a huge
/// error value costs no more than the bound.
fn describe(value: Option<&Val>) -> String {
    struct Bounded(String);
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.0.len() + s.len() > MAX_TEXT_BYTES {
                return Err(std::fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    let Some(value) = value else {
        return String::new();
    };
    let mut text = Bounded(String::new());
    if std::fmt::Write::write_fmt(&mut text, format_args!("{value:?}")).is_err() {
        text.0.push('…');
    }
    text.0
}

fn bounded(mut text: String) -> String {
    truncate(&mut text, MAX_TEXT_BYTES);
    text
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// An uncaught Python or JavaScript exception, from what the interpreter printed before
/// it trapped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GuestException {
    /// The class name (`KeyError`; a module-qualified name loses its module).
    pub(crate) type_name: String,
    /// Its `str()`.
    pub(crate) message: String,
    /// The whole traceback as printed.
    pub(crate) traceback: String,
}

const TRACEBACK_HEADER: &str = "Traceback (most recent call last):";

/// Finds the last Python traceback in `stderr` and reads the exception it ends with.
///
/// A traceback is its header line, indented frame lines, and the exception line
/// `Type: message` (the message may continue on further lines, up to a blank line).
/// Anything that does not have that shape is not taken for an exception.
pub(crate) fn python_exception(stderr: &[u8]) -> Option<GuestException> {
    let text = String::from_utf8_lossy(stderr);
    let start = text.rfind(TRACEBACK_HEADER)?;
    let block = text[start..].trim_end();
    let lines: Vec<&str> = block.lines().collect();
    let at = 1 + lines[1..]
        .iter()
        .position(|l| !(l.is_empty() || l.starts_with(' ') || l.starts_with('\t')))?;
    let line = lines[at];
    let (qualified, first) = match line.split_once(": ") {
        Some((t, m)) => (t, m),
        None => (line.trim_end_matches(':'), ""),
    };
    let type_name = qualified.rsplit('.').next().unwrap_or(qualified);
    let is_identifier = !type_name.is_empty()
        && type_name.len() <= MAX_TYPE_CHARS
        && !type_name.starts_with(|c: char| c.is_ascii_digit())
        && type_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let qualified_ok = qualified
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !is_identifier || !qualified_ok {
        return None;
    }
    // The message runs to the first blank line: after it, componentize-py's runtime
    // reports its own panic, which is not part of the exception.
    let mut message = first.to_owned();
    let mut end = at + 1;
    for more in lines[at + 1..].iter().take_while(|l| !l.trim().is_empty()) {
        message.push('\n');
        message.push_str(more);
        end += 1;
    }
    Some(GuestException {
        type_name: type_name.to_owned(),
        message: bounded(message),
        traceback: bounded(lines[..end].join("\n")),
    })
}

/// An uncaught JavaScript error, from what the JS runtime printed before it trapped:
/// componentize-qjs (QuickJS) prints the error's message and stack as Rust string
/// literals, `Exception { message: Some("TypeError: ..."), stack: Some("...") }`;
/// componentize-js (SpiderMonkey) prints `<message>\nStack:\n  <frames>` and then
/// `Redirecting call to abort() to mozalloc_abort`. A message that starts with a class
/// name (`TypeError: ...`) gives the type; otherwise the type is `Error`.
pub(crate) fn js_exception(stderr: &[u8]) -> Option<GuestException> {
    let text = String::from_utf8_lossy(stderr);
    let (message, stack) = if let Some(at) = text.rfind("Exception { message: Some(\"") {
        let rest = &text[at + "Exception { message: Some(".len()..];
        let (message, rest) = rust_string_literal(rest)?;
        let stack = rest
            .find("stack: Some(\"")
            .and_then(|s| rust_string_literal(&rest[s + "stack: Some(".len()..]))
            .map(|(stack, _)| stack);
        (message, stack)
    } else {
        let end = text.rfind("\nRedirecting call to abort() to mozalloc_abort")?;
        let body = text[..end].trim();
        let (message, stack) = body.rsplit_once("\nStack:\n")?;
        (message.trim().to_owned(), Some(stack.trim_end().to_owned()))
    };
    let (type_name, message) = match message.split_once(": ") {
        Some((class, rest)) if is_class_name(class) => (class.to_owned(), rest.to_owned()),
        _ => (UNNAMED_ERROR_TYPE.to_owned(), message),
    };
    Some(GuestException {
        type_name,
        message: bounded(message),
        traceback: bounded(stack.unwrap_or_default()),
    })
}

fn is_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TYPE_CHARS
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a Rust `Debug`-formatted string literal at the start of `text` (which starts
/// with its opening quote): the string and the text after its closing quote.
fn rust_string_literal(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'u' => {
                    let (start, brace) = chars.next()?;
                    if brace != '{' {
                        return None;
                    }
                    let end = text[start..].find('}')? + start;
                    let code = u32::from_str_radix(&text[start + 1..end], 16).ok()?;
                    out.push(char::from_u32(code)?);
                    while chars.next()?.0 < end {}
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The message of a Rust panic, from what the standard library printed before the
/// guest trapped (`thread '<unnamed>' panicked at src/lib.rs:5:9:` and the message on
/// the lines after it, up to the `note:` line).
pub(crate) fn rust_panic(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let at = text.rfind(" panicked at ")?;
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    if !text[line_start..].starts_with("thread '") {
        return None;
    }
    let after = &text[at..];
    let message: Vec<&str> = after
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("note: "))
        .collect();
    let message = message.join("\n").trim().to_owned();
    (!message.is_empty()).then(|| bounded(message))
}

impl GuestException {
    /// The task's failure: the class name through [`ErrorKind::from_guest_type`], so a
    /// Python class named like a host failure cannot pass for one.
    pub(crate) fn into_task_error(self) -> TaskError {
        let (kind, message) = ErrorKind::from_guest_type(&self.type_name, &self.message);
        TaskError::new(kind, message).with_traceback(Some(self.traceback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_traceback_and_its_exception() {
        // What componentize-py 0.25 prints before it traps.
        let stderr = b"some output\nTraceback (most recent call last):\n  File \"app.py\", line 3, in fail_uncaught\n    return {}[key]\n           ~~^^^^^\nKeyError: 'missing'\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        let e = python_exception(stderr).unwrap();
        assert_eq!(e.type_name, "KeyError");
        assert_eq!(e.message, "'missing'");
        assert!(e.traceback.starts_with(TRACEBACK_HEADER));
        assert!(
            e.traceback.ends_with("KeyError: 'missing'"),
            "{}",
            e.traceback
        );
        assert!(e.traceback.contains("app.py"));
        let e = python_exception(
            b"Traceback (most recent call last):\n  File \"x\"\nValueError: two\nlines\n\nafter",
        )
        .unwrap();
        assert_eq!(e.message, "two\nlines");
        let e = python_exception(
            b"Traceback (most recent call last):\n  File \"x\", line 1\njson.decoder.JSONDecodeError: Expecting value: line 1\n",
        )
        .unwrap();
        assert_eq!(e.type_name, "JSONDecodeError");
        assert_eq!(e.message, "Expecting value: line 1");
        let e =
            python_exception(b"Traceback (most recent call last):\n  File \"x\"\nStopIteration\n")
                .unwrap();
        assert_eq!(
            (e.type_name.as_str(), e.message.as_str()),
            ("StopIteration", "")
        );
    }

    #[test]
    fn reads_uncaught_javascript_errors() {
        // componentize-qjs 0.4.5.
        let qjs = br#"
thread '<unnamed>' (1) panicked at crates/runtime/src/interpreter.rs:51:31:
Failed to call 'failUncaught': Exception(Exception { message: Some("TypeError: cannot read property 'nope' of null \"q\" \u{e9}"), stack: Some("    at failUncaught (/examples/js/app.js:94:18)\n    at apply (native)\n") })
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;
        let e = js_exception(qjs).unwrap();
        assert_eq!(e.type_name, "TypeError");
        assert_eq!(e.message, "cannot read property 'nope' of null \"q\" é");
        assert_eq!(
            e.traceback,
            "    at failUncaught (/examples/js/app.js:94:18)\n    at apply (native)\n"
        );
        // componentize-js 0.23 (SpiderMonkey) prints no class name.
        let sm = b"can't access property \"nope\", missing is null\nStack:\n  failUncaught@examples/js/app.js:94:3\n\nRedirecting call to abort() to mozalloc_abort\n\n";
        let e = js_exception(sm).unwrap();
        assert_eq!(e.type_name, "Error");
        assert_eq!(e.message, "can't access property \"nope\", missing is null");
        assert_eq!(e.traceback, "  failUncaught@examples/js/app.js:94:3");
        assert_eq!(
            js_exception(b"Exception { message: Some(\"unterminated"),
            None
        );
        assert_eq!(js_exception(b"plain text"), None);
    }

    #[test]
    fn reads_a_rust_panic_message() {
        let stderr = b"\nthread '<unnamed>' (1) panicked at src/lib.rs:7:5:\nindex out of bounds: the len is 3\nbut the index is 9\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            rust_panic(stderr).as_deref(),
            Some("index out of bounds: the len is 3\nbut the index is 9")
        );
        assert_eq!(rust_panic(b"no panic here"), None);
    }

    #[test]
    fn text_without_a_traceback_is_not_an_exception() {
        assert_eq!(python_exception(b"KeyError: 'x'\n"), None);
        assert_eq!(
            python_exception(b"Traceback (most recent call last):\n  File \"x\"\n"),
            None
        );
        assert_eq!(
            python_exception(b"Traceback (most recent call last):\nnot a type: x\n"),
            None
        );
    }

    #[test]
    fn a_python_class_cannot_pass_for_a_host_failure() {
        let e =
            python_exception(b"Traceback (most recent call last):\n  File \"x\"\nTimeout: no\n")
                .unwrap()
                .into_task_error();
        assert_eq!(e.type_name(), "GuestError");
        assert!(e.message().contains("Timeout"), "{}", e.message());
    }

    #[test]
    fn returned_errors_take_type_and_message_from_their_shape() {
        let e = returned_error(Some(&Val::String("bad".into())));
        assert_eq!((e.type_name(), e.message()), ("Error", "bad"));
        let e = returned_error(Some(&Val::Record(vec![
            ("type".into(), Val::String("InjectedFailure".into())),
            ("message".into(), Val::String("boom".into())),
        ])));
        assert_eq!((e.type_name(), e.message()), ("InjectedFailure", "boom"));
        let e = returned_error(Some(&Val::Variant(
            "not-found".into(),
            Some(Box::new(Val::String("k".into()))),
        )));
        assert_eq!((e.type_name(), e.message()), ("not-found", "k"));
        let e = returned_error(Some(&Val::Enum("HostError".into())));
        assert_eq!(e.type_name(), "GuestError");
        let e = returned_error(None);
        assert_eq!((e.type_name(), e.message()), ("Error", ""));
        let e = returned_error(Some(&Val::U32(7)));
        assert_eq!(e.type_name(), "Error");
        assert!(e.message().contains('7'));
        let huge = Val::List(vec![Val::U32(1); 1 << 20]);
        let e = returned_error(Some(&huge));
        assert!(
            e.message().len() <= MAX_TEXT_BYTES + 4,
            "{}",
            e.message().len()
        );
        assert!(e.message().ends_with('…'));
    }
}
