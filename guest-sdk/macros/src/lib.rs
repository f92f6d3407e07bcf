//! The `#[task]` attribute of [`wasmtaps-guest`](https://docs.rs/wasmtaps-guest).
//!
//! ```ignore
//! use wasmtaps_guest::task;
//!
//! #[task]
//! fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//! ```
//!
//! Use it through `wasmtaps_guest::task`: the generated code refers to
//! `::wasmtaps_guest::__private`, so this crate is not useful on its own.

#![deny(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod expand;
mod manifest;

/// Turns a free function into a wasmtaps task export.
///
/// See `wasmtaps_guest::task` for the full documentation.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::expand(args.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // Keep the user's item so that IDEs and later errors still see it.
            let mut tokens = err.into_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}
