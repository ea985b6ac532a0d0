//! Report files on disk: where they go, and how they get there without ever
//! leaving a half-written file under a final name or clobbering an old report.
//!
//! Every file is written under a hidden temporary name in its target directory
//! (`tempfile`: created new, removed if dropped unpublished), synced, then
//! moved into place without replacing an existing file
//! (`persist_noclobber`) or, with `--force`, renamed over it; the directory is
//! synced after the move.
//!
//! Every path mcpi reads, writes or replaces goes through [`check_file`] first:
//! a regular file (or, for what it writes, absent) — never a FIFO that would
//! block an open, a device `--force` would replace, a directory, or a dangling
//! symbolic link — with a name that leaves room for its temporary name. The
//! temporary names carry this host and process (`.NAME.tmp-HOST-PID-XXXXXX`),
//! so the next run on the same name removes those whose process is gone
//! ([`remove_stale`]).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tempfile::NamedTempFile;

/// What can go wrong with a report file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The report cannot go where `--output` points; found before any work.
    #[error("--output: {}: {why}", path.display())]
    Unusable {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Writing a file failed after the run (disk full, I/O error).
    #[error("writing report {}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Without `--force`, a file that appeared under the final name during the
    /// run is kept.
    #[error("writing report {}: appeared during the run; not overwritten (use --force)", path.display())]
    Appeared {
        /// The file that appeared.
        path: PathBuf,
    },
}

/// Where the report of a run goes, locked for this run.
#[derive(Debug)]
pub struct Destination {
    /// `PREFIX.h5`.
    pub h5: PathBuf,
    /// `PREFIX.json`.
    pub json: PathBuf,
    /// Whether existing files may be replaced.
    pub force: bool,
    /// Held until the report pair is published (`None` where the file system
    /// cannot lock).
    _lock: Option<PrefixLock>,
}

/// An exclusive `flock` on `.PREFIX.lock` beside the report, taken before any
/// work and held until both files are in place: two runs on one prefix cannot
/// interleave their publishing, so the `.h5` and `.json` always come from one
/// run. The lock file is removed when released; one left by a killed run is
/// harmless (the kernel releases its lock) and reused.
#[derive(Debug)]
struct PrefixLock {
    /// Held open for its lock: closing it releases the lock.
    _file: fs::File,
    path: PathBuf,
}

/// Why a prefix could not be locked.
enum LockError {
    /// Another live run holds it.
    Held,
    /// The file system refused otherwise.
    Io(io::Error),
}

impl PrefixLock {
    /// Takes the lock of the report prefix whose `.h5` is `h5`; `Ok(None)`
    /// where the file system does not support locks (some NFS and Lustre mounts).
    fn take(h5: &Path) -> Result<Option<PrefixLock>, LockError> {
        use std::os::unix::fs::MetadataExt;
        let stem = h5.file_stem().unwrap_or_default().to_string_lossy();
        let path = parent_dir(h5).join(format!(".{stem}.lock"));
        // A run that releases its lock removes the file; one that opened the
        // old file meanwhile locks an orphan, so check and try again.
        for _ in 0..8 {
            let (file, created) = open_lock_file(&path).map_err(LockError::Io)?;
            let file = match flock_exclusive(file, &path).map_err(LockError::Io)? {
                Flock::Held(file) => file,
                Flock::Busy => return Err(LockError::Held),
                Flock::Unsupported(_) => {
                    if created {
                        let _ = fs::remove_file(&path); // no lock, no file left
                    }
                    return Ok(None);
                }
            };
            let same = match (file.metadata(), fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(Some(PrefixLock { _file: file, path }));
            }
        }
        // Replaced under us eight times: runs are racing for this prefix.
        Err(LockError::Held)
    }
}

/// How an exclusive, non-blocking `flock` ended.
pub enum Flock {
    /// Taken, on this handle.
    Held(fs::File),
    /// Another open file holds it.
    Busy,
    /// The file system has no locks (some NFS and Lustre mounts): the
    /// handle, unlocked.
    Unsupported(fs::File),
}

