use wasmtaps_guest::task;

#[task]
fn mutable(bytes: &mut [u8]) -> usize {
    bytes.len()
}

#[task]
fn not_borrowable(number: &i64) -> i64 {
    *number
}

fn main() {}
