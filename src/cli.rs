//! The command line, and the only module that knows clap: the flags, count
//! and time parsing (`1e7`, `10_000_000`, `4G`; `90s`, `5m`), and their
//! conversion into what the rest of mcpi works from — a checked [`Config`] for
//! the job, [`study::Options`] for `mcpi study`. Every error names its flag.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::config::{
    Config, KernelChoice, TargetSpec, ThreadsChoice, DEFAULT_BATCH_SIZE, DEFAULT_CONFIDENCE,
    DEFAULT_MAX_SAMPLES, DEFAULT_SAMPLES, DEFAULT_SEED, MAX_BATCHES,
};
use crate::error::UsageError;
use crate::plan::Plan;
use crate::progress::Style;
use crate::study::{self, Kind};

/// mcpi: a reproducible SPMD Monte Carlo estimate of π.
#[derive(Parser, Debug)]
#[command(name = "mcpi", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; plain `mcpi [OPTIONS]` is `mcpi run [OPTIONS]`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flags of `run`, accepted without the subcommand too.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Estimate π: every rank counts its batches, rank 0 writes the report.
    Run(RunArgs),
    /// Scaling table and plot from JSON reports (no MPI needed).
    Study(StudyArgs),
    /// How a run would be cut into batches and shared over ranks, printed
    /// without running (no MPI needed).
    Plan(PlanArgs),
}

/// The largest `--ranks` of `mcpi plan`: 2^24, beyond any MPI job today (the
/// plan holds a line per rank).
pub const MAX_PLAN_RANKS: u64 = 1 << 24;

/// The arguments of `mcpi plan`: `run`'s counts, and the ranks to share over.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Total samples, as for `run` [default: 1e10].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub samples: Option<u64>,

    /// Samples per batch, as for `run` [default: 1e7, or --samples if smaller].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub batch_size: Option<u64>,

    /// Ranks to share the batches over.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_count, allow_hyphen_values = true)]
    pub ranks: u64,

    /// Print JSON instead of `key value` lines.
    #[arg(long)]
    pub json: bool,
}

/// What `mcpi plan` prints.
#[derive(Clone, Copy, Debug)]
pub struct PlanRequest {
    /// The run's batches.
    pub plan: Plan,
    /// The ranks to share them over.
    pub ranks: u64,
    /// JSON rather than text.
    pub json: bool,
}

impl PlanArgs {
    /// The plan `run` would make of these counts, with `run`'s checks.
    pub fn check(self) -> Result<PlanRequest, UsageError> {
        if self.ranks > MAX_PLAN_RANKS {
            return Err(UsageError::flag(
                "--ranks",
                format!(
                    "{} is more than mcpi plan shows (at most {MAX_PLAN_RANKS})",
                    self.ranks
                ),
            ));
        }
        Ok(PlanRequest {
            plan: plan_of(self.samples.unwrap_or(DEFAULT_SAMPLES), self.batch_size)?,
            ranks: self.ranks,
            json: self.json,
        })
    }
}

/// The arguments of `mcpi study`.
#[derive(Args, Debug, Clone)]
pub struct StudyArgs {
    /// JSON reports, or directories whose *.json files are all reports.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Scaling kind: strong (same total samples), weak (same samples per core,
    /// ranks x threads), or auto (whichever the reports share).
    #[arg(long, value_name = "KIND", default_value = "auto", value_parser = one_of::<Kind>(&["strong", "weak", "auto"]))]
    pub kind: Kind,

    /// Also write the table as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Also write the table as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Also draw speedup and efficiency against cores as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

/// The flags of `mcpi run`, as typed.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Total samples, drawn exactly [e.g. 1e10, 10G, 10_000_000_000]; with
    /// --target-error, the most to draw [default: 1e10; 1e13 with --target-error].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub samples: Option<u64>,

    /// Stop once the confidence interval's half-width is at most EPS (e.g. 1e-5),
    /// counting batches in rounds, in batch order.
    #[arg(long, value_name = "EPS", value_parser = parse_positive, allow_hyphen_values = true)]
    pub target_error: Option<f64>,

    /// The confidence of --target-error's interval [default: 0.95].
    #[arg(long, value_name = "C", value_parser = parse_confidence, allow_hyphen_values = true)]
    pub confidence: Option<f64>,

    /// Samples per batch; each batch is one independent stream [default: 1e7, or
    /// --samples if smaller].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub batch_size: Option<u64>,