/// Takes an exclusive `flock` on `file` (opened at `path`) without waiting.
/// NFS emulates flock with a byte-range lock, which needs a handle open for
/// writing (EBADF on a read-only one): there the lock is taken on `path`
/// opened for writing, if that is the same file.
pub fn flock_exclusive(file: fs::File, path: &Path) -> io::Result<Flock> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor the caller handed over.
    let lock =
        |f: &fs::File| match unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        };
    let ended = |r: io::Result<()>, f: fs::File| match r {
        Ok(()) => Ok(Flock::Held(f)),
        Err(e) => match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(Flock::Busy),
            Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => Ok(Flock::Unsupported(f)),
            _ => Err(e),
        },
    };
    match lock(&file) {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
            let writable = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)?;
            let id = |m: fs::Metadata| (m.dev(), m.ino());
            if id(writable.metadata()?) != id(file.metadata()?) {
                return Err(io::Error::other("replaced while it was being locked"));
            }
            ended(lock(&writable), writable)
        }
        r => ended(r, file),
    }
}

/// Opens the lock file without blocking or following a symbolic link (a FIFO
/// or a link planted there is refused), read-only when it exists (flock needs
/// no write access, so another user's leftover is usable), created otherwise;
/// says whether it was created.
fn open_lock_file(path: &Path) -> io::Result<(fs::File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = libc::O_NONBLOCK | libc::O_NOFOLLOW;
    let (file, created) = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(f) => (f, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(flags)
                .open(path)?;
            (f, true)
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok((file, created))
}

impl Drop for PrefixLock {
    fn drop(&mut self) {
        // Removed while still locked (`_file`, closed after this, holds the lock).
        let _ = fs::remove_file(&self.path);
    }
}

impl Destination {
    /// Resolves `--output` (or the timestamped default) and checks, before any
    /// work, that the directory exists and, without `--force`, that no report is
    /// there already. Writability is proven by creating the first temporary file.
    pub fn resolve(
        output: Option<&Path>,
        force: bool,
        now: SystemTime,
    ) -> Result<Destination, FileError> {
        if let Some(prefix) = output {
            return Destination::at(prefix.to_path_buf(), force).map_err(|(e, _)| e);
        }
        // The default name is made unique: `-2`, `-3`, … when a report of that
        // name exists or another run (started in the same second) holds it.
        let base = default_prefix(now, std::env::var("SLURM_JOB_ID").ok().as_deref());
        let mut n = 1;
        loop {
            let prefix = match n {
                1 => base.clone(),
                _ => format!("{base}-{n}"),
            };
            match Destination::at(PathBuf::from(prefix), force) {
                Err((_, true)) if n < 100 => n += 1,
                other => return other.map_err(|(e, _)| e),
            }
        }
    }

    /// The report files of `prefix`, checked and locked; the error says whether
    /// another name might do (the files exist, or the prefix is locked).
    fn at(prefix: PathBuf, force: bool) -> Result<Destination, (FileError, bool)> {
        let with_ext = |ext: &str| {
            let mut s = prefix.clone().into_os_string();
            s.push(ext);
            PathBuf::from(s)
        };
        let (h5, json) = (with_ext(".h5"), with_ext(".json"));
        let fatal = |path: &Path, why: &str| (unusable(path, why), false);
        let dir = parent_dir(&h5);
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(fatal(dir, "not a directory")),
            Err(e) => return Err(fatal(dir, &crate::error::one_line(&e))),
        }
        for file in [&h5, &json] {
            if let Some(why) = check_file(file, Access::Replace) {
                return Err(fatal(file, &why));
            }
        }
        let lock = match PrefixLock::take(&h5) {
            Ok(lock) => lock,
            Err(LockError::Held) => {
                let why =
                    "another mcpi run is writing this report now (it holds the prefix's lock)";
                return Err((unusable(&prefix, why), true));
            }
            Err(LockError::Io(e)) => {
                let why = format!(
                    "cannot lock the report prefix: {}",
                    crate::error::one_line(&e)
                );
                return Err(fatal(dir, &why));
            }
        };
        // Under the lock: no run can publish this prefix between here and ours.
        for file in [&h5, &json] {
            if !force && fs::symlink_metadata(file).is_ok() {
                return Err((unusable(file, "exists (use --force to overwrite)"), true));
            }
        }
        Ok(Destination {
            h5,
            json,
            force,
            _lock: lock,
        })
    }
}

