//! The SPMD job, phase by phase: parse and check, agree on the output (and the
//! checkpoint to resume), set up the streams, count — once, or in
//! `--target-error` rounds — moving per-batch counts to rank 0 as they fill and
//! stopping together on a signal, reduce, report. Every rank runs this; rank 0
//! alone prints and writes.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::Parser;

use crate::checkpoint::{self, Resumed};
use crate::cli::{clap_error_line, Cli, Config};
use crate::comm::{Comm, Inbox, CHUNK};
use crate::error::{Error, EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, EXIT_VERDICT_FAILED};
use crate::kernel::Kernel;
use crate::plan::{share, Plan};
use crate::progress::{flush_seconds, Progress};
use crate::report::files::{iso8601, same_file, write_temp, Target};
use crate::report::hdf5::Hdf5Writer;
use crate::report::{text, Outcome, RankFigures, Report, Slurm, Timings};
use crate::signals;
use crate::stats::Verdict;
use crate::stats::{Dispersion, DispersionSum};
use crate::stream::Streams;
use crate::target::{half_width, Rule, Schedule, Step, TargetOutcome};
use crate::work::Intervals;

/// Runs mcpi with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    signals::install(); // before MPI_Init, which can take a while at scale
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
    // From here on a stop signal only sets a flag; the count loop acts on it (a
    // signal that comes before the loop stops the run after its first batch).
    signals::install();
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

    // ---- Output: only rank 0 can tell whether it is usable (and whether the
    // checkpoint to resume is sound); all ranks learn the answer before any work,
    // so a bad location or checkpoint stops every rank cleanly.
    let prepared = if comm.is_root() {
        prepare_output(&config, started_at).map(Some)
    } else {
        Ok(None)
    };
    let status = comm.broadcast(match &prepared {
        Ok(_) => EXIT_OK,
        Err(e) => e.exit_status(),
    });
    let (mut writer, target, resumed) = match prepared {
        Ok(Some(p)) if status == EXIT_OK => (Some(p.writer), Some(p.target), p.resumed),
        Ok(None) if status == EXIT_OK => (None, None, None),
        Ok(_) => return status, // rank 0 found the problem and says so
        Err(e) => {
            say_error(comm, &e);
            return status;
        }
    };

    // ---- Work: the batches not yet done (all, unless resuming), shared out by
    // position; this rank's share as intervals of batch indices.
    let plan = config.plan;
    let ranks = comm.size();
    let done_before = {
        let flat: Vec<u64> = resumed.as_ref().map_or(Vec::new(), |r| {
            r.done
                .ranges()
                .iter()
                .flat_map(|x| [x.start, x.end])
                .collect()
        });
        let flat = comm.broadcast_u64s(flat);
        Intervals::new(flat.chunks(2).map(|p| p[0]..p[1]).collect())
    };

    // ---- Set up: the streams, the progress display, the checkpoints.
    let root = comm.is_root();
    let streams = Streams::new(config.seed);
    let to_count = done_before.complement(plan.batches);
    let schedule = config
        .target
        .map(|t| Schedule::new(t.error, t.confidence, plan));
    // The first round: everything left, or the first of the --target-error rounds.
    let first_round = match &schedule {
        Some(s) => Intervals::range(0..s.first_end()),
        None => to_count.clone(),
    };
    if root && first_round.count() > 0 && first_round.count() < ranks {
        eprintln!(
            "mcpi: warning: {ranks} ranks for {} batches: {} ranks have nothing to count \
             (use a smaller --batch-size)",
            first_round.count(),
            ranks - first_round.count()
        );
    }
    let mut counting = Counting {
        comm,
        config: &config,
        kernel,
        streams,
        writer: writer.take(),
        progress: root.then(|| {
            Progress::new(
                config.progress,
                plan.samples_in_all(&first_round),
                first_round.count(),
                plan.batch_size,
            )
        }),
        checkpoints: if root {
            config.checkpoint.as_ref().map(|path| Checkpointer {
                path: path.clone(),
                every: config.checkpoint_interval,
                last: Comm::time(),
                failed: false,
            })
        } else {
            None
        },
        done: done_before.clone(),
        counted_before: 0,
        flush_every: if root {
            f64::INFINITY // its own counts go straight into the file
        } else {
            let ck = config
                .checkpoint
                .as_ref()
                .map_or(f64::INFINITY, |_| config.checkpoint_interval / 4.0);
            flush_seconds(config.progress, ranks).min(ck)
        },
    };
    comm.barrier();
    let setup = started.elapsed().as_secs_f64();

    // ---- Count: one round over everything left, or --target-error's rounds,
    // each decided on the exact count of a prefix of batches (the same on any
    // number of ranks), with one all-reduce per round.
    let mut mine = Tally::default();
    let mut stopped = false;
    let mut target_outcome = None;
    let mut target_end = 0u64;
    match &schedule {
        None => {
            let r = counting.round(&to_count);
            stopped = r.stopped;
            mine.add(&r);
        }
        Some(s) => {
            let (mut end, mut inside_so_far, mut rounds) = (0u64, 0u64, 0u64);
            let mut next = s.first_end();
            let (rule, half_width) = loop {
                let round = Intervals::range(end..next);
                if let Some(p) = counting.progress.as_mut() {
                    p.retarget(plan.samples_in(0..next), next);
                }
                let r = counting.round(&round);
                mine.add(&r);
                rounds += 1;
                inside_so_far += comm.all_sum(r.inside);
                end = next;
                target_end = end;
                if r.stopped {
                    stopped = true;
                    let h = half_width(s.z, inside_so_far, counting.done_samples(&plan));
                    break (None, h);
                }
                match s.after(end, inside_so_far) {
                    Step::Stop(rule, h) => break (Some(rule), h),
                    Step::Continue(n) => next = n,
                }
            };
            if root && rule == Some(Rule::Maximum) {
                eprintln!(
                    "mcpi: warning: --target-error {:e} not reached: half-width {half_width:.6e} \
                     at the maximum --samples {}",
                    s.error, plan.samples
                );
            }
            target_outcome = Some(TargetOutcome {
                error: s.error,
                confidence: s.confidence,
                max_samples: plan.samples,
                stop_rule: rule,
                half_width,
                rounds,
            });
        }
    }
    if let Some(p) = counting.progress.as_mut() {
        p.finish(counting.counted_before);
    }
    let Counting {
        writer: mut w,
        checkpoints,
        done: done_now,
        ..
    } = counting;
    writer = w.take();
    let (inside, counted, compute) = (mine.inside, mine.counted, mine.compute);
    let used_batches = target_outcome.as_ref().map_or(plan.batches, |_| target_end);

    // ---- Reduce and gather, timed from when every rank has finished counting.
    comm.barrier();
    let t1 = Comm::time();
    let total = comm.sum_to_root(inside);
    let compute_all = comm.gather(compute);
    let counted_all = comm.gather(counted);
    let first_all = comm.gather(mine.first_batch.unwrap_or(0));
    let samples_all = comm.gather(mine.samples);
    let hosts = comm.gather_names(&Comm::host_name());
    let kernels = comm.gather_names(kernel.name());
    let cpus = comm.gather(host_cpus());
    let reduce = Comm::time() - t1;
    let write = writer.as_ref().map_or(0.0, Hdf5Writer::seconds);

    // ---- Report (rank 0), then every rank leaves with rank 0's status.
    let status = match (
        total,
        compute_all,
        counted_all,
        hosts,
        kernels,
        cpus,
        writer,
        target,
    ) {
        (
            Some(total),
            Some(compute_all),
            Some(counted_all),
            Some(hosts),
            Some(kernels),
            Some(cpus),
            Some(writer),
            Some(target),
        ) => {
            let per_rank = (0..ranks as usize)
                .map(|r| RankFigures {
                    compute_seconds: compute_all[r],
                    first_batch: first_all.as_ref().map_or(0, |v| v[r]),
                    batch_count: counted_all[r],
                    samples: samples_all.as_ref().map_or(0, |v| v[r]),
                    host: hosts[r].clone(),
                    kernel: kernels[r].clone(),
                    cpus: cpus[r],
                })
                .collect();
            // A --target-error run reports the batches it decided to use.
            let report_config = Config {
                plan: Plan::new(plan.samples_in(0..used_batches), plan.batch_size),
                ..config.clone()
            };
            let incomplete = done_now.count() < used_batches
                || target_outcome
                    .as_ref()
                    .is_some_and(|t| t.stop_rule.is_none());
            let outcome = Outcome {
                inside: total + resumed.as_ref().map_or(0, |r| r.inside),
                resumed_batches: done_before.count(),
                resumed_samples: plan.samples_in_all(&done_before),
                resumed_from: config.resume.as_ref().map(|p| p.display().to_string()),
                checkpoint: config.checkpoint.as_ref().map(|p| p.display().to_string()),
                stopped_by: (stopped && incomplete).then(|| {
                    signals::received().map_or("a signal on another rank".into(), signals::name)
                }),
                dispersion: dispersion(
                    &writer,
                    &plan,
                    &done_now,
                    total + resumed.as_ref().map_or(0, |r| r.inside),
                ),
                done: done_now,
                target: target_outcome,
            };
            let timings = Timings {
                setup,
                reduce,
                write,
                wall: started.elapsed().as_secs_f64(),
            };
            let report = Report::new(
                &report_config,
                outcome,
                per_rank,
                timings,
                iso8601(started_at),
                Slurm::from_env(),
            );
            let saved = checkpoints
                .as_ref()
                .map(|ck| ck.save_final(&config, &report, &writer));
            let status = finish(&report, writer, &target);
            match saved {
                Some(Err(e)) => {
                    eprintln!("mcpi: error: {e}");
                    EXIT_FAILURE
                }
                _ if status == EXIT_OK || status == EXIT_VERDICT_FAILED => {
                    if report.complete {
                        status
                    } else {
                        EXIT_STOPPED
                    }
                }
                _ => status,
            }
        }
        _ => EXIT_OK,
    };
    comm.broadcast(status)
}

