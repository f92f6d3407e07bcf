//! Guest-chosen text made safe to print on a terminal.
//!
//! A guest chooses its error types and messages, its output and (through its manifest)
//! its task names. Whatever prints such text for a person goes through these; files keep
//! the exact bytes (JSON and HTML have escaping of their own). Which characters a terminal
//! would act on is the library's [`TerminalSafeJson::escapes`], so JSON and plain text
//! escape the same set.

use std::borrow::Cow;
use std::io;

use wasmtaps::value::TerminalSafeJson;

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| TerminalSafeJson::escapes(c) && !keep(c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for one line of a terminal: every character a terminal would act on, line
/// breaks and tabs included, becomes a visible escape such as `\u{1b}`.
pub(crate) fn terminal_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// [`terminal_line`] for text of several lines (a traceback, a summary): keeps `\n` and
/// `\t`, escapes everything else a terminal would act on (`\r` included).
pub(crate) fn terminal_text(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// Writes `value` as compact JSON through [`TerminalSafeJson`].
///
/// # Errors
/// What serialising or writing failed with.
pub(crate) fn write_terminal_safe_json<W: io::Write, T: serde::Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        TerminalSafeJson,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        let hostile = "ok\u{1b}]0;owned\u{7}\r\u{9b}2J\u{202e}txt.exe\u{7f}\tend\n";
        assert_eq!(
            terminal_line(hostile),
            "ok\\u{1b}]0;owned\\u{7}\\u{d}\\u{9b}2J\\u{202e}txt.exe\\u{7f}\\u{9}end\\u{a}"
        );
        assert_eq!(
            terminal_text(hostile),
            "ok\\u{1b}]0;owned\\u{7}\\u{d}\\u{9b}2J\\u{202e}txt.exe\\u{7f}\tend\n"
        );
        assert!(matches!(terminal_line("plain é 日本"), Cow::Borrowed(_)));
        // Idempotent: escaped text has nothing left to escape.
        assert_eq!(
            terminal_line(&terminal_line(hostile)),
            terminal_line(hostile)
        );
    }

    #[test]
    fn json_is_written_through_the_terminal_safe_formatter() {
        let mut out = Vec::new();
        write_terminal_safe_json(&mut out, &serde_json::json!({"k": "a\u{1b}z"})).unwrap();
        assert_eq!(out, br#"{"k":"a\u001bz"}"#);
    }
}
