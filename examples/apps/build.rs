//! Links the apps module with a 16 KiB shadow stack instead of Rust's default 1 MiB (and
//! the 64 KiB the SDK suggests). None of these tasks recurses or keeps big values on the
//! stack, and 16 KiB of stack plus the module's 34 KiB of data fit in one 64 KiB wasm
//! page: each fresh instance resets one page instead of two (about 12% less CPU in a bag
//! of no-ops; BENCHMARKS.md, session 6). A deeper stack overflows into a trap of that one
//! task, never into data.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=16384");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
