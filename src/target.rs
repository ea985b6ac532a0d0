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

use crate::plan::Plan;

/// The planning prior: the fraction inside a fair sampler gives.
const P_PRIOR: f64 = std::f64::consts::PI / 4.0;

/// The normal quantile for a two-sided `confidence` (0.95 → 1.96): Acklam's
/// rational approximation, relative error below 1.2e-9.
pub fn z_for(confidence: f64) -> f64 {
    let p = 0.5 + confidence / 2.0; // upper quantile
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The half-width of the interval at quantile `z` after `inside` of `samples`.
pub fn half_width(z: f64, inside: u64, samples: u64) -> f64 {
    let p = inside as f64 / samples as f64;
    z * 4.0 * (p * (1.0 - p) / samples as f64).sqrt()
}

/// Samples needed for half-width `error` at quantile `z` if the fraction is `p`.
pub fn samples_needed(error: f64, z: f64, p: f64) -> f64 {
    let w = z * 4.0 * (p * (1.0 - p)).sqrt() / error;
    w * w
}

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
    fn normal_quantiles() {
        assert!((z_for(0.95) - 1.959_963_985).abs() < 1e-8);
        assert!((z_for(0.99) - 2.575_829_304).abs() < 1e-8);
        assert!((z_for(0.6827) - 1.000_0).abs() < 1e-3);
        assert!((z_for(0.999_999) - 4.891_638_475).abs() < 1e-7);
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
