//! The statistics of the estimate: π̂ = 4·inside/N, its binomial standard error,
//! the 95% confidence interval, the z-score against the true π, and the verdict.

use serde::{Deserialize, Serialize};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The verdict passes when the estimate lies within this many standard errors of π.
pub const Z_PASS: f64 = 4.0;

/// Whether the run's estimate agrees with π within its own error bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// |z| ≤ 4.
    Pass,
    /// |z| > 4 (or no error bar could be formed).
    Fail,
}

impl Verdict {
    /// `PASS` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

/// The estimate of π from `inside` of `samples` points and its error bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// 4 · inside / samples.
    pub pi: f64,
    /// σ = 4·sqrt(p̂(1−p̂)/N).
    pub std_error: f64,
    /// π̂ ∓ 1.96σ.
    pub ci95: [f64; 2],
    /// (π̂ − π) / σ.
    pub z_score: f64,
    /// PASS when |z| ≤ 4.
    pub verdict: Verdict,
}

impl Estimate {
    /// The estimate from counts (`samples` ≥ 1).
    pub fn new(inside: u64, samples: u64) -> Estimate {
        let n = samples as f64;
        let p = inside as f64 / n;
        let pi = 4.0 * p;
        let std_error = 4.0 * (p * (1.0 - p) / n).sqrt();
        let z_score = (pi - std::f64::consts::PI) / std_error;
        let verdict = if z_score.abs() <= Z_PASS {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        Estimate {
            pi,
            std_error,
            ci95: [pi - Z95 * std_error, pi + Z95 * std_error],
            z_score,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn exact_quarter_circle_fraction_passes() {
        let n = 1_000_000_000u64;
        let e = Estimate::new((PI / 4.0 * n as f64).round() as u64, n);
        assert!((e.pi - PI).abs() < 1e-8);
        assert!((e.std_error - 4.0 * (PI / 4.0 * (1.0 - PI / 4.0) / 1e9).sqrt()).abs() < 1e-12);
        assert!(e.ci95[0] < PI && PI < e.ci95[1]);
        assert!(e.z_score.abs() < 0.01);
        assert_eq!(e.verdict, Verdict::Pass);
    }

    #[test]
    fn five_sigma_off_fails_and_four_passes() {
        let n = 1e8;
        let sigma = 4.0 * (PI / 4.0 * (1.0 - PI / 4.0) / n).sqrt();
        for (k, verdict) in [
            (3.9, Verdict::Pass),
            (-3.9, Verdict::Pass),
            (5.0, Verdict::Fail),
            (-5.0, Verdict::Fail),
        ] {
            let inside = ((PI + k * sigma) / 4.0 * n).round() as u64;
            let e = Estimate::new(inside, n as u64);
            assert!((e.z_score - k).abs() < 0.01, "{k}: {}", e.z_score);
            assert_eq!(e.verdict, verdict);
        }
    }

    #[test]
    fn degenerate_counts_fail() {
        assert_eq!(Estimate::new(1, 1).verdict, Verdict::Fail);
        assert_eq!(Estimate::new(0, 10).verdict, Verdict::Fail);
    }
}