/// This rank's totals over the rounds of a run.
#[derive(Default)]
struct Tally {
    inside: u64,
    counted: u64,
    samples: u64,
    compute: f64,
    first_batch: Option<u64>,
}

impl Tally {
    fn add(&mut self, r: &RoundResult) {
        self.inside += r.inside;
        self.counted += r.counted;
        self.samples += r.samples;
        self.compute += r.compute;
        self.first_batch = self.first_batch.or(r.first_batch);
    }
}

/// What one round gave this rank.
struct RoundResult {
    inside: u64,
    counted: u64,
    samples: u64,
    compute: f64,
    first_batch: Option<u64>,
    /// Whether a stop was ordered (the same on every rank).
    stopped: bool,
}

/// Everything the count loop works with, across rounds.
struct Counting<'a> {
    comm: &'a Comm,
    config: &'a Config,
    kernel: Kernel,
    streams: Streams,
    /// Rank 0: the report file, where every count goes.
    writer: Option<Hdf5Writer>,
    progress: Option<Progress>,
    checkpoints: Option<Checkpointer>,
    /// Rank 0: every batch known counted (resumed, and in earlier rounds).
    done: Intervals,
    /// Rank 0: batches counted on all ranks in earlier rounds.
    counted_before: u64,
    /// Other ranks: how often to send the counts they hold.
    flush_every: f64,
}

