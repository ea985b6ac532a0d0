//! Where the ranks ran and how fast, as rank 0 sees it after the gather: CPU
//! lists written as launchers write them (`0-3,8`), the placement warnings
//! (overlapping affinity masks, more threads than a mask's CPUs, more threads
//! on a host than it gives the job) and the slow ranks and hosts. mcpi pins
//! nothing itself — launchers do; it reports what it was given and what is
//! wrong with it. Pure functions of the gathered figures.
//!
//! The outlier rule: a rank's *time per sample* is the CPU seconds its threads
//! spent counting, added up, over the samples it counted (per thread, so ranks
//! of any thread count compare). CPU time, not elapsed time: it is what a slow
//! core, a throttled node or a lesser kernel costs, and it does not change when
//! a rank merely waits for its CPU (that shows as load imbalance, and an
//! oversubscribed host is a placement warning). The reference is the median over ranks (for an even
//! count the lower median, the faster of the middle two); the spread is the
//! median absolute deviation from it, scaled by 1.4826 (a standard deviation
//! for normal data). A rank is an outlier when its time per sample is more than
//! [`OUTLIER_Z`] such deviations above the median *and* it counts at less than
//! [`OUTLIER_SPEED`] of the median rank's speed. A run whose median rank
//! counted for less than [`OUTLIER_MIN_SECONDS`] is too short to time and has
//! no outliers. The same rule runs over hosts (their ranks' seconds and samples
//! added up) when there are at least two.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::report::{RankFigures, ThreadFigures};

/// Robust standard deviations above the median for an outlier (the modified
/// z-score threshold of Iglewicz and Hoaglin).
pub const OUTLIER_Z: f64 = 3.5;

/// An outlier also counts at less than this fraction of the median's speed, so
/// a tight run does not flag a rank 5% slower than the rest.
pub const OUTLIER_SPEED: f64 = 0.75;

/// CPU seconds the median rank (or host) must have counted for outliers to be
/// looked for: shorter runs are dominated by start-up effects.
pub const OUTLIER_MIN_SECONDS: f64 = 0.2;

