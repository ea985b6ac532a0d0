//! The report: one [`Report`] built by rank 0, with three views — text for stdout
//! ([`text`]), JSON ([`Report::to_json`]) and HDF5 ([`hdf5`]) — written to disk
//! atomically ([`files`]).

pub mod files;
pub mod hdf5;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::config::Config;
pub use crate::figures::{Figures, RankFigures, ThreadFigures};
use crate::host::Slurm;
use crate::intervals::Intervals;
use crate::placement::{self, Outlier};
use crate::plan::Plan;
use crate::rounds::TargetOutcome;
use crate::stats::{verdict, Dispersion, Estimate, Verdict};

/// Minimum, mean and maximum of a per-rank figure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Smallest value over ranks.
    pub min: f64,
    /// Mean over ranks.
    pub mean: f64,
    /// Largest value over ranks.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (not empty).
    pub fn of(values: &[f64]) -> Spread {
        Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// What one host did: its ranks together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostFigures {
    /// Host name.
    pub host: String,
    /// Its ranks, in order.
    pub ranks: Vec<u64>,
    /// CPUs it gives the job.
    pub cpus: u64,
    /// Its ranks' compute seconds.
    pub compute_seconds: Spread,
    /// Samples its ranks counted in this run.
    pub samples: u64,
    /// samples / its slowest rank's compute seconds.
    pub samples_per_second: f64,
}

impl HostFigures {
    /// Per-host figures from per-rank ones, hosts in order of their first rank.
    pub fn of(per_rank: &[RankFigures]) -> Vec<HostFigures> {
        let mut out: Vec<HostFigures> = Vec::new();
        for r in per_rank {
            if !out.iter().any(|h| h.host == r.host) {
                let mine: Vec<(usize, &RankFigures)> = per_rank
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.host == r.host)
                    .collect();
                let secs: Vec<f64> = mine.iter().map(|(_, x)| x.compute_seconds).collect();
                let compute_seconds = Spread::of(&secs);
                let samples = mine.iter().map(|(_, x)| x.samples).sum::<u64>();
                out.push(HostFigures {
                    host: r.host.clone(),
                    ranks: mine.iter().map(|(i, _)| *i as u64).collect(),
                    cpus: r.cpus,
                    compute_seconds,
                    samples,
                    samples_per_second: if compute_seconds.max > 0.0 {
                        samples as f64 / compute_seconds.max
                    } else {
                        0.0
                    },
                });
            }
        }
        out
    }
}

/// What the run counted, resumed batches included.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The batches the run set out to count: the configuration's, or with
    /// `--target-error` the ones its rounds decided to use.
    pub plan: Plan,
    /// Samples inside the circle, over all completed batches.
    pub inside: u64,
    /// The completed batches.
    pub done: Intervals,
    /// Batches taken over from the checkpoint resumed, if any.
    pub resumed_batches: u64,
    /// Their samples.
    pub resumed_samples: u64,
    /// The checkpoint resumed.
    pub resumed_from: Option<String>,
    /// The checkpoint written.
    pub checkpoint: Option<String>,
    /// The signal that stopped the run early (`SIGTERM`, …).
    pub stopped_by: Option<String>,
    /// The dispersion test over the batches done (`None`: fewer than two).
    pub dispersion: Option<Dispersion>,
    /// How a `--target-error` run went.
    pub target: Option<TargetOutcome>,
}

/// Timings measured by the run, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timings {
    /// Process start until every rank is ready to compute (MPI init, checks, jump tables).
    pub setup: f64,
    /// After every rank has counted (a barrier): the reduction and the gathers.
    /// Each rank's counting time is in [`RankFigures`].
    pub reduce: f64,
    /// Rank 0's time writing per-batch counts into the HDF5 file.
    pub write: f64,
    /// Process start until the report was assembled.
    pub wall: f64,
}

