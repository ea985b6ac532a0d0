//! Exit statuses, the usage error every area shares, and the one line an error
//! chain is printed as (once, at the top: `main` or the job's entry).

use std::path::{Path, PathBuf};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: a report could not be written, or another runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: bad command line or output location; nothing was run or written.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the run completed but its verdict is FAIL.
pub const EXIT_VERDICT_FAILED: u8 = 3;
/// Exit status: stopped by a signal before every batch was counted; the partial
/// report (and checkpoint, if asked for) are written (EX_TEMPFAIL: try again).
pub const EXIT_STOPPED: u8 = 75;

/// Something wrong with what the user asked for, found before any work: exit
/// status 2. Every message names the flag, or the file, at fault.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A flag's value, or its combination with others.
    #[error("{flag} {detail}")]
    Flag {
        /// The flag at fault (`--batch-size`).
        flag: &'static str,
        /// What is wrong, continuing the sentence after the flag.
        detail: String,
    },
    /// A file named on the command line (a `mcpi study` input, say).
    #[error("{}: {detail}", path.display())]
    File {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// What clap found, as one line (unknown flag, missing value).
    #[error("{0}")]
    CommandLine(String),
    /// An MPMD launch gave ranks different arguments.
    #[error("ranks were started with different arguments (check the mpirun command)")]
    DifferentArguments,
}

impl UsageError {
    /// A problem with `flag`: `detail` continues the sentence after its name.
    pub fn flag(flag: &'static str, detail: impl Into<String>) -> UsageError {
        UsageError::Flag {
            flag,
            detail: detail.into(),
        }
    }

    /// A problem with the file `path` named on the command line.
    pub fn file(path: &Path, detail: impl Into<String>) -> UsageError {
        UsageError::File {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// An error and its sources as one line, `outer: inner: innermost`, without
/// Rust's `(os error N)` and tempfile's `at path "…"` suffixes (the system's
/// reason is enough for a user, and the message names the file already).
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let line = parts.join(": ");
    strip_os_error(&strip_at_path(&line))
}

/// `Permission denied at path "/d/.x.tmp-Ab12Cd"` → `Permission denied`.
fn strip_at_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" at path \"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 10..];
        rest = match after.find('"') {
            Some(j) => &after[j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// `No space left on device (os error 28)` → `No space left on device`.
fn strip_os_error(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" (os error ") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find(')') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing report r.h5")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chains_read_as_one_line_without_os_error_codes() {
        let io = std::io::Error::from_raw_os_error(28);
        assert_eq!(
            one_line(&Outer(io)),
            "writing report r.h5: No space left on device"
        );
        let tempfile_style = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "Permission denied (os error 13) at path \"/d/.x.tmp-Ab12Cd\"",
        );
        assert_eq!(
            one_line(&Outer(tempfile_style)),
            "writing report r.h5: Permission denied"
        );
        let e = UsageError::flag("--samples", "must be at least 1");
        assert_eq!(one_line(&e), "--samples must be at least 1");
    }
}
