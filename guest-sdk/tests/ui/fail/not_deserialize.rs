use wasmtaps_guest::task;

struct NotSerde;

#[task]
fn takes(a: i64, value: NotSerde) -> i64 {
    let _ = value;
    a
}

fn main() {}