/// The result of a run. Every view is built from this and nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// mcpi version that produced the report.
    pub version: String,
    /// Whether every batch was counted.
    pub complete: bool,
    /// The signal that stopped the run before every batch was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// `PASS` when |z| ≤ 4 and the dispersion p-value is at least 1e-4.
    pub verdict: Verdict,
    /// Why the verdict is what it is.
    #[serde(default)]
    pub verdict_reason: String,
    /// `--label`: the study the run belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Seed of all streams.
    pub seed: u64,
    /// Stream layout name (see [`crate::stream::STREAM_LAYOUT`]).
    pub stream_layout: String,
    /// Kernel variant that counted; variants joined by `+` when ranks differed.
    pub kernel: String,
    /// Total samples drawn.
    pub samples: u64,
    /// Samples per batch (the last batch may be shorter).
    pub batch_size: u64,
    /// Number of batches.
    pub batches: u64,
    /// Number of MPI ranks.
    pub ranks: u64,
    /// Threads per rank (`--threads`); reports from before threads read as 1.
    #[serde(default = "one")]
    pub threads: u64,
    /// Where the thread count came from: `--threads`, `SLURM_CPUS_PER_TASK`,
    /// `OMP_NUM_THREADS` or `default`.
    #[serde(default)]
    pub threads_from: String,
    /// Batches counted (all of them when complete), resumed ones included.
    #[serde(default)]
    pub batches_done: u64,
    /// Samples in those batches: what the estimate is made of.
    #[serde(default)]
    pub samples_done: u64,
    /// Batches taken over from the checkpoint resumed (0 for a fresh run).
    #[serde(default)]
    pub resumed_batches: u64,
    /// The checkpoint resumed (`--resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The checkpoint written (`--checkpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// `--target-error`: the target, the maximum, the rule that stopped the
    /// run, the half-width reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetOutcome>,
    /// Samples inside the circle, over the batches done.
    pub inside: u64,
    /// 4 · inside / samples_done.
    #[serde(deserialize_with = "nan_if_null")]
    pub pi_estimate: f64,
    /// π, for comparison.
    pub pi: f64,
    /// |π̂ − π|.
    #[serde(deserialize_with = "nan_if_null")]
    pub abs_error: f64,
    /// |π̂ − π| / π.
    #[serde(deserialize_with = "nan_if_null")]
    pub rel_error: f64,
    /// Standard error σ = 4·sqrt(p̂(1−p̂)/N).
    #[serde(deserialize_with = "nan_if_null")]
    pub std_error: f64,
    /// 95% confidence interval [π̂ − 1.96σ, π̂ + 1.96σ].
    pub ci95: [f64; 2],
    /// (π̂ − π) / σ.
    #[serde(deserialize_with = "nan_if_null")]
    pub z_score: f64,
    /// The chi-square test of the per-batch counts' spread (null with fewer
    /// than two batches).
    #[serde(default)]
    pub dispersion: Option<Dispersion>,
    /// UTC start time, ISO 8601.
    pub started_at: String,
    /// Process start until the report was assembled.
    pub wall_seconds: f64,
    /// Process start until all ranks were ready to compute.
    pub setup_seconds: f64,
    /// Counting-loop time over every thread of every rank, less the time
    /// moving per-batch counts.
    pub compute_seconds: Spread,
    /// The reduction and gathers, after every rank has counted.
    pub reduce_seconds: f64,
    /// Rank 0's time writing per-batch counts.
    pub write_seconds: f64,
    /// Samples counted by this run (not resumed) / max compute seconds: the
    /// figure of merit.
    #[serde(deserialize_with = "nan_if_null")]
    pub samples_per_second: f64,
    /// samples_per_second / ranks.
    #[serde(deserialize_with = "nan_if_null")]
    pub samples_per_second_per_rank: f64,
    /// samples_per_second / (ranks × threads).
    #[serde(default, deserialize_with = "nan_if_null")]
    pub samples_per_second_per_core: f64,
    /// max / mean compute seconds (over threads) − 1.
    #[serde(deserialize_with = "nan_if_null")]
    pub load_imbalance: f64,
    /// Distinct hosts, in order of their first rank.
    pub hosts: Vec<String>,
    /// Whether some host ran more threads (ranks × threads) than it gives the
    /// job CPUs.
    #[serde(default)]
    pub oversubscribed: bool,
    /// What is wrong with where the ranks ran, one sentence each (`[]` when
    /// all is well): overlapping affinity masks, more threads than a mask's
    /// CPUs, an oversubscribed host. See [`crate::placement`].
    #[serde(default)]
    pub placement_warnings: Vec<String>,
    /// Ranks and hosts that counted markedly slower than the median (see
    /// [`crate::placement`] for the rule).
    #[serde(default)]
    pub outliers: Vec<Outlier>,
    /// Each host: its ranks, CPUs, compute seconds and throughput (HDF5 `/hosts`).
    #[serde(default)]
    pub per_host: Vec<HostFigures>,
    /// The Slurm job, when run under Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<Slurm>,
    /// Per-rank figures (HDF5 `/ranks`; not in JSON).
    #[serde(skip)]
    pub per_rank: Vec<RankFigures>,
    /// Per-thread figures (HDF5 `/threads`; not in JSON).
    #[serde(skip)]
    pub per_thread: Vec<ThreadFigures>,
    /// The completed batches (HDF5 `/done`; not in JSON).
    #[serde(skip)]
    pub done: Intervals,
}

