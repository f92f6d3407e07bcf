//! The terminal-safe JSON formatter that [`Value::write_json`](crate::Value::write_json)
//! writes strings with.
//!
//! A guest chooses its error types and messages, its output and (through its manifest)
//! its task names. Printed raw, an escape sequence in any of them could move the cursor,
//! clear the screen, set the window title or reorder the text around it. JSON written
//! through [`TerminalSafeJson`] is the same JSON value with every such character escaped,
//! so it is safe to print; [`TerminalSafeJson::escapes`] is the one definition of "such a
//! character" for whatever else prints guest text (the `wasmtaps` command line does).

use std::io;

/// A `serde_json` formatter whose output is safe to print on a terminal and still the
/// same JSON value: besides the control characters JSON always escapes, DEL, C1 controls
/// and bidirectional formatting characters in strings are written as `\uXXXX`.
///
/// # Examples
/// ```
/// use serde::Serialize;
/// let mut out = Vec::new();
/// "a\u{1b}[2Jb\u{202e}"
///     .serialize(&mut serde_json::Serializer::with_formatter(&mut out, wasmtaps::value::TerminalSafeJson))?;
/// assert_eq!(out, br#""a\u001b[2Jb\u202e""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminalSafeJson;

impl TerminalSafeJson {
    /// Whether a terminal could act on `c` rather than show it, so that it is escaped:
    /// C0 controls, DEL, C1 controls (which include 8-bit CSI) and the Unicode
    /// bidirectional formatting characters.
    pub fn escapes(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    }
}

impl serde_json::ser::Formatter for TerminalSafeJson {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if Self::escapes(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the Basic Multilingual Plane.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    #[test]
    fn json_stays_the_same_value_without_raw_controls() {
        let hostile = "a\u{1b}[31m\u{9b}\u{202e}\u{7f}z";
        let mut out = Vec::new();
        serde_json::json!({"k": hostile})
            .serialize(&mut serde_json::Serializer::with_formatter(
                &mut out,
                TerminalSafeJson,
            ))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#"{"k":"a\u001b[31m\u009b\u202e\u007fz"}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["k"], hostile);
    }
}
