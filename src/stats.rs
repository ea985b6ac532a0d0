//! The statistics of a run: π̂ = 4·inside/N, its binomial standard error, the
//! 95% confidence interval, the z-score against the true π, normal quantiles and
//! half-widths (for `--target-error`), the dispersion test of the per-batch
//! counts, and the one verdict built from them.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

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
}

impl Estimate {
    /// The estimate from counts (`samples` ≥ 1).
    pub fn new(inside: u64, samples: u64) -> Estimate {
        let n = samples as f64;
        let p = inside as f64 / n;
        let pi = 4.0 * p;
        let std_error = sigma(p, n);
        let z_score = (pi - std::f64::consts::PI) / std_error;
        Estimate {
            pi,
            std_error,
            ci95: [pi - Z95 * std_error, pi + Z95 * std_error],
            z_score,
        }
    }
}

/// The dispersion test fails below this two-sided p-value.
pub const DISPERSION_P_MIN: f64 = 1e-4;

/// Whether the per-batch counts vary as much as independent streams make them:
/// a chi-square test of binomial dispersion.
///
/// With batch `i` of `n_i` samples holding `x_i` inside and p̂ = Σx/Σn,
/// χ² = Σ (x_i − n_i·p̂)² / (n_i·p̂·(1 − p̂)) follows a chi-square law with
/// B − 1 degrees of freedom when the B batches are independent binomial draws
/// (the short last batch included: each term is scaled by its own n_i). Too large
/// a χ² means batches differ more than chance allows (correlated samples within
/// a batch, a stream with a short period); too small means they agree more
/// (batches drawing the same or overlapping streams). The p-value is two-sided.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dispersion {
    /// χ².
    pub chi2: f64,
    /// Degrees of freedom, B − 1.
    pub dof: u64,
    /// 2·min(P(X ≤ χ²), P(X ≥ χ²)), at most 1.
    pub p_value: f64,
}

/// Accumulates the dispersion test over batches, in any order and in pieces
/// (the counts need not be in memory together).
#[derive(Clone, Copy, Debug)]
pub struct DispersionSum {
    p: f64,
    sum: f64,
    compensation: f64,
    batches: u64,
}

impl DispersionSum {
    /// A sum for the pooled fraction `inside / samples`.
    pub fn new(inside: u64, samples: u64) -> DispersionSum {
        DispersionSum {
            p: inside as f64 / samples as f64,
            sum: 0.0,
            compensation: 0.0,
            batches: 0,
        }
    }

    /// Adds a batch of `n` samples with `x` inside.
    pub fn add(&mut self, n: u64, x: u64) {
        let d = x as f64 - n as f64 * self.p;
        let term = d * d / n as f64;
        // Kahan summation: 10^8 terms of order p(1 − p).
        let y = term - self.compensation;
        let t = self.sum + y;
        self.compensation = (t - self.sum) - y;
        self.sum = t;
        self.batches += 1;
    }

    /// The test, or `None` with fewer than two batches or a degenerate p̂.
    pub fn finish(self) -> Option<Dispersion> {
        let var = self.p * (1.0 - self.p);
        if self.batches < 2 || var.is_nan() || var <= 0.0 {
            return None;
        }
        let chi2 = self.sum / var;
        let dof = self.batches - 1;
        let (lower, upper) = chi2_cdf(chi2, dof as f64);
        Some(Dispersion {
            chi2,
            dof,
            p_value: (2.0 * lower.min(upper)).min(1.0),
        })
    }
}

/// (P(X ≤ x), P(X ≥ x)) for X chi-square with `k` degrees of freedom (statrs'
/// regularized incomplete gamma functions).
pub fn chi2_cdf(x: f64, k: f64) -> (f64, f64) {
    match ChiSquared::new(k) {
        Ok(d) if x.is_finite() => (d.cdf(x), d.sf(x)),
        _ => (f64::NAN, f64::NAN),
    }
}

/// The normal quantile for a two-sided `confidence` (0.95 → 1.96).
pub fn z_for(confidence: f64) -> f64 {
    Normal::standard().inverse_cdf(0.5 + confidence / 2.0)
}

/// The half-width of the interval at quantile `z` after `inside` of `samples`:
/// z·4·sqrt(p̂(1−p̂)/N).
pub fn half_width(z: f64, inside: u64, samples: u64) -> f64 {
    let p = inside as f64 / samples as f64;
    z * sigma(p, samples as f64)
}

/// σ of π̂ = 4p̂ after `n` samples at fraction `p`: 4·sqrt(p(1−p)/n).
fn sigma(p: f64, n: f64) -> f64 {
    4.0 * (p * (1.0 - p) / n).sqrt()
}

/// Samples needed for half-width `error` at quantile `z` if the fraction is `p`.
pub fn samples_needed(error: f64, z: f64, p: f64) -> f64 {
    let w = z * sigma(p, 1.0) / error;
    w * w
}

