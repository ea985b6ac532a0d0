//! `mcpi study`: turns a set of JSON reports into scaling series — runs grouped
//! by configuration, ranks and threads per rank, repeats reduced to their median —
//! and shows each as a table (text, Markdown, CSV) and a plot.
//!
//! A run's cores are its ranks × threads per rank (`threads`; 1 in reports
//! written before `--threads`). Runs are only compared when they can be: same
//! label, version, seed, batch size, stream layout and kernel, and either the
//! same total samples (strong scaling) or the same samples per core (weak
//! scaling). Anything else is a separate series, or refused with a message that
//! says why. Within one such group (one [`Setting`], one fixed sample count):
//!
//! - **scaling series**, one per threads-per-rank value: its runs vary the
//!   ranks, so the cores; one row per (ranks, nodes); speedup and efficiency
//!   against the row with the fewest cores;
//! - **hybrid series**, one per cores value at which the runs have more than one
//!   (ranks, threads) shape: one row per (threads, nodes), fewest threads first;
//!   speed relative to the first row (one thread per rank, when there is one).
//!
//! Every run is in exactly one scaling series and at most one hybrid series:
//! 1×1, 2×1, 1×2 and 2×2 at one total give a strong series for 1 thread
//! (1×1, 2×1), one for 2 threads (1×2, 2×2), and a hybrid series at 2 cores
//! (2×1, 1×2). Repeats (same ranks, threads and nodes) are one row, their median.

pub mod plot;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{one_line, UsageError, EXIT_FAILURE, EXIT_USAGE};
use std::io::Read;

use crate::report::files::{check_file, parent_dir, same_file, stage_bytes, Access, FileError};
use crate::report::Report;

/// What `mcpi study` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// JSON reports, or directories of them.
    pub paths: Vec<PathBuf>,
    /// Strong, weak or auto.
    pub kind: Kind,
    /// Also write the table as CSV here.
    pub csv: Option<PathBuf>,
    /// Also write the table as Markdown here.
    pub markdown: Option<PathBuf>,
    /// Also draw the plot here (SVG).
    pub plot: Option<PathBuf>,
    /// Overwrite existing output files.
    pub force: bool,
}

/// Why `mcpi study` cannot give its tables.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A bad input or output file, named.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The reports mix totals that fit neither strong nor weak scaling.
    #[error("{0}")]
    Mixed(String),
    /// A figure of the table would not be finite (runs whose times differ by
    /// hundreds of orders of magnitude).
    #[error("{0}")]
    NotFinite(String),
    /// Every run was left out (incomplete or resumed), or there were none.
    #[error("no complete runs to study")]
    NoRuns,
    /// Writing an output file failed.
    #[error(transparent)]
    Write(#[from] FileError),
}

impl StudyError {
    /// The exit status: 1 for a failed write, 2 for anything found up front.
    pub fn exit_status(&self) -> u8 {
        match self {
            StudyError::Write(_) => EXIT_FAILURE,
            _ => EXIT_USAGE,
        }
    }
}

/// Which scaling a series shows (`--kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Fixed total samples, more cores: how much faster.
    Strong,
    /// Fixed samples per core, more cores: how much more in the same time.
    Weak,
    /// Strong when every run has the same total samples, weak when every run has
    /// the same samples per core.
    Auto,
}

impl std::str::FromStr for Kind {
    type Err = String;

    /// `strong`, `weak` or `auto`.
    fn from_str(text: &str) -> Result<Kind, String> {
        [Kind::Strong, Kind::Weak, Kind::Auto]
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| "choose strong, weak or auto".into())
    }
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Strong => "strong",
            Kind::Weak => "weak",
            Kind::Auto => "auto",
        }
    }
}

/// One report, as read from disk.
#[derive(Clone, Debug)]
pub struct Run {
    /// The file it came from.
    pub path: PathBuf,
    /// Its contents.
    pub report: Report,
}

impl Run {
    /// Nodes the run used: its distinct hosts.
    pub fn nodes(&self) -> u64 {
        self.report.hosts.len().max(1) as u64
    }

    /// Cores the run used: ranks × threads per rank (checked not to overflow
    /// when the report was read).
    pub fn cores(&self) -> u64 {
        self.report.ranks * self.report.threads
    }
}

/// What a series varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// The cores, through the ranks, at a fixed number of threads per rank.
    Scaling {
        /// Strong or weak.
        kind: Kind,
        /// Threads per rank, the same in every row.
        threads: u64,
    },
    /// How a fixed number of cores is split into ranks × threads.
    Hybrid {
        /// Cores, the same in every row.
        cores: u64,
    },
}

