use wasmtaps_guest::task;

#[task]
struct NotAFunction;

fn main() {}
