//! The decomposition: samples and batch size → numbered batches → one contiguous
//! range of batches per rank. Pure arithmetic, no MPI.

use std::ops::Range;

/// How a run's samples are cut into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Total samples drawn, exactly.
    pub samples: u64,
    /// Samples per batch; the last batch may be shorter.
    pub batch_size: u64,
    /// Number of batches, `ceil(samples / batch_size)`.
    pub batches: u64,
}

impl Plan {
    /// The plan for `samples` in batches of `batch_size`; both must be at least 1
    /// and `batch_size <= samples` (the caller checks, with the flag names).
    pub fn new(samples: u64, batch_size: u64) -> Plan {
        assert!(samples >= 1 && (1..=samples).contains(&batch_size));
        Plan {
            samples,
            batch_size,
            batches: samples.div_ceil(batch_size),
        }
    }

    /// Samples in batch `b` (< `batches`): `batch_size`, or the remainder for the last.
    pub fn batch_len(&self, b: u64) -> u64 {
        debug_assert!(b < self.batches);
        self.batch_size.min(self.samples - b * self.batch_size)
    }

    /// The batches of `rank` out of `ranks`: contiguous, in rank order, sizes
    /// differing by at most one. The larger ranges go to the last ranks, so rank 0,
    /// which also writes the report, never has the most work; with more ranks than
    /// batches, the first ranks get none.
    pub fn rank_range(&self, rank: u64, ranks: u64) -> Range<u64> {
        share(self.batches, rank, ranks)
    }

    /// Samples in all the batches of `intervals`.
    pub fn samples_in_all(&self, intervals: &crate::intervals::Intervals) -> u64 {
        intervals
            .ranges()
            .iter()
            .map(|r| self.samples_in(r.clone()))
            .sum()
    }

    /// Samples in the batches `range` (all below `batches`).
    pub fn samples_in(&self, range: Range<u64>) -> u64 {
        if range.is_empty() {
            return 0;
        }
        (range.end - range.start - 1) * self.batch_size + self.batch_len(range.end - 1)
    }
}

/// Positions `0..n` shared out over `ranks`: `rank`'s contiguous part, in rank
/// order, sizes differing by at most one, the larger parts to the last ranks.
pub fn share(n: u64, rank: u64, ranks: u64) -> Range<u64> {
    debug_assert!(rank < ranks);
    let (q, r) = (n / ranks, n % ranks);
    let lighter = ranks - r; // ranks 0..lighter get q, the rest q + 1
    let start = rank * q + rank.saturating_sub(lighter);
    let len = q + u64::from(rank >= lighter);
    start..start + len
}

/// Rank `rank`'s share of positions `0..n` (see [`share`]) shared out again over
/// its `threads`: thread `thread`'s contiguous part. The rank's share does not
/// depend on its thread count.
pub fn part(n: u64, rank: u64, ranks: u64, thread: u64, threads: u64) -> Range<u64> {
    let mine = share(n, rank, ranks);
    let p = share(mine.end - mine.start, thread, threads);
    mine.start + p.start..mine.start + p.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_split_the_rank_share_in_order() {
        // 10 positions, 2 ranks of 3 threads: rank 0 has 0..5, rank 1 5..10.
        let parts: Vec<Range<u64>> = (0..2)
            .flat_map(|r| (0..3).map(move |t| part(10, r, 2, t, 3)))
            .collect();
        assert_eq!(parts, [0..1, 1..3, 3..5, 5..6, 6..8, 8..10]);
        assert_eq!(part(7, 1, 3, 0, 1), share(7, 1, 3));
    }

    #[test]
    fn batches_cover_samples_exactly() {
        for (samples, batch) in [
            (1, 1),
            (10, 3),
            (10, 10),
            (1_000_003, 1000),
            (u64::MAX, 1 << 40),
        ] {
            let plan = Plan::new(samples, batch);
            let total: u128 = (0..plan.batches.min(5))
                .chain(plan.batches.saturating_sub(5)..plan.batches)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|b| u128::from(plan.batch_len(b)))
                .sum();
            if plan.batches <= 10 {
                assert_eq!(total, u128::from(samples));
            }
            assert_eq!(
                u128::from(plan.batches - 1) * u128::from(batch)
                    + u128::from(plan.batch_len(plan.batches - 1)),
                u128::from(samples)
            );
            assert!(plan.batch_len(plan.batches - 1) >= 1);
        }
    }

    #[test]
    fn ranges_are_contiguous_and_balanced() {
        for batches in [1u64, 2, 7, 64, 1000, 1001] {
            let plan = Plan::new(batches * 10, 10);
            for ranks in [1u64, 2, 3, 4, 7, 64, 2000] {
                let ranges: Vec<_> = (0..ranks).map(|r| plan.rank_range(r, ranks)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges.last().unwrap().end, batches);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(
                    max - min <= 1,
                    "{batches} batches on {ranks} ranks: {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn more_ranks_than_batches_leaves_some_empty() {
        let plan = Plan::new(30, 10);
        let sizes: Vec<u64> = (0..5)
            .map(|r| plan.rank_range(r, 5).count() as u64)
            .collect();
        assert_eq!(sizes, [0, 0, 1, 1, 1]);
    }
}
