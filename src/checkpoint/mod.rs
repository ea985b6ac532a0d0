//! Checkpoints: rank 0 saves what the run has counted so that a stopped or
//! killed run can be resumed, on any number of ranks, to the uninterrupted
//! count. A checkpoint is two files: the manifest at `PATH` (HDF5: the
//! configuration, the completed batches as intervals, how much of the log is
//! valid and its check; `manifest.rs`) and the log `PATH.log` (the per-batch
//! counts, appended; `log.rs`). Each checkpoint costs what changed since the
//! previous one, plus a constant: it appends the new counts to the log, syncs
//! it, then replaces the manifest (temporary name, sync, rename, directory
//! sync).
//!
//! Crash consistency: an append writes only past the end the manifest on disk
//! confirms, and a manifest names only log bytes synced before it was written,
//! so at every instant the manifest on disk and the log prefix it confirms are
//! one whole checkpoint. A resume trusts nothing else: it checks the manifest
//! against its digest and every confirmed log record against its chained
//! check, and ignores (and says so) a tail past the confirmed end — an append
//! whose manifest never replaced the previous one.

mod log;
mod manifest;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use hdf5::File;

pub use log::LogSpan;

use crate::config::Config;
use crate::intervals::Intervals;
use crate::report::files::{check_file, parent_dir, Access, FileError, Staged};
use crate::report::hdf5::h5err;
use crate::store::{Counts, Store};

/// The `format` attribute of every checkpoint.
pub const FORMAT: &str = "mcpi checkpoint";
/// The layout version this mcpi writes, and the newest it reads. Version 3
/// moves the counts to the log (`PATH.log`); version 2 added `target_error`
/// and `confidence` to version 1. Versions 1 and 2 are still resumed (their
/// counts in `/done/inside`); the first checkpoint after such a resume writes
/// version 3.
pub const FORMAT_VERSION: u64 = 3;

/// What the log's name adds to the checkpoint's.
pub const LOG_SUFFIX: &str = ".log";

/// The log of the checkpoint at `path`: `PATH.log`, beside it.
pub fn log_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(LOG_SUFFIX);
    PathBuf::from(s)
}

