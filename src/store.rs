//! Rank 0's store of per-batch counts: the one place every count of the run
//! lands (resumed, its own, the other ranks'), and what checkpoints, the
//! dispersion test and the report's `/batches/inside` read.
//!
//! The counts live in an unnamed temporary file (`tempfile::tempfile_in`: no
//! name, so it is gone when the process ends, however it ends), one
//! native-endian u64 per batch at offset 8·batch (the file is private to this
//! process, so no byte order is fixed), read and written in place through
//! `bytemuck`'s byte views. Rank 0's memory stays bounded at any batch count and
//! the page cache keeps it fast. The job puts it in `$TMPDIR` (node-local on
//! most clusters; RAM where /tmp is a tmpfs): apart from the report's and the
//! checkpoint's file systems, so a full report disk does not stop checkpoints.
//! It needs 8 bytes per batch: 8 KB by default, 800 MB at the 10^8-batch maximum.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::intervals::Intervals;

/// Counts are read back in pieces of at most this many (4 MiB).
pub const READ_CHUNK: u64 = 1 << 19;

/// What reads stored counts: the [`Store`], or a [`StoreReader`] on another
/// thread.
pub trait Counts {
    /// The counts of batches `range`.
    fn get(&self, range: Range<u64>) -> io::Result<Vec<u64>>;

    /// Calls `each(first_batch, counts)` for the counts of `batches`, in batch
    /// order, [`READ_CHUNK`] at most at a time.
    fn for_each_chunk(
        &self,
        batches: &Intervals,
        mut each: impl FnMut(u64, &[u64]) -> io::Result<()>,
    ) -> io::Result<()> {
        for r in batches.ranges() {
            let mut b = r.start;
            while b < r.end {
                let end = r.end.min(b + READ_CHUNK);
                each(b, &self.get(b..end)?)?;
                b = end;
            }
        }
        Ok(())
    }
}

/// The per-batch counts of one run.
pub struct Store {
    file: File,
    /// The directory the file is in, for messages.
    dir: PathBuf,
    batches: u64,
    /// The first write error; later writes are skipped and every read fails.
    failed: Option<io::Error>,
    /// Whether a write failed, for the readers on other threads.
    failed_flag: Arc<AtomicBool>,
    seconds: f64,
}

/// A second handle on a [`Store`]'s file, for another thread (rank 0's
/// checkpoint writer) to read counts already stored while the store takes
/// more: positioned reads and writes of other batches do not interfere. Every
/// read fails once a write to the store has.
pub struct StoreReader {
    file: File,
    dir: PathBuf,
    failed: Arc<AtomicBool>,
}

impl Counts for StoreReader {
    fn get(&self, range: Range<u64>) -> io::Result<Vec<u64>> {
        let mut counts = vec![0u64; (range.end - range.start) as usize];
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(&mut counts), 8 * range.start)?;
        // The flag is read after the data: a failed write of these batches
        // happened before they were handed to this thread, so it shows here.
        if self.failed.load(Ordering::Acquire) {
            return Err(io::Error::other(format!(
                "storing per-batch counts in {} failed",
                self.dir.display()
            )));
        }
        Ok(counts)
    }
}

impl Store {
    /// An empty store for `batches` batches in directory `dir` (a sparse file:
    /// no space is used for batches never written).
    pub fn new(batches: u64, dir: &Path) -> io::Result<Store> {
        let file = tempfile::tempfile_in(dir)?;
        file.set_len(8 * batches)?;
        Ok(Store {
            file,
            dir: dir.to_path_buf(),
            batches,
            failed: None,
            failed_flag: Arc::new(AtomicBool::new(false)),
            seconds: 0.0,
        })
    }

    /// A reader of this store's counts for another thread.
    pub fn reader(&self) -> io::Result<StoreReader> {
        Ok(StoreReader {
            file: self.file.try_clone()?,
            dir: self.dir.clone(),
            failed: Arc::clone(&self.failed_flag),
        })
    }

    /// Stores the counts of batches `first..first + counts.len()`. The first
    /// failure is kept and returned by every later read; the run goes on, so no
    /// rank is left waiting.
    pub fn put(&mut self, first: u64, counts: &[u64]) {
        if self.failed.is_some() || counts.is_empty() {
            return;
        }
        debug_assert!(first + counts.len() as u64 <= self.batches);
        let t = Instant::now();
        if let Err(e) = self
            .file
            .write_all_at(bytemuck::cast_slice(counts), 8 * first)
        {
            let why = format!(
                "storing per-batch counts in {}: {}",
                self.dir.display(),
                crate::error::one_line(&e)
            );
            self.failed = Some(io::Error::new(e.kind(), why));
            self.failed_flag.store(true, Ordering::Release);
        }
        self.seconds += t.elapsed().as_secs_f64();
    }

    /// Seconds spent storing counts.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }
}

impl Counts for Store {
    fn get(&self, range: Range<u64>) -> io::Result<Vec<u64>> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        let mut counts = vec![0u64; (range.end - range.start) as usize];
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(&mut counts), 8 * range.start)?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_back_by_batch_in_chunks() {
        let mut store = Store::new(2 * READ_CHUNK + 10, &std::env::temp_dir()).unwrap();
        let counts: Vec<u64> = (0..READ_CHUNK + 7).map(|i| i * 3 + 1).collect();
        store.put(5, &counts);
        store.put(2 * READ_CHUNK + 9, &[u64::MAX]);
        assert_eq!(store.get(5..8).unwrap(), [1, 4, 7]);
        assert_eq!(store.get(0..2).unwrap(), [0, 0]); // never written
        let done = Intervals::new(vec![
            5..5 + READ_CHUNK + 7,
            2 * READ_CHUNK + 9..2 * READ_CHUNK + 10,
        ]);
        let mut seen = Vec::new();
        let mut pieces = 0;
        store
            .for_each_chunk(&done, |_, c| {
                pieces += 1;
                seen.extend_from_slice(c);
                Ok(())
            })
            .unwrap();
        assert_eq!(pieces, 3);
        assert_eq!(&seen[..counts.len()], &counts[..]);
        assert_eq!(seen.last(), Some(&u64::MAX));
        // A reader on another thread sees the same counts.
        let reader = store.reader().unwrap();
        let got = std::thread::spawn(move || reader.get(5..8).unwrap());
        assert_eq!(got.join().unwrap(), [1, 4, 7]);
    }
}
