//! The module-level side of ABI v1: `wasmtaps_alloc`, the per-call export wrapper
//! and the small static arena that keeps cheap calls free of heap allocation.
//!
//! A task module is instantiated fresh for every call and dropped after it, so
//! memory is never freed here. The arena serves the host's argument buffer and the
//! result envelope of small calls from one or two pages of `.bss`, which is all the
//! memory a no-op call touches besides the top of the stack.

// Natively only the unit tests use most of this module.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::run::Output;

/// Alignment of every block handed out.
const ALIGN: usize = 8;

/// Size of the static arena.
#[cfg(target_arch = "wasm32")]
const ARENA_SIZE: usize = 8 * 1024;

/// `wasmtaps_alloc` requests up to this size are served from the arena (when it has
/// room); larger ones go to the global allocator, leaving the arena to the result.
const SMALL_REQUEST: usize = 4 * 1024;

#[cfg(target_arch = "wasm32")]
static ARENA: Arena<ARENA_SIZE> = Arena::new();

#[repr(C, align(16))]
struct Bytes<const N: usize>([u8; N]);

/// A bump allocator over `N` bytes that never frees.
#[repr(C)]
pub(crate) struct Arena<const N: usize> {
    next: AtomicUsize,
    buf: UnsafeCell<Bytes<N>>,
}

// SAFETY: `next` is only advanced atomically, so every byte range of `buf` is handed
// to at most one claimant, which alone reads or writes it.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    pub(crate) const fn new() -> Self {
        Self {
            next: AtomicUsize::new(0),
            buf: UnsafeCell::new(Bytes([0; N])),
        }
    }

    fn base(&self) -> *mut u8 {
        self.buf.get().cast()
    }

    /// Claims `len` bytes aligned to 8, if they fit.
    pub(crate) fn alloc(&self, len: usize) -> Option<NonNull<u8>> {
        let mut start = 0;
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                start = next.next_multiple_of(ALIGN);
                let end = start.checked_add(len)?;
                (end <= N).then_some(end)
            })
            .ok()?;
        // SAFETY: `start <= N`, so the pointer is inside the buffer or one past it.
        NonNull::new(unsafe { self.base().add(start) })
    }

    /// Claims all that is left for a result of unknown length; returns its offset.
    fn claim_rest(&self) -> Option<usize> {
        let mut start = 0;
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                start = next.next_multiple_of(ALIGN);
                (start < N).then_some(N)
            })
            .ok()?;
        Some(start)
    }

    /// Gives back what a [`claim_rest`](Self::claim_rest) did not use, from `end` on.
    fn release_rest(&self, end: usize) {
        // Only the claimant can see `N` here: nothing was allocated since the claim.
        let _ = self
            .next
            .compare_exchange(N, end, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Serves `len` bytes for the host: from the arena when small, else from the global
/// allocator. Null when `len` is negative or the allocation fails.
pub(crate) fn alloc<const N: usize>(arena: &Arena<N>, len: i32) -> *mut u8 {
    let Ok(len) = usize::try_from(len) else {
        return std::ptr::null_mut();
    };
    if len <= SMALL_REQUEST
        && let Some(ptr) = arena.alloc(len)
    {
        return ptr.as_ptr();
    }
    if len == 0 {
        return NonNull::<u64>::dangling().as_ptr().cast();
    }
    match std::alloc::Layout::from_size_align(len, ALIGN) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { std::alloc::alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// A result buffer in the rest of the arena that moves to the heap when it outgrows it.
pub(crate) struct ArenaOutput<'a, const N: usize> {
    arena: &'a Arena<N>,
    /// Offset of the claimed region `start..N`; `N` when nothing could be claimed.
    start: usize,
    len: usize,
    spill: Option<Vec<u8>>,
}

impl<'a, const N: usize> ArenaOutput<'a, N> {
    pub(crate) fn new(arena: &'a Arena<N>) -> Self {
        Self {
            arena,
            start: arena.claim_rest().unwrap_or(N),
            len: 0,
            spill: None,
        }
    }

    fn written(&self) -> &[u8] {
        // SAFETY: `start..start + len` is claimed by `self` and was written by it.
        unsafe { std::slice::from_raw_parts(self.arena.base().add(self.start), self.len) }
    }

    /// Ends the writes and returns where the bytes are; they stay valid for the rest
    /// of the instance's life.
    pub(crate) fn finish(self) -> (*const u8, usize) {
        match self.spill {
            Some(bytes) => {
                self.arena.release_rest(self.start);
                let bytes = bytes.leak();
                (bytes.as_ptr(), bytes.len())
            }
            None => {
                self.arena.release_rest(self.start + self.len);
                (self.written().as_ptr(), self.len)
            }
        }
    }
}

impl<const N: usize> Output for ArenaOutput<'_, N> {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(spill) = &mut self.spill {
            spill.extend_from_slice(bytes);
        } else if bytes.len() <= N - self.start - self.len {
            // SAFETY: the destination is inside the claimed region, which nothing
            // else references, so it cannot overlap `bytes`.
            unsafe {
                let dst = self.arena.base().add(self.start + self.len);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
            }
            self.len += bytes.len();
        } else {
            let mut spill = Vec::with_capacity(2 * (self.len + bytes.len()));
            spill.extend_from_slice(self.written());
            spill.extend_from_slice(bytes);
            self.spill = Some(spill);
        }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.spill = None;
    }

    fn adopt(&mut self, envelope: Vec<u8>) {
        self.len = 0;
        self.spill = Some(envelope);
    }
}