    /// Seed of all streams (decimal or 0x-hex).
    #[arg(long, value_name = "U64", default_value_t = DEFAULT_SEED, value_parser = parse_seed, allow_hyphen_values = true)]
    pub seed: u64,

    /// Write PREFIX.h5 and PREFIX.json [default: `mcpi-<UTC yyyymmddThhmmss>[-<SLURM_JOB_ID>]`].
    #[arg(long, value_name = "PREFIX")]
    pub output: Option<PathBuf>,

    /// Overwrite existing report files.
    #[arg(long)]
    pub force: bool,

    /// Kernel variant: auto (the fastest this CPU runs), avx512, avx2, portable,
    /// scalar.
    #[arg(long, value_name = "NAME", default_value = "auto", value_parser = str::parse::<KernelChoice>)]
    pub kernel: KernelChoice,

    /// Threads per rank: a count, or auto (SLURM_CPUS_PER_TASK, else
    /// OMP_NUM_THREADS, else 1). Only the main thread calls MPI.
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = str::parse::<ThreadsChoice>, allow_hyphen_values = true)]
    pub threads: ThreadsChoice,

    /// A name for the study this run belongs to, recorded in the report (e.g.
    /// strong-scaling); `mcpi study` never mixes runs with different labels.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<std::ffi::OsString>,

    /// Write a checkpoint here every --checkpoint-interval and when stopped by a
    /// signal [default with --resume: the checkpoint resumed].
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,

    /// Time between checkpoints: seconds, or with a unit (90s, 5m, 1h).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_duration)]
    pub checkpoint_interval: f64,

    /// Continue the run saved in this checkpoint: the same --seed, --samples and
    /// --batch-size, on any number of ranks.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,

    /// Progress on rank 0's stderr: auto (a bar on a terminal, else timestamped
    /// lines), bar, lines, none.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = one_of::<Style>(&["auto", "bar", "lines", "none"]))]
    pub progress: Style,

    /// No progress on stderr, as --progress none (errors and warnings still show).
    #[arg(long, short)]
    pub quiet: bool,
}

/// A flag that takes one of `names`, parsed into `T` (its `FromStr` knows the
/// same names): clap lists them in `--help` and in its errors.
fn one_of<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| name.parse::<T>().expect("one of the names FromStr knows"))
}

/// What to do instead of running: print help or the version, or refuse.
#[derive(Debug)]
pub enum NotRun {
    /// `--help` or `--version`: print this on stdout, exit 0.
    Print(String),
    /// A bad command line.
    Refused(UsageError),
}

/// The parsed command line.
#[derive(Debug)]
pub enum Invocation {
    /// `mcpi run` (or no subcommand): the MPI job.
    Run(Result<Config, NotRun>),
    /// `mcpi study`: no MPI.
    Study(Result<study::Options, NotRun>),
    /// `mcpi plan`: no MPI.
    Plan(Result<PlanRequest, NotRun>),
}

/// Parses the process's arguments, once.
pub fn parse() -> Invocation {
    match Cli::try_parse() {
        Ok(Cli {
            command: Some(Command::Study(args)),
            ..
        }) => Invocation::Study(Ok(args.options())),
        Ok(Cli {
            command: Some(Command::Plan(args)),
            ..
        }) => Invocation::Plan(args.check().map_err(NotRun::Refused)),
        Ok(Cli {
            command: Some(Command::Run(args)),
            ..
        })
        | Ok(Cli {
            command: None,
            run: args,
        }) => Invocation::Run(args.check().map_err(NotRun::Refused)),
        Err(e) => {
            let not_run = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => NotRun::Print(e.to_string()),
                _ => NotRun::Refused(UsageError::CommandLine(clap_error_line(&e))),
            };
            match subcommand_of(&e).as_deref() {
                Some("study") => Invocation::Study(Err(not_run)),
                Some("plan") => Invocation::Plan(Err(not_run)),
                _ => Invocation::Run(Err(not_run)),
            }
        }
    }
}

/// The subcommand a command line that clap refused names, so that `mcpi
/// study`'s and `mcpi plan`'s errors and help are printed as theirs, without
/// MPI. Help names it in its usage line; for errors clap reads the command line
/// again, ignoring errors (on this failure path only).
fn subcommand_of(e: &clap::Error) -> Option<String> {
    use clap::CommandFactory;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let text = e.to_string();
        let usage = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("Usage: mcpi "))?;
        return ["study", "plan"]
            .into_iter()
            .find(|c| usage.split_whitespace().next() == Some(c))
            .map(str::to_owned);
    }
    let matches = Cli::command().ignore_errors(true).try_get_matches().ok()?;
    matches.subcommand_name().map(str::to_owned)
}

