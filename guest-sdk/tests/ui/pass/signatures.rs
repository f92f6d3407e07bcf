//! Every shape of signature `#[task]` accepts.

use std::collections::BTreeMap;

use wasmtaps_guest::serde::{Deserialize, Serialize};
use wasmtaps_guest::serde_bytes::ByteBuf;
use wasmtaps_guest::task;

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
}
