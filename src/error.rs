//! The library's errors and the exit status each one maps to.

use std::path::PathBuf;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad flag or flag combination; the message names the flag.
    #[error("{0}")]
    Usage(String),
    /// The report cannot be written where `--output` points; found before any work.
    #[error("--output: {path}: {why}")]
    Output {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Writing a report file failed after the run (disk full, I/O error).
    #[error("writing report {path}: {why}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        why: String,
    },
    /// Writing a checkpoint failed (the previous one, if any, is intact).
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The underlying error.
        why: String,
    },
    /// MPI could not be initialised.
    #[error("MPI initialisation failed (was MPI already initialised?)")]
    MpiInit,
}

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

impl Error {
    /// The process exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Output { .. } => EXIT_USAGE,
            Error::Write { .. } | Error::Checkpoint { .. } | Error::MpiInit => EXIT_FAILURE,
        }
    }
}
