use wasmtaps_guest::task;

#[task]
fn borrowed(text: &str, bytes: &[u8]) -> usize {
    text.len() + bytes.len()
}

fn main() {}
