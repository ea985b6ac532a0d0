//! `--target-error`: run in rounds of batches, in batch order, until the
//! confidence interval's half-width is at most the target, or the maximum
//! (`--samples`) is reached.
//!
//! Which batches are used depends only on (seed, batch size, target, confidence,
//! maximum): every decision is taken on the exact count of a prefix of batches,
//! which is the same on any number of ranks. Round 1 counts a quarter of the
//! samples a run at p = π/4 would need; after each round, with p̂ and N so far,
//! the run stops if z·4·sqrt(p̂(1−p̂)/N) ≤ target; otherwise the next round ends
//! where the current p̂ says the target will be met (plus 0.1%), but at least a
//! quarter further than the last: a geometric growth, so few rounds (usually two).

use serde::{Deserialize, Serialize};

use std::ops::Range;

use crate::intervals::Intervals;
use crate::plan::Plan;
use crate::stats::{half_width, samples_needed, z_for};

/// The planning prior: the fraction inside a fair sampler gives.
const P_PRIOR: f64 = std::f64::consts::PI / 4.0;

/// Samples a fair sampler needs for `error` at `confidence` (for planning and
/// for refusing a target the maximum cannot reach).
pub fn predicted_samples(error: f64, confidence: f64) -> f64 {
    samples_needed(error, z_for(confidence), P_PRIOR)
}

/// Why a `--target-error` run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The half-width reached the target.
    TargetError,
    /// The maximum (`--samples`) was counted first.
    Maximum,
}

impl Rule {
    /// `target-error` or `maximum`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TargetError => "target-error",
            Rule::Maximum => "maximum",
        }
    }
}

/// What the run does after a round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// Count batches up to (not including) this index next.
    Continue(u64),
    /// Stop: why, and the half-width reached.
    Stop(Rule, f64),
}

/// The rounds of a `--target-error` run over a maximum `plan`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The target half-width.
    pub error: f64,
    /// Its confidence.
    pub confidence: f64,
    /// The normal quantile of the confidence.
    pub z: f64,
    plan: Plan,
}

impl Schedule {
    /// The schedule for `error` at `confidence` within `plan` (the maximum).
    pub fn new(error: f64, confidence: f64, plan: Plan) -> Schedule {
        Schedule {
            error,
            confidence,
            z: z_for(confidence),
            plan,
        }
    }

    /// Where round 1 ends: a quarter of the predicted need, in whole batches.
    pub fn first_end(&self) -> u64 {
        let want = predicted_samples(self.error, self.confidence) / 4.0;
        self.batches_for(want)
    }

    /// The decision after the first `done` batches, `inside` in all.
    pub fn after(&self, done: u64, inside: u64) -> Step {
        let samples = self.plan.samples_in(0..done);
        let h = half_width(self.z, inside, samples);
        if h <= self.error {
            return Step::Stop(Rule::TargetError, h);
        }
        if done >= self.plan.batches {
            return Step::Stop(Rule::Maximum, h);
        }
        let p = inside as f64 / samples as f64;
        let need = self.batches_for(1.001 * samples_needed(self.error, self.z, p));
        let grow = done + done.div_ceil(4);
        Step::Continue(need.max(grow).min(self.plan.batches))
    }

    /// Whole batches holding at least `samples` (at least one, at most all).
    fn batches_for(&self, samples: f64) -> u64 {
        let b = (samples / self.plan.batch_size as f64).ceil();
        if b.is_nan() || b < 1.0 {
            1
        } else {
            (b as u64).min(self.plan.batches)
        }
    }
}

/// Where a `--target-error` run stands, given the batches already counted (a
/// checkpoint's): the rounds are a pure function of the counts of prefixes, so
/// replaying them over the counted batches finds the round to go on with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standing {
    /// Rounds decided so far.
    pub rounds: u64,
    /// The first batch of the round to count (every batch before it counted).
    pub end: u64,
    /// The end of that round.
    pub next: u64,
    /// Samples inside the counted batches below `next`.
    pub inside: u64,
    /// The rule that already stopped the run, and the half-width it reached.
    pub stopped: Option<(Rule, f64)>,
}

