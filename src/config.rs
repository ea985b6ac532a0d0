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

/// The most threads a rank may run (`--threads`): more than any node has cores.
pub const MAX_THREADS: u64 = 4096;

/// `--threads`: a count, or `auto` from the batch system's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadsChoice {
    /// `SLURM_CPUS_PER_TASK`, else `OMP_NUM_THREADS`, else 1.
    Auto,
    /// This many on every rank.
    Count(u64),
}

/// Where a rank's thread count came from (the report's `threads_from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadsSource {
    /// `--threads N`.
    Flag,
    /// `--threads auto`, from Slurm's `--cpus-per-task`.
    SlurmCpusPerTask,
    /// `--threads auto`, from `OMP_NUM_THREADS` (its first level).
    OmpNumThreads,
    /// `--threads auto` with neither variable set: 1.
    Default,
}

impl ThreadsSource {
    /// As the report writes it.
    pub fn name(self) -> &'static str {
        match self {
            ThreadsSource::Flag => "--threads",
            ThreadsSource::SlurmCpusPerTask => "SLURM_CPUS_PER_TASK",
            ThreadsSource::OmpNumThreads => "OMP_NUM_THREADS",
            ThreadsSource::Default => "default",
        }
    }
}

/// A thread count from 1 to [`MAX_THREADS`], or why `text` is not one.
fn thread_count(text: &str) -> Result<u64, String> {
    let digits = text.trim();
    match digits.parse::<u64>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        Ok(_) => Err(format!("must be from 1 to {MAX_THREADS}")),
        Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("must be from 1 to {MAX_THREADS}")) // beyond u64
        }
        Err(_) => Err("is not a whole number".into()),
    }
}

impl ThreadsChoice {
    /// This rank's thread count and where it came from; `var` reads the
    /// environment. A variable that is set (not empty) but not a count from 1
    /// to [`MAX_THREADS`] is an error (the sentence after `--threads`).
    pub fn resolve(
        self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<(u64, ThreadsSource), String> {
        let from_env = |name: &str, source| {
            // Set but empty counts as unset, as OpenMP runtimes take it.
            var(name).filter(|v| !v.trim().is_empty()).map(|v| {
                // OMP_NUM_THREADS may list nested levels ("4,2"): the first is ours.
                let first = v.split(',').next().unwrap_or("");
                thread_count(first)
                    .map(|n| (n, source))
                    .map_err(|why| format!("auto: {name}={v:?} {why}"))
            })
        };
        match self {
            ThreadsChoice::Count(n) => Ok((n, ThreadsSource::Flag)),
            ThreadsChoice::Auto => from_env("SLURM_CPUS_PER_TASK", ThreadsSource::SlurmCpusPerTask)
                .or_else(|| from_env("OMP_NUM_THREADS", ThreadsSource::OmpNumThreads))
                .unwrap_or(Ok((1, ThreadsSource::Default))),
        }
    }
}

impl FromStr for ThreadsChoice {
    type Err = String;

    /// `auto` or a count from 1 to [`MAX_THREADS`].
    fn from_str(text: &str) -> Result<ThreadsChoice, String> {
        if text == "auto" {
            return Ok(ThreadsChoice::Auto);
        }
        thread_count(text)
            .map(ThreadsChoice::Count)
            .map_err(|why| format!("{why} (give a count from 1 to {MAX_THREADS}, or auto)"))
    }
}

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
    /// Threads per rank, as requested.
    pub threads: ThreadsChoice,
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

impl Config {
    /// A run of `plan` from `seed`, everything else as with no flags but no
    /// progress display and one thread: what benches and tests of the parts
    /// below the job start from.
    pub fn of(plan: Plan, seed: u64) -> Config {
        Config {
            plan,
            seed,
            output: None,
            force: false,
            kernel: KernelChoice::Auto,
            threads: ThreadsChoice::Count(1),
            label: None,
            progress: Style::None,
            checkpoint: None,
            checkpoint_interval: 60.0,
            resume: None,
            target: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn threads_auto_takes_slurm_then_openmp_then_one() {
        let auto = ThreadsChoice::Auto;
        assert_eq!(auto.resolve(env(&[])), Ok((1, ThreadsSource::Default)));
        let omp = [("OMP_NUM_THREADS", "4,2")];
        assert_eq!(
            auto.resolve(env(&omp)),
            Ok((4, ThreadsSource::OmpNumThreads))
        );
        let both = [("OMP_NUM_THREADS", "4"), ("SLURM_CPUS_PER_TASK", "8")];
        assert_eq!(
            auto.resolve(env(&both)),
            Ok((8, ThreadsSource::SlurmCpusPerTask))
        );
        // A count given on the command line wins over the environment.
        assert_eq!(
            ThreadsChoice::Count(3).resolve(env(&both)),
            Ok((3, ThreadsSource::Flag))
        );
        let empty = [("SLURM_CPUS_PER_TASK", " "), ("OMP_NUM_THREADS", "2")];
        assert_eq!(
            auto.resolve(env(&empty)),
            Ok((2, ThreadsSource::OmpNumThreads))
        );
        for bad in ["0", "x", "4097", "-2"] {
            let why = auto.resolve(env(&[("OMP_NUM_THREADS", bad)])).unwrap_err();
            assert!(why.starts_with("auto: OMP_NUM_THREADS="), "{bad:?}: {why}");
        }
    }

    #[test]
    fn thread_counts_parse_from_1_to_the_maximum() {
        assert_eq!("auto".parse(), Ok(ThreadsChoice::Auto));
        assert_eq!("4096".parse(), Ok(ThreadsChoice::Count(MAX_THREADS)));
        for bad in ["0", "4097", "two", "1.5", ""] {
            assert!(bad.parse::<ThreadsChoice>().is_err(), "{bad:?}");
        }
    }
}
