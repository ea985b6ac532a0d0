//! The kernel: count the samples of one batch that fall inside the circle.
//! Pure compute: no MPI, no I/O, no allocation.
//!
//! A sample is one xoshiro256++ output `w`: `x` = high 32 bits and `y` = low 32
//! bits, each a signed 32-bit integer; it is inside when `x² + y² < 2^62`, in exact
//! integer arithmetic. Lanes are stored structure-of-arrays and advanced in lock
//! step, so the loop is branch-free and vectorizes.

pub mod scalar;

use crate::stream::{State, LANES};

/// The name of the kernel variant reported by [`count_inside`].
pub const KERNEL_NAME: &str = "portable-32lane";

/// The 32 lanes of a batch, structure-of-arrays: `s[k][l]` is word `k` of lane `l`.
#[derive(Clone, Debug)]
pub struct Lanes {
    s: [[u64; LANES]; 4],
}

impl Lanes {
    /// Lanes from their states, as [`crate::stream::Streams::lanes`] gives them.
    pub fn new(states: &[State; LANES]) -> Lanes {
        let mut s = [[0u64; LANES]; 4];
        for (l, st) in states.iter().enumerate() {
            for (word, value) in s.iter_mut().zip(st.0) {
                word[l] = value;
            }
        }
        Lanes { s }
    }
}

/// 1 when the sample `w` lies inside the circle, else 0 — without branches.
///
/// `x² + y² <= 2^63` always fits in a u64; subtracting 2^62 sets the top bit
/// exactly when the sum was below 2^62.
#[inline(always)]
pub fn inside(w: u64) -> u64 {
    let x = u64::from(((w >> 32) as u32 as i32).unsigned_abs());
    let y = u64::from((w as u32 as i32).unsigned_abs());
    (x * x + y * y).wrapping_sub(1 << 62) >> 63
}

/// Counts the samples of a batch of `n` inside the circle, consuming its lanes:
/// sample `i` is lane `i % LANES`'s `(i / LANES)`-th output.
pub fn count_inside(lanes: Lanes, n: u64) -> u64 {
    let Lanes {
        s: [mut s0, mut s1, mut s2, mut s3],
    } = lanes;
    let mut acc = [0u64; LANES];
    let mut step = |active: usize| {
        for l in 0..active {
            let out = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
            acc[l] += inside(out);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
    };
    for _ in 0..n / LANES as u64 {
        step(LANES);
    }
    step((n % LANES as u64) as usize);
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Streams;

    #[test]
    fn inside_is_the_exact_integer_test() {
        let word = |x: i32, y: i32| (u64::from(x as u32) << 32) | u64::from(y as u32);
        assert_eq!(inside(word(0, 0)), 1);
        assert_eq!(inside(word(i32::MIN, 0)), 0); // x² = 2^62 exactly: on the circle
        assert_eq!(inside(word(i32::MIN, i32::MIN)), 0); // the largest sum, 2^63
        assert_eq!(inside(word(i32::MAX, 0)), 1);
        assert_eq!(inside(word(-(1 << 30), 1 << 30)), 1); // 2^61
                                                          // r = floor(2^31 / sqrt 2): 2r² < 2^62 < 2(r + 1)²
        let r = 1_518_500_249i64;
        assert_eq!(inside(word(r as i32, r as i32)), 1);
        assert_eq!(inside(word(r as i32 + 1, r as i32 + 1)), 0);
        for w in [
            0u64,
            1,
            u64::MAX,
            0x8000_0000_0000_0000,
            0x1234_5678_9abc_def0,
        ] {
            assert_eq!(inside(w), scalar::inside(w));
        }
    }

    #[test]
    fn matches_the_scalar_reference_for_all_lengths() {
        let mut streams = Streams::new(17);
        for (b, n) in [
            (0, 0),
            (1, 1),
            (2, 31),
            (3, 32),
            (4, 33),
            (5, 1000),
            (6, 4099),
            (1 << 33, 77_777),
        ] {
            let states = streams.batch_lanes(b);
            assert_eq!(
                count_inside(Lanes::new(&states), n),
                scalar::count_inside(&states, n),
                "batch {b}, n {n}"
            );
        }
    }
}
