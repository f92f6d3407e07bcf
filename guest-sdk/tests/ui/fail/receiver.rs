use wasmtaps_guest::task;

struct Counter;

impl Counter {
    #[task]
    fn count(&self) -> u64 {
        0
    }
}

fn main() {}