impl Sweep {
    /// `strong`, `weak` or `hybrid`: the CSV's `kind`.
    pub fn name(self) -> &'static str {
        match self {
            Sweep::Scaling { kind, .. } => kind.name(),
            Sweep::Hybrid { .. } => "hybrid",
        }
    }
}

/// What must be equal for runs to be compared at all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Setting {
    /// `--label`, or empty.
    pub label: String,
    /// mcpi version.
    pub version: String,
    /// Seed of all streams.
    pub seed: u64,
    /// Samples per batch.
    pub batch_size: u64,
    /// Stream layout name.
    pub stream_layout: String,
    /// Kernel variant(s).
    pub kernel: String,
}

impl Setting {
    fn of(r: &Report) -> Setting {
        Setting {
            // Shown on terminals and in Markdown: nothing invisible, no cell breaks.
            label: crate::console::printable(r.label.as_deref().unwrap_or_default())
                .replace('|', "\\|"),
            version: r.version.clone(),
            seed: r.seed,
            batch_size: r.batch_size,
            stream_layout: r.stream_layout.clone(),
            kernel: r.kernel.clone(),
        }
    }
}

/// The median, minimum and maximum of some repeats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (not empty).
    pub fn of(values: &[f64]) -> Summary {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Summary {
            median: if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            },
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// One row of a series: every run at one (ranks, threads, nodes).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// MPI ranks.
    pub ranks: u64,
    /// Threads per rank.
    pub threads: u64,
    /// ranks × threads.
    pub cores: u64,
    /// Nodes (distinct hosts).
    pub nodes: u64,
    /// Number of runs (repeats).
    pub runs: usize,
    /// Total samples of each run.
    pub samples: u64,
    /// Wall seconds over the repeats.
    pub wall: Summary,
    /// Slowest rank's compute seconds over the repeats.
    pub compute: Summary,
    /// samples / median wall seconds.
    pub samples_per_second: f64,
    /// Throughput relative to the series' first row, R/R₀ (strong scaling:
    /// T₀/T): the speedup of a scaling series, the relative speed of a hybrid one.
    pub speedup: f64,
    /// speedup / (cores / cores of the first row); a hybrid row's equals its
    /// speedup.
    pub efficiency: f64,
    /// Karp–Flatt serial fraction (1/S − 1/p)/(1 − 1/p), p = cores / cores of
    /// the first row: strong scaling, p > 1.
    pub serial_fraction: Option<f64>,
    /// Whether some run had more ranks × threads than CPUs on a host.
    pub oversubscribed: bool,
}

/// A series: comparable runs, one row per shape (ranks, threads) and node count.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// What varies: the cores (strong or weak scaling) or the shape (hybrid).
    pub sweep: Sweep,
    /// What the runs share.
    pub setting: Setting,
    /// Strong and hybrid: the total samples; weak: the samples per core.
    pub fixed_samples: u64,
    /// Scaling: rows by cores, then nodes; hybrid: by threads, then nodes. The
    /// first row is the base of speedup and relative speed.
    pub rows: Vec<Row>,
}

/// `1 thread`, `2 threads`.
fn threads_text(threads: u64) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

impl Series {
    /// A one-line description: kind, what stays fixed, the setting.
    pub fn title(&self) -> String {
        let s = &self.setting;
        let n = sci(self.fixed_samples as f64);
        let what = match self.sweep {
            // With one thread per rank a core is a rank.
            Sweep::Scaling {
                kind: Kind::Weak,
                threads,
            } => format!(
                "weak scaling, {n} samples per {}, {} per rank",
                if threads == 1 { "rank" } else { "core" },
                threads_text(threads)
            ),
            Sweep::Scaling { kind, threads } => format!(
                "{} scaling, {n} samples, {} per rank",
                kind.name(),
                threads_text(threads)
            ),
            Sweep::Hybrid { cores } => {
                format!("hybrid ranks x threads, {cores} cores, {n} samples")
            }
        };
        let label = if s.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", s.label)
        };
        format!(
            "{label}{what}, batch {}, seed {}, kernel {}",
            sci(s.batch_size as f64),
            s.seed,
            s.kernel
        )
    }

    /// A short name for legends: the label (or kind) and what stays fixed.
    pub fn short_name(&self) -> String {
        let label = if self.setting.label.is_empty() {
            self.sweep.name().to_string()
        } else {
            self.setting.label.clone()
        };
        let n = sci(self.fixed_samples as f64);
        match self.sweep {
            Sweep::Scaling {
                kind: Kind::Weak,
                threads: 1,
            } => format!("{label} ({n}/rank)"),
            Sweep::Scaling {
                kind: Kind::Weak,
                threads,
            } => format!("{label} ({n}/core, {})", threads_text(threads)),
            Sweep::Scaling { threads: 1, .. } => format!("{label} ({n})"),
            Sweep::Scaling { threads, .. } => format!("{label} ({n}, {})", threads_text(threads)),
            Sweep::Hybrid { cores } => format!("{label} ({cores} cores, {n})"),
        }
    }
}

