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

use std::fs::File;

pub use log::LogSpan;

use crate::config::Config;
use crate::intervals::Intervals;
use crate::report::files::{
    check_file, flock_exclusive, parent_dir, Access, FileError, Flock, Staged,
};
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
    /// The log file read (device and inode), so the run that continues it
    /// can tell whether the file it locks is that one.
    pub log_file: Option<FileId>,
    /// What the resume ignored, one sentence each (for warnings).
    pub notes: Vec<String>,
}

/// A file's identity: its device and inode.
pub type FileId = (u64, u64);

fn file_id(m: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
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
    let file =
        hdf5::File::open(path).map_err(|e| bad(format!("unreadable or damaged: {}", h5err(e))))?;
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
            log_file: None,
            notes: Vec::new(),
        });
    }
    let (span, inside) = reader.confirmed(config, &done).map_err(damaged)?;
    drop(file);
    let log = log_path(path);
    if std::fs::symlink_metadata(&log).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Err(bad(format!(
            "its log {} is missing (a checkpoint is two files, PATH and PATH.log: copy or \
             move both)",
            log.display()
        )));
    }
    let in_log = |why: String| bad(format!("damaged: its log {}: {why}", log.display()));
    let (tail, id) = read_log(&log, config, &done, (&span, inside), store).map_err(in_log)?;
    let mut notes = Vec::new();
    if tail > 0 {
        notes.push(format!(
            "--resume {}: ignoring the last {tail} bytes of {}: appended by a checkpoint \
             that was never confirmed (the run stopped while writing it); resuming the \
             checkpoint before it",
            path.display(),
            log.display()
        ));
    }
    Ok(Resumed {
        done,
        inside,
        log: Some(span),
        log_file: Some(id),
        notes,
    })
}

/// Reads the counts of `done` (`inside` in all) from the log at `path`, the
/// generation `span`, into `store`: every batch of `done` exactly once, no
/// other, no count above its batch's samples. Returns the bytes of the
/// unconfirmed tail and the file's identity.
fn read_log(
    path: &Path,
    config: &Config,
    done: &Intervals,
    (span, inside): (&LogSpan, u64),
    store: &mut Store,
) -> Result<(u64, FileId), String> {
    if let Some(why) = check_file(path, Access::Read) {
        return Err(why);
    }
    let file = std::fs::File::open(path).map_err(|e| crate::error::one_line(&e))?;
    let id = file_id(&file.metadata().map_err(|e| crate::error::one_line(&e))?);
    let plan = &config.plan;
    // One bit per batch (12.5 MB at the 10^8-batch maximum): each batch once.
    let mut seen = vec![0u64; plan.batches.div_ceil(64) as usize];
    let mut sum = 0u64;
    let header = log::header(span.id, plan, config.seed);
    let tail = log::read(&file, span, header, plan.batches, |batches, counts| {
        if !done.covers(batches.clone()) {
            return Err(format!(
                "it holds batches {}..{} that the checkpoint does not name as completed",
                batches.start, batches.end
            ));
        }
        for (i, &c) in batches.clone().zip(counts) {
            let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
            if seen[word] & bit != 0 {
                return Err(format!("it holds batch {i} twice"));
            }
            seen[word] |= bit;
            if c > plan.batch_len(i) {
                return Err(format!("the count of batch {i} exceeds its samples"));
            }
            sum += c; // at most the run's samples: each batch once, within its size
        }
        store.put(batches.start, counts);
        Ok(())
    })?;
    let all = seen.iter().map(|w| u64::from(w.count_ones())).sum::<u64>() == done.count();
    if !all || sum != inside {
        return Err("its counts do not match the completed batches".into());
    }
    Ok((tail, id))
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
///
/// The log is locked for the run (an exclusive `flock` on a read-only handle,
/// which does not stand in the way of a read-only remount), so two runs on one
/// checkpoint path refuse rather than interleave their records. Each save
/// opens it for writing afresh and checks it is still the file locked: a log
/// removed or replaced during the run gets a new generation, not records
/// chained onto bytes that are gone.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    log: PathBuf,
    /// The log as locked (read-only), and whether this run created it.
    locked: File,
    created: bool,
    /// The generation the manifest on disk confirms, when this run continues
    /// it (`None`: the next checkpoint starts a new generation).
    confirmed: Option<Confirmed>,
    /// Where a new generation starts: `Some(0)` when no manifest names the
    /// log (its bytes are a leftover, written over), `None` after whatever
    /// the log holds when the generation starts (a manifest on disk may name
    /// those bytes); then the chosen id and first byte.
    fresh_start: Option<u64>,
    fresh: Option<(u64, u64)>,
    /// Whether a manifest of this run's names the log (it is kept then).
    published: bool,
    /// Whether the bytes before this run's generation were released.
    released: bool,
    /// Whether a replaced log was warned of.
    warned: bool,
}

