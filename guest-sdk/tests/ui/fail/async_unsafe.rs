use wasmtaps_guest::task;

#[task]
async fn later() -> u8 {
    1
}

#[task]
unsafe fn dangerous() {}

fn main() {}
