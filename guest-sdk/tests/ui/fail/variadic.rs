use wasmtaps_guest::task;

#[task]
unsafe extern "C" fn variadic(_count: i32, _: ...) {}

fn main() {}
