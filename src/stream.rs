//! The stream layout: how (seed, batch, lane) name a xoshiro256++ state, and how
//! to reach any of them in microseconds.
//!
//! Layout `xoshiro256++/seed_from_u64/long_jump-per-batch/jump-per-lane/32-lanes/v1`:
//!
//! * base state = `rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed)`
//!   (four SplitMix64 outputs);
//! * batch `b` starts at the base advanced by `b` `long_jump()`s (b·2^192 steps),
//!   so no two batches can overlap for any feasible run;
//! * lane `l` of a batch is the batch state advanced by `l` `jump()`s (2^128 steps);
//! * sample `i` of a batch is lane `i mod LANES`'s `(i div LANES)`-th output.
//!
//! A jump is a fixed linear map of the 256-bit state over GF(2). [`JumpMatrix`]
//! holds it as 256 column vectors, so applying it costs 256 masked XORs of 256 bits,
//! and `long_jump^(2^k)` is one matrix squaring away from `long_jump^(2^(k-1))`:
//! batch 10^9 is reached with 30 matrix-vector products, not 10^9 long jumps.
//!
//! [`Streams::walk`] is the walk over a set of batches that the job and the
//! tests count: each batch with its index, lanes and length.

use std::ops::ControlFlow;

use rand::Rng;
use rand::SeedableRng;
use rand_xoshiro::SplitMix64;

use crate::intervals::Intervals;
use crate::plan::Plan;

/// Lanes per batch: a fixed constant of the layout (32 = four AVX-512 vectors).
pub const LANES: usize = 32;

/// The name of the stream layout recorded in every report. Change it whenever any
/// of the rules above change: a count is only reproducible under the same layout.
pub const STREAM_LAYOUT: &str =
    "xoshiro256++/seed_from_u64/long_jump-per-batch/jump-per-lane/32-lanes/v1";

/// Polynomial of `jump()` (2^128 steps), as published with xoshiro256++.
const JUMP: [u64; 4] = [
    0x180e_c6d3_3cfd_0aba,
    0xd5a6_1266_f0c9_392c,
    0xa958_2618_e03f_c9aa,
    0x39ab_dc45_29b1_661c,
];

/// Polynomial of `long_jump()` (2^192 steps), as published with xoshiro256++.
const LONG_JUMP: [u64; 4] = [
    0x76e1_5d3e_fefd_cbbf,
    0xc500_4e44_1c52_2fb3,
    0x7771_0069_854e_e241,
    0x3910_9bb0_2acb_e635,
];

/// One xoshiro256++ generator state: the scalar reference of the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State(pub [u64; 4]);

impl State {
    /// The base state of `seed`: what `Xoshiro256PlusPlus::seed_from_u64(seed)` holds.
    pub fn from_seed(seed: u64) -> State {
        let mut sm = SplitMix64::seed_from_u64(seed);
        State([sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()])
    }

    /// The next xoshiro256++ output; advances the state by one step.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &self.0;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        self.step();
        out
    }

    /// The linear state transition of xoshiro256 (no output).
    #[inline]
    fn step(&mut self) {
        let s = &mut self.0;
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
    }

    /// Advances by the jump polynomial `poly` (the reference algorithm of the
    /// xoshiro authors, and of `rand_xoshiro`).
    fn jump_by(&mut self, poly: &[u64; 4]) {
        let mut acc = [0u64; 4];
        for word in poly {
            for bit in 0..64 {
                if word >> bit & 1 == 1 {
                    for (a, s) in acc.iter_mut().zip(self.0) {
                        *a ^= s;
                    }
                }
                self.step();
            }
        }
        self.0 = acc;
    }

    /// Advances by 2^128 steps, like `Xoshiro256PlusPlus::jump`.
    pub fn jump(&mut self) {
        self.jump_by(&JUMP);
    }

    /// Advances by 2^192 steps, like `Xoshiro256PlusPlus::long_jump`.
    pub fn long_jump(&mut self) {
        self.jump_by(&LONG_JUMP);
    }
}

/// A linear map of the 256-bit state, stored as the images of the 256 unit vectors.
#[derive(Clone)]
pub struct JumpMatrix {
    cols: Box<[[u64; 4]; 256]>,
}

impl JumpMatrix {
    /// The matrix of `advance`, found by applying it to every unit vector.
    fn of(advance: impl Fn(&mut State)) -> JumpMatrix {
        let mut cols = Box::new([[0u64; 4]; 256]);
        for (j, col) in cols.iter_mut().enumerate() {
            let mut unit = [0u64; 4];
            unit[j / 64] = 1 << (j % 64);
            let mut s = State(unit);
            advance(&mut s);
            *col = s.0;
        }
        JumpMatrix { cols }
    }