/// `1e10`, `2.5e9`: a count in short scientific form.
pub fn sci(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let mut e = x.abs().log10().floor() as i32;
    let mut m = x / 10f64.powi(e);
    if format!("{m:.3}").starts_with("10") {
        (m, e) = (m / 10.0, e + 1); // 9.9999e9 is 1e10
    }
    let m = format!("{m:.3}");
    let m = m.trim_end_matches('0').trim_end_matches('.');
    format!("{m}e{e}")
}

/// Reads every report under `paths`: files as given, directories' `*.json`
/// files (not recursively), in name order.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Run>, UsageError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| UsageError::file(p, one_line(&e)))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| UsageError::file(p, one_line(&e)))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            if found.is_empty() {
                return Err(UsageError::file(p, "no .json reports in this directory"));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    // The same file named twice (a directory and a file in it, `a` and `./a`)
    // is one run, not two repeats.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    files.iter().map(|f| read_run(f)).collect()
}

/// No mcpi report comes near this size (a few KB per host); a file that does
/// is not read whole.
const MAX_REPORT_BYTES: u64 = 64 << 20;

fn read_run(path: &Path) -> Result<Run, UsageError> {
    let bad = |why: String| UsageError::file(path, why);
    if let Some(why) = check_file(path, Access::Read) {
        return Err(bad(why));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REPORT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(one_line(&e)))?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(bad(format!(
            "not an mcpi report (larger than {} MiB)",
            MAX_REPORT_BYTES >> 20
        )));
    }
    let report: Report = serde_json::from_slice(&bytes).map_err(|e| {
        let why = e.to_string();
        let why = why.split(" at line").next().unwrap_or(&why);
        bad(format!("not an mcpi report ({why})"))
    })?;
    if report.ranks == 0
        || report.threads == 0
        || report.samples == 0
        || report.wall_seconds.is_nan()
        || report.wall_seconds <= 0.0
    {
        return Err(bad(
            "not an mcpi report (no ranks, threads, samples or time)".into(),
        ));
    }
    if report.ranks.checked_mul(report.threads).is_none() {
        return Err(bad(format!(
            "not an mcpi report ({} ranks x {} threads overflows)",
            report.ranks, report.threads
        )));
    }
    // Every figure a study derives must be finite: a wall time so small that the
    // throughput overflows says nothing about scaling (and would break the plot).
    let throughput = report.samples as f64 / report.wall_seconds;
    if !throughput.is_finite() || !report.compute_seconds.max.is_finite() {
        return Err(bad(format!(
            "wall_seconds {:e} or compute_seconds {:e} gives no finite throughput",
            report.wall_seconds, report.compute_seconds.max
        )));
    }
    Ok(Run {
        path: path.to_path_buf(),
        report,
    })
}

/// Groups `runs` into series (see the module doc for the rule). Incomplete runs
/// are left out (and returned, so the caller can say so).
pub fn series(runs: Vec<Run>, kind: Kind) -> Result<(Vec<Series>, Vec<Run>), StudyError> {
    // Incomplete runs, and resumed ones (whose times cover only their last
    // part), say nothing about scaling.
    let (complete, partial): (Vec<Run>, Vec<Run>) = runs
        .into_iter()
        .partition(|r| r.report.complete && r.report.resumed_batches == 0);
    let mut by_setting: BTreeMap<Setting, Vec<Run>> = BTreeMap::new();
    for run in complete {
        by_setting
            .entry(Setting::of(&run.report))
            .or_default()
            .push(run);
    }
    let mut out = Vec::new();
    for (setting, runs) in by_setting {
        let kind = match kind {
            Kind::Auto => auto_kind(&setting, &runs)?,
            k => k,
        };
        // Weak: the samples per core, and any remainder, so 1000 and 1001 samples
        // on 2 cores are not one row.
        let mut by_fixed: BTreeMap<(u64, u64), Vec<Run>> = BTreeMap::new();
        for run in runs {
            let (n, c) = (run.report.samples, run.cores());
            let fixed = match kind {
                Kind::Weak => (n / c, n % c),
                _ => (n, 0),
            };
            by_fixed.entry(fixed).or_default().push(run);
        }
        for ((fixed_samples, _), runs) in by_fixed {
            for series in group(kind, &setting, fixed_samples, &runs) {
                check_finite(&series, &runs)?;
                out.push(series);
            }
        }
    }
    Ok((out, partial))
}

