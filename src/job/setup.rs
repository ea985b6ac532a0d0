//! The job's first phases: agree on the arguments, the kernel, prepare rank 0's
//! output (report files, checkpoint path, the counts resumed), and the work left.
//! Whatever only rank 0 can check, every rank learns before any work, so a bad
//! location or checkpoint stops every rank cleanly.

use std::path::Path;
use std::time::SystemTime;

use super::{Exit, JobError};
use crate::checkpoint::{self, log_path, Resumed, Writer};
use crate::cli::NotRun;
use crate::comm::Comm;
use crate::config::{Config, ThreadsSource};
use crate::error::{UsageError, EXIT_OK};
use crate::intervals::Intervals;
use crate::kernel::Kernel;
use crate::progress::Progress;
use crate::protocol::Ledger;
use crate::report::files::{
    check_file, parent_dir, remove_stale, same_file, Access, Destination, Staged,
};
use crate::report::hdf5::Hdf5Writer;
use crate::store::Store;

/// What rank 0 prepares before any work.
pub struct Output {
    /// Where the report goes.
    pub dest: Destination,
    /// The HDF5 report, created under its temporary name.
    pub writer: Hdf5Writer,
    /// The run's counts, progress and checkpoints.
    pub ledger: Ledger,
    /// The checkpoint resumed, if any.
    pub resumed: Option<Resumed>,
}

/// Leaves with `error`'s status on every rank; rank 0 prints it.
fn refuse(comm: &Comm, error: JobError) -> Exit {
    Exit {
        status: error.exit_status(),
        error: comm.is_root().then_some(error),
    }
}

/// Every rank parsed the same arguments, so every rank reaches the same
/// decision without talking; only rank 0 speaks. An MPMD launch could hand
/// ranks different arguments: that is refused first.
pub fn agree(comm: &Comm, parsed: Result<Config, NotRun>) -> Result<Config, Exit> {
    same_arguments(comm)?;
    match parsed {
        Ok(config) => Ok(config),
        Err(NotRun::Print(text)) => {
            if comm.is_root() {
                crate::console::print_out(&text); // --help, --version
            }
            Err(Exit {
                status: EXIT_OK,
                error: None,
            })
        }
        Err(NotRun::Refused(e)) => Err(refuse(comm, e.into())),
    }
}

/// Whether every rank was started with the same arguments (a hash of them,
/// one all-reduce); refused on every rank if not.
pub fn same_arguments(comm: &Comm) -> Result<(), Exit> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&args, &mut hasher);
    if comm.same_on_all(std::hash::Hasher::finish(&hasher)) {
        Ok(())
    } else {
        Err(refuse(comm, UsageError::DifferentArguments.into()))
    }
}

/// The kernel this rank runs; a variant forced with `--kernel` must be supported
/// on every rank.
pub fn kernel(comm: &Comm, config: &Config) -> Result<Kernel, Exit> {
    let kernel = config.kernel.resolve();
    let lacking = comm.count_true(!kernel.supported());
    if lacking > 0 {
        let detail = format!(
            "{}: not supported by the CPU of {lacking} of {} rank(s) (use --kernel auto)",
            kernel.name(),
            comm.size()
        );
        return Err(refuse(comm, UsageError::flag("--kernel", detail).into()));
    }
    Ok(kernel)
}

/// This rank's threads, resolved from `--threads` (and with `auto` from its
/// environment), and where the count came from. Every rank must come to the
/// same count, and more than one thread needs an MPI library that allows
/// threads beside the one calling MPI (`MPI_THREAD_FUNNELED`).
pub fn threads(comm: &Comm, config: &Config) -> Result<Threads, Exit> {
    let resolved = config.threads.resolve(|name| std::env::var(name).ok());
    let count = resolved.as_ref().map_or(0, |r| r.0);
    let agreed = comm.same_on_all(count);
    let why = match &resolved {
        Err(why) => Some(why.clone()),
        Ok(_) if !agreed => Some(
            "auto: the ranks' environments give different thread counts (give --threads N)".into(),
        ),
        Ok((n, _)) if *n > 1 && !comm.funneled() => Some(format!(
            "{n}: the MPI library provides only {} (threads need MPI_THREAD_FUNNELED; use --threads 1)",
            comm.threading_name()
        )),
        Ok(_) => None,
    };
    // Rank 0 names the problem; a rank whose own environment is bad makes the
    // counts differ, so every rank refuses together.
    let refused = comm.count_true(why.is_some()) > 0;
    match (resolved, refused) {
        (Ok((count, source)), false) => Ok(Threads {
            count: count as usize,
            source,
        }),
        _ => {
            let detail = why.unwrap_or_else(|| "auto: refused on another rank".into());
            Err(refuse(comm, UsageError::flag("--threads", detail).into()))
        }
    }
}

