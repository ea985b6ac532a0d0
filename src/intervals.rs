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

    /// Whether every batch of `r` is in these ranges (a binary search: the
    /// ranges are disjoint and non-adjacent, so `r` lies within one).
    pub fn covers(&self, r: Range<u64>) -> bool {
        if r.is_empty() {
            return true;
        }
        let after = self.0.partition_point(|x| x.start <= r.start);
        after > 0 && r.end <= self.0[after - 1].end
    }

    /// The batches in either.
    pub fn union(&self, other: &Intervals) -> Intervals {
        Intervals::new(self.0.iter().chain(&other.0).cloned().collect())
    }

    /// The batches in these ranges and not in `other` (one merge walk).
    pub fn minus(&self, other: &Intervals) -> Intervals {
        let mut out = Vec::new();
        let mut cut = other.0.iter().peekable();
        for r in &self.0 {
            let mut at = r.start;
            while let Some(c) = cut.peek() {
                if c.end <= at {
                    cut.next();
                } else if c.start >= r.end {
                    break;
                } else {
                    out.push(at..c.start.max(at));
                    at = c.end.min(r.end);
                    if c.end > r.end {
                        break;
                    }
                    cut.next();
                }
            }
            out.push(at..r.end);
        }
        Intervals::new(out)
    }

    /// Whether every batch of `other` is in these ranges.
    pub fn contains_all(&self, other: &Intervals) -> bool {
        other.minus(self).count() == 0
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
    fn minus_removes_what_the_other_holds() {
        let a = Intervals::new(vec![0..10, 20..30, 40..41]);
        let b = Intervals::new(vec![2..4, 8..22, 25..26, 29..45]);
        assert_eq!(a.minus(&b).ranges(), &[0..2, 4..8, 22..25, 26..29]);
        assert_eq!(a.minus(&Intervals::default()), a);
        assert_eq!(a.minus(&a).count(), 0);
        assert_eq!(Intervals::default().minus(&a).count(), 0);
        assert!(a.contains_all(&Intervals::new(vec![1..3, 40..41])));
        assert!(!a.contains_all(&Intervals::new(vec![9..11])));
        // Against a brute-force set difference.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200 {
            let mut set = |k: usize| {
                let v: Vec<Range<u64>> = (0..k)
                    .map(|_| {
                        let s = next(60);
                        s..s + next(8)
                    })
                    .collect();
                Intervals::new(v)
            };
            let (a, b) = (set(5), set(5));
            let has = |i: &Intervals, v: u64| i.covers(v..v + 1);
            let want: Vec<Range<u64>> = (0..70)
                .filter(|&v| has(&a, v) && !has(&b, v))
                .map(|v| v..v + 1)
                .collect();
            assert_eq!(a.minus(&b), Intervals::new(want), "{a:?} - {b:?}");
        }
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