/// What mcpi does with a file named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads it (`--resume`, `mcpi study`'s reports): it must exist.
    Read,
    /// Writes it under a temporary name, then moves that over it (reports,
    /// checkpoints, study outputs): it may be absent.
    Replace,
    /// Appends to it in place (a checkpoint's log): it may be absent. It has
    /// no temporary name; its checkpoint's temporary name, which is longer,
    /// proves a name of its length fits.
    Append,
}

/// Why `path` cannot be used for `access`, or `None` when it can: it must be a
/// regular file (through symbolic links) or, to be replaced or appended to,
/// absent, and a name to be replaced must leave room for its temporary name
/// (NAME_MAX).
pub fn check_file(path: &Path, access: Access) -> Option<String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match access {
                Access::Read => Some(crate::error::one_line(&e)),
                Access::Replace => name_too_long(path),
                Access::Append => None,
            };
        }
        Err(e) => return Some(crate::error::one_line(&e)),
        Ok(_) => {}
    }
    let kind = match fs::metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some("is a dangling symbolic link".into())
        }
        Err(e) => return Some(crate::error::one_line(&e)),
    };
    use std::os::unix::fs::FileTypeExt;
    let not_regular = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("is a directory")
    } else if kind.is_fifo() {
        Some("is a FIFO (named pipe), not a regular file")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("is a device, not a regular file")
    } else if kind.is_socket() {
        Some("is a socket, not a regular file")
    } else {
        Some("is not a regular file")
    };
    match not_regular {
        Some(why) => Some(why.into()),
        None if access == Access::Replace => name_too_long(path),
        None => None,
    }
}

/// Whether `path`'s name is too long to have a temporary name beside it.
fn name_too_long(path: &Path) -> Option<String> {
    let name = path.file_name()?.len();
    let longest = temp_prefix(path).len() + 6;
    let max = name_max(parent_dir(path));
    (longest > max).then(|| {
        format!(
            "the file name is too long: {name} bytes, at most {} here (its temporary name adds {})",
            max.saturating_sub(longest - name),
            longest - name
        )
    })
}

/// NAME_MAX of the file system of `dir` (255 when it cannot tell).
fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 255;
    };
    // SAFETY: pathconf reads a NUL-terminated path and returns a limit or -1.
    match unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) } {
        n if n > 0 => n as usize,
        _ => 255,
    }
}

/// `.NAME.tmp-HOST-PID-`: the start of every temporary name for `dest`.
fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}{}-", stale_pattern(&name), std::process::id())
}

/// `.NAME.tmp-HOST-`: temporaries of `name` made on this host.
fn stale_pattern(name: &str) -> String {
    format!(".{name}.tmp-{}-", crate::host::name())
}

/// Removes the temporary files of `dest` left by runs on this host whose
/// process is gone (killed outright), saying so on stderr; another host's, and
/// a live run's, are left alone.
pub fn remove_stale(dest: &Path) {
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let pattern = stale_pattern(&name);
    let Ok(entries) = fs::read_dir(parent_dir(dest)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&pattern) else {
            continue;
        };
        // Exactly PID-XXXXXX: a host whose name extends this one's (node1 and
        // node1-12345) is another host.
        let pid = match rest.split_once('-') {
            Some((pid, tail))
                if tail.len() == 6 && tail.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                pid.parse::<u32>().ok()
            }
            _ => None,
        };
        if let Some(pid) = pid.filter(|&p| !crate::host::process_alive(p)) {
            if fs::remove_file(entry.path()).is_ok() {
                crate::console::eprint_line(&format!(
                    "mcpi: removed {}, a temporary file of a run that ended without cleaning up (pid {pid})",
                    entry.path().display()
                ));
            }
        }
    }
}

