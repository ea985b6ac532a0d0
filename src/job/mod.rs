//! The SPMD job, read top-down as its phases (like HPCG's `main`): agree on the
//! arguments → kernel → prepare the output → the work left → count, once or in
//! `--target-error` rounds → gather → report → the exit status. Every rank runs
//! every phase; rank 0 alone prints and writes. Each phase is a function of
//! [`setup`], [`count`] or [`finish`].

pub mod count;
pub mod finish;
pub mod setup;
pub mod team;

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use crate::checkpoint::CheckpointError;
use crate::cli::NotRun;
use crate::comm::{Comm, InitError};
use crate::config::Config;
use crate::error::{one_line, UsageError, EXIT_FAILURE, EXIT_USAGE};
use crate::report::files::FileError;
use crate::signals;
use crate::stream::Streams;

/// Why the job stops before counting. (Failures after counting — a report or
/// checkpoint that cannot be written — are printed where they happen, in
/// [`finish`], after the text report, and end in exit status 1.)
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A bad flag, file or launch.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The report cannot go where `--output` points.
    #[error(transparent)]
    Output(#[from] FileError),
    /// The checkpoint to resume is refused.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// MPI could not be initialised.
    #[error(transparent)]
    Mpi(#[from] InitError),
}

impl JobError {
    /// The process exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            JobError::Usage(_) | JobError::Output(_) => EXIT_USAGE,
            JobError::Mpi(_) => EXIT_FAILURE,
            JobError::Checkpoint(e) => e.exit_status(),
        }
    }
}

/// How a rank leaves early: the status every rank agrees on, and on rank 0 the
/// error to print (if any).
#[derive(Debug)]
pub struct Exit {
    status: u8,
    error: Option<JobError>,
}

impl Exit {
    /// Leaves with `status`, printing `error` (rank 0's, once).
    fn leave(self) -> u8 {
        if let Some(e) = &self.error {
            crate::console::eprint_line(&format!("mcpi: error: {}", one_line(e)));
        }
        self.status
    }
}

/// When the process started: the clock of `setup_seconds` and `wall_seconds`,
/// and the `started_at` time.
#[derive(Clone, Copy, Debug)]
pub struct Started {
    /// For durations.
    pub instant: Instant,
    /// For the report's `started_at` and default name.
    pub at: SystemTime,
}

/// MPI_Init (with `threads`, at the thread level threads need), or the exit
/// status of its failure (printed).
fn init(threads: bool) -> Result<Comm, ExitCode> {
    Comm::init(threads).map_err(|e| {
        let exit = Exit {
            status: EXIT_FAILURE,
            error: Some(e.into()),
        };
        ExitCode::from(exit.leave())
    })
}

/// Runs the job from the parsed command line and returns its exit status.
pub fn main(parsed: Result<Config, NotRun>) -> ExitCode {
    let started = Started {
        instant: Instant::now(),
        at: SystemTime::now(),
    };
    // Before MPI_Init, which can take a while at scale: from here on a stop
    // signal only sets a flag (one before the count loop stops the run after
    // its first batch).
    let handlers = signals::install();
    // This rank's own reading of --threads (agreed on after MPI_Init).
    let threads = parsed.as_ref().is_ok_and(|c| {
        c.threads
            .resolve(|name| std::env::var(name).ok())
            .is_ok_and(|(n, _)| n > 1)
    });
    let comm = match init(threads) {
        Ok(comm) => comm,
        Err(status) => return status,
    };
    handlers.restore();
    // A panic on one rank must not leave the others waiting in a collective:
    // unwinding removes this rank's temporary files, then MPI_Abort ends the job.
    let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&comm, parsed, started).unwrap_or_else(Exit::leave)
    })) {
        Ok(status) => status,
        Err(_) => comm.abort(EXIT_FAILURE),
    };
    drop(comm); // MPI_Finalize
    ExitCode::from(status)
}

/// Runs a command that needs no MPI (`study`, `plan`) in a process an MPI
/// launcher started: every rank still joins the argument agreement, so an MPMD
/// launch that mixes it with `run` is refused on every rank rather than left
/// hanging; rank 0 alone runs `command`, and every rank leaves with its status.
pub fn main_launched(command: impl FnOnce() -> u8) -> ExitCode {
    let comm = match init(false) {
        Ok(comm) => comm,
        Err(status) => return status,
    };
    // Refused: every rank leaves as the job's ranks do, without a collective.
    let status = match setup::same_arguments(&comm) {
        Err(exit) => exit.leave(),
        Ok(()) => {
            // As in the job: a panic ends every rank (MPI_Abort), none waits.
            let mine = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if comm.is_root() {
                    command()
                } else {
                    crate::error::EXIT_OK
                }
            })) {
                Ok(status) => status,
                Err(_) => comm.abort(EXIT_FAILURE),
            };
            comm.broadcast(mine)
        }
    };
    drop(comm); // MPI_Finalize
    ExitCode::from(status)
}

/// The phases. Every rank returns the status rank 0 decided.
fn run(comm: &Comm, parsed: Result<Config, NotRun>, started: Started) -> Result<u8, Exit> {
    // ---- Agree on the arguments: the same on every rank, and valid.
    let config = setup::agree(comm, parsed)?;

    // ---- Kernel: every rank checks its own CPU; a forced variant must run on all.
    let kernel = setup::kernel(comm, &config)?;

    // ---- Threads per rank: the same on every rank, and allowed by the MPI library.
    let threads = setup::threads(comm, &config)?;

    // ---- Output (rank 0): report files, checkpoint path, the resumed counts;
    // every rank learns before any work whether they are usable.
    let mut output = setup::prepare(comm, &config, started.at)?;

    // ---- Work: the batches not yet done (all, unless resuming).
    let done_before = setup::work_left(comm, output.as_ref());
    let streams = Streams::new(config.seed);
    comm.barrier();
    let setup_seconds = started.instant.elapsed().as_secs_f64();

    // ---- Count: once over everything left, or in --target-error rounds.
    let ledger = output.as_mut().map(|o| &mut o.ledger);
    let counted = count::count(
        comm,
        &config,
        kernel,
        threads.count,
        streams,
        &done_before,
        ledger,
    );

    // ---- Gather every rank's and thread's figures on rank 0, timed after a barrier.
    let gathered = finish::gather(comm, &counted, kernel, threads);

    // ---- Report (rank 0), then every rank leaves with rank 0's status.
    let status = match (output, gathered) {
        (Some(output), Some(gathered)) => {
            let run = finish::Finished {
                config: &config,
                counted,
                gathered,
                done_before,
                setup_seconds,
                started,
            };
            finish::report(run, output)
        }
        _ => crate::error::EXIT_OK,
    };
    Ok(comm.broadcast(status))
}