/// The series of comparable `runs`: one scaling series per threads per rank,
/// then one hybrid series per cores value with more than one (ranks, threads).
fn group(kind: Kind, setting: &Setting, fixed_samples: u64, runs: &[Run]) -> Vec<Series> {
    let mut by_threads: BTreeMap<u64, Vec<&Run>> = BTreeMap::new();
    let mut by_cores: BTreeMap<u64, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        by_threads.entry(run.report.threads).or_default().push(run);
        by_cores.entry(run.cores()).or_default().push(run);
    }
    let scaling = by_threads.into_iter().map(|(threads, runs)| Series {
        sweep: Sweep::Scaling { kind, threads },
        setting: setting.clone(),
        fixed_samples,
        rows: rows(kind, &runs),
    });
    let hybrid = by_cores
        .into_iter()
        .filter(|(_, runs)| {
            let shape = |r: &Run| (r.report.ranks, r.report.threads);
            runs.iter().any(|r| shape(r) != shape(runs[0]))
        })
        .map(|(cores, runs)| Series {
            sweep: Sweep::Hybrid { cores },
            setting: setting.clone(),
            // The same cores: the same total, strong or weak.
            fixed_samples: runs[0].report.samples,
            rows: rows(kind, &runs),
        });
    scaling.chain(hybrid).collect()
}