impl StudyArgs {
    /// The options of `mcpi study`.
    pub fn options(self) -> study::Options {
        study::Options {
            paths: self.paths,
            kind: self.kind,
            csv: self.csv,
            markdown: self.markdown,
            plot: self.plot,
            force: self.force,
        }
    }
}

/// The plan for `samples` (the default when `None`) in batches of `batch_size`
/// (the default, or `samples` if smaller), refusing too many batches.
pub fn plan_of(samples: u64, batch_size: Option<u64>) -> Result<Plan, UsageError> {
    let batch_size = match batch_size {
        Some(b) if b > samples => {
            return Err(UsageError::flag(
                "--batch-size",
                format!("({b}) is larger than --samples ({samples})"),
            ))
        }
        Some(b) => b,
        None => DEFAULT_BATCH_SIZE.min(samples),
    };
    let batches = samples.div_ceil(batch_size);
    if batches > MAX_BATCHES {
        return Err(UsageError::flag(
            "--batch-size",
            format!(
                "{batch_size} makes {batches} batches of --samples {samples}; at most {MAX_BATCHES} \
                 are allowed: use a larger --batch-size"
            ),
        ));
    }
    Ok(Plan::new(samples, batch_size))
}

impl RunArgs {
    /// Checks the flags against each other.
    pub fn check(self) -> Result<Config, UsageError> {
        let samples = self.samples.unwrap_or(if self.target_error.is_some() {
            DEFAULT_MAX_SAMPLES
        } else {
            DEFAULT_SAMPLES
        });
        let plan = plan_of(samples, self.batch_size)?;
        let target = match (self.target_error, self.confidence) {
            (None, Some(_)) => {
                return Err(UsageError::flag(
                    "--confidence",
                    "applies only with --target-error",
                ))
            }
            (None, None) => None,
            (Some(error), confidence) => {
                let target = TargetSpec {
                    error,
                    confidence: confidence.unwrap_or(DEFAULT_CONFIDENCE),
                };
                check_target(target, samples)?;
                Some(target)
            }
        };
        if let Some(out) = &self.output {
            let text = out.to_string_lossy();
            let last = text.rsplit('/').next().unwrap_or("");
            if matches!(last, "" | "." | "..") {
                return Err(UsageError::flag(
                    "--output",
                    format!("'{text}' must end in a file name prefix (e.g. results/run)"),
                ));
            }
        }
        let label = self.label.as_deref().map(check_label).transpose()?;
        Ok(Config {
            plan,
            seed: self.seed,
            output: self.output,
            force: self.force,
            kernel: self.kernel,
            threads: self.threads,
            label,
            progress: if self.quiet {
                Style::None
            } else {
                self.progress
            },
            checkpoint: self.checkpoint.or_else(|| self.resume.clone()),
            checkpoint_interval: self.checkpoint_interval,
            resume: self.resume,
            target,
        })
    }
}

/// `--label`: 1 to 64 printable characters — no control characters, and none
/// of the invisible ones that reorder or hide text (bidirectional controls,
/// zero-width characters, the byte order mark).
fn check_label(label: &std::ffi::OsStr) -> Result<String, UsageError> {
    let refuse = |shown: String| {
        UsageError::flag(
            "--label",
            format!("'{shown}' must be 1 to 64 printable characters"),
        )
    };
    let Some(text) = label.to_str() else {
        return Err(refuse(label.to_string_lossy().escape_default().to_string()));
    };
    let chars = text.chars().count();
    if chars == 0 || chars > 64 || text.chars().any(crate::console::invisible) {
        return Err(refuse(text.escape_default().to_string()));
    }
    Ok(text.to_string())
}

/// Refuses a `--target-error` the maximum `samples` cannot reach.
fn check_target(t: TargetSpec, samples: u64) -> Result<(), UsageError> {
    let z = crate::stats::z_for(t.confidence);
    if !(z.is_finite() && z > 1e-6) {
        return Err(UsageError::flag(
            "--confidence",
            format!(
                "{} is too close to {} for a finite interval",
                t.confidence,
                if t.confidence > 0.5 { 1 } else { 0 }
            ),
        ));
    }
    let need = crate::rounds::predicted_samples(t.error, t.confidence);
    if !need.is_finite() || need > samples as f64 {
        return Err(UsageError::flag(
            "--target-error",
            format!(
                "{:e} at {}% confidence needs about {need:.2e} samples, \
                 more than the maximum --samples {:e}: raise --samples (or the target)",
                t.error,
                t.confidence * 100.0,
                samples as f64
            ),
        ));
    }
    Ok(())
}

