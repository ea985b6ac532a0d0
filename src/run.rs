//! The SPMD job, phase by phase: parse and check, agree on the output, set up the
//! streams, count (moving per-batch counts to rank 0 as they fill), reduce,
//! report. Every rank runs this; rank 0 alone prints and writes.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::Parser;

use crate::cli::{clap_error_line, Cli, Config};
use crate::comm::{Comm, Inbox, CHUNK};
use crate::error::{Error, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, EXIT_VERDICT_FAILED};
use crate::progress::{flush_seconds, Progress};
use crate::report::files::{iso8601, write_temp, Target};
use crate::report::hdf5::Hdf5Writer;
use crate::report::{text, RankFigures, Report, Slurm, Timings};
use crate::stats::Verdict;
use crate::stream::Streams;

/// Runs mcpi with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let comm = match Comm::init() {
        Ok(comm) => comm,
        Err(e) => {
            eprintln!("mcpi: error: {e}");
            return ExitCode::from(e.exit_status());
        }
    };
    // A panic on one rank must not leave the others waiting in a collective:
    // unwinding removes this rank's temporary files, then MPI_Abort ends the job.
    let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        job(&comm, started, started_at)
    })) {
        Ok(status) => status,
        Err(_) => comm.abort(EXIT_FAILURE),
    };
    drop(comm); // MPI_Finalize
    ExitCode::from(status)
}

/// Prints `msg` as mcpi's one-line error, on rank 0 only.
fn say_error(comm: &Comm, msg: &dyn std::fmt::Display) {
    if comm.is_root() {
        eprintln!("mcpi: error: {msg}");
    }
}

fn job(comm: &Comm, started: Instant, started_at: SystemTime) -> u8 {
    // ---- Parse and check: every rank parses the same arguments, so every rank
    // reaches the same decision without talking; only rank 0 speaks. An MPMD
    // launch could hand ranks different arguments: that is refused first.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&args, &mut hasher);
    if !comm.same_on_all(std::hash::Hasher::finish(&hasher)) {
        say_error(
            comm,
            &"ranks were started with different arguments (check the mpirun command)",
        );
        return EXIT_USAGE;
    }
    let config = match Cli::try_parse() {
        Ok(cli) => match cli.run_args().check() {
            Ok(config) => config,
            Err(e) => {
                say_error(comm, &e);
                return e.exit_status();
            }
        },
        Err(e) if !e.use_stderr() => {
            if comm.is_root() {
                print!("{e}"); // --help, --version
            }
            return EXIT_OK;
        }
        Err(e) => {
            say_error(comm, &clap_error_line(&e));
            return EXIT_USAGE;
        }
    };

    // ---- Kernel: every rank checks its own CPU; a forced variant must run on all.
    let kernel = config.kernel.resolve();
    let lacking = comm.count_true(!kernel.supported());
    if lacking > 0 {
        say_error(
            comm,
            &format!(
                "--kernel {}: not supported by the CPU of {lacking} of {} rank(s) (use --kernel auto)",
                kernel.name(),
                comm.size()
            ),
        );
        return EXIT_USAGE;
    }

    // ---- Output: only rank 0 can tell whether it is usable; all ranks learn the
    // answer before any work, so a bad location stops every rank cleanly.
    let prepared = if comm.is_root() {
        prepare_output(&config, started_at).map(Some)
    } else {
        Ok(None)
    };
    let status = comm.broadcast(match &prepared {
        Ok(_) => EXIT_OK,
        Err(e) => e.exit_status(),
    });
    let (target, mut writer) = match prepared {
        Ok(output) if status == EXIT_OK => output.unzip(),
        Ok(_) => return status, // rank 0 found the problem and says so
        Err(e) => {
            say_error(comm, &e);
            return status;
        }
    };

    // ---- Set up: this rank's batches and the first batch's state.
    let plan = config.plan;
    let (rank, ranks) = (comm.rank(), comm.size());
    let mine = plan.rank_range(rank, ranks);
    if comm.is_root() && plan.batches < ranks {
        eprintln!(
            "mcpi: warning: {ranks} ranks for {} batches: {} ranks have nothing to count \
             (use a smaller --batch-size)",
            plan.batches,
            ranks - plan.batches
        );
    }
    let mut streams = Streams::new(config.seed);
    let mut state = streams.batch_state(mine.start);
    comm.barrier();
    let setup = started.elapsed().as_secs_f64();

    // ---- Count. Per-batch counts leave every rank in chunks, so no rank holds
    // more than one: rank 0 writes its own into the report file and, between its
    // batches, receives and writes the other ranks'. Time spent on that is not
    // compute time. While progress is on, the other ranks also send what they
    // have every few seconds, which is how rank 0 knows the job's progress.
    let mut inbox = comm.is_root().then(|| Inbox::new(&plan, ranks));
    let mut progress = comm
        .is_root()
        .then(|| Progress::new(config.progress, plan.samples, plan.batches, plan.batch_size));
    let flush_every = if comm.is_root() {
        f64::INFINITY // its own counts go straight into the file
    } else {
        flush_seconds(config.progress, ranks)
    };
    let mut counts: Vec<u64> = Vec::with_capacity(CHUNK.min((mine.end - mine.start) as usize));
    let mut inside = 0u64;
    let mut chunk_start = mine.start;
    let mut received = 0u64; // rank 0: other ranks' batches in hand
    let mut moving = 0.0;
    let t0 = Comm::time();
    let mut flushed = t0;
    for b in mine.clone() {
        let c = kernel.count_inside(&streams.lanes(state), plan.batch_len(b));
        state = streams.next_batch(state);
        inside += c;
        counts.push(c);
        let t = Comm::time();
        if counts.len() == CHUNK || b + 1 == mine.end || t - flushed >= flush_every {
            if comm.is_root() {
                if let Some(w) = writer.as_mut() {
                    w.write_batches(chunk_start, &counts);
                }
            } else {
                comm.send_counts(&counts);
            }
            chunk_start += counts.len() as u64;
            counts.clear();
            flushed = t;
        }
        if let Some(inbox) = inbox.as_mut() {
            comm.receive_counts(inbox, false, |first, chunk| {
                if let Some(w) = writer.as_mut() {
                    w.write_batches(first, chunk);
                }
                received += chunk.len() as u64;
            });
        }
        if let Some(p) = progress.as_mut() {
            p.update(b + 1 - mine.start + received);
        }
        moving += Comm::time() - t;
    }
    let compute = Comm::time() - t0 - moving;
    drop(counts);
    if let (Some(inbox), Some(p)) = (inbox.as_mut(), progress.as_mut()) {
        let own = mine.end - mine.start;
        comm.receive_counts(inbox, true, |first, chunk| {
            if let Some(w) = writer.as_mut() {
                w.write_batches(first, chunk);
            }
            received += chunk.len() as u64;
            p.update(own + received);
        });
        p.finish(own + received);
    }
    drop(inbox);

    // ---- Reduce and gather, timed from when every rank has finished counting.
    comm.barrier();
    let t1 = Comm::time();
    let total = comm.sum_to_root(inside);
    let compute_all = comm.gather(compute);
    let hosts = comm.gather_names(&Comm::host_name());
    let kernels = comm.gather_names(kernel.name());
    let cpus = comm.gather(host_cpus());
    let reduce = Comm::time() - t1;
    let write = writer.as_ref().map_or(0.0, Hdf5Writer::seconds);

    // ---- Report (rank 0), then every rank leaves with rank 0's status.
    let status = match (total, compute_all, hosts, kernels, cpus, writer, target) {
        (
            Some(total),
            Some(compute_all),
            Some(hosts),
            Some(kernels),
            Some(cpus),
            Some(writer),
            Some(target),
        ) => {
            let per_rank = (0..ranks)
                .map(|r| {
                    let range = plan.rank_range(r, ranks);
                    RankFigures {
                        compute_seconds: compute_all[r as usize],
                        first_batch: range.start,
                        batch_count: range.end - range.start,
                        host: hosts[r as usize].clone(),
                        kernel: kernels[r as usize].clone(),
                        cpus: cpus[r as usize],
                    }
                })
                .collect();
            let timings = Timings {
                setup,
                reduce,
                write,
                wall: started.elapsed().as_secs_f64(),
            };
            let report = Report::new(
                &config,
                total,
                per_rank,
                timings,
                iso8601(started_at),
                Slurm::from_env(),
            );
            finish(&report, writer, &target)
        }
        _ => EXIT_OK,
    };
    comm.broadcast(status)
}