/// What can go wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint to resume cannot be continued; found before any work
    /// (exit status 2). The file is left as it was.
    #[error("--resume {}: {why}", path.display())]
    Refused {
        /// The checkpoint.
        path: PathBuf,
        /// Why it is refused.
        why: String,
    },
    /// Writing a checkpoint failed; the previous one, if any, is intact.
    #[error("checkpoint {}: {why}", path.display())]
    Write {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl CheckpointError {
    /// The exit status: 2 for a refused resume, 1 for a failed write.
    pub fn exit_status(&self) -> u8 {
        match self {
            CheckpointError::Refused { .. } => crate::error::EXIT_USAGE,
            CheckpointError::Write { .. } => crate::error::EXIT_FAILURE,
        }
    }
}

/// A checkpoint read back: the completed batches and their total inside count.
#[derive(Clone, Debug)]
pub struct Resumed {
    /// Completed batches.
    pub done: Intervals,
    /// Their inside count.
    pub inside: u64,
    /// The log generation that holds their counts (format 3), which a run
    /// checkpointing to the same path continues.
    pub log: Option<LogSpan>,
    /// What the resume ignored, one sentence each (for warnings).
    pub notes: Vec<String>,
}

/// Reads the checkpoint at `path` for a resume of `config` (`--resume`), checks
/// it whole, and puts the counts of its completed batches into `store`. Every
/// problem refuses the resume, naming the file; nothing is written.
pub fn load(path: &Path, config: &Config, store: &mut Store) -> Result<Resumed, CheckpointError> {
    let bad = |why: String| CheckpointError::Refused {
        path: path.to_path_buf(),
        why,
    };
    check_path(path)?;
    let file = File::open(path).map_err(|e| bad(format!("unreadable or damaged: {}", h5err(e))))?;
    let reader = manifest::Reader { file: &file };
    let version = reader.check_header(config).map_err(bad)?;
    let damaged = |why: String| bad(format!("damaged: {why}"));
    let done = reader.done(&config.plan).map_err(damaged)?;
    if version < 3 {
        let inside = reader.counts(config, &done, store).map_err(damaged)?;
        return Ok(Resumed {
            done,
            inside,
            log: None,
            notes: Vec::new(),
        });
    }
    let (span, inside) = reader.confirmed(config, &done).map_err(damaged)?;
    drop(file);
    let log = log_path(path);
    let in_log = |why: String| bad(format!("damaged: its log {}: {why}", log.display()));
    let tail = read_log(&log, config, &done, (&span, inside), store).map_err(in_log)?;
    let notes = (tail > 0)
        .then(|| {
            format!(
                "--resume {}: ignoring the last {tail} bytes of {}: appended by a checkpoint \
                 that was never confirmed (the run stopped while writing it); resuming the \
                 checkpoint before it",
                path.display(),
                log.display()
            )
        })
        .into_iter()
        .collect();
    Ok(Resumed {
        done,
        inside,
        log: Some(span),
        notes,
    })
}

/// Reads the counts of `done` (`inside` in all) from the log at `path`, the
/// generation `span`, into `store`: every batch of `done` exactly once, no
/// other, no count above its batch's samples. Returns the bytes of the
/// unconfirmed tail.
fn read_log(
    path: &Path,
    config: &Config,
    done: &Intervals,
    (span, inside): (&LogSpan, u64),
    store: &mut Store,
) -> Result<u64, String> {
    if let Some(why) = check_file(path, Access::Read) {
        return Err(why);
    }
    let file = std::fs::File::open(path).map_err(|e| crate::error::one_line(&e))?;
    let plan = &config.plan;
    let mut seen = Vec::new();
    let mut sum = 0u64;
    let header = log::header(span.id, plan, config.seed);
    let tail = log::read(&file, span, header, plan.batches, |batches, counts| {
        if !done.covers(batches.clone()) {
            return Err(format!(
                "it holds batches {}..{} that the checkpoint does not name as completed",
                batches.start, batches.end
            ));
        }
        if batches
            .clone()
            .zip(counts)
            .any(|(i, &c)| c > plan.batch_len(i))
        {
            return Err("a count exceeds its batch's samples".into());
        }
        sum += counts.iter().sum::<u64>();
        store.put(batches.start, counts);
        seen.push(batches);
        Ok(())
    })?;
    seen.sort_by_key(|r| r.start);
    let each_once = seen.windows(2).all(|w| w[0].end <= w[1].start);
    let all = seen.iter().map(|r| r.end - r.start).sum::<u64>() == done.count();
    if !each_once || !all || sum != inside {
        return Err("its counts do not match the completed batches".into());
    }
    Ok(tail)
}

/// Refuses a `--resume` path that is not a regular file (a FIFO would block
/// the open, a device is no checkpoint), or whose log, if there, is not one.
pub fn check_path(path: &Path) -> Result<(), CheckpointError> {
    let log = log_path(path);
    let why = check_file(path, Access::Read).or_else(|| {
        check_file(&log, Access::Append).map(|why| format!("its log {}: {why}", log.display()))
    });
    match why {
        Some(why) => Err(CheckpointError::Refused {
            path: path.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// Writes one run's checkpoints to one path: each appends the counts done
/// since the previous one to the log, then replaces the manifest.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    log: PathBuf,
    /// The log generation the manifest on disk confirms, when this run
    /// continues it (`None`: the next checkpoint starts a new generation).
    confirmed: Option<LogSpan>,
    /// The batches the confirmed generation holds, and their inside count.
    saved: Intervals,
    inside: u64,
    /// A new generation's id and first byte, once chosen.
    fresh: Option<(u64, u64)>,
}

impl Writer {
    /// Checkpoints to `path` in a new log generation (its first checkpoint
    /// writes every count done).
    pub fn new(path: &Path) -> Writer {
        Writer {
            path: path.to_path_buf(),
            log: log_path(path),
            confirmed: None,
            saved: Intervals::default(),
            inside: 0,
            fresh: None,
        }
    }

    /// Checkpoints to `path`, the checkpoint `resumed` was read from: its log
    /// generation goes on (a format 1 or 2 checkpoint starts one).
    pub fn resuming(path: &Path, resumed: &Resumed) -> Writer {
        let mut w = Writer::new(path);
        if let Some(span) = resumed.log {
            w.confirmed = Some(span);
            w.saved = resumed.done.clone();
            w.inside = resumed.inside;
        }
        w
    }

    /// Saves the checkpoint of `config` with `done` batches, their counts read
    /// from `store`: the counts not yet in the log appended and synced, then
    /// the manifest replaced. On failure the previous checkpoint stands, and
    /// the next save appends from its end again.
    pub fn save(
        &mut self,
        config: &Config,
        done: &Intervals,
        store: &impl Counts,
    ) -> Result<(), CheckpointError> {
        if self.confirmed.is_some() && *done == self.saved {
            return Ok(()); // the checkpoint on disk is this one
        }
        if !done.contains_all(&self.saved) {
            self.confirmed = None; // never expected: start a generation afresh
        }
        let path = self.path.clone();
        let fail = |why: String| CheckpointError::Write {
            path: path.clone(),
            why,
        };
        let (span, inside) = self
            .append(config, done, store)
            .map_err(|e| fail(format!("{}: {e}", self.log.display())))?;
        let tmp = Staged::new(&self.path).map_err(|e| fail(crate::error::one_line(&e)))?;
        let name = self.log.file_name().unwrap_or_default().to_string_lossy();
        manifest::write(tmp.path(), config, done, (&span, inside), &name).map_err(fail)?;
        let as_checkpoint = |e: FileError| {
            fail(match std::error::Error::source(&e) {
                Some(s) => crate::error::one_line(s),
                None => e.to_string(),
            })
        };
        tmp.sync().map_err(as_checkpoint)?;
        tmp.publish(true).map_err(as_checkpoint)?;
        let started = self.confirmed.is_none();
        self.confirmed = Some(span);
        self.saved = done.clone();
        self.inside = inside;
        self.fresh = None;
        if started && span.start > 0 {
            log::release(&self.log, span.start); // no manifest names those bytes now
        }
        Ok(())
    }

    /// Appends what the log lacks of `done` (all of it, after a header, in a
    /// new generation) and syncs it; returns the span to confirm and the
    /// inside count of all of `done`.
    fn append(
        &mut self,
        config: &Config,
        done: &Intervals,
        store: &impl Counts,
    ) -> Result<(LogSpan, u64), String> {
        let io = |e: std::io::Error| crate::error::one_line(&e);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.log)
            .map_err(io)?;
        let (from, header, batches, before) = match self.confirmed {
            Some(span) => (span, None, done.minus(&self.saved), self.inside),
            None => {
                let (id, start) = match self.fresh {
                    Some(fresh) => fresh,
                    // After whatever the file holds: the checkpoint on disk may name it.
                    None => (new_id(), file.metadata().map_err(io)?.len()),
                };
                self.fresh = Some((id, start));
                let span = LogSpan {
                    id,
                    start,
                    end: start,
                    head: 0,
                };
                let header = log::header(id, &config.plan, config.seed);
                (span, Some(header), done.clone(), 0)
            }
        };
        let a = log::append(&file, (from.end, from.head), header, &batches, store).map_err(io)?;
        drop(file);
        if self.confirmed.is_none() {
            // The log's directory entry is durable before a manifest names it.
            std::fs::File::open(parent_dir(&self.log))
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        let span = LogSpan {
            end: a.end,
            head: a.head,
            ..from
        };
        Ok((span, before + a.inside))
    }
}

/// A new log generation's id: random (std's per-process random hash keys,
/// over the time and the process id).
fn new_id() -> u64 {
    use std::hash::BuildHasher;
    std::hash::RandomState::new().hash_one((std::time::SystemTime::now(), std::process::id()))
}

/// Rank 0's checkpoints during a run: when they are due, and the thread that
/// writes them. The main thread hands a due checkpoint (the batches done) to
/// the writer thread and counts on; the writer reads their counts from the
/// store through its own handle, so syncs never hold up the count. A
/// checkpoint falls due again only once the previous one is written.
pub struct Schedule {
    path: PathBuf,
    every: f64,
    last: f64,
    /// Whether the last checkpoint failed (a failure is reported once).
    failed: bool,
    /// A checkpoint is being written.
    busy: bool,
    requests: Option<mpsc::Sender<Intervals>>,
    results: mpsc::Receiver<Result<(), CheckpointError>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Schedule {
    /// Checkpoints of `config` with `writer` every `every` seconds, counted
    /// from `now`, their counts read from `store` (through a handle of the
    /// writer thread's own).
    pub fn new(
        writer: Writer,
        config: &Config,
        store: &Store,
        every: f64,
        now: f64,
    ) -> std::io::Result<Schedule> {
        let (requests, inbox) = mpsc::channel::<Intervals>();
        let (outbox, results) = mpsc::channel();
        let (config, counts) = (config.clone(), store.reader()?);
        let path = writer.path.clone();
        let mut writer = writer;
        let thread = std::thread::Builder::new()
            .name("mcpi-checkpoint".into())
            .spawn(move || {
                for done in inbox {
                    if outbox.send(writer.save(&config, &done, &counts)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Schedule {
            path,
            every,
            last: now,
            failed: false,
            busy: false,
            requests: Some(requests),
            results,
            thread: Some(thread),
        })
    }

    /// Takes in the result of the checkpoint being written, if it is done
    /// (`wait`: waits for it); reports a failure once.
    fn collect(&mut self, wait: bool) {
        if !self.busy {
            return;
        }
        let result = if wait {
            self.results.recv().ok()
        } else {
            self.results.try_recv().ok()
        };
        let Some(result) = result else {
            return;
        };
        self.busy = false;
        match result {
            Err(e) if !self.failed => {
                crate::console::eprint_line(&format!(
                    "mcpi: error: {e} (the previous checkpoint is kept; the run goes on)"
                ));
                self.failed = true;
            }
            Ok(()) => self.failed = false,
            Err(_) => {}
        }
    }

    /// Whether a checkpoint is due at time `now` (and the last one written).
    pub fn due(&mut self, now: f64) -> bool {
        self.collect(false);
        !self.busy && now - self.last >= self.every
    }

    /// Hands the checkpoint of `done` (a due one, at time `now`) to the writer
    /// thread. A failure is reported once, when it is known; the previous
    /// checkpoint stays as it was and the run goes on.
    pub fn save_due(&mut self, done: Intervals, now: f64) {
        self.last = now;
        if let Some(requests) = &self.requests {
            self.busy = requests.send(done).is_ok();
        }
    }

    /// The checkpoint at the end of the run, stopped or complete, once the
    /// one being written is.
    pub fn save_final(&mut self, done: &Intervals) -> Result<(), CheckpointError> {
        self.collect(true);
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|r| r.send(done.clone()).is_ok());
        let result = match sent {
            true => self.results.recv().ok(),
            false => None,
        };
        self.finish();
        result.unwrap_or_else(|| {
            Err(CheckpointError::Write {
                path: self.path.clone(),
                why: "the checkpoint writer thread is gone".into(),
            })
        })
    }

    /// Lets the writer thread finish what it was given, and end.
    fn finish(&mut self) {
        drop(self.requests.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.finish();
    }
}
