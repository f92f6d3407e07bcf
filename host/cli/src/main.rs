//! The `wasmtaps` command line.

/// mimalloc instead of glibc's allocator: a `run` allocates and frees a few small buffers
/// per task on one thread and frees them on another, which glibc's arenas serve slowly
/// (`malloc`, `free` and `malloc_consolidate` were ~17% of a no-op bag's CPU; see
/// BENCHMARKS.md, session 6).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wasmtaps_cli::main()
}
