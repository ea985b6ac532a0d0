//! The scalar reference kernel: the stream layout and the sample test written as
//! plainly as possible, in 128-bit arithmetic. Tests hold every fast kernel to it.

use crate::stream::{State, LANES};

/// Whether the sample `w` lies inside the circle, by the definition.
pub fn inside(w: u64) -> u64 {
    let x = i128::from((w >> 32) as u32 as i32);
    let y = i128::from(w as u32 as i32);
    u64::from(x * x + y * y < 1 << 62)
}

/// Counts a batch of `n` samples from `lanes`, sample by sample.
pub fn count_inside(lanes: &[State; LANES], n: u64) -> u64 {
    let mut lanes = *lanes;
    (0..n)
        .map(|i| inside(lanes[(i % LANES as u64) as usize].next_u64()))
        .sum()
}
