//! The kernel: count the samples of one batch that fall inside the circle.
//! Pure compute: no MPI, no I/O, no allocation.
//!
//! A sample is one xoshiro256++ output `w`: `x` = high 32 bits and `y` = low 32
//! bits, each a signed 32-bit integer; it is inside when `x² + y² < 2^62`, in exact
//! integer arithmetic. All variants implement the stream layout exactly and return
//! bit-identical counts; [`Kernel::detect`] picks the fastest this CPU can run.

pub mod scalar;

use crate::stream::{State, LANES};

/// A kernel variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// x86-64 with AVX-512F: 32 lanes as four 8-lane vectors, hand-written.
    Avx512,
    /// x86-64 with AVX2: 32 lanes as eight 4-lane vectors, two at a time.
    Avx2,
    /// No target features assumed: what LLVM vectorizes for the baseline target
    /// (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// The plain reference: one sample at a time, 128-bit arithmetic.
    Scalar,
}

impl Kernel {
    /// Every variant, fastest first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Avx512,
        Kernel::Avx2,
        Kernel::Portable,
        Kernel::Scalar,
    ];

    /// The variant's name, as `--kernel` takes it and reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
            Kernel::Scalar => "scalar",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this CPU can run the variant. Variants listed in the environment
    /// variable `MCPI_NO_KERNEL` (comma-separated names) count as unsupported: a
    /// way to keep AVX-512 off, and to test dispatch on one machine. The scalar
    /// reference cannot be denied, so `auto` always finds a variant.
    pub fn supported(self) -> bool {
        let denied = self != Kernel::Scalar
            && std::env::var("MCPI_NO_KERNEL")
                .is_ok_and(|list| list.split(',').any(|name| name.trim() == self.name()));
        !denied && self.cpu_has()
    }

    /// Whether this CPU has the features the variant needs.
    fn cpu_has(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Avx2 => false,
            Kernel::Portable | Kernel::Scalar => true,
        }
    }

    /// The fastest variant this CPU supports.
    pub fn detect() -> Kernel {
        Kernel::ALL
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Scalar)
    }

    /// Counts the samples of a batch of `n` inside the circle: sample `i` is lane
    /// `i % LANES`'s `(i / LANES)`-th output. Panics if the CPU cannot run `self`
    /// (check [`Kernel::supported`] first).
    pub fn count_inside(self, lanes: &[State; LANES], n: u64) -> u64 {
        assert!(
            self.cpu_has(),
            "kernel {} not supported by this CPU",
            self.name()
        );
        match self {
            // SAFETY: the assert above checked the target features at run time.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::avx512(lanes, n) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::avx2(lanes, n) },
            Kernel::Portable => portable(lanes, n),
            Kernel::Scalar => scalar::count_inside(lanes, n),
            #[allow(unreachable_patterns)]
            _ => unreachable!("unsupported kernels are refused above"),
        }
    }
}

/// 1 when the sample `w` lies inside the circle, else 0 — without branches.
///
/// Both halves are sign-extended, so each square is a signed 32×32→64 multiply
/// (`vpmuldq`); `x² + y² <= 2^63` fits in a u64, and subtracting 2^62 sets the top
/// bit exactly when the sum was below 2^62.
#[inline(always)]
pub fn inside(w: u64) -> u64 {
    let x = (w as i64) >> 32;
    let y = i64::from(w as u32 as i32);
    ((x * x) as u64 + (y * y) as u64).wrapping_sub(1 << 62) >> 63
}

/// The outputs past the full rounds: lanes `l < extra` draw one more sample from
/// the states `s` (word-major, as the multi-lane kernels hold them).
#[inline]
fn tail(s: &[[u64; LANES]; 4], extra: usize) -> u64 {
    (0..extra)
        .map(|l| inside(State([s[0][l], s[1][l], s[2][l], s[3][l]]).next_u64()))
        .sum()
}

/// The portable variant: plain Rust that LLVM vectorizes for the baseline
/// target. The count is a sum over lanes, so lanes run in groups of four, each
/// group for all its rounds: one group's states fit the 16 registers of SSE2 or
/// NEON. Within a group the lanes advance in lock step, branch-free.
fn portable(lanes: &[State; LANES], n: u64) -> u64 {
    const G: usize = 4;
    let mut end = [[0u64; LANES]; 4];
    let mut total = 0;
    for (g, group) in lanes.chunks_exact(G).enumerate() {
        let [mut s0, mut s1, mut s2, mut s3]: [[u64; G]; 4] =
            std::array::from_fn(|k| std::array::from_fn(|l| group[l].0[k]));
        let mut acc = [0u64; G];
        for _ in 0..n / LANES as u64 {
            for l in 0..G {
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
        }
        total += acc.iter().sum::<u64>();
        for (k, s) in [s0, s1, s2, s3].iter().enumerate() {
            end[k][G * g..G * (g + 1)].copy_from_slice(s);
        }
    }
    total + tail(&end, (n % LANES as u64) as usize)
}

#[cfg(target_arch = "x86_64")]
mod x86;

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
        assert_eq!(inside(word(-(r as i32) - 1, r as i32 + 1)), 0);
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
    fn every_supported_variant_matches_the_scalar_reference() {
        let lengths = [0, 1, 31, 32, 33, 63, 64, 65, 1000, 4099, 77_777];
        let supported: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.supported()).collect();
        assert!(supported.contains(&Kernel::Portable) && supported.contains(&Kernel::Scalar));
        for seed in [0, 1, 0xdead_beef, u64::MAX] {
            let mut streams = Streams::new(seed);
            for (i, &n) in lengths.iter().enumerate() {
                let batch = [0, 1, 2, 1_000_000, 1 << 33][i % 5];
                let lanes = streams.batch_lanes(batch);
                let reference = scalar::count_inside(&lanes, n);
                for &k in &supported {
                    assert_eq!(
                        k.count_inside(&lanes, n),
                        reference,
                        "{} seed {seed} batch {batch} n {n}",
                        k.name()
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_detect_picks_a_supported_variant() {
        for k in Kernel::ALL {
            assert_eq!(Kernel::from_name(k.name()), Some(k));
        }
        assert_eq!(Kernel::from_name("sse9"), None);
        assert!(Kernel::detect().supported());
    }
}