/// A clap error as one line: its message without `error: `, with the lines that
/// complete it (the missing arguments) but not the usage that follows.
pub fn clap_error_line(e: &clap::Error) -> String {
    let rendered = e.to_string();
    let parts: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = parts.join(" ");
    line.trim_start_matches("error: ").to_string()
}

/// Parses a positive count: `10000000`, `1e7`, `2.5e9`, `10_000_000`, `10M`, `4G`,
/// `1T` (k, M, G, T, P, in either case, are powers of ten). The value must be a whole number in
/// `1..=u64::MAX`.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let s = text.trim().replace('_', "");
    if s.starts_with('-') {
        return Err("must be positive".into());
    }
    // A leading '+' as for seeds (and Rust's integer parsing).
    let s = s.strip_prefix('+').unwrap_or(&s).to_string();
    let suffix = s
        .chars()
        .last()
        .filter(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E'));
    let (body, mut exp10) = match suffix {
        Some(c) => {
            let body = &s[..s.len() - 1];
            if !body.ends_with(|d: char| d.is_ascii_digit() || d == '.') {
                return Err("not a number".into());
            }
            let e = match c.to_ascii_uppercase() {
                'K' => 3,
                'M' => 6,
                'G' => 9,
                'T' => 12,
                'P' => 15,
                _ => return Err(format!("unknown suffix '{c}' (use k, M, G, T or P)")),
            };
            (body, e)
        }
        None => (&s[..], 0i32),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("not a number".into());
        }
        // Any exponent past i32 is as good as ±100: far beyond u64 either way.
        let e: i32 = e
            .parse()
            .unwrap_or(if e.starts_with('-') { -100 } else { 100 });
        exp10 += e.clamp(-100, 100);
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number".into());
    }
    exp10 -= frac_part.len() as i32;
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Err("must be at least 1".into());
    }
    // Drop trailing zeros into the exponent, so 1.50e1 and 15 are the same.
    let trimmed = digits.trim_end_matches('0');
    exp10 += (digits.len() - trimmed.len()) as i32;
    let too_big = || "too large (the maximum is 18446744073709551615)".to_string();
    if exp10 < 0 {
        return Err("not a whole number".into());
    }
    let m: u64 = trimmed.parse().map_err(|_| too_big())?;
    10u64
        .checked_pow(exp10 as u32)
        .and_then(|p| m.checked_mul(p))
        .ok_or_else(too_big)
}

/// Parses a time span: seconds (`90`, `0.5`, `1e2`), a number with one unit
/// `s`, `m` or `h` (`90s`, `5m`, `1.5h`), or what jiff reads as a duration
/// (`1h 30m`, `90min`). It must be positive.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let (number, unit) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1.0),
        Some((i, 'm')) => (&s[..i], 60.0),
        Some((i, 'h')) => (&s[..i], 3600.0),
        _ => (s, 1.0),
    };
    let secs = match number.trim().parse::<f64>() {
        Ok(v) => v * unit,
        Err(_) => s
            .parse::<jiff::SignedDuration>()
            .map_err(|_| "not a time (use e.g. 90s, 5m, 1h)".to_string())?
            .as_secs_f64(),
    };
    if secs > 0.0 && secs.is_finite() {
        Ok(secs)
    } else {
        Err("must be positive".into())
    }
}

/// Parses a positive, finite number (`1e-5`, `0.001`).
pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(_) => Err("must be positive".into()),
        Err(_) => Err("not a number".into()),
    }
}

/// Parses a confidence: strictly between 0 and 1 (`0.95`, `0.999`).
pub fn parse_confidence(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        Ok(_) => Err("must be between 0 and 1 (e.g. 0.95)".into()),
        Err(_) => Err("not a number".into()),
    }
}

