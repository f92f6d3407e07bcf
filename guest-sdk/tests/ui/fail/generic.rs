use wasmtaps_guest::task;

#[task]
fn generic<T: Default>(value: T) -> T {
    value
}

#[task]
fn where_clause(value: String) -> String
where
    String: Clone,
{
    value
}

#[task]
fn impl_trait(value: impl Into<String>) -> String {
    value.into()
}

fn main() {}