/// A rank's threads.
#[derive(Clone, Copy, Debug)]
pub struct Threads {
    /// How many count (the main thread among them).
    pub count: usize,
    /// Where the count came from.
    pub source: ThreadsSource,
}

/// Rank 0 prepares its output; every rank learns whether it could.
pub fn prepare(comm: &Comm, config: &Config, now: SystemTime) -> Result<Option<Output>, Exit> {
    let prepared = if comm.is_root() {
        prepare_root(config, now).map(Some)
    } else {
        Ok(None)
    };
    let status = comm.broadcast(match &prepared {
        Ok(_) => EXIT_OK,
        Err(e) => e.exit_status(),
    });
    match prepared {
        Ok(output) if status == EXIT_OK => Ok(output),
        Ok(_) => Err(Exit {
            status,
            error: None,
        }), // rank 0 found the problem and says so
        Err(e) => Err(Exit {
            status,
            error: Some(e),
        }),
    }
}

/// Resolves the report files, checks the checkpoint path, opens the HDF5
/// writer and the count store, and loads the checkpoint resumed (rank 0).
fn prepare_root(config: &Config, now: SystemTime) -> Result<Output, JobError> {
    let dest = Destination::resolve(config.output.as_deref(), config.force, now)?;
    if let Some(resume) = &config.resume {
        checkpoint::check_path(resume)?; // before it is named as --checkpoint too
    }
    if let Some(ck) = &config.checkpoint {
        check_checkpoint_path(ck, config, &dest)?;
    }
    // Everything checked: clear what runs killed outright left behind.
    for file in [Some(&dest.h5), Some(&dest.json), config.checkpoint.as_ref()]
        .into_iter()
        .flatten()
    {
        remove_stale(file);
    }
    let writer = Hdf5Writer::create(&dest.h5, config.plan.batches)?;
    // In $TMPDIR: neither the report's disk nor the checkpoint's, so a full
    // report disk does not stop checkpoints (and the checkpoint's file system
    // holds no open file of ours).
    let scratch = std::env::temp_dir();
    let mut store = Store::new(config.plan.batches, &scratch).map_err(|e| {
        UsageError::file(
            &scratch,
            format!(
                "($TMPDIR) cannot hold the per-batch counts: {}",
                crate::error::one_line(&e)
            ),
        )
    })?;
    let resumed = match &config.resume {
        Some(path) => Some(checkpoint::load(path, config, &mut store)?),
        None => None,
    };
    for note in resumed.iter().flat_map(|r| &r.notes) {
        crate::console::eprint_line(&format!("mcpi: warning: {note}"));
    }
    let checkpoints = match &config.checkpoint {
        Some(path) => Some(checkpointer(path, config, resumed.as_ref(), &store)?),
        None => None,
    };
    let done = resumed
        .as_ref()
        .map_or_else(Intervals::default, |r| r.done.clone());
    let first = super::count::first_round(config, &done);
    let ledger = Ledger {
        store,
        done,
        counted_before: 0,
        progress: Progress::new(
            config.progress,
            config.plan.samples_in_all(&first),
            first.count(),
            config.plan.batch_size,
        ),
        checkpoints,
    };
    Ok(Output {
        dest,
        writer,
        ledger,
        resumed,
    })
}