/// Threads per rank in a report from before `--threads`.
fn one() -> u64 {
    1
}

/// A float the JSON view may hold as `null`: serde_json writes a non-finite
/// float (the z-score of a run with no error bar, say) as `null`, and reading
/// the report back must accept it, as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Report {
    /// Assembles the report of a run of `config` (its seed, label and target;
    /// the batches come from `outcome.plan`).
    pub fn new(
        config: &Config,
        outcome: Outcome,
        figures: Figures,
        timings: Timings,
        started_at: String,
        slurm: Option<Slurm>,
    ) -> Report {
        let plan = &outcome.plan;
        let inside = outcome.inside;
        let batches_done = outcome.done.count();
        let samples_done = plan.samples_in_all(&outcome.done);
        let est = Estimate::new(inside, samples_done);
        let (verdict, verdict_reason) = verdict(&est, outcome.dispersion.as_ref());
        let pi = std::f64::consts::PI;
        let Figures {
            per_rank,
            per_thread,
            threads_from,
        } = figures;
        let threads = per_rank.first().map_or(1, |r| r.threads);
        let compute: Vec<f64> = per_thread.iter().map(|t| t.compute_seconds).collect();
        let compute_seconds = Spread::of(&compute);
        let samples_per_second =
            (samples_done - outcome.resumed_samples) as f64 / compute_seconds.max;
        let distinct = |field: fn(&RankFigures) -> &String| {
            let mut seen: Vec<String> = Vec::new();
            for r in &per_rank {
                if !seen.contains(field(r)) {
                    seen.push(field(r).clone());
                }
            }
            seen
        };
        let hosts = distinct(|r| &r.host);
        let cores = (per_rank.len() as u64 * threads) as f64;
        Report {
            version: env!("CARGO_PKG_VERSION").to_string(),
            complete: batches_done == plan.batches
                && outcome
                    .target
                    .as_ref()
                    .is_none_or(|t| t.stop_rule.is_some()),
            stopped_by: outcome.stopped_by,
            verdict,
            verdict_reason,
            label: config.label.clone(),
            seed: config.seed,
            stream_layout: crate::stream::STREAM_LAYOUT.to_string(),
            kernel: distinct(|r| &r.kernel).join("+"),
            samples: plan.samples,
            batch_size: plan.batch_size,
            batches: plan.batches,
            ranks: per_rank.len() as u64,
            threads,
            threads_from,
            batches_done,
            samples_done,
            resumed_batches: outcome.resumed_batches,
            resumed_from: outcome.resumed_from,
            checkpoint: outcome.checkpoint,
            target: outcome.target,
            inside,
            pi_estimate: est.pi,
            pi,
            abs_error: (est.pi - pi).abs(),
            rel_error: (est.pi - pi).abs() / pi,
            std_error: est.std_error,
            ci95: est.ci95,
            z_score: est.z_score,
            dispersion: outcome.dispersion,
            started_at,
            wall_seconds: timings.wall,
            setup_seconds: timings.setup,
            compute_seconds,
            reduce_seconds: timings.reduce,
            write_seconds: timings.write,
            samples_per_second,
            samples_per_second_per_rank: samples_per_second / per_rank.len() as f64,
            samples_per_second_per_core: samples_per_second / cores,
            load_imbalance: if compute_seconds.mean > 0.0 {
                compute_seconds.max / compute_seconds.mean - 1.0
            } else {
                0.0
            },
            hosts,
            oversubscribed: placement::oversubscribed(&per_rank),
            placement_warnings: placement::warnings(&per_rank),
            outliers: placement::outliers(&per_rank, &per_thread),
            per_host: HostFigures::of(&per_rank),
            slurm,
            per_rank,
            per_thread,
            done: outcome.done,
        }
    }

    /// The JSON view: pretty-printed, with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a report always serializes");
        bytes.push(b'\n');
        bytes
    }
}
