//! Guest-chosen text made safe to print on a terminal.
//!
//! A guest chooses its error types and messages, its output and (through its manifest)
//! its task names. Printed raw, an escape sequence in any of them could move the cursor,
//! clear the screen, set the window title or reorder the text around it. Whatever prints
//! such text for a person goes through these; files keep the exact bytes (JSON and HTML
//! have escaping of their own).

use std::borrow::Cow;
use std::io;

/// Whether a terminal could act on `c` rather than show it: C0 controls, DEL, C1 controls
/// (which include 8-bit CSI) and the Unicode bidirectional formatting characters.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| acts_on_terminal(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts_on_terminal(c) && !keep(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for one line of a terminal: every character a terminal would act on, line
/// breaks and tabs included, becomes a visible escape such as `\u{1b}`.
///
/// # Examples
/// ```
/// assert_eq!(wasmtaps::terminal_line("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\u{a}c");
/// ```
pub fn terminal_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// [`terminal_line`] for text of several lines (a traceback, a summary): keeps `\n` and
/// `\t`, escapes everything else a terminal would act on (`\r` included).
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// A `serde_json` formatter whose output is safe to print on a terminal and still the
/// same JSON value: besides the control characters JSON always escapes, DEL, C1 controls
/// and bidirectional formatting characters in strings are written as `\uXXXX`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminalSafeJson;

impl serde_json::ser::Formatter for TerminalSafeJson {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if acts_on_terminal(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the Basic Multilingual Plane.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as compact JSON through [`TerminalSafeJson`].
///
/// # Errors
/// What serialising or writing failed with.
pub fn write_terminal_safe_json<W: io::Write, T: serde::Serialize + ?Sized>(
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
    fn json_stays_the_same_value_without_raw_controls() {
        let hostile = "a\u{1b}[31m\u{9b}\u{202e}\u{7f}z";
        let mut out = Vec::new();
        write_terminal_safe_json(&mut out, &serde_json::json!({"k": hostile})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#"{"k":"a\u001b[31m\u009b\u202e\u007fz"}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["k"], hostile);
    }
}
