//! Tasks that fail in each way the failures app injects.

use wasmtaps_guest::task;

/// With a zero divisor, executes `unreachable` without reporting a panic: a plain wasm
/// `Trap` (the code `UnreachableCodeReached`).
#[task]
pub fn fail_trap(divisor: i32) -> i32 {
    let d = std::hint::black_box(divisor);
    if d == 0 {
        #[cfg(target_arch = "wasm32")]
        unsafe {
            core::arch::wasm32::unreachable()
        }
    }
    100 / d
}

/// Panics with a message: a `GuestPanic`.
#[task]
pub fn fail_panic(message: String) {
    panic!("{message}");
}

/// An error the task returns: a guest error of type `InjectedFailure`.
#[task]
pub fn fail_error(message: String) -> Result<(), InjectedFailure> {
    Err(InjectedFailure(message))
}

/// Allocates `bytes` and touches them: a `MemoryLimitExceeded` under a smaller limit.
#[task]
pub fn fail_memory(bytes: u64) -> u64 {
    let mut v = vec![0u8; bytes as usize];
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
    }
    std::hint::black_box(&v)
        .iter()
        .step_by(4096)
        .map(|&b| u64::from(b))
        .sum()
}

/// Spins forever: a `Timeout` (or `OutOfFuel`).
#[task]
pub fn fail_timeout() -> u64 {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
        if x == u64::MAX {
            return x;
        }
    }
}

/// Recurses without bound: a `StackOverflow`. The frames keep their state in wasm
/// locals (no `black_box`, which would put it on the shadow stack in linear memory), so
/// the wasm call stack overflows rather than the shadow stack.
#[task]
pub fn fail_stack_overflow(depth: u64) -> u64 {
    deeper(depth)
}

#[inline(never)]
fn deeper(n: u64) -> u64 {
    if n == u64::MAX {
        return 1;
    }
    let below = deeper(n + 1);
    (below ^ (below >> 3)).wrapping_mul(31).wrapping_add(n)
}

/// The error [`fail_error`] returns.
#[derive(Debug)]
pub struct InjectedFailure(pub String);

impl std::fmt::Display for InjectedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "injected failure: {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_fails_its_way_natively() {
        assert_eq!(fail_trap(4), 25);
        assert!(fail_error("x".into()).is_err());
        assert_eq!(fail_memory(8192), 2);
        assert!(std::panic::catch_unwind(|| fail_panic("boom".into())).is_err());
    }
}
