//! Compile-time behaviour of `#[task]`: what it accepts, and the errors it reports.
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p wasmtaps-guest --test ui`
//! and review the `.stderr` diffs.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