/// The checkpoints to `path`: the log of `resumed` goes on when it is the
/// checkpoint resumed; a writer thread with its own handle on `store`.
fn checkpointer(
    path: &Path,
    config: &Config,
    resumed: Option<&Resumed>,
    store: &Store,
) -> Result<checkpoint::Checkpointer, UsageError> {
    let log = log_path(path);
    let bad = |why: String| UsageError::flag("--checkpoint", format!("{}: {why}", path.display()));
    let writer = match (resumed, &config.resume) {
        (Some(r), Some(from)) if same_file(from, path) => Writer::resuming(path, r),
        _ => Writer::new(path),
    }
    .map_err(|why| bad(format!("its log {}: {why}", log.display())))?;
    // A log no manifest names: mcpi's is written over (a run stopped before
    // its first checkpoint was confirmed, or its manifest removed), another
    // file only with --force.
    let its_log = |why: &str| bad(format!("its log {}: {why}", log.display()));
    match writer.overwrites() {
        Err(e) => return Err(its_log(&crate::error::one_line(&e))),
        Ok(Some(false)) if !config.force => {
            return Err(its_log(
                "exists and is not an mcpi checkpoint log (remove it, or use --force to \
                 write over it)",
            ))
        }
        Ok(Some(_)) => crate::console::eprint_line(&format!(
            "mcpi: warning: --checkpoint {}: its log {} is named by no checkpoint ({} is \
             absent or names no log: its run stopped before its first checkpoint was \
             confirmed, or it was removed); writing over it",
            path.display(),
            log.display(),
            path.display()
        )),
        Ok(None) => {}
    }
    checkpoint::Checkpointer::new(
        writer,
        config,
        store,
        config.checkpoint_interval,
        Comm::time(),
    )
    .map_err(|e| {
        bad(format!(
            "cannot start its writer: {}",
            crate::error::one_line(&e)
        ))
    })
}

/// `--checkpoint`'s rules, for the checkpoint and its log (`PATH.log`) alike:
/// an existing directory, not a directory itself, neither a report file nor
/// one of the checkpoint resumed's files (unless it is that checkpoint), and a
/// directory where files can be created (proven now, not at the first
/// checkpoint); the checkpoint not existing unless resumed or `--force`. (An
/// existing log is the writer's to judge: see [`checkpointer`].)
fn check_checkpoint_path(ck: &Path, config: &Config, dest: &Destination) -> Result<(), UsageError> {
    let bad = |why: &str| UsageError::flag("--checkpoint", format!("{}: {why}", ck.display()));
    let log = log_path(ck);
    let its_log = |why: &str| bad(&format!("its log {}: {why}", log.display()));
    if !parent_dir(ck).is_dir() {
        return Err(bad("its directory does not exist"));
    }
    if let Some(why) = check_file(ck, Access::Replace) {
        return Err(bad(&why));
    }
    if let Some(why) = check_file(&log, Access::Append) {
        return Err(its_log(&why));
    }
    let report = [&dest.h5, &dest.json];
    if report.iter().any(|f| same_file(f, ck)) {
        return Err(bad("is one of the report files (--output)"));
    }
    if report.iter().any(|f| same_file(f, &log)) {
        return Err(its_log("is one of the report files (--output)"));
    }
    let continuing = config.resume.as_deref().is_some_and(|r| same_file(r, ck));
    if let Some(from) = config.resume.as_deref().filter(|_| !continuing) {
        if same_file(&log, from) {
            return Err(its_log("is the checkpoint resumed (--resume)"));
        }
        if same_file(ck, &log_path(from)) {
            return Err(bad("is the log of the checkpoint resumed (--resume)"));
        }
        if same_file(&log, &log_path(from)) {
            return Err(its_log(
                "is the log of the checkpoint resumed (--resume), by another name",
            ));
        }
    }
    if ck.exists() && !continuing && !config.force {
        return Err(bad(
            "exists (continue it with --resume, or use --force to start over)",
        ));
    }
    Staged::new(ck).map(drop).map_err(|e| {
        bad(&format!(
            "cannot create files in its directory: {}",
            crate::error::one_line(&e)
        ))
    })
}

/// The batches done before this run (the checkpoint's, on every rank).
pub fn work_left(comm: &Comm, output: Option<&Output>) -> Intervals {
    let flat: Vec<u64> = output
        .and_then(|o| o.resumed.as_ref())
        .map_or(Vec::new(), |r| {
            r.done
                .ranges()
                .iter()
                .flat_map(|x| [x.start, x.end])
                .collect()
        });
    let flat = comm.broadcast_u64s(flat);
    Intervals::new(flat.chunks(2).map(|p| p[0]..p[1]).collect())
}