/// The report location at `path` is unusable because of `why`.
pub fn unusable(path: &Path, why: &str) -> FileError {
    FileError::Unusable {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Whether `a` and `b` name one file, existing or not: the same name in the
/// same (canonical) directory, or, existing, the same file by another name (a
/// hard or symbolic link).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let canon = |p: &Path| {
        fs::canonicalize(parent_dir(p))
            .map(|d| d.join(p.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let id = |p: &Path| fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    canon(a) == canon(b) || id(a).is_some_and(|x| Some(x) == id(b))
}

/// The directory a file goes in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `mcpi-<UTC yyyymmddThhmmss>`, plus `-<job id>` under Slurm.
pub fn default_prefix(now: SystemTime, slurm_job_id: Option<&str>) -> String {
    let mut prefix = format!("mcpi-{}", crate::clock::compact(now));
    if let Some(id) = slurm_job_id.filter(|id| !id.is_empty()) {
        prefix.push('-');
        prefix.push_str(id);
    }
    prefix
}

/// A file being written under a hidden temporary name next to its destination;
/// removed if dropped before [`Staged::publish`].
#[derive(Debug)]
pub struct Staged {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    /// Creates `.NAME.tmp-HOST-PID-XXXXXX` (a new file, never an existing one)
    /// beside `dest`.
    pub fn new(dest: &Path) -> io::Result<Staged> {
        // Mode 0666 less the umask, as for any new file (tempfile's default is 0600).
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(dest))
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(parent_dir(dest))?;
        Ok(Staged {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary path (for writers that open files by name, like HDF5).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The final path this file is written for.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    fn write_error(&self, source: io::Error) -> FileError {
        FileError::Write {
            path: self.dest.clone(),
            source,
        }
    }

    /// Flushes the temporary file to stable storage (where a full disk may still
    /// show up).
    pub fn sync(&self) -> Result<(), FileError> {
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| self.write_error(e))
    }

    /// Moves the (synced) temporary file to its destination: never replacing an
    /// existing file, or renamed over it when `force`.
    pub fn publish(self, force: bool) -> Result<(), FileError> {
        let dest = self.dest.clone();
        let fail = |source: io::Error| FileError::Write {
            path: dest.clone(),
            source,
        };
        let placed = if force {
            self.tmp.persist(&dest)
        } else {
            match self.tmp.persist_noclobber(&dest) {
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(FileError::Appeared { path: dest });
                }
                // File systems without hard links or RENAME_NOREPLACE: check, then rename.
                Err(e) if fs::symlink_metadata(&dest).is_err() => e.file.persist(&dest),
                other => other,
            }
        };
        placed.map_err(|e| fail(e.error))?;
        if let Ok(dir) = fs::File::open(parent_dir(&dest)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Writes `bytes` under a temporary name for `dest`, to be published.
pub fn stage_bytes(dest: &Path, bytes: &[u8]) -> Result<Staged, FileError> {
    let fail = |source: io::Error| FileError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let mut staged = Staged::new(dest).map_err(fail)?;
    staged.tmp.write_all(bytes).map_err(fail)?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Writes `bytes` to `dest` atomically.
    fn write_atomically(dest: &Path, bytes: &[u8], force: bool) -> Result<(), FileError> {
        let tmp = stage_bytes(dest, bytes)?;
        tmp.sync()?;
        tmp.publish(force)
    }

    #[test]
    fn default_names_are_timestamped() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            default_prefix(at(1_795_307_045), None),
            "mcpi-20261122T002405"
        );
        assert_eq!(
            default_prefix(at(1_795_307_045), Some("4242")),
            "mcpi-20261122T002405-4242"
        );
    }

    #[test]
    fn only_regular_files_or_absent_ones_are_used() {
        let dir = std::env::temp_dir().join(format!("mcpi-check-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        fs::write(&file, b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("gone"), dir.join("dangling")).unwrap();
        assert_eq!(check_file(&file, Access::Read), None);
        assert_eq!(check_file(&file, Access::Replace), None);
        assert_eq!(check_file(&dir.join("new"), Access::Replace), None);
        assert!(check_file(&dir.join("new"), Access::Read).is_some());
        let why = |p: &Path, a| check_file(p, a).unwrap_or_default();
        assert!(why(Path::new("/dev/null"), Access::Replace).contains("device"));
        assert!(why(&dir, Access::Read).contains("directory"));
        assert!(why(&dir.join("dangling"), Access::Replace).contains("dangling"));
        assert!(why(&dir.join("x".repeat(250)), Access::Replace).contains("too long"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn publish_never_clobbers_without_force() {
        let dir = std::env::temp_dir().join(format!("mcpi-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("r.json");
        write_atomically(&dest, b"one", false).unwrap();
        let err = write_atomically(&dest, b"two", false).unwrap_err();
        assert!(err.to_string().contains("r.json"), "{err}");
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        write_atomically(&dest, b"three", true).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"three");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