impl Counting<'_> {
    /// Samples in the batches known counted (rank 0).
    fn done_samples(&self, plan: &Plan) -> u64 {
        plan.samples_in_all(&self.done)
    }

    /// Counts the batches of `work`, shared out by position. Per-batch counts
    /// leave every rank in chunks, so no rank holds more than one: rank 0 writes
    /// its own into the report file and, between its batches, receives and
    /// writes the other ranks', writes checkpoints and decides on stops. Time
    /// spent on that is not compute time.
    fn round(&mut self, work: &Intervals) -> RoundResult {
        let Counting {
            comm,
            config,
            kernel,
            streams,
            writer,
            progress,
            checkpoints,
            done,
            counted_before,
            flush_every,
        } = self;
        let comm: &Comm = comm;
        let plan = config.plan;
        let (rank, ranks, root) = (comm.rank(), comm.size(), comm.is_root());
        let positions = work.count();
        let my_positions = share(positions, rank, ranks);
        let mine = work.slice(my_positions.clone());
        // Counts move by position; the report file and checkpoint index by batch.
        let write_positions = |w: &mut Hdf5Writer, first: u64, counts: &[u64]| {
            let mut at = 0usize;
            for r in work.slice(first..first + counts.len() as u64).ranges() {
                let n = (r.end - r.start) as usize;
                w.write_batches(r.start, &counts[at..at + n]);
                at += n;
            }
        };
        let mut inbox = root.then(|| Inbox::new(positions, ranks));
        let mut counts: Vec<u64> = Vec::with_capacity(CHUNK.min(mine.count() as usize));
        let mut inside = 0u64;
        let mut counted = 0u64; // positions this rank has counted
        let mut samples = 0u64; // in those batches
        let mut chunk_start = my_positions.start;
        let mut received = 0u64; // rank 0: other ranks' batches in hand
        let mut stop_sent = false; // rank 0: a stop was ordered
        let mut stop_asked = false; // other ranks: rank 0 was asked to order one
        let mut stop_got = false; // other ranks: the order arrived
        let mut moving = 0.0;
        let t0 = Comm::time();
        let (mut flushed, mut polled) = (t0, t0);
        'count: for r in mine.ranges() {
            let mut state = streams.batch_state(r.start);
            for b in r.clone() {
                let n = plan.batch_len(b);
                let c = kernel.count_inside(&streams.lanes(state), n);
                state = streams.next_batch(state);
                inside += c;
                counted += 1;
                samples += n;
                counts.push(c);
                let t = Comm::time();
                if let (Some(inbox), Some(w)) = (inbox.as_mut(), writer.as_mut()) {
                    if counts.len() == CHUNK {
                        write_positions(w, chunk_start, &counts);
                        chunk_start += counts.len() as u64;
                        counts.clear();
                    }
                    comm.receive_counts(inbox, |first, chunk| {
                        write_positions(w, first, chunk);
                        received += chunk.len() as u64;
                    });
                    if let Some(ck) = checkpoints.as_mut() {
                        if !counts.is_empty() && t - ck.last >= ck.every {
                            write_positions(w, chunk_start, &counts);
                            chunk_start += counts.len() as u64;
                            counts.clear();
                        }
                        let own = my_positions.start..chunk_start;
                        ck.maybe_save(config, done, work, inbox, own, w, t);
                    }
                    if !stop_sent && (signals::received().is_some() || inbox.stop_requested) {
                        comm.order_stop();
                        stop_sent = true;
                    }
                    if let Some(p) = progress.as_mut() {
                        p.update(*counted_before + counted + received);
                    }
                } else {
                    if counts.len() == CHUNK || t - flushed >= *flush_every {
                        comm.send_counts(&counts, false);
                        counts.clear();
                        flushed = t;
                    }
                    if !stop_asked && signals::received().is_some() {
                        comm.request_stop();
                        stop_asked = true;
                    }
                    if stop_asked || t - polled >= STOP_POLL_SECONDS {
                        polled = t;
                        stop_got = comm.stop_ordered();
                    }
                }
                moving += Comm::time() - t;
                if stop_sent || stop_got {
                    break 'count;
                }
            }
        }
        let compute = Comm::time() - t0 - moving;
        if let (Some(inbox), Some(w)) = (inbox.as_mut(), writer.as_mut()) {
            write_positions(w, chunk_start, &counts);
            chunk_start += counts.len() as u64;
            // The other ranks' last counts; a stop can still be ordered meanwhile.
            while inbox.due() {
                let arrived = comm.receive_counts(inbox, |first, chunk| {
                    write_positions(w, first, chunk);
                    received += chunk.len() as u64;
                });
                if !stop_sent && (signals::received().is_some() || inbox.stop_requested) {
                    comm.order_stop();
                    stop_sent = true;
                }
                if let Some(ck) = checkpoints.as_mut() {
                    let own = my_positions.start..chunk_start;
                    ck.maybe_save(config, done, work, inbox, own, w, Comm::time());
                }
                if let Some(p) = progress.as_mut() {
                    p.update(*counted_before + counted + received);
                }
                if !arrived {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
            // Everything counted in this round, on every rank, is in the file.
            let others = (1..ranks as usize).map(|r| work.slice(inbox.start[r]..inbox.next[r]));
            let own = work.slice(my_positions.start..my_positions.start + counted);
            *done = done.union_all(std::iter::once(own).chain(others));
            *counted_before += counted + received;
        } else {
            comm.send_counts(&counts, true);
        }
        drop(counts);
        // Every rank learns whether a stop was ordered; a rank that left its loop
        // before the order came still receives it.
        let stopped = comm.broadcast(u8::from(stop_sent)) == 1;
        if stopped && !root && !stop_got {
            comm.await_stop_order();
        }
        RoundResult {
            inside,
            counted,
            samples,
            compute,
            first_batch: mine
                .ranges()
                .first()
                .map(|r| r.start)
                .filter(|_| counted > 0),
            stopped,
        }
    }
}