/// The verdict on an estimate and the dispersion test of its batches, with the
/// reason: PASS when |z| ≤ 4 and the dispersion p-value is at least 1e-4 (or
/// there was one batch only).
pub fn verdict(est: &Estimate, dispersion: Option<&Dispersion>) -> (Verdict, String) {
    let z = format!("|z| = {:.2}", est.z_score.abs());
    let mut fails = Vec::new();
    let mut passes = Vec::new();
    if est.z_score.abs() <= Z_PASS {
        passes.push(format!("{z} <= {Z_PASS}"));
    } else if est.z_score.is_nan() {
        fails.push("no error bar (all or no samples inside)".to_string());
    } else {
        fails.push(format!(
            "{z} > {Z_PASS}: the estimate is off by more than its error bar allows"
        ));
    }
    match dispersion {
        Some(d) if d.p_value >= DISPERSION_P_MIN => {
            passes.push(format!("dispersion p = {:.3}", d.p_value));
        }
        Some(d) => fails.push(format!(
            "dispersion p = {:.2e} < {DISPERSION_P_MIN:e}: the batches vary {} than independent streams allow",
            d.p_value,
            if d.chi2 > d.dof as f64 { "more" } else { "less" }
        )),
        None => passes.push("dispersion not tested (one batch)".to_string()),
    }
    if fails.is_empty() {
        (Verdict::Pass, passes.join(", "))
    } else {
        (Verdict::Fail, fails.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn chi_square_tails_match_known_values() {
        // Reference values (scipy.stats.chi2): cdf(3.84146, 1) = 0.95,
        // sf(18.307, 10) = 0.05, sf(124.342, 100) = 0.05, cdf(77.929, 100) = 0.05.
        let close = |a: f64, b: f64| (a - b).abs() < 2e-5;
        assert!(close(chi2_cdf(3.841_459, 1.0).0, 0.95));
        assert!(close(chi2_cdf(18.307_038, 10.0).1, 0.05));
        assert!(close(chi2_cdf(124.342_113, 100.0).1, 0.05));
        assert!(close(chi2_cdf(77.929_465, 100.0).0, 0.05));
        // Large degrees of freedom: the median is near k(1 − 2/(9k))^3.
        let k: f64 = 1e6;
        let (lo, hi) = chi2_cdf(k * (1.0 - 2.0 / (9.0 * k)).powi(3), k);
        assert!(
            (lo - 0.5).abs() < 1e-3 && (hi - 0.5).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn dispersion_of_exact_binomial_spread_is_central() {
        // Counts exactly at n·p ± sqrt(n·p·(1−p)), alternating: χ² = B, dof B − 1.
        let (n, p) = (10_000u64, 0.5);
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        let counts: Vec<u64> = (0..1000)
            .map(|i| (n as f64 * p + if i % 2 == 0 { sd } else { -sd }) as u64)
            .collect();
        let mut s = DispersionSum::new(counts.iter().sum(), n * 1000);
        counts.iter().for_each(|&x| s.add(n, x));
        let d = s.finish().unwrap();
        assert_eq!(d.dof, 999);
        assert!((d.chi2 - 1000.0).abs() < 5.0, "{}", d.chi2);
        assert!(d.p_value > 0.5, "{}", d.p_value);
        // Identical counts: no spread at all, a tiny lower tail.
        let mut same = DispersionSum::new(5000 * 1000, n * 1000);
        (0..1000).for_each(|_| same.add(n, 5000));
        assert!(same.finish().unwrap().p_value < 1e-100);
        assert!(DispersionSum::new(1, 2).finish().is_none());
    }

    #[test]
    fn exact_quarter_circle_fraction_passes() {
        let n = 1_000_000_000u64;
        let e = Estimate::new((PI / 4.0 * n as f64).round() as u64, n);
        assert!((e.pi - PI).abs() < 1e-8);
        assert!((e.std_error - 4.0 * (PI / 4.0 * (1.0 - PI / 4.0) / 1e9).sqrt()).abs() < 1e-12);
        assert!(e.ci95[0] < PI && PI < e.ci95[1]);
        assert!(e.z_score.abs() < 0.01);
        assert_eq!(verdict(&e, None).0, Verdict::Pass);
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
            assert_eq!(super::verdict(&e, None).0, verdict);
        }
    }

    #[test]
    fn normal_quantiles() {
        assert!((z_for(0.95) - 1.959_963_985).abs() < 1e-8);
        assert!((z_for(0.95) - Z95).abs() < 1e-12);
        assert!((z_for(0.99) - 2.575_829_304).abs() < 1e-8);
        assert!((z_for(0.6827) - 1.000_0).abs() < 1e-3);
        assert!((z_for(0.999_999) - 4.891_638_475).abs() < 1e-7);
    }

    #[test]
    fn degenerate_counts_fail() {
        assert_eq!(verdict(&Estimate::new(1, 1), None).0, Verdict::Fail);
        assert_eq!(verdict(&Estimate::new(0, 10), None).0, Verdict::Fail);
    }
}