/// A log generation as the manifest on disk confirms it.
#[derive(Clone, Debug)]
struct Confirmed {
    span: LogSpan,
    /// The batches it holds, and their inside count.
    done: Intervals,
    inside: u64,
}

impl Writer {
    /// Checkpoints to `path` in a new log generation (its first checkpoint
    /// writes every count done). Fails when another run holds the log.
    pub fn new(path: &Path) -> Result<Writer, String> {
        let log = log_path(path);
        let (locked, created) = lock_log(&log)?;
        // Without a manifest nothing names the log's bytes (a leftover of a
        // run stopped before its first checkpoint was confirmed): written over.
        let absent = std::fs::symlink_metadata(path)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        let mut w = Writer {
            path: path.to_path_buf(),
            log,
            locked,
            created,
            confirmed: None,
            fresh_start: None,
            fresh: None,
            published: false,
            released: false,
            warned: false,
        };
        w.set_leftover(absent);
        Ok(w)
    }

    /// Marks the log a leftover no manifest names, to be written over from
    /// byte 0 — unless it has other links (another checkpoint's, copied with
    /// `cp -al`, say): then the new generation goes after its bytes.
    fn set_leftover(&mut self, leftover: bool) {
        self.fresh_start = (leftover && !self.linked()).then_some(0);
    }

    /// Whether the log may be another file's too: it has other hard links,
    /// or its path is a symbolic link. Such a log is never written over or
    /// punched, only appended to.
    fn linked(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let symlink = std::fs::symlink_metadata(&self.log).is_ok_and(|m| m.is_symlink());
        symlink || self.locked.metadata().is_ok_and(|m| m.nlink() > 1)
    }

    /// Checkpoints to `path`, the checkpoint `resumed` was read from: its log
    /// generation goes on (a format 1 or 2 checkpoint names no log, and starts
    /// one over whatever is there).
    pub fn resuming(path: &Path, resumed: &Resumed) -> Result<Writer, String> {
        let mut w = Writer::new(path)?;
        let locked = w.locked.metadata().map(|m| file_id(&m)).ok();
        match resumed.log {
            // The file read at the resume, not one put in its place since.
            Some(span) if locked.is_some() && locked == resumed.log_file => {
                w.confirmed = Some(Confirmed {
                    span,
                    done: resumed.done.clone(),
                    inside: resumed.inside,
                })
            }
            Some(_) => w.set_leftover(false),
            None => w.set_leftover(true), // a version 1 or 2 manifest names no log
        }
        Ok(w)
    }

    /// What the first save will write over: `None`, or `Some(is_mcpis)` when
    /// it writes over log bytes no checkpoint names (a leftover, for a
    /// warning; a file mcpi did not write there needs `--force`).
    pub fn overwrites(&self) -> std::io::Result<Option<bool>> {
        if self.confirmed.is_some() || self.fresh_start != Some(0) {
            return Ok(None);
        }
        if self.locked.metadata()?.len() == 0 {
            return Ok(None);
        }
        log::is_log(&self.locked).map(Some)
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
        if self.confirmed.as_ref().is_some_and(|c| c.done == *done) {
            return Ok(()); // the checkpoint on disk is this one
        }
        if self
            .confirmed
            .as_ref()
            .is_some_and(|c| !done.contains_all(&c.done))
        {
            self.confirmed = None; // never expected: start a generation afresh
        }
        let path = self.path.clone();
        let fail = |why: String| CheckpointError::Write {
            path: path.clone(),
            why,
        };
        let log = self.log.display().to_string();
        let file = self.open_log().map_err(|e| fail(format!("{log}: {e}")))?;
        let (span, inside) = self
            .append(&file, config, done, store)
            .map_err(|e| fail(format!("{log}: {e}")))?;
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
        self.confirmed = Some(Confirmed {
            span,
            done: done.clone(),
            inside,
        });
        (self.fresh, self.fresh_start, self.published) = (None, None, true);
        // Older generations: no manifest names them once the rename is durable
        // (unless the log has other links).
        if !self.released && span.start > 0 && !self.linked() && sync_dir(&self.path).is_ok() {
            log::release(&file, span.start);
            self.released = true;
        }
        Ok(())
    }

