use wasmtaps_guest::task;

#[task]
fn tuple((a, b): (i64, i64)) -> i64 {
    a + b
}

#[task]
fn wildcard(_: i64) {}

#[task]
fn by_ref(ref text: String) -> usize {
    text.len()
}

fn main() {}
