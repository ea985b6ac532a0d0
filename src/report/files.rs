//! Report files on disk: where they go, and how they get there without ever
//! leaving a half-written file under a final name or clobbering an old report.
//!
//! Every file is written under a hidden temporary name in its target directory,
//! synced, then linked into place (refusing an existing file) or, with `--force`,
//! renamed over it. A [`TempFile`] that is dropped before it is published is removed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;

/// Where the report of a run goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// `PREFIX.h5`.
    pub h5: PathBuf,
    /// `PREFIX.json`.
    pub json: PathBuf,
    /// Whether existing files may be replaced.
    pub force: bool,
}

impl Target {
    /// Resolves `--output` (or the timestamped default) and checks, before any
    /// work, that the directory exists and, without `--force`, that no report is
    /// there already. Writability is proven by creating the first temporary file.
    pub fn resolve(output: Option<&Path>, force: bool, now: SystemTime) -> Result<Target, Error> {
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
        let target = Target {
            h5: with_ext(".h5"),
            json: with_ext(".json"),
            force,
        };
        let dir = parent_dir(&target.h5);
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(output_error(dir, "not a directory")),
            Err(e) => return Err(output_error(dir, &io_reason(&e))),
        }
        for file in [&target.h5, &target.json] {
            match fs::metadata(file) {
                Ok(m) if m.is_dir() => return Err(output_error(file, "is a directory")),
                Ok(_) if !force => {
                    return Err(output_error(file, "exists (use --force to overwrite)"))
                }
                _ => {}
            }
        }
        Ok(target)
    }
}

fn output_error(path: &Path, why: &str) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Whether `a` and `b` name one file, existing or not: the same name in the
/// same (canonical) directory.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::canonicalize(dir)
            .map(|d| d.join(p.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    canon(a) == canon(b)
}

/// An I/O error's reason without Rust's "(os error N)" suffix.
pub fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The directory a file goes in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `mcpi-<UTC yyyymmddThhmmss>`, plus `-<job id>` under Slurm.
pub fn default_prefix(now: SystemTime, slurm_job_id: Option<&str>) -> String {
    let (y, mo, d, h, mi, s) = utc(now);
    let mut prefix = format!("mcpi-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}");
    if let Some(id) = slurm_job_id.filter(|id| !id.is_empty()) {
        prefix.push('-');
        prefix.push_str(id);
    }
    prefix
}

/// ISO 8601 UTC time, to the second.
pub fn iso8601(now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc(now);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Civil UTC date and time of `t` (proleptic Gregorian; Howard Hinnant's algorithm).
fn utc(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod % 3600 / 60) as u32,
        (sod % 60) as u32,
    )
}

/// A file being written under a temporary name next to its destination.
#[derive(Debug)]
pub struct TempFile {
    /// The temporary path.
    pub path: PathBuf,
    dest: PathBuf,
    published: bool,
}

impl TempFile {
    /// Reserves a temporary name for `dest` (the file is created by the writer).
    pub fn for_dest(dest: &Path) -> TempFile {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // pid and clock: a stale file of a crashed run cannot collide with ours.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = parent_dir(dest).join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
        TempFile {
            path,
            dest: dest.to_path_buf(),
            published: false,
        }
    }

    /// The final path this file is written for.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the temporary file to stable storage (where a full disk may still
    /// show up).
    pub fn sync(&self) -> Result<(), Error> {
        fs::File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::Write {
                path: self.dest.clone(),
                why: io_reason(&e),
            })
    }

    /// Moves the (synced) temporary file to its destination: linked, so an
    /// existing destination is never replaced, or renamed over it when `force`.
    pub fn place(mut self, force: bool) -> Result<(), Error> {
        let fail = |e: io::Error| Error::Write {
            path: self.dest.clone(),
            why: io_reason(&e),
        };
        if force {
            fs::rename(&self.path, &self.dest).map_err(fail)?;
        } else {
            match fs::hard_link(&self.path, &self.dest) {
                Ok(()) => fs::remove_file(&self.path).map_err(fail)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::Write {
                        path: self.dest.clone(),
                        why: "appeared during the run; not overwritten (use --force)".into(),
                    })
                }
                // File systems without hard links: check, then rename.
                Err(_) if fs::symlink_metadata(&self.dest).is_err() => {
                    fs::rename(&self.path, &self.dest).map_err(fail)?
                }
                Err(e) => return Err(fail(e)),
            }
        }
        self.published = true;
        if let Ok(dir) = fs::File::open(parent_dir(&self.dest)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` under a temporary name for `dest`, to be published.
pub fn write_temp(dest: &Path, bytes: &[u8]) -> Result<TempFile, Error> {
    let tmp = TempFile::for_dest(dest);
    let fail = |e: io::Error| Error::Write {
        path: dest.to_path_buf(),
        why: io_reason(&e),
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp.path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` to `dest` atomically.
    fn write_atomically(dest: &Path, bytes: &[u8], force: bool) -> Result<(), Error> {
        let tmp = write_temp(dest, bytes)?;
        tmp.sync()?;
        tmp.place(force)
    }
    use std::time::Duration;

    #[test]
    fn utc_civil_dates() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(iso8601(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(at(1_795_307_045)), "2026-11-22T00:24:05Z");
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