/// A sorted CPU (or rank) list as launchers and `taskset` write it: ranges
/// joined by commas, `0-3,8`; `-` when empty.
pub fn cpu_list(items: &[u32]) -> String {
    if items.is_empty() {
        return "-".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i;
        while j + 1 < items.len() && items[j + 1] == items[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            items[i].to_string()
        } else {
            format!("{}-{}", items[i], items[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// "rank 3" or "ranks 0-2,5".
fn ranks_named(ranks: &[u32]) -> String {
    match ranks {
        [one] => format!("rank {one}"),
        _ => format!("ranks {}", cpu_list(ranks)),
    }
}

/// The hosts in order of their first rank, each with its ranks.
fn by_host(per_rank: &[RankFigures]) -> Vec<(&str, Vec<usize>)> {
    let mut hosts: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, r) in per_rank.iter().enumerate() {
        match hosts.iter_mut().find(|(h, _)| *h == r.host) {
            Some((_, ranks)) => ranks.push(i),
            None => hosts.push((&r.host, vec![i])),
        }
    }
    hosts
}

/// Whether some host runs more threads (ranks × threads) than it gives the job
/// CPUs: the report's `oversubscribed`.
pub fn oversubscribed(per_rank: &[RankFigures]) -> bool {
    by_host(per_rank).iter().any(|(_, ranks)| {
        let threads: u64 = ranks.iter().map(|&i| per_rank[i].threads).sum();
        threads > per_rank[ranks[0]].cpus
    })
}

/// The placement warnings, one sentence each: the report's `placement_warnings`
/// (empty when all is well).
pub fn warnings(per_rank: &[RankFigures]) -> Vec<String> {
    let mut out = Vec::new();
    for (host, ranks) in by_host(per_rank) {
        if let Some(w) = overlapping(host, ranks.as_slice(), per_rank) {
            out.push(w);
        }
        let crowded: Vec<u32> = ranks
            .iter()
            .filter(|&&i| {
                let r = &per_rank[i];
                !r.affinity.is_empty() && r.threads > r.affinity.len() as u64
            })
            .map(|&i| i as u32)
            .collect();
        if let Some(&first) = crowded.first() {
            let r = &per_rank[first as usize];
            let cpus = |n: usize| {
                if n == 1 {
                    "1 CPU".into()
                } else {
                    format!("{n} CPUs")
                }
            };
            let what = if crowded.len() == 1 {
                format!(
                    "runs {} threads on {} (affinity {})",
                    r.threads,
                    cpus(r.affinity.len()),
                    cpu_list(&r.affinity)
                )
            } else {
                format!(
                    "run {} threads each on fewer CPUs (rank {first}: {}, affinity {})",
                    r.threads,
                    cpus(r.affinity.len()),
                    cpu_list(&r.affinity)
                )
            };
            out.push(format!(
                "{} on {host} {what}: give each rank a CPU per thread \
                 (mpirun --map-by slot:PE={n} --bind-to core, srun --cpus-per-task={n})",
                ranks_named(&crowded),
                n = r.threads
            ));
        }
        let threads: u64 = ranks.iter().map(|&i| per_rank[i].threads).sum();
        let cpus = per_rank[ranks[0]].cpus;
        if threads > cpus {
            out.push(format!(
                "{host} runs {} ranks × {} threads = {threads} threads on the {cpus} CPUs it gives \
                 the job: it is oversubscribed",
                ranks.len(),
                per_rank[ranks[0]].threads,
            ));
        }
    }
    out
}

/// The warning for ranks of one host whose affinity masks overlap, if any do.
fn overlapping(host: &str, ranks: &[usize], per_rank: &[RankFigures]) -> Option<String> {
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut involved: BTreeSet<u32> = BTreeSet::new();
    let mut example: Option<(usize, usize)> = None;
    for (k, &i) in ranks.iter().enumerate() {
        let mine = &per_rank[i].affinity;
        if mine.iter().any(|c| seen.contains(c)) {
            involved.insert(i as u32);
            for &j in &ranks[..k] {
                if per_rank[j].affinity.iter().any(|c| mine.contains(c)) {
                    involved.insert(j as u32);
                    example.get_or_insert((j, i));
                }
            }
        }
        seen.extend(mine);
    }
    let (a, b) = example?;
    let shared: Vec<u32> = per_rank[a]
        .affinity
        .iter()
        .copied()
        .filter(|c| per_rank[b].affinity.contains(c))
        .collect();
    let involved: Vec<u32> = involved.into_iter().collect();
    Some(format!(
        "{} on {host} have overlapping affinity masks (ranks {a} and {b} may both run on CPUs {}): \
         bind each rank to cores of its own (mpirun --bind-to core, srun --cpu-bind=cores)",
        ranks_named(&involved),
        cpu_list(&shared)
    ))
}

/// A rank or host that counts markedly slower than the median one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// The rank (`null` for a whole host).
    pub rank: Option<u64>,
    /// Its host.
    pub host: String,
    /// The median's time per sample ÷ its own (0.5: half the median's speed).
    pub relative_speed: f64,
    /// The kernel it ran (a host's kernels joined by `+`).
    pub kernel: String,
}

impl Outlier {
    /// The warning line's sentence.
    pub fn sentence(&self) -> String {
        match self.rank {
            Some(rank) => format!(
                "rank {rank} on {} counts at {:.2}× the median rank (kernel {})",
                self.host, self.relative_speed, self.kernel
            ),
            None => format!(
                "host {} counts at {:.2}× the median host (kernel {})",
                self.host, self.relative_speed, self.kernel
            ),
        }
    }
}

/// Indices of `times` (seconds per sample) that are outliers by the rule of
/// the module doc, each with its relative speed.
pub fn slow(times: &[f64]) -> Vec<(usize, f64)> {
    let known: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| t.is_finite() && *t > 0.0)
        .collect();
    if known.len() < 2 {
        return Vec::new();
    }
    let median = lower_median(known.clone());
    let mad = lower_median(known.iter().map(|t| (t - median).abs()).collect());
    let sigma = 1.4826 * mad;
    times
        .iter()
        .enumerate()
        .filter(|(_, t)| t.is_finite() && **t > 0.0)
        .map(|(i, &t)| (i, median / t))
        .filter(|&(i, speed)| {
            let above = times[i] - median;
            speed < OUTLIER_SPEED && above > OUTLIER_Z * sigma
        })
        .collect()
}

/// The median of `v` (not empty), for an even count the lower of the middle two.
fn lower_median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Indices of `entries` (CPU seconds, samples) that are slow: [`slow`] on
/// their times per sample, when the median entry counted long enough to time.
fn slow_entries(entries: &[(f64, u64)]) -> Vec<(usize, f64)> {
    let seconds: Vec<f64> = entries
        .iter()
        .map(|e| e.0)
        .filter(|s| s.is_finite())
        .collect();
    if seconds.is_empty() || lower_median(seconds) < OUTLIER_MIN_SECONDS {
        return Vec::new();
    }
    let times: Vec<f64> = entries
        .iter()
        .map(|&(secs, samples)| {
            if samples == 0 {
                f64::NAN
            } else {
                secs / samples as f64
            }
        })
        .collect();
    slow(&times)
}

/// The slow ranks, then the slow hosts: the report's `outliers`.
pub fn outliers(per_rank: &[RankFigures], per_thread: &[ThreadFigures]) -> Vec<Outlier> {
    let seconds = |rank: usize| -> f64 {
        per_thread
            .iter()
            .filter(|t| t.rank == rank as u64)
            .map(|t| t.cpu_seconds)
            .sum()
    };
    let ranks: Vec<(f64, u64)> = (0..per_rank.len())
        .map(|i| (seconds(i), per_rank[i].samples))
        .collect();
    let mut out: Vec<Outlier> = slow_entries(&ranks)
        .into_iter()
        .map(|(i, relative_speed)| Outlier {
            rank: Some(i as u64),
            host: per_rank[i].host.clone(),
            relative_speed,
            kernel: per_rank[i].kernel.clone(),
        })
        .collect();
    let hosts = by_host(per_rank);
    let host_entries: Vec<(f64, u64)> = hosts
        .iter()
        .map(|(_, mine)| {
            let secs = mine.iter().map(|&i| ranks[i].0).sum();
            (secs, mine.iter().map(|&i| ranks[i].1).sum())
        })
        .collect();
    for (h, relative_speed) in slow_entries(&host_entries) {
        let (host, mine) = &hosts[h];
        let mut kernels: Vec<&str> = Vec::new();
        for &i in mine {
            if !kernels.contains(&per_rank[i].kernel.as_str()) {
                kernels.push(&per_rank[i].kernel);
            }
        }
        out.push(Outlier {
            rank: None,
            host: host.to_string(),
            relative_speed,
            kernel: kernels.join("+"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_like_taskset() {
        assert_eq!(cpu_list(&[]), "-");
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(cpu_list(&[1, 3, 4, 5, 7]), "1,3-5,7");
    }

    #[test]
    fn one_slow_rank_of_two_is_found_and_a_tight_run_has_none() {
        // Rank 1 takes 5× as long per sample: the lower median is rank 0's.
        assert_eq!(slow(&[1.0, 5.0]), vec![(1, 0.2)]);
        assert_eq!(slow(&[1.0, 1.1]), vec![]);
        // A spread-out run: 1.3× the median is within 3.5 deviations.
        assert_eq!(slow(&[1.0, 1.2, 0.9, 1.3, 1.1]), vec![]);
        // Faster than the rest is never an outlier.
        assert_eq!(slow(&[1.0, 1.0, 1.0, 0.2]), vec![]);
        let found = slow(&[1.0, 1.02, 0.99, 1.01, 2.5, 1.0]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 4);
        assert!((found[0].1 - 0.4).abs() < 1e-9);
        // Unknown times (no samples) neither count nor get flagged.
        assert_eq!(slow(&[f64::NAN, 1.0]), vec![]);
    }

    #[test]
    fn runs_too_short_to_time_have_no_outliers() {
        // The same 5× slower rank, counted for 1 s and for 0.1 s (median).
        // (0.01 / 0.05 is 0.19999999999999998 in f64: compare within rounding.)
        let found = slow_entries(&[(1.0, 100), (5.0, 100)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 1);
        assert!((found[0].1 - 0.2).abs() < 1e-12, "{found:?}");
        assert_eq!(slow_entries(&[(0.1, 100), (0.5, 100)]), vec![]);
        assert_eq!(slow_entries(&[(1.0, 100), (1.0, 0)]), vec![]);
    }
}
