//! The batches a run counts, as sorted disjoint intervals of batch indices, and
//! how they are shared out: each rank takes a contiguous slice of the batches
//! still to count, in index order ("positions"), whatever gaps an interrupted
//! run left. A fresh run's work is the one interval `0..batches`, where positions
//! and batch indices coincide.

use std::ops::Range;

/// Sorted, disjoint, non-empty, non-adjacent ranges of batch indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Range<u64>>);

impl Intervals {
    /// The union of `ranges` (in any order, overlapping or empty).
    pub fn new(mut ranges: Vec<Range<u64>>) -> Intervals {
        ranges.retain(|r| !r.is_empty());
        ranges.sort_by_key(|r| r.start);
        let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match out.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => out.push(r),
            }
        }
        Intervals(out)
    }

    /// The one range `r` (empty if `r` is).
    pub fn range(r: Range<u64>) -> Intervals {
        Intervals::new(std::iter::once(r).collect())
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.0
    }

    /// Number of batches in all ranges.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.start).sum()
    }

    /// The batches of `0..n` not in these ranges.
    pub fn complement(&self, n: u64) -> Intervals {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.0 {
            out.push(at..r.start.min(n));
            at = r.end;
        }
        out.push(at..n);
        Intervals::new(out)
    }

    /// The batches in this or any of `others` (one sort for all).
    pub fn union_all(&self, others: impl Iterator<Item = Intervals>) -> Intervals {
        let mut all = self.0.clone();
        for o in others {
            all.extend(o.0);
        }
        Intervals::new(all)
    }

    /// Whether every batch of `r` is in these ranges.
    pub fn covers(&self, r: Range<u64>) -> bool {
        r.is_empty() || self.0.iter().any(|x| x.start <= r.start && r.end <= x.end)
    }

    /// The batches in either.
    pub fn union(&self, other: &Intervals) -> Intervals {
        Intervals::new(self.0.iter().chain(&other.0).cloned().collect())
    }

    /// The batches at `positions` (0 = the first batch in these ranges), in order.
    pub fn slice(&self, positions: Range<u64>) -> Intervals {
        let mut out = Vec::new();
        let mut at = 0; // position of the current range's first batch
        for r in &self.0 {
            let len = r.end - r.start;
            let lo = positions.start.max(at);
            let hi = positions.end.min(at + len);
            if lo < hi {
                out.push(r.start + (lo - at)..r.start + (hi - at));
            }
            at += len;
            if at >= positions.end {
                break;
            }
        }
        Intervals(out)
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-interval sets are the point
mod tests {
    use super::*;

    #[test]
    fn union_merges_and_complement_inverts() {
        let a = Intervals::new(vec![5..7, 0..2, 1..3, 7..9, 4..4]);
        assert_eq!(a.ranges(), &[0..3, 5..9]);
        assert_eq!(a.count(), 7);
        let c = a.complement(12);
        assert_eq!(c.ranges(), &[3..5, 9..12]);
        assert_eq!(a.union(&c).ranges(), &[0..12]);
        assert_eq!(Intervals::default().complement(4).ranges(), &[0..4]);
        assert_eq!(Intervals::new(vec![0..4]).complement(4).count(), 0);
    }

    #[test]
    fn slices_follow_positions_across_gaps() {
        let w = Intervals::new(vec![2..5, 8..10, 20..23]); // 8 batches
        assert_eq!(w.slice(0..8), w);
        assert_eq!(w.slice(1..4).ranges(), &[3..5, 8..9]);
        assert_eq!(w.slice(4..8).ranges(), &[9..10, 20..23]);
        assert_eq!(w.slice(3..3).count(), 0);
        // Shared out over 3 ranks: every batch once, in order.
        let parts: Vec<Intervals> = (0..3)
            .map(|r| w.slice(crate::plan::share(w.count(), r, 3)))
            .collect();
        let all = parts.iter().fold(Intervals::default(), |a, p| a.union(p));
        assert_eq!(all, w);
        assert_eq!(parts.iter().map(Intervals::count).sum::<u64>(), 8);
    }
}