    /// Opens the log for this save's append: the file locked, unless it was
    /// removed or replaced meanwhile (then a new one, locked, and a new
    /// generation). Without blocking: a FIFO put in its place is refused.
    fn open_log(&mut self) -> Result<File, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e: std::io::Error| crate::error::one_line(&e);
        let id = file_id;
        let locked = |w: &Writer| w.locked.metadata().map(|m| id(&m)).map_err(io);
        if !std::fs::metadata(&self.log).is_ok_and(|m| Ok(id(&m)) == locked(self)) {
            if !self.warned {
                crate::console::eprint_line(&format!(
                    "mcpi: warning: checkpoint {}: its log {} was removed or replaced during \
                     the run; this checkpoint starts a new one",
                    self.path.display(),
                    self.log.display()
                ));
                self.warned = true;
            }
            (self.locked, self.created) = lock_log(&self.log)?;
            (self.confirmed, self.fresh, self.fresh_start) = (None, None, None);
            // Whatever the new file holds is appended after, never released.
            (self.published, self.released) = (false, true);
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.log)
            .map_err(io)?;
        if Ok(id(&file.metadata().map_err(io)?)) != locked(self) {
            return Err("replaced during the checkpoint".into());
        }
        Ok(file)
    }

    /// Appends to `file` what the log lacks of `done` (all of it, after a
    /// header, in a new generation) and syncs it; returns the span to confirm
    /// and the inside count of all of `done`.
    fn append(
        &mut self,
        file: &File,
        config: &Config,
        done: &Intervals,
        store: &impl Counts,
    ) -> Result<(LogSpan, u64), String> {
        let io = |e: std::io::Error| crate::error::one_line(&e);
        let len = file.metadata().map_err(io)?.len();
        if self.confirmed.as_ref().is_some_and(|c| len < c.span.end) {
            crate::console::eprint_line(&format!(
                "mcpi: warning: checkpoint {}: its log {} was cut short during the run; this \
                 checkpoint starts a new generation",
                self.path.display(),
                self.log.display()
            ));
            (self.confirmed, self.fresh_start) = (None, None);
        }
        let (from, header, batches, before) = match &self.confirmed {
            Some(c) => (c.span, None, done.minus(&c.done), c.inside),
            None => {
                let (id, start) = match self.fresh {
                    Some(fresh) => fresh,
                    None => (new_id(), self.fresh_start.unwrap_or(len)),
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
        let a = log::append(file, (from.end, from.head), header, &batches, store).map_err(io)?;
        if self.confirmed.is_none() {
            // The log's directory entry is durable before a manifest names it.
            sync_dir(&self.log).map_err(io)?;
        }
        let span = LogSpan {
            end: a.end,
            head: a.head,
            ..from
        };
        Ok((span, before + a.inside))
    }
}

impl Drop for Writer {
    /// A log this run created and no manifest of its named holds nothing:
    /// removed.
    fn drop(&mut self) {
        let ours = |m: std::fs::Metadata| {
            self.locked
                .metadata()
                .is_ok_and(|l| file_id(&l) == file_id(&m))
        };
        if self.created && !self.published && std::fs::metadata(&self.log).is_ok_and(ours) {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Opens (creating it if need be) and locks the log at `path`: a read-only
/// handle holding an exclusive `flock`, and whether it was created. Refused:
/// a log another live run holds, or one that is not a regular file. Where the
/// file system cannot lock (some NFS and Lustre mounts), unlocked.
fn lock_log(path: &Path) -> Result<(File, bool), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| crate::error::one_line(&e);
    let created = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io(e)),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err("not a regular file".into());
    }
    match flock_exclusive(file, path).map_err(io)? {
        Flock::Held(file) => Ok((file, created)),
        Flock::Busy => {
            Err("another mcpi run is checkpointing to it now (it holds its lock)".into())
        }
        Flock::Unsupported(file) => Ok((file, created)), // no locks here: unlocked
    }
}

/// Syncs the directory `path` is in (its entries: a rename, a new file).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent_dir(path)).and_then(|d| d.sync_all())
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
pub struct Checkpointer {
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

impl Checkpointer {
    /// Checkpoints of `config` with `writer` every `every` seconds, counted
    /// from `now`, their counts read from `store` (through a handle of the
    /// writer thread's own).
    pub fn new(
        writer: Writer,
        config: &Config,
        store: &Store,
        every: f64,
        now: f64,
    ) -> std::io::Result<Checkpointer> {
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
        Ok(Checkpointer {
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
        let result = match wait {
            true => self
                .results
                .recv()
                .map_err(|_| mpsc::TryRecvError::Disconnected),
            false => self.results.try_recv(),
        };
        let result = match result {
            Ok(result) => result,
            Err(mpsc::TryRecvError::Empty) => return,
            Err(mpsc::TryRecvError::Disconnected) => {
                // The writer thread died (a panic): no more checkpoints.
                self.requests = None;
                Err(self.writer_gone())
            }
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

    fn writer_gone(&self) -> CheckpointError {
        CheckpointError::Write {
            path: self.path.clone(),
            why: "the checkpoint writer thread is gone".into(),
        }
    }

    /// Whether a checkpoint is due at time `now` (and the last one written).
    pub fn due(&mut self, now: f64) -> bool {
        self.collect(false);
        !self.busy && self.requests.is_some() && now - self.last >= self.every
    }

    /// Hands the checkpoint of `done` (a due one, at time `now`) to the writer
    /// thread. A failure is reported once, when it is known; the previous
    /// checkpoint stays as it was and the run goes on.
    pub fn save_due(&mut self, done: Intervals, now: f64) {
        self.last = now;
        if let Some(requests) = &self.requests {
            self.busy = true;
            if requests.send(done).is_err() {
                self.collect(false); // the thread is gone: said once
            }
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
        result.unwrap_or_else(|| Err(self.writer_gone()))
    }

    /// Lets the writer thread finish what it was given, and end.
    fn finish(&mut self) {
        drop(self.requests.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    /// 20 batches of 10 samples.
    fn config() -> Config {
        Config::of(Plan::new(200, 10), 9)
    }

    /// `read_log` of a log holding `records` (every check valid) for a
    /// checkpoint naming `done` and `inside`.
    fn read(records: &[(u64, Vec<u64>)], done: Intervals, inside: u64) -> Result<u64, String> {
        let config = config();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.h5.log");
        let file = File::create(&path).unwrap();
        let span = log::write_raw(&file, log::header(77, &config.plan, config.seed), records);
        let mut store = Store::new(config.plan.batches, dir.path()).unwrap();
        read_log(&path, &config, &done, (&span, inside), &mut store).map(|(tail, _)| tail)
    }

    fn refused(records: &[(u64, Vec<u64>)], done: Intervals, inside: u64, why: &str) {
        match read(records, done, inside) {
            Err(e) => assert!(e.contains(why), "{e:?} does not say {why:?}"),
            Ok(_) => panic!("accepted; wanted {why:?}"),
        }
    }

    #[test]
    fn a_log_whose_checks_pass_is_still_held_to_its_checkpoint() {
        let all = || Intervals::range(0..4);
        let good = [(0, vec![1, 2]), (2, vec![3, 4])];
        assert_eq!(read(&good, all(), 10), Ok(0));
        // Records in any order, as other ranks' batches arrive.
        assert_eq!(read(&[(2, vec![3, 4]), (0, vec![1, 2])], all(), 10), Ok(0));
        let twice = [(0, vec![1, 2]), (1, vec![2, 3]), (3, vec![4])];
        refused(&twice, all(), 10, "batch 1 twice");
        refused(
            &[(0, vec![1, 2, 11, 4])],
            all(),
            18,
            "count of batch 2 exceeds",
        );
        refused(
            &[(0, vec![1, 2, 3, 4, 5])],
            all(),
            15,
            "does not name as completed",
        );
        refused(
            &[(0, vec![1, 2, 3])],
            all(),
            6,
            "do not match the completed",
        );
        refused(&good, all(), 11, "do not match the completed");
        refused(
            &[(0, vec![]), (0, vec![1, 2, 3, 4])],
            all(),
            10,
            "holds 0 counts",
        );
        refused(&[(19, vec![1, 1])], all(), 2, "outside the run's 20");
        let huge = vec![0; log::RECORD_COUNTS as usize + 1];
        refused(&[(0, huge)], all(), 0, "holds 524289 counts");
    }
}
