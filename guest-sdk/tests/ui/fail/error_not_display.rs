use wasmtaps_guest::task;

#[derive(Debug)]
struct Opaque;

#[task]
fn fails() -> Result<u8, Opaque> {
    Err(Opaque)
}

fn main() {}