/// The CPUs this host gives the job: its online logical CPUs, or fewer under
/// Slurm (`SLURM_CPUS_ON_NODE`, the allocation on this node). Not this rank's
/// affinity mask, which a launcher may have narrowed to one core. A host that
/// runs more ranks than this is oversubscribed.
pub fn host_cpus() -> u64 {
    // SAFETY: sysconf only reads a system setting.
    let online = match unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } {
        n if n > 0 => n as u64,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    };
    let allocated = std::env::var("SLURM_CPUS_ON_NODE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0);
    allocated.map_or(online, |n| n.min(online))
}

/// Resolves the report files and opens the HDF5 writer (rank 0).
fn prepare_output(config: &Config, now: SystemTime) -> Result<(Target, Hdf5Writer), Error> {
    let target = Target::resolve(config.output.as_deref(), config.force, now)?;
    let writer = Hdf5Writer::create(&target.h5, config.plan.batches)?;
    Ok((target, writer))
}

/// Writes both files, prints the text view and returns the exit status (rank 0).
/// The text is printed even when writing fails: the result is never lost.
fn finish(report: &Report, writer: Hdf5Writer, target: &Target) -> u8 {
    let t = Instant::now();
    let written = publish(report, writer, target);
    let files = match &written {
        Ok(()) => format!(
            "{}, {} (final write {:.3} s)",
            target.h5.display(),
            target.json.display(),
            t.elapsed().as_secs_f64()
        ),
        Err(_) => String::new(),
    };
    print!("{}", text::render(report, &files));
    match written {
        Err(e) => {
            eprintln!("mcpi: error: {e}");
            EXIT_FAILURE
        }
        Ok(()) if report.verdict == Verdict::Pass => EXIT_OK,
        Ok(()) => EXIT_VERDICT_FAILED,
    }
}

/// Completes both files under temporary names, then moves them into place, so a
/// failure leaves neither (nor touches an old report) but in the unlikely case
/// that the second move fails after the first.
fn publish(report: &Report, writer: Hdf5Writer, target: &Target) -> Result<(), Error> {
    let h5 = writer.finish(report)?;
    let json = write_temp(&target.json, &report.to_json())?;
    h5.sync()?;
    json.sync()?;
    h5.place(target.force)?;
    json.place(target.force).inspect_err(|_| {
        if !target.force {
            let _ = std::fs::remove_file(&target.h5);
        }
    })
}
