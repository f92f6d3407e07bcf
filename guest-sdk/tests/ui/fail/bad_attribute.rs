use wasmtaps_guest::task;

#[task(nme = "x")]
fn misspelled() {}

#[task(name = 1)]
fn not_a_string() {}

#[task(name = "has-dash")]
fn bad_character() {}

#[task(name = "")]
fn empty() {}

#[task(name = "a", name = "b")]
fn twice() {}

#[task(name)]
fn no_value() {}

fn main() {}
