//! Every shape of signature `#[task]` accepts.

use std::collections::BTreeMap;

use wasmtaps_guest::serde::{Deserialize, Serialize};
use wasmtaps_guest::serde_bytes::ByteBuf;
use wasmtaps_guest::serde_bytes::Bytes;
use wasmtaps_guest::{ResultBytes, task};

#[task]
fn noop() {}

#[task]
fn unit_return(_x: u8) -> () {}

#[task]
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[task(name = "renamed_2")]
pub(crate) fn renamed(mut count: u32) -> u32 {
    count += 1;
    count
}

#[task(name = "trailing_comma",)]
fn trailing_comma() {}

#[task]
fn r#match(r#type: String) -> String {
    r#type
}

#[task]
fn bytes(data: ByteBuf, map: BTreeMap<String, Vec<Option<f64>>>) -> (ByteBuf, usize) {
    (data, map.len())
}

#[derive(Serialize, Deserialize)]
#[serde(crate = "wasmtaps_guest::serde")]
struct Point {
    x: f64,
    y: f64,
}

#[task]
fn structs(points: Vec<Point>) -> Option<Point> {
    points.into_iter().next()
}

#[task]
fn fallible(text: String) -> Result<i64, std::num::ParseIntError> {
    text.parse()
}

#[task]
fn io_alias(path: String) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[task]
fn boxed_error() -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}

#[task]
fn opaque_return() -> impl Serialize {
    [1, 2, 3]
}

#[task]
const fn constant() -> u8 {
    7
}

#[task]
fn borrowed(text: &str, data: &[u8], bytes: &Bytes) -> usize {
    text.len() + data.len() + bytes.len()
}

#[task]
fn borrowed_return(text: &str) -> &str {
    text.trim()
}

#[task]
fn named_lifetime<'a>(data: &'a [u8]) -> &'a Bytes {
    Bytes::new(data)
}

#[derive(Deserialize)]
#[serde(crate = "wasmtaps_guest::serde")]
struct Borrowing<'a> {
    name: &'a str,
    #[serde(with = "wasmtaps_guest::serde_bytes")]
    data: &'a [u8],
}

#[task]
fn borrowing_struct(value: Borrowing<'_>) -> usize {
    value.name.len() + value.data.len()
}

#[task]
fn in_place(data: &[u8]) -> ResultBytes {
    ResultBytes::from(data)
}

#[task]
fn in_place_fallible(data: &[u8]) -> Result<ResultBytes, std::str::Utf8Error> {
    Ok(ResultBytes::from(std::str::from_utf8(data)?.as_bytes()))
}

mod nested {
    use wasmtaps_guest::task;

    /// Tasks can live in any module; their names must be unique in the module.
    #[task(name = "nested_add")]
    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {
    // The functions are left as they were.
    noop();
    unit_return(0);
    assert_eq!(add(1, 2), 3);
    assert_eq!(renamed(1), 2);
    trailing_comma();
    assert_eq!(r#match("m".into()), "m");
    assert_eq!(bytes(ByteBuf::new(), BTreeMap::new()).1, 0);
    assert!(structs(vec![Point { x: 1.0, y: 2.0 }]).is_some());
    assert!(fallible("x".into()).is_err());
    assert!(io_alias("/nonexistent".into()).is_err());
    assert!(boxed_error().is_ok());
    let _ = opaque_return();
    assert_eq!(constant(), 7);
    assert_eq!(nested::add(2, 2), 4);
    assert_eq!(borrowed("ab", b"c", Bytes::new(b"d")), 4);
    assert_eq!(borrowed_return(" x "), "x");
    assert_eq!(named_lifetime(b"e").len(), 1);
    assert_eq!(borrowing_struct(Borrowing { name: "n", data: b"d" }), 2);
    assert_eq!(&in_place(b"f")[..], b"f");
    assert!(in_place_fallible(b"\xff").is_err());
}