/// Calls `call` on `input` with a result buffer in `arena`; returns the result bytes.
pub(crate) fn call_with_arena<const N: usize>(
    arena: &Arena<N>,
    input: &[u8],
    call: fn(&[u8], &mut dyn Output),
) -> (*const u8, usize) {
    let mut out = ArenaOutput::new(arena);
    call(input, &mut out);
    out.finish()
}

/// Packs a result location into the i64 a task export returns.
pub(crate) fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// The body of every `wasmtaps_task_*` export: installs the panic hook, runs `call`
/// on the argument bytes and returns `(result_ptr << 32) | result_len`.
///
/// # Safety
///
/// `ptr` must point to `len` readable bytes (or `len` be 0), as the host guarantees
/// when it passes a region it got from `wasmtaps_alloc`.
#[cfg(target_arch = "wasm32")]
pub unsafe fn export(ptr: i32, len: i32, call: fn(&[u8], &mut dyn Output)) -> i64 {
    crate::panic::install_hook();
    let input: &[u8] = if len <= 0 || ptr == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(ptr as u32 as usize as *const u8, len as usize) }
    };
    let (ptr, len) = call_with_arena(&ARENA, input, call);
    pack(ptr as usize as u32, len as u32)
}

/// `wasmtaps_alloc(len: i32) -> i32`: `len` writable bytes for the host's argument
/// buffer, or 0. Never freed: the instance is dropped after one call.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn wasmtaps_alloc(len: i32) -> i32 {
    alloc(&ARENA, len) as usize as i32
}

/// `_initialize()`: the WASI reactor initialiser, which runs the module's static
/// constructors (from linked C code, say) once. The host calls it first on every
/// fresh instance.
///
/// Rust's `cdylib`s for `wasm32-wasip1` do not define it by themselves, and without
/// it `wasm-ld` links the module as a "command": it wraps every export so that it
/// runs the constructors before and `__wasm_call_dtors` after each call, including
/// `wasmtaps_alloc` and the task, which are two calls of one invocation.
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    unsafe extern "C" {
        /// Synthesised by `wasm-ld`: calls the static constructors.
        fn __wasm_call_ctors();
    }
    // SAFETY: called once by the host before any other export, as in wasi-libc's
    // `crt1-reactor.c`.
    unsafe { __wasm_call_ctors() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<'a>((ptr, len): (*const u8, usize)) -> &'a [u8] {
        // SAFETY: the tests only pass results of `finish`, which stay valid (in an
        // arena that outlives the check, or leaked).
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    #[test]
    fn arena_bumps_aligned_and_refuses_overflow() {
        let arena = Arena::<64>::new();
        let a = arena.alloc(3).unwrap().as_ptr() as usize;
        let b = arena.alloc(8).unwrap().as_ptr() as usize;
        assert_eq!(a % 16, 0);
        assert_eq!(b - a, 8);
        assert!(arena.alloc(64).is_none());
        assert!(arena.alloc(48).is_some());
        assert!(arena.alloc(1).is_none());
        assert!(arena.alloc(0).is_some());
    }

    #[test]
    fn alloc_falls_back_to_the_heap() {
        let arena = Arena::<64>::new();
        let base = arena.base() as usize;
        let small = alloc(&arena, 16) as usize;
        assert!((base..base + 64).contains(&small));
        let big = alloc(&arena, 100);
        assert!(!big.is_null() && !(base..base + 64).contains(&(big as usize)));
        assert!(!alloc(&arena, 5000).is_null());
        assert!(!alloc(&arena, 0).is_null());
        assert!(alloc(&arena, -1).is_null());
    }

    #[test]
    fn output_stays_in_the_arena_then_spills() {
        let arena = Arena::<64>::new();
        arena.alloc(4).unwrap();
        let mut out = ArenaOutput::new(&arena);
        out.write(b"hello");
        let result = out.finish();
        assert_eq!(result.0 as usize, arena.base() as usize + 8);
        assert_eq!(bytes(result), b"hello");
        // The unused rest was given back.
        let next = arena.alloc(1).unwrap().as_ptr() as usize;
        assert_eq!(next, arena.base() as usize + 16);

        let mut out = ArenaOutput::new(&arena);
        let long: Vec<u8> = (0..100).collect();
        out.write(&long[..40]);
        out.write(&long[40..]);
        assert_eq!(bytes(out.finish()), &long[..]);
        // The claim was given back whole.
        let next = arena.alloc(1).unwrap().as_ptr() as usize;
        assert_eq!(next, arena.base() as usize + 24);
    }

    #[test]
    fn output_reset_and_full_arena() {
        let arena = Arena::<16>::new();
        arena.alloc(16).unwrap();
        let mut out = ArenaOutput::new(&arena);
        out.write(b"spilled");
        out.reset();
        out.write(b"ok");
        assert_eq!(bytes(out.finish()), b"ok");
    }

    #[test]
    fn packs_pointer_and_length() {
        assert_eq!(pack(0x1234, 5), 0x0000_1234_0000_0005);
        assert_eq!(pack(u32::MAX, u32::MAX), -1);
        assert_eq!(pack(0x8000_0000, 1) as u64 >> 32, 0x8000_0000);
    }
}
