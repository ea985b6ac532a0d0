//! The last phases: gather every rank's figures on rank 0, then rank 0 builds
//! the one [`Report`], saves the final checkpoint, writes both report files
//! (temporary names, sync, rename), prints the text view and decides the exit
//! status.

use std::path::PathBuf;
use std::time::Instant;

use super::count::Counted;
use super::setup::Output;
use super::setup::Threads;
use super::Started;
use crate::comm::Comm;
use crate::config::Config;
use crate::error::{one_line, EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, EXIT_VERDICT_FAILED};
use crate::host::{self, host_cpus, Slurm};
use crate::intervals::Intervals;
use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::report::files::{stage_bytes, Destination, FileError};
use crate::report::hdf5::Hdf5Writer;
use crate::report::{text, Figures, Outcome, RankFigures, Report, ThreadFigures, Timings};
use crate::signals;
use crate::stats::{Dispersion, DispersionSum, Verdict};
use crate::store::{Counts, Store};

/// Every rank's figures, on rank 0.
pub struct Gathered {
    /// Samples inside over all ranks, in this run.
    pub inside: u64,
    /// Per rank and per thread.
    pub figures: Figures,
    /// Seconds for the reduction and gathers.
    pub reduce: f64,
}

/// Reduces the counts and gathers the per-rank and per-thread figures on rank 0
/// (`None` elsewhere), timed from when every rank has finished counting.
pub fn gather(
    comm: &Comm,
    counted: &Counted,
    kernel: Kernel,
    threads: Threads,
) -> Option<Gathered> {
    let t = &counted.threads;
    comm.barrier();
    let t1 = Comm::time();
    let inside = comm.sum_to_root(counted.inside());
    let compute = comm.gather(t.iter().map(|t| t.compute).fold(0.0, f64::max));
    let batches = comm.gather(t.iter().map(|t| t.counted).sum::<u64>());
    let first = comm.gather(t.iter().filter_map(|t| t.first_batch).min().unwrap_or(0));
    let samples = comm.gather(t.iter().map(|t| t.samples).sum::<u64>());
    let hosts = comm.gather_names(&Comm::host_name());
    let kernels = comm.gather_names(kernel.name());
    let cpus = comm.gather(host_cpus());
    let affinity = comm.gather_vecs(&host::affinity());
    // Per thread: compute and CPU seconds (as bits), batches, samples, CPU
    // (MAX: unknown).
    let flat: Vec<u64> = t
        .iter()
        .flat_map(|t| {
            let cpu = t.cpu.map_or(u64::MAX, u64::from);
            let (wall, on_cpu) = (t.compute.to_bits(), t.cpu_seconds.to_bits());
            [wall, on_cpu, t.counted, t.samples, cpu]
        })
        .collect();
    let per_thread = comm.gather_vecs(&flat);
    let reduce = Comm::time() - t1;
    let per_rank = (0..comm.size() as usize)
        .map(|r| {
            Some(RankFigures {
                compute_seconds: compute.as_ref()?[r],
                first_batch: first.as_ref()?[r],
                batch_count: batches.as_ref()?[r],
                samples: samples.as_ref()?[r],
                host: hosts.as_ref()?[r].clone(),
                kernel: kernels.as_ref()?[r].clone(),
                cpus: cpus.as_ref()?[r],
                threads: threads.count as u64,
                affinity: affinity.as_ref()?[r].clone(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let per_thread = per_thread?
        .iter()
        .enumerate()
        .flat_map(|(rank, flat)| {
            flat.chunks(5)
                .enumerate()
                .map(move |(thread, f)| ThreadFigures {
                    rank: rank as u64,
                    thread: thread as u64,
                    compute_seconds: f64::from_bits(f[0]),
                    cpu_seconds: f64::from_bits(f[1]),
                    batches: f[2],
                    samples: f[3],
                    cpu: u32::try_from(f[4]).ok(),
                })
        })
        .collect();
    Some(Gathered {
        inside: inside?,
        figures: Figures {
            per_rank,
            per_thread,
            threads_from: threads.source.name().to_string(),
        },
        reduce,
    })
}

/// A finished count, ready to report (rank 0).
pub struct Finished<'a> {
    /// The run's configuration.
    pub config: &'a Config,
    /// What the count phase gave rank 0.
    pub counted: Counted,
    /// Every rank's figures.
    pub gathered: Gathered,
    /// The batches done before this run (resumed).
    pub done_before: Intervals,
    /// Process start until every rank was ready to compute.
    pub setup_seconds: f64,
    /// When the process started.
    pub started: Started,
}

/// A path as the report names it (`resumed_from`, `checkpoint`).
fn display(path: Option<&PathBuf>) -> Option<String> {
    path.map(|p| p.display().to_string())
}

/// Builds the report, saves the final checkpoint, publishes both files, prints
/// the text view and returns the exit status (rank 0).
pub fn report(run: Finished, output: Output) -> u8 {
    let Output {
        dest,
        writer,
        mut ledger,
        resumed,
    } = output;
    let config = run.config;
    let plan = config.plan;
    let inside = run.gathered.inside + resumed.as_ref().map_or(0, |r| r.inside);
    let used = Plan::new(
        plan.samples_in(0..run.counted.used_batches),
        plan.batch_size,
    );
    let done = ledger.done;
    let incomplete = done.count() < run.counted.used_batches
        || run
            .counted
            .target
            .as_ref()
            .is_some_and(|t| t.stop_rule.is_none());
    let outcome = Outcome {
        plan: used,
        inside,
        resumed_batches: run.done_before.count(),
        resumed_samples: plan.samples_in_all(&run.done_before),
        resumed_from: display(config.resume.as_ref()),
        checkpoint: display(config.checkpoint.as_ref()),
        stopped_by: (run.counted.stopped && incomplete)
            .then(|| signals::received().map_or("a signal on another rank".into(), signals::name)),
        dispersion: dispersion(&ledger.store, &plan, &done, inside),
        done,
        target: run.counted.target,
    };
    let timings = Timings {
        setup: run.setup_seconds,
        reduce: run.gathered.reduce,
        write: ledger.store.seconds(),
        wall: run.started.instant.elapsed().as_secs_f64(),
    };
    let report = Report::new(
        config,
        outcome,
        run.gathered.figures,
        timings,
        crate::clock::iso8601(run.started.at),
        Slurm::from_env(),
    );
    let machine = report.outliers.iter().map(|o| o.sentence());
    for warning in report.placement_warnings.iter().cloned().chain(machine) {
        crate::console::eprint_line(&format!("mcpi: warning: {warning}"));
    }
    let saved = ledger
        .checkpoints
        .as_mut()
        .map(|ck| ck.save_final(&report.done));
    let written = write_files(&report, writer, &ledger.store, &dest);
    if let Some(Err(e)) = &saved {
        crate::console::eprint_line(&format!("mcpi: error: {}", one_line(e)));
    }
    status(&report, saved.is_some_and(|s| s.is_err()), written)
}

/// The exit status: a failed write or checkpoint (1) before a stop (75) before
/// the verdict (0 or 3).
fn status(report: &Report, checkpoint_failed: bool, written: bool) -> u8 {
    if checkpoint_failed || !written {
        EXIT_FAILURE
    } else if !report.complete {
        EXIT_STOPPED
    } else if report.verdict == Verdict::Pass {
        EXIT_OK
    } else {
        EXIT_VERDICT_FAILED
    }
}

/// The dispersion test over the counted batches, their counts read from the
/// store in chunks. `None` when fewer than two batches were counted or the
/// store failed (the failure is reported when the files are written).
fn dispersion(store: &Store, plan: &Plan, done: &Intervals, inside: u64) -> Option<Dispersion> {
    let mut sum = DispersionSum::new(inside, plan.samples_in_all(done));
    store
        .for_each_chunk(done, |first, counts| {
            for (i, &x) in (first..).zip(counts) {
                sum.add(plan.batch_len(i), x);
            }
            Ok(())
        })
        .ok()?;
    sum.finish()
}

/// Writes both files and prints the text view; whether the files were written.
/// The text is printed even when writing fails: the result is never lost.
fn write_files(report: &Report, writer: Hdf5Writer, store: &Store, dest: &Destination) -> bool {
    let t = Instant::now();
    let written = publish(report, writer, store, dest);
    let files = match &written {
        Ok(()) => format!(
            "{}, {} (final write {:.3} s)",
            dest.h5.display(),
            dest.json.display(),
            t.elapsed().as_secs_f64()
        ),
        Err(_) => String::new(),
    };
    crate::console::print_out(&text::render(report, &files));
    if let Err(e) = &written {
        crate::console::eprint_line(&format!("mcpi: error: {}", one_line(e)));
    }
    written.is_ok()
}

/// Completes both files under temporary names, then moves them into place, so a
/// failure leaves neither (nor touches an old report) but in the unlikely case
/// that the second move fails after the first.
fn publish(
    report: &Report,
    writer: Hdf5Writer,
    store: &Store,
    dest: &Destination,
) -> Result<(), FileError> {
    let h5 = writer.finish(report, store)?;
    let json = stage_bytes(&dest.json, &report.to_json())?;
    h5.sync()?;
    json.sync()?;
    h5.publish(dest.force)?;
    json.publish(dest.force).inspect_err(|_| {
        if !dest.force {
            let _ = std::fs::remove_file(&dest.h5);
        }
    })
}
