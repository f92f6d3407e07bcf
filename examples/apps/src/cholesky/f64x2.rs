//! [`F64x2`]: two `f64` lanes — a wasm `v128` in a module built with `simd128`, an SSE2
//! `__m128d` on x86-64 (where SSE2 is always present), a plain pair elsewhere. Every
//! operation acts on each lane alone (IEEE, round to nearest), so each form computes bit
//! for bit the same: the kernels that use it run, and are tested, natively with the very
//! operations, in the very order, that the guest runs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::{f64x2, f64x2_add, f64x2_extract_lane, f64x2_mul, v128, v128_load};

/// Two `f64` lanes.
#[derive(Clone, Copy)]
pub(super) struct F64x2(Lanes);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
type Lanes = v128;

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
type Lanes = core::arch::x86_64::__m128d;

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "sse2")
)))]
type Lanes = [f64; 2];

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl F64x2 {
    pub(super) fn zero() -> F64x2 {
        F64x2(f64x2(0.0, 0.0))
    }

    pub(super) fn load(pair: &[f64; 2]) -> F64x2 {
        // SAFETY: `pair` is 16 readable bytes, and `v128.load` has no alignment
        // requirement.
        F64x2(unsafe { v128_load(pair.as_ptr().cast::<v128>()) })
    }

    /// `self + x·y` per lane, rounded after the product and after the sum (not fused).
    pub(super) fn add_product(self, x: F64x2, y: F64x2) -> F64x2 {
        F64x2(f64x2_add(self.0, f64x2_mul(x.0, y.0)))
    }

    /// Lane 0 + lane 1.
    pub(super) fn sum(self) -> f64 {
        f64x2_extract_lane::<0>(self.0) + f64x2_extract_lane::<1>(self.0)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl F64x2 {
    pub(super) fn zero() -> F64x2 {
        // SAFETY (each block below): SSE2 is enabled at compile time (the cfg above).
        F64x2(unsafe { core::arch::x86_64::_mm_setzero_pd() })
    }

    pub(super) fn load(pair: &[f64; 2]) -> F64x2 {
        // SAFETY: `pair` is 16 readable bytes; `_mm_loadu_pd` needs no alignment.
        F64x2(unsafe { core::arch::x86_64::_mm_loadu_pd(pair.as_ptr()) })
    }

    /// `self + x·y` per lane, rounded after the product and after the sum (not fused).
    pub(super) fn add_product(self, x: F64x2, y: F64x2) -> F64x2 {
        use core::arch::x86_64::{_mm_add_pd, _mm_mul_pd};
        F64x2(unsafe { _mm_add_pd(self.0, _mm_mul_pd(x.0, y.0)) })
    }

    /// Lane 0 + lane 1.
    pub(super) fn sum(self) -> f64 {
        let mut lanes = [0.0; 2];
        // SAFETY: `lanes` is 16 writable bytes; `_mm_storeu_pd` needs no alignment.
        unsafe { core::arch::x86_64::_mm_storeu_pd(lanes.as_mut_ptr(), self.0) };
        lanes[0] + lanes[1]
    }
}

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "sse2")
)))]
impl F64x2 {
    pub(super) fn zero() -> F64x2 {
        F64x2([0.0; 2])
    }

    pub(super) fn load(pair: &[f64; 2]) -> F64x2 {
        F64x2(*pair)
    }

    /// `self + x·y` per lane, rounded after the product and after the sum (not fused).
    pub(super) fn add_product(self, x: F64x2, y: F64x2) -> F64x2 {
        let [s0, s1] = self.0;
        let ([x0, x1], [y0, y1]) = (x.0, y.0);
        F64x2([s0 + x0 * y0, s1 + x1 * y1])
    }

    /// Lane 0 + lane 1.
    pub(super) fn sum(self) -> f64 {
        self.0[0] + self.0[1]
    }
}