/// How often the other ranks look for rank 0's stop order (a non-blocking
/// probe) when they have no signal of their own.
const STOP_POLL_SECONDS: f64 = 0.01;

/// Rank 0's checkpoints: where, how often, and when last written.
struct Checkpointer {
    path: PathBuf,
    every: f64,
    last: f64,
    failed: bool,
}

impl Checkpointer {
    /// Writes a checkpoint if one is due at time `now`: the batches done before
    /// this run, rank 0's own (`own` positions, already in the report file) and
    /// what the other ranks have sent. A failure is reported once; the previous
    /// checkpoint stays as it was and the run goes on.
    #[allow(clippy::too_many_arguments)]
    fn maybe_save(
        &mut self,
        config: &Config,
        done_before: &Intervals,
        work: &Intervals,
        inbox: &Inbox,
        own: Range<u64>,
        writer: &Hdf5Writer,
        now: f64,
    ) {
        if now - self.last < self.every {
            return;
        }
        self.last = now;
        let others = (1..inbox.start.len()).map(|r| work.slice(inbox.start[r]..inbox.next[r]));
        let done = done_before.union_all(std::iter::once(work.slice(own)).chain(others));
        let result = self.save(config, &done, writer);
        match result {
            Err(e) if !self.failed => {
                eprintln!("mcpi: error: {e} (the previous checkpoint is kept; the run goes on)");
                self.failed = true;
            }
            Ok(()) => self.failed = false,
            Err(_) => {}
        }
    }

