//! Report files on disk: where they go, and how they get there without ever
//! leaving a half-written file under a final name or clobbering an old report.
//!
//! Every file is written under a hidden temporary name in its target directory
//! (`tempfile`: created new, removed if dropped unpublished), synced, then
//! moved into place without replacing an existing file
//! (`persist_noclobber`) or, with `--force`, renamed over it; the directory is
//! synced after the move.

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

/// Where the report of a run goes.
#[derive(Clone, Debug)]
pub struct Destination {
    /// `PREFIX.h5`.
    pub h5: PathBuf,
    /// `PREFIX.json`.
    pub json: PathBuf,
    /// Whether existing files may be replaced.
    pub force: bool,
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
        let prefix = match output {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from(default_prefix(
                now,
                std::env::var("SLURM_JOB_ID").ok().as_deref(),
            )),
        };
        let with_ext = |ext: &str| {
            let mut s = prefix.clone().into_os_string();
            s.push(ext);
            PathBuf::from(s)
        };
        let dest = Destination {
            h5: with_ext(".h5"),
            json: with_ext(".json"),
            force,
        };
        let dir = parent_dir(&dest.h5);
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(unusable(dir, "not a directory")),
            Err(e) => return Err(unusable(dir, &crate::error::one_line(&e))),
        }
        for file in [&dest.h5, &dest.json] {
            match fs::metadata(file) {
                Ok(m) if m.is_dir() => return Err(unusable(file, "is a directory")),
                Ok(_) if !force => return Err(unusable(file, "exists (use --force to overwrite)")),
                _ => {}
            }
        }
        Ok(dest)
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
/// same (canonical) directory.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        fs::canonicalize(parent_dir(p))
            .map(|d| d.join(p.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    canon(a) == canon(b)
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
    /// Creates `.NAME.tmp-XXXXXX` (a new file, never an existing one) beside `dest`.
    pub fn new(dest: &Path) -> io::Result<Staged> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Mode 0666 less the umask, as for any new file (tempfile's default is 0600).
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
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
