use wasmtaps_guest::task;

struct NotSerde;

#[task]
fn returns() -> NotSerde {
    NotSerde
}

#[task]
fn returns_result() -> Result<NotSerde, String> {
    Ok(NotSerde)
}

fn main() {}