    /// The matrix of `jump()`.
    pub fn jump() -> JumpMatrix {
        JumpMatrix::of(State::jump)
    }

    /// The matrix of `long_jump()`.
    pub fn long_jump() -> JumpMatrix {
        JumpMatrix::of(State::long_jump)
    }

    /// `self · s`: branch-free, 256 masked XORs of four words.
    #[inline]
    pub fn apply(&self, s: State) -> State {
        let mut acc = [0u64; 4];
        for (j, col) in self.cols.iter().enumerate() {
            let mask = 0u64.wrapping_sub(s.0[j / 64] >> (j % 64) & 1);
            for (a, c) in acc.iter_mut().zip(col) {
                *a ^= c & mask;
            }
        }
        State(acc)
    }

    /// `self · self`, column by column through a [`ByteTable`].
    fn square(&self) -> JumpMatrix {
        let table = ByteTable::new(self);
        let mut cols = Box::new([[0u64; 4]; 256]);
        for (out, col) in cols.iter_mut().zip(self.cols.iter()) {
            *out = table.apply(State(*col)).0;
        }
        JumpMatrix { cols }
    }
}

/// A [`JumpMatrix`] pre-multiplied with every byte value ("four Russians"):
/// applying it is 32 table look-ups and XORs instead of 256 masked XORs. Used for
/// the per-batch work (lane derivation, the step to the next batch); 256 KiB.
#[derive(Clone)]
pub struct ByteTable {
    rows: Box<[[[u64; 4]; 256]; 32]>,
}

impl ByteTable {
    /// The table of `m`.
    pub fn new(m: &JumpMatrix) -> ByteTable {
        let mut rows = vec![[[0u64; 4]; 256]; 32];
        for (k, row) in rows.iter_mut().enumerate() {
            for v in 1..256usize {
                // row[v] = row[v without its lowest bit] ^ column of that bit.
                let low = v.trailing_zeros() as usize;
                let rest = row[v & (v - 1)];
                let col = m.cols[8 * k + low];
                row[v] = std::array::from_fn(|w| rest[w] ^ col[w]);
            }
        }
        let rows = rows.into_boxed_slice().try_into().expect("32 rows");
        ByteTable { rows }
    }

    /// `m · s` for the matrix `m` of this table.
    #[inline]
    pub fn apply(&self, s: State) -> State {
        let mut acc = [0u64; 4];
        for (k, row) in self.rows.iter().enumerate() {
            let byte = (s.0[k / 8] >> (8 * (k % 8))) as u8;
            for (a, c) in acc.iter_mut().zip(row[byte as usize]) {
                *a ^= c;
            }
        }
        State(acc)
    }
}

/// The streams of one seed: everything needed to set up the lanes of any batch.
/// Each counting thread walks a clone of its own.
#[derive(Clone)]
pub struct Streams {
    base: State,
    // Shared by the clones (read only): 256 KiB each.
    jump: std::sync::Arc<ByteTable>,
    long_jump: std::sync::Arc<ByteTable>,
    /// `long_jump^(2^k)` for k = 0, 1, …: grown on demand.
    long_pow: Vec<JumpMatrix>,
}

impl Streams {
    /// The streams of `seed`.
    pub fn new(seed: u64) -> Streams {
        let long = JumpMatrix::long_jump();
        Streams {
            base: State::from_seed(seed),
            jump: std::sync::Arc::new(ByteTable::new(&JumpMatrix::jump())),
            long_jump: std::sync::Arc::new(ByteTable::new(&long)),
            long_pow: vec![long],
        }
    }

    /// The first state of batch `b` (the base advanced by `b` long jumps), in
    /// `popcount(b)` matrix-vector products after at most 63 squarings.
    pub fn batch_state(&mut self, b: u64) -> State {
        let bits = (u64::BITS - b.leading_zeros()) as usize;
        while self.long_pow.len() < bits {
            let next = self.long_pow.last().expect("never empty").square();
            self.long_pow.push(next);
        }
        let mut s = self.base;
        for (k, m) in self.long_pow.iter().enumerate().take(bits) {
            if b >> k & 1 == 1 {
                s = m.apply(s);
            }
        }
        s
    }

    /// The lanes of the batch that starts at `batch_state`: lane `l` is that state
    /// advanced by `l` jumps.
    pub fn lanes(&self, batch_state: State) -> [State; LANES] {
        let mut lanes = [batch_state; LANES];
        for l in 1..LANES {
            lanes[l] = self.jump.apply(lanes[l - 1]);
        }
        lanes
    }

    /// The first state of the batch after the one starting at `batch_state`: one
    /// long jump, by table.
    #[inline]
    pub fn next_batch(&self, batch_state: State) -> State {
        self.long_jump.apply(batch_state)
    }