/// Refuses a series with a speedup or efficiency that is not finite.
fn check_finite(series: &Series, runs: &[Run]) -> Result<(), StudyError> {
    match series
        .rows
        .iter()
        .find(|r| !(r.speedup.is_finite() && r.efficiency.is_finite()))
    {
        None => Ok(()),
        Some(r) => Err(StudyError::NotFinite(format!(
            "the speedup of {} rank(s) x {} thread(s) is not finite: its runs' times are too far \
             from the others' ({})",
            r.ranks,
            r.threads,
            runs.iter()
                .map(|x| x.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Strong when all runs share the total samples, weak when they share the
/// samples per core; otherwise the runs cannot be told apart and are refused.
fn auto_kind(setting: &Setting, runs: &[Run]) -> Result<Kind, StudyError> {
    let same = |f: &dyn Fn(&Run) -> (u64, u64)| runs.windows(2).all(|w| f(&w[0]) == f(&w[1]));
    if same(&|r| (r.report.samples, 0)) {
        return Ok(Kind::Strong);
    }
    if same(&|r| (r.report.samples / r.cores(), r.report.samples % r.cores())) {
        return Ok(Kind::Weak);
    }
    // Two runs that show the conflict: the first, and one with another total.
    let first = &runs[0];
    let other = runs
        .iter()
        .find(|r| r.report.samples != first.report.samples)
        .unwrap_or(first);
    let seen: Vec<String> = [first, other]
        .iter()
        .map(|r| {
            format!(
                "{} samples on {} rank(s) x {} in {}",
                sci(r.report.samples as f64),
                r.report.ranks,
                threads_text(r.report.threads),
                r.path.display()
            )
        })
        .collect();
    let label = if setting.label.is_empty() {
        String::new()
    } else {
        format!(" labelled '{}'", setting.label)
    };
    Err(StudyError::Mixed(format!(
        "reports{label} mix total samples that fit neither strong scaling (same total) nor weak \
         scaling (same per core, ranks x threads), e.g. {}: choose --kind strong or --kind weak, \
         or keep the studies apart (--label)",
        seen.join(" and ")
    )))
}

/// The rows of one series from its `runs`: one per (ranks, threads, nodes),
/// ordered by cores (a scaling series, whose threads are fixed) or by threads
/// (a hybrid one, whose cores are), then nodes; speedup against the first row.
fn rows(kind: Kind, runs: &[&Run]) -> Vec<Row> {
    let mut groups: BTreeMap<(u64, u64, u64, u64), Vec<&Run>> = BTreeMap::new();
    for run in runs {
        let (r, t) = (run.report.ranks, run.report.threads);
        // One of the two is the same in every run: the key orders by the other.
        groups
            .entry((run.cores(), t, r, run.nodes()))
            .or_default()
            .push(run);
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|((cores, threads, ranks, nodes), runs)| {
            let summary = |f: fn(&Report) -> f64| {
                Summary::of(&runs.iter().map(|r| f(&r.report)).collect::<Vec<_>>())
            };
            let wall = summary(|r| r.wall_seconds);
            let samples = runs[0].report.samples;
            Row {
                ranks,
                threads,
                cores,
                nodes,
                runs: runs.len(),
                samples,
                wall,
                compute: summary(|r| r.compute_seconds.max),
                samples_per_second: samples as f64 / wall.median,
                speedup: 1.0,
                efficiency: 1.0,
                serial_fraction: None,
                oversubscribed: runs.iter().any(|r| r.report.oversubscribed),
            }
        })
        .collect();
    let (c0, r0) = (rows[0].cores, rows[0].samples_per_second);
    for row in &mut rows {
        let p = row.cores as f64 / c0 as f64;
        row.speedup = row.samples_per_second / r0;
        row.efficiency = row.speedup / p;
        if kind == Kind::Strong && row.cores > c0 {
            row.serial_fraction = Some((1.0 / row.speedup - 1.0 / p) / (1.0 - 1.0 / p));
        }
    }
    rows
}

/// `mcpi study`: checks the outputs, reads the reports, prints the tables and
/// writes the files asked for.
pub fn run(args: &Options) -> Result<(), StudyError> {
    // Every output is checked before anything is read or written.
    let outputs = [
        ("--csv", &args.csv),
        ("--markdown", &args.markdown),
        ("--plot", &args.plot),
    ];
    let named: Vec<(&'static str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, p)| p.as_ref().map(|p| (*flag, p)))
        .collect();
    for (flag, p) in &named {
        check_output(flag, p, args.force)?;
    }
    for (_, p) in &named {
        crate::report::files::remove_stale(p);
    }
    for (i, (flag, p)) in named.iter().enumerate() {
        if named[..i].iter().any(|(_, q)| same_file(p, q)) {
            return Err(UsageError::flag(
                flag,
                format!("{}: named for another output too", p.display()),
            )
            .into());
        }
    }
    let runs = load(&args.paths)?;
    for (flag, p) in &named {
        if runs.iter().any(|r| same_file(&r.path, p)) {
            return Err(UsageError::flag(
                flag,
                format!("{}: is one of the reports being read", p.display()),
            )
            .into());
        }
    }
    let (series, partial) = series(runs, args.kind)?;
    for run in &partial {
        crate::console::eprint_line(&format!(
            "mcpi study: warning: {}: {} run left out",
            run.path.display(),
            if run.report.complete {
                "resumed"
            } else {
                "incomplete"
            }
        ));
    }
    if series.is_empty() {
        return Err(StudyError::NoRuns);
    }
    // The files first: a closed stdout must not cost them.
    let mut files = Vec::new();
    if let Some(p) = &args.csv {
        files.push((p, table::csv(&series).into_bytes()));
    }
    if let Some(p) = &args.markdown {
        files.push((p, table::markdown(&series).into_bytes()));
    }
    if let Some(p) = &args.plot {
        files.push((p, plot::svg(&series).into_bytes()));
    }
    let mut wrote = String::new();
    for (path, bytes) in files {
        let tmp = stage_bytes(path, &bytes)?;
        tmp.sync()?;
        tmp.publish(args.force)?;
        wrote.push_str(&format!("wrote {}\n", path.display()));
    }
    crate::console::print_out(&(table::text(&series) + &wrote));
    Ok(())
}

fn check_output(flag: &'static str, path: &Path, force: bool) -> Result<(), UsageError> {
    let bad = |why: &str| UsageError::flag(flag, format!("{}: {why}", path.display()));
    if !parent_dir(path).is_dir() {
        return Err(bad("its directory does not exist"));
    }
    if let Some(why) = check_file(path, Access::Replace) {
        return Err(bad(&why));
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) if !force => Err(bad("exists (use --force to overwrite)")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_short_numbers() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 9.0]).median, 4.0);
        assert_eq!(sci(1e10), "1e10");
        assert_eq!(sci(2.5e9), "2.5e9");
        assert_eq!(sci(123.0), "1.23e2");
        assert_eq!(sci(9.9999e9), "1e10");
    }
}
