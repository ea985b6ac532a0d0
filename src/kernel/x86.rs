//! The x86-64 vector kernels, written with `std::arch` intrinsics so that the
//! instruction count per sample is fixed, not left to the auto-vectorizer.
//!
//! Per 8-lane AVX-512 vector and round (8 samples): output `rol(s0 + s3, 23) + s0`
//! (3 ops), the two squares of the sign-extended halves by `vpmuldq` and their sum
//! (4), compare with 2^62 into a mask and masked increment (2), state update (6
//! once the xors fold into `vpternlogq`) — 15 vector ops, under two per sample.

use std::arch::x86_64::*;

use super::tail;
use crate::stream::{State, LANES};

/// Word `k` of `lanes[first..first + N]`.
#[inline(always)]
fn gather<const N: usize>(lanes: &[State; LANES], k: usize, first: usize) -> [u64; N] {
    std::array::from_fn(|i| lanes[first + i].0[k])
}

/// AVX-512F: all 32 lanes at once in four zmm vectors per state word.
#[target_feature(enable = "avx512f")]
pub fn avx512(lanes: &[State; LANES], n: u64) -> u64 {
    const V: usize = LANES / 8;
    let load = |k: usize, v: usize| {
        let words: [u64; 8] = gather(lanes, k, 8 * v);
        // SAFETY: [u64; 8] and __m512i have the same size; any bits are valid.
        unsafe { std::mem::transmute::<[u64; 8], __m512i>(words) }
    };
    let mut s0: [__m512i; V] = std::array::from_fn(|v| load(0, v));
    let mut s1: [__m512i; V] = std::array::from_fn(|v| load(1, v));
    let mut s2: [__m512i; V] = std::array::from_fn(|v| load(2, v));
    let mut s3: [__m512i; V] = std::array::from_fn(|v| load(3, v));
    let mut acc = [_mm512_setzero_si512(); V];
    let limit = _mm512_set1_epi64(1 << 62);
    let one = _mm512_set1_epi64(1);
    for _ in 0..n / LANES as u64 {
        for v in 0..V {
            let out = _mm512_add_epi64(
                _mm512_rol_epi64::<23>(_mm512_add_epi64(s0[v], s3[v])),
                s0[v],
            );
            let x = _mm512_srli_epi64::<32>(out);
            let r2 = _mm512_add_epi64(_mm512_mul_epi32(x, x), _mm512_mul_epi32(out, out));
            acc[v] = _mm512_mask_add_epi64(acc[v], _mm512_cmplt_epu64_mask(r2, limit), acc[v], one);
            // s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rol(s3, 45),
            // with three-way xors (0x96) as single vpternlogq.
            let t = _mm512_slli_epi64::<17>(s1[v]);
            let (a0, a1, a2, a3) = (s0[v], s1[v], s2[v], s3[v]);
            s1[v] = _mm512_ternarylogic_epi64::<0x96>(a1, a2, a0);
            s0[v] = _mm512_ternarylogic_epi64::<0x96>(a0, a3, a1);
            s2[v] = _mm512_ternarylogic_epi64::<0x96>(a2, a0, t);
            s3[v] = _mm512_rol_epi64::<45>(_mm512_xor_si512(a3, a1));
        }
    }
    let words = |s: &[__m512i; V]| -> [u64; LANES] {
        // SAFETY: four __m512i are 32 u64, in lane order.
        unsafe { std::mem::transmute::<[__m512i; V], [u64; LANES]>(*s) }
    };
    let total: u64 = acc.iter().map(|&a| _mm512_reduce_add_epi64(a) as u64).sum();
    total
        + tail(
            &[words(&s0), words(&s1), words(&s2), words(&s3)],
            (n % LANES as u64) as usize,
        )
}

/// AVX2: 16 ymm registers hold two 4-lane vectors' states, so the 32 lanes run
/// as four groups of 8, each for all its rounds (the count is a sum over lanes).
#[target_feature(enable = "avx2")]
pub fn avx2(lanes: &[State; LANES], n: u64) -> u64 {
    const G: usize = 8;
    const V: usize = G / 4;
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rol<const L: i32, const R: i32>(a: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi64::<L>(a), _mm256_srli_epi64::<R>(a))
    }
    let mut end = [[0u64; LANES]; 4];
    let mut total = 0u64;
    for group in 0..LANES / G {
        let load = |k: usize, v: usize| {
            let words: [u64; 4] = gather(lanes, k, G * group + 4 * v);
            // SAFETY: [u64; 4] and __m256i have the same size; any bits are valid.
            unsafe { std::mem::transmute::<[u64; 4], __m256i>(words) }
        };
        let mut s0: [__m256i; V] = std::array::from_fn(|v| load(0, v));
        let mut s1: [__m256i; V] = std::array::from_fn(|v| load(1, v));
        let mut s2: [__m256i; V] = std::array::from_fn(|v| load(2, v));
        let mut s3: [__m256i; V] = std::array::from_fn(|v| load(3, v));
        let mut acc = [_mm256_setzero_si256(); V];
        let zero = _mm256_setzero_si256();
        for _ in 0..n / LANES as u64 {
            for v in 0..V {
                let out = _mm256_add_epi64(rol::<23, 41>(_mm256_add_epi64(s0[v], s3[v])), s0[v]);
                let x = _mm256_srli_epi64::<32>(out);
                let r2 = _mm256_add_epi64(_mm256_mul_epi32(x, x), _mm256_mul_epi32(out, out));
                // inside ⇔ r2 >> 62 == 0; the compare gives -1 there.
                let hit = _mm256_cmpeq_epi64(_mm256_srli_epi64::<62>(r2), zero);
                acc[v] = _mm256_sub_epi64(acc[v], hit);
                let t = _mm256_slli_epi64::<17>(s1[v]);
                let s2x = _mm256_xor_si256(s2[v], s0[v]);
                let s3x = _mm256_xor_si256(s3[v], s1[v]);
                s1[v] = _mm256_xor_si256(s1[v], s2x);
                s0[v] = _mm256_xor_si256(s0[v], s3x);
                s2[v] = _mm256_xor_si256(s2x, t);
                s3[v] = rol::<45, 19>(s3x);
            }
        }
        for (k, s) in [s0, s1, s2, s3].iter().enumerate() {
            // SAFETY: two __m256i are 8 u64, in lane order.
            let w = unsafe { std::mem::transmute::<[__m256i; V], [u64; G]>(*s) };
            end[k][G * group..G * (group + 1)].copy_from_slice(&w);
        }
        // SAFETY: as above.
        let a = unsafe { std::mem::transmute::<[__m256i; V], [u64; G]>(acc) };
        total += a.iter().sum::<u64>();
    }
    total + tail(&end, (n % LANES as u64) as usize)
}