    /// The lanes of batch `b`: `lanes(batch_state(b))`.
    pub fn batch_lanes(&mut self, b: u64) -> [State; LANES] {
        let s = self.batch_state(b);
        self.lanes(s)
    }

    /// Walks the batches of `batches` under `plan` in index order, calling
    /// `each(batch, lanes, len)` for each until it breaks: one
    /// [`Streams::batch_state`] per interval, then one table long jump per batch.
    /// The lanes are lent, not moved (1 KiB a batch: a copy would show at small
    /// batch sizes).
    pub fn walk(
        &mut self,
        plan: &Plan,
        batches: &Intervals,
        mut each: impl FnMut(u64, &[State; LANES], u64) -> ControlFlow<()>,
    ) {
        for r in batches.ranges() {
            let mut state = self.batch_state(r.start);
            for b in r.clone() {
                let lanes = self.lanes(state);
                if each(b, &lanes, plan.batch_len(b)).is_break() {
                    return;
                }
                state = self.next_batch(state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn same_outputs(mut ours: State, mut theirs: Xoshiro256PlusPlus) {
        for _ in 0..64 {
            assert_eq!(ours.next_u64(), theirs.next_u64());
        }
    }

    #[test]
    fn base_state_is_rand_xoshiro_seed_from_u64() {
        for seed in [0, 1, 42, u64::MAX, crate::config::DEFAULT_SEED] {
            same_outputs(
                State::from_seed(seed),
                Xoshiro256PlusPlus::seed_from_u64(seed),
            );
        }
    }

    #[test]
    fn jumps_match_rand_xoshiro_output_for_output() {
        let mut ours = State::from_seed(7);
        let mut theirs = Xoshiro256PlusPlus::seed_from_u64(7);
        for round in 0..4 {
            if round % 2 == 0 {
                ours.jump();
                theirs.jump();
            } else {
                ours.long_jump();
                theirs.long_jump();
            }
            same_outputs(ours, theirs.clone());
        }
    }

    #[test]
    fn batch_states_equal_sequential_long_jumps() {
        let mut streams = Streams::new(99);
        let mut theirs = Xoshiro256PlusPlus::seed_from_u64(99);
        for b in 0..40u64 {
            same_outputs(streams.batch_state(b), theirs.clone());
            theirs.long_jump();
        }
    }

    #[test]
    fn lanes_equal_sequential_jumps_in_rand_xoshiro() {
        let mut streams = Streams::new(5);
        let mut batch = Xoshiro256PlusPlus::seed_from_u64(5);
        for _ in 0..13 {
            batch.long_jump();
        }
        let lanes = streams.batch_lanes(13);
        let mut lane = batch;
        for state in lanes {
            same_outputs(state, lane.clone());
            lane.jump();
        }
    }

    #[test]
    fn far_batches_compose_like_long_jumps() {
        // long_jump^(a+b) = long_jump^a · long_jump^b: check far batches against a
        // near one advanced step by step.
        let mut streams = Streams::new(3);
        for far in [1_000_000_000u64, (1 << 40) + 12345, u64::MAX - 2] {
            let mut s = streams.batch_state(far);
            s.long_jump();
            s.long_jump();
            assert_eq!(s, streams.batch_state(far + 2));
        }
    }

    #[test]
    fn the_walk_visits_every_batch_with_its_own_lanes() {
        let plan = Plan::new(95, 10); // ten batches, the last of 5
        let batches = Intervals::new(vec![1..3, 7..10]);
        let mut reference = Streams::new(8);
        let mut walked: Vec<(u64, [State; LANES], u64)> = Vec::new();
        Streams::new(8).walk(&plan, &batches, |b, lanes, len| {
            walked.push((b, *lanes, len));
            ControlFlow::Continue(())
        });
        let want: Vec<(u64, [State; LANES], u64)> = [1, 2, 7, 8, 9]
            .into_iter()
            .map(|b| (b, reference.batch_lanes(b), if b == 9 { 5 } else { 10 }))
            .collect();
        assert_eq!(walked, want);
    }

    #[test]
    fn matrices_and_tables_are_the_jump_functions() {
        let m = JumpMatrix::jump();
        let t = ByteTable::new(&m);
        let mut s = State::from_seed(11);
        for _ in 0..8 {
            let (by_matrix, by_table) = (m.apply(s), t.apply(s));
            s.jump();
            assert_eq!(by_matrix, s);
            assert_eq!(by_table, s);
        }
        let streams = Streams::new(12);
        let mut s = State::from_seed(12);
        let next = streams.next_batch(s);
        s.long_jump();
        assert_eq!(next, s);
    }
}
