//! The checked configuration of a run: what it counts, with which kernel, where
//! its results and checkpoints go. Free of clap: `cli` builds it from the flags,
//! everything else only reads it.

use std::path::PathBuf;
use std::str::FromStr;

use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::progress::Style;

/// The default seed, printed in every report: the first 15 digits of π.
pub const DEFAULT_SEED: u64 = 314_159_265_358_979;

/// Default `--samples` with `--target-error`, where it is the maximum: 1e13.
pub const DEFAULT_MAX_SAMPLES: u64 = 10_000_000_000_000;

/// Default `--samples`: 1e10.
pub const DEFAULT_SAMPLES: u64 = 10_000_000_000;

/// Default `--batch-size`: 1e7.
pub const DEFAULT_BATCH_SIZE: u64 = 10_000_000;

/// Default `--confidence` of `--target-error`.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// The largest number of batches a run may have. Every batch costs ~1 µs of
/// stream set-up and 8 bytes in the report: 10^8 batches make an 800 MB file.
/// More means the batch size is too small to pay for itself.
pub const MAX_BATCHES: u64 = 100_000_000;

/// `--kernel`: detect per rank, or one variant forced on every rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelChoice {
    /// The fastest variant each rank's CPU supports.
    Auto,
    /// This variant on every rank; refused if some rank's CPU cannot run it.
    Named(Kernel),
}

impl KernelChoice {
    /// The variant this rank runs.
    pub fn resolve(self) -> Kernel {
        match self {
            KernelChoice::Auto => Kernel::detect(),
            KernelChoice::Named(k) => k,
        }
    }
}

impl FromStr for KernelChoice {
    type Err = String;

    /// `auto` or a variant's name.
    fn from_str(text: &str) -> Result<KernelChoice, String> {
        if text == "auto" {
            return Ok(KernelChoice::Auto);
        }
        Kernel::from_name(text)
            .map(KernelChoice::Named)
            .ok_or_else(|| {
                let names: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
                format!("unknown kernel (choose auto, {})", names.join(", "))
            })
    }
}

/// `--target-error EPS --confidence C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetSpec {
    /// The half-width to reach.
    pub error: f64,
    /// Its confidence.
    pub confidence: f64,
}

/// A checked run configuration: everything the run needs, all flags validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// The decomposition into batches (with `--target-error`: the maximum).
    pub plan: Plan,
    /// The seed of all streams.
    pub seed: u64,
    /// The report prefix as given, or `None` for the timestamped default.
    pub output: Option<PathBuf>,
    /// Whether existing reports (and a checkpoint not resumed) may be replaced.
    pub force: bool,
    /// The kernel variant requested.
    pub kernel: KernelChoice,
    /// The study label, if any.
    pub label: Option<String>,
    /// How progress is shown.
    pub progress: Style,
    /// Where checkpoints go, if anywhere.
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    pub checkpoint_interval: f64,
    /// The checkpoint to continue, if any.
    pub resume: Option<PathBuf>,
    /// `--target-error` and `--confidence`, if a precision is the goal.
    pub target: Option<TargetSpec>,
}