/// Parses a seed: a decimal or `0x`-prefixed hexadecimal u64.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let s = text.trim().replace('_', "");
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| "not an unsigned 64-bit integer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mcpi run ARGV` as clap parses it, defaults included.
    fn args(argv: &[&str]) -> RunArgs {
        let full = ["mcpi", "run"].iter().chain(argv);
        run_args(Cli::try_parse_from(full).unwrap())
    }

    /// The run arguments, whether `run` was given or not.
    fn run_args(cli: Cli) -> RunArgs {
        match cli.command {
            Some(Command::Run(args)) => args,
            None => cli.run,
            Some(Command::Study(_) | Command::Plan(_)) => panic!("not a run"),
        }
    }

    #[test]
    fn counts_in_every_documented_form() {
        for (text, value) in [
            ("10000000", 10_000_000),
            ("1e7", 10_000_000),
            ("1E7", 10_000_000),
            ("10_000_000", 10_000_000),
            ("10M", 10_000_000),
            ("4G", 4_000_000_000),
            ("1T", 1_000_000_000_000),
            ("2.5e9", 2_500_000_000),
            ("1.5k", 1500),
            ("1e+3", 1000),
            ("0.001e3", 1),
            ("+1", 1),
            ("+2e3", 2000),
            ("18446744073709551615", u64::MAX),
            ("1.8e19", 18_000_000_000_000_000_000),
            ("1", 1),
        ] {
            assert_eq!(parse_count(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn bad_counts_are_refused() {
        for (text, why) in [
            ("0", "at least 1"),
            ("0e5", "at least 1"),
            ("-5", "positive"),
            ("2.5", "whole"),
            ("1e-3", "whole"),
            ("abc", "not a number"),
            ("", "not a number"),
            ("1x", "suffix"),
            ("18446744073709551616", "too large"),
            ("1e20", "too large"),
            ("20000P", "too large"),
            ("G", "not a number"),
            ("1e999999", "too large"),
            ("1e2147483648", "too large"),
            ("1e-2147483649", "whole"),
            ("1e", "not a number"),
            ("1e+", "not a number"),
        ] {
            let err = parse_count(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn durations_with_units() {
        for (text, secs) in [
            ("90", 90.0),
            ("90s", 90.0),
            ("5m", 300.0),
            ("1h", 3600.0),
            ("0.5s", 0.5),
            ("1.5h", 5400.0),
            ("1e2s", 100.0),
            ("1h 30m", 5400.0),
            ("90min", 5400.0),
        ] {
            assert_eq!(parse_duration(text), Ok(secs), "{text}");
        }
        for bad in ["0", "-5m", "5x", "m", "", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seeds_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("0xff"), Ok(255));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_seed("-1").is_err());
        assert!(parse_seed("1e3").is_err());
    }

    #[test]
    fn batch_size_larger_than_samples_names_both_flags() {
        let args = args(&["--samples", "10", "--batch-size", "11"]);
        let msg = args.check().unwrap_err().to_string();
        assert!(
            msg.contains("--batch-size") && msg.contains("--samples"),
            "{msg}"
        );
    }

    #[test]
    fn default_batch_size_shrinks_to_small_sample_counts() {
        assert_eq!(
            args(&["--samples", "1000"])
                .check()
                .unwrap()
                .plan
                .batch_size,
            1000
        );
        let defaults = args(&[]);
        assert_eq!((defaults.samples, defaults.seed), (None, DEFAULT_SEED));
        assert_eq!(defaults.kernel, KernelChoice::Auto);
        let plan = defaults.check().unwrap().plan;
        assert_eq!(plan.batch_size, DEFAULT_BATCH_SIZE);
        // Without the subcommand, the same flags.
        let bare = run_args(Cli::try_parse_from(["mcpi", "--samples", "5"]).unwrap());
        assert_eq!(bare.samples, Some(5));
    }

    #[test]
    fn too_many_batches_and_bad_prefixes_are_refused() {
        assert!(args(&["--samples", "1T", "--batch-size", "1"])
            .check()
            .unwrap_err()
            .to_string()
            .contains("--batch-size"));
        for bad in ["dir/", ".", "..", "a/.", "a/.."] {
            let msg = args(&["--output", bad]).check().unwrap_err().to_string();
            assert!(msg.contains("--output"), "{bad}: {msg}");
        }
        let long = "x".repeat(65);
        for bad in [
            "",
            "two\nlines",
            long.as_str(),
            "a\u{202E}b",
            "zero\u{200B}width",
        ] {
            let msg = args(&["--label", bad]).check().unwrap_err().to_string();
            assert!(msg.contains("--label"), "{bad:?}: {msg}");
        }
        let ok = args(&["--label", "strong-scaling", "-q"]).check().unwrap();
        assert_eq!(ok.label.as_deref(), Some("strong-scaling"));
        assert_eq!(ok.progress, Style::None);
        assert_eq!(
            args(&["--progress", "bar"]).check().unwrap().progress,
            Style::Bar
        );
    }
}
