//! Links the component's core module with a 64 KiB shadow stack instead of Rust's default
//! 1 MiB (as examples/apps), which keeps the initial memory, and the cost of each fresh
//! instance, small.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=65536");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