    fn save(&self, config: &Config, done: &Intervals, writer: &Hdf5Writer) -> Result<(), Error> {
        checkpoint::save(&self.path, config, done, |range| writer.read_batches(range))
    }

    /// The checkpoint at the end of the run, stopped or complete.
    fn save_final(
        &self,
        config: &Config,
        report: &Report,
        writer: &Hdf5Writer,
    ) -> Result<(), Error> {
        self.save(config, &report.done, writer)
    }
}

/// The dispersion test over the counted batches, their counts read back from
/// the report file in chunks (rank 0 holds every count there, never all in
/// memory). `None` when fewer than two batches were counted or reading failed
/// (the write error is reported when the file is finished).
fn dispersion(
    writer: &Hdf5Writer,
    plan: &Plan,
    done: &Intervals,
    inside: u64,
) -> Option<Dispersion> {
    let mut sum = DispersionSum::new(inside, plan.samples_in_all(done));
    for r in done.ranges() {
        let mut b = r.start;
        while b < r.end {
            let end = r.end.min(b + CHUNK as u64);
            let counts = writer.read_batches(b..end).ok()?;
            for (i, x) in (b..end).zip(counts) {
                sum.add(plan.batch_len(i), x);
            }
            b = end;
        }
    }
    sum.finish()
}

/// What rank 0 prepares before any work.
struct Prepared {
    target: Target,
    writer: Hdf5Writer,
    resumed: Option<Resumed>,
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
fn prepare_output(config: &Config, now: SystemTime) -> Result<Prepared, Error> {
    let target = Target::resolve(config.output.as_deref(), config.force, now)?;
    if let Some(ck) = &config.checkpoint {
        let bad = |why: &str| Error::Usage(format!("--checkpoint {}: {why}", ck.display()));
        let dir = match ck.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(bad("its directory does not exist"));
        }
        if ck.is_dir() {
            return Err(bad("is a directory"));
        }
        if [&target.h5, &target.json].iter().any(|f| same_file(f, ck)) {
            return Err(bad("is one of the report files (--output)"));
        }
        let continuing = config.resume.as_deref().is_some_and(|r| same_file(r, ck));
        if ck.exists() && !continuing && !config.force {
            return Err(bad(
                "exists (continue it with --resume, or use --force to start over)",
            ));
        }
    }
    if let Some(ck) = &config.checkpoint {
        // Prove the checkpoint's directory writable now, not at the first checkpoint.
        let probe = crate::report::files::TempFile::for_dest(ck);
        std::fs::write(&probe.path, b"").map_err(|e| {
            Error::Usage(format!(
                "--checkpoint {}: cannot create files in its directory: {}",
                ck.display(),
                crate::report::files::io_reason(&e)
            ))
        })?;
    }
    let mut writer = Hdf5Writer::create(&target.h5, config.plan.batches)?;
    let resumed = match &config.resume {
        Some(path) => Some(checkpoint::load(path, config, |first, counts| {
            writer.write_batches(first, counts)
        })?),
        None => None,
    };
    Ok(Prepared {
        target,
        writer,
        resumed,
    })
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
