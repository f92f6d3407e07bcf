//! Guest errors (`Err` results) and panics.

use std::fmt;
use std::num::ParseIntError;

use wasmtaps_guest::task;

/// Parses `text` (surrounding whitespace allowed) as an integer; a bad number is a
/// guest error of type `ParseIntError`.
#[task]
pub fn parse_int(text: String) -> Result<i64, ParseIntError> {
    text.trim().parse()
}

/// The error of [`divide`] by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivisionByZero;

impl fmt::Display for DivisionByZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("division by zero")
    }
}

impl std::error::Error for DivisionByZero {}

/// `a / b` rounded toward zero (wrapping for `i64::MIN / -1`); `b == 0` is a guest
/// error of type `DivisionByZero`.
#[task]
pub fn divide(a: i64, b: i64) -> Result<i64, DivisionByZero> {
    if b == 0 {
        Err(DivisionByZero)
    } else {
        Ok(a.wrapping_div(b))
    }
}

/// Panics with `message`: the host reports a `GuestPanic` carrying it.
#[task]
pub fn fail_panic(message: String) {
    panic!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_int(" 42 ".into()), Ok(42));
        assert!(parse_int("x".into()).is_err());
    }

    #[test]
    fn divides() {
        assert_eq!(divide(7, 2), Ok(3));
        assert_eq!(divide(i64::MIN, -1), Ok(i64::MIN));
        assert_eq!(divide(1, 0), Err(DivisionByZero));
        assert_eq!(DivisionByZero.to_string(), "division by zero");
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn panics() {
        fail_panic("boom".into());
    }
}