impl Schedule {
    /// Replays the rounds over `done`; `inside(range)` is the inside count of a
    /// range of counted batches.
    pub fn replay(&self, done: &Intervals, mut inside: impl FnMut(Range<u64>) -> u64) -> Standing {
        let mut at = Standing {
            rounds: 0,
            end: 0,
            next: self.first_end(),
            inside: 0,
            stopped: None,
        };
        while done.covers(at.end..at.next) {
            at.inside += inside(at.end..at.next);
            at.rounds += 1;
            at.end = at.next;
            match self.after(at.end, at.inside) {
                Step::Stop(rule, h) => {
                    at.stopped = Some((rule, h));
                    return at;
                }
                Step::Continue(n) => at.next = n,
            }
        }
        // The round under way: what of it is counted already.
        let (end, next) = (at.end, at.next);
        for r in done.ranges() {
            let part = r.start.max(end)..r.end.min(next);
            if !part.is_empty() {
                at.inside += inside(part);
            }
        }
        at
    }
}

/// A `--target-error` run's outcome, in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetOutcome {
    /// `--target-error`.
    pub error: f64,
    /// `--confidence`.
    pub confidence: f64,
    /// The maximum, `--samples`.
    pub max_samples: u64,
    /// `target-error`, `maximum`, or `null` when a signal stopped the run.
    pub stop_rule: Option<Rule>,
    /// The half-width reached, at the confidence.
    pub half_width: f64,
    /// Rounds counted (collective decisions taken).
    pub rounds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_over_counted_batches_finds_the_round_under_way() {
        let plan = Plan::new(1_000_000_000_000, 10_000_000);
        let s = Schedule::new(1e-5, 0.95, plan);
        let fair = |r: Range<u64>| (std::f64::consts::PI / 4.0 * plan.samples_in(r) as f64) as u64;
        // Nothing counted: round 1 from batch 0.
        let fresh = s.replay(&Intervals::default(), fair);
        assert_eq!(
            (fresh.rounds, fresh.end, fresh.next, fresh.inside),
            (0, 0, 2590, 0)
        );
        // Round 1 and part of round 2 counted: round 2 goes on.
        let Step::Continue(next) = s.after(2590, fair(0..2590)) else {
            panic!("stopped early")
        };
        let done = Intervals::new(vec![0..2590, 3000..3100]);
        let at = s.replay(&done, fair);
        assert_eq!((at.rounds, at.end, at.next), (1, 2590, next));
        assert_eq!(at.inside, fair(0..2590) + fair(3000..3100));
        assert_eq!(at.stopped, None);
        // Both rounds counted: the run has already stopped at the target.
        let all = s.replay(&Intervals::range(0..next), fair);
        assert!(matches!(all.stopped, Some((Rule::TargetError, h)) if h <= 1e-5));
        assert_eq!((all.rounds, all.end), (2, next));
    }

    #[test]
    fn rounds_grow_and_stop_at_the_target() {
        let plan = Plan::new(1_000_000_000_000, 10_000_000);
        let s = Schedule::new(1e-5, 0.95, plan);
        // A fair sampler needs ~1.036e11 samples: round 1 is a quarter of it.
        assert_eq!(s.first_end(), 2590);
        let exact =
            |done: u64| (std::f64::consts::PI / 4.0 * plan.samples_in(0..done) as f64) as u64;
        let Step::Continue(next) = s.after(2590, exact(2590)) else {
            panic!("stopped early")
        };
        assert!((10_360..10_380).contains(&next), "{next}");
        assert!(
            matches!(s.after(next, exact(next)), Step::Stop(Rule::TargetError, h) if h <= 1e-5)
        );
        // The maximum stops a target it cannot reach.
        let small = Schedule::new(1e-5, 0.95, Plan::new(1_000_000_000, 10_000_000));
        assert_eq!(small.first_end(), 100);
        assert!(matches!(
            small.after(100, exact(100)),
            Step::Stop(Rule::Maximum, _)
        ));
        // At least a quarter more each round.
        assert_eq!(
            s.after(100, 100 * 10_000_000 / 2),
            Step::Continue(125.max(s.batches_for(1.001 * samples_needed(1e-5, s.z, 0.5))))
        );
    }
}
