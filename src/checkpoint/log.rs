//! The checkpoint's log, `PATH.log`: an append-only file of records, each
//! checksummed and chained to the one before, that holds the per-batch counts
//! of the checkpoint `PATH` (its manifest) names. A checkpoint appends the
//! counts done since the previous one and syncs them; only then does the
//! manifest that confirms them replace the previous one. Bytes past the end a
//! manifest confirms belong to no checkpoint: a run that continues the
//! generation writes over them.
//!
//! Every word is a little-endian u64. A *generation* (one run's checkpoints,
//! continued by every resume of it) starts with a header record and goes on
//! with count records:
//!
//! ```text
//! header:  "mcpi log"  id  seed  samples  batch_size               check
//! counts:  "mcpi cnt"  first  n  count[first] … count[first+n-1]   check
//! ```
//!
//! `check` is XXH3-64 of the record's bytes before it, seeded with the
//! previous record's `check` (0 for the header), so the last record's check
//! (the *head*) vouches for the whole generation. `id` is drawn at random when
//! a generation starts, so a log that belongs to another checkpoint is told
//! apart. A new generation (`--force` over a checkpoint, another
//! `--checkpoint` than the one resumed) starts after whatever the file already
//! holds: the checkpoint on disk still names those bytes until the new
//! manifest replaces it. Then they are released (a hole punched where the file
//! system can). A log no manifest names (none at `PATH`, or one of format 1 or
//! 2) is a leftover, written over from its first byte.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::intervals::Intervals;
use crate::plan::Plan;
use crate::store::Counts;

/// The first word of a header record.
const HEADER: u64 = u64::from_le_bytes(*b"mcpi log");
/// The first word of a count record.
const COUNTS: u64 = u64::from_le_bytes(*b"mcpi cnt");
/// Words of a header record, its check included.
const HEADER_WORDS: usize = 6;
/// Counts in one record, at most (4 MiB), so a resume reads the log a record
/// at a time in bounded memory. Part of the format: a log with longer records
/// is refused.
pub const RECORD_COUNTS: u64 = 1 << 19;
/// Records are written out once this many words are buffered.
const WRITE_WORDS: usize = RECORD_COUNTS as usize;

/// One generation of a log as a manifest confirms it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSpan {
    /// The generation's random id (in its header record).
    pub id: u64,
    /// The byte its header record starts at.
    pub start: u64,
    /// The byte after its last confirmed record.
    pub end: u64,
    /// The check of its last confirmed record.
    pub head: u64,
}

/// The header record's words before its check: the generation's id and the
/// run it counts.
pub fn header(id: u64, plan: &Plan, seed: u64) -> [u64; HEADER_WORDS - 1] {
    [HEADER, id, seed, plan.samples, plan.batch_size]
}

/// The check of a record whose words before the check are `words` (as stored:
/// little-endian), chained to the previous record's `prev`.
fn check(words: &[u64], prev: u64) -> u64 {
    xxh3_64_with_seed(bytemuck::cast_slice(words), prev)
}

/// Records being buffered and written from a byte of a log.
struct Records<'a> {
    file: &'a File,
    buf: Vec<u64>,
    at: u64,
    head: u64,
}

impl Records<'_> {
    /// Buffers a record of `words` (native values), then its check.
    fn push(&mut self, words: impl IntoIterator<Item = u64>) -> io::Result<()> {
        let from = self.buf.len();
        self.buf.extend(words.into_iter().map(u64::to_le));
        self.head = check(&self.buf[from..], self.head);
        self.buf.push(self.head.to_le());
        if self.buf.len() >= WRITE_WORDS {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> io::Result<()> {
        self.file
            .write_all_at(bytemuck::cast_slice(&self.buf), self.at)?;
        self.at += 8 * self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// What an append left: the new end and head, and the inside count of the
/// batches appended.
pub struct Appended {
    /// The byte after the last record written.
    pub end: u64,
    /// The last record's check.
    pub head: u64,
    /// The inside count of the batches appended.
    pub inside: u64,
}

/// Appends to the log `file`, from byte `at` (with `head` the check there), a
/// header record when `header` is given and then the counts of `batches` from
/// `store` (a record per chunk of at most [`RECORD_COUNTS`]), and syncs the
/// file's data. Whatever the file held from `at` on is cut off first.
pub fn append(
    file: &File,
    (at, head): (u64, u64),
    header: Option<[u64; HEADER_WORDS - 1]>,
    batches: &Intervals,
    store: &impl Counts,
) -> io::Result<Appended> {
    file.set_len(at)?;
    let mut records = Records {
        file,
        buf: Vec::new(),
        at,
        head,
    };
    if let Some(h) = header {
        records.push(h)?;
    }
    let mut inside = 0u64;
    store.for_each_chunk(batches, |first, counts| {
        inside += counts.iter().sum::<u64>();
        for (k, part) in counts.chunks(RECORD_COUNTS as usize).enumerate() {
            let first = first + k as u64 * RECORD_COUNTS;
            let head = [COUNTS, first, part.len() as u64];
            records.push(head.into_iter().chain(part.iter().copied()))?;
        }
        Ok(())
    })?;
    records.write()?;
    file.sync_data()?;
    Ok(Appended {
        end: records.at,
        head: records.head,
        inside,
    })
}

/// Reads one generation of the log `file`: `span` as the manifest confirms it,
/// whose header must be `header`, in a plan of `batches` batches. Checks every
/// record's check and the chain's end against `span.head`, and calls
/// `each(batches, counts)` for each count record in file order. Returns how
/// many bytes follow the confirmed end (a tail no checkpoint confirms).
pub fn read(
    file: &File,
    span: &LogSpan,
    header: [u64; HEADER_WORDS - 1],
    batches: u64,
    mut each: impl FnMut(Range<u64>, &[u64]) -> Result<(), String>,
) -> Result<u64, String> {
    let len = file
        .metadata()
        .map_err(|e| crate::error::one_line(&e))?
        .len();
    if len < span.end {
        return Err(format!(
            "it holds {len} bytes, fewer than the {} its checkpoint confirms (truncated?)",
            span.end
        ));
    }
    let read_at = |buf: &mut [u64], at: u64, what: &str| {
        file.read_exact_at(bytemuck::cast_slice_mut(buf), at)
            .map_err(|e| format!("{what} at byte {at}: {}", crate::error::one_line(&e)))
    };
    let words_left = |at: u64| (span.end - at) / 8;
    // The header.
    if span.start > span.end || words_left(span.start) < HEADER_WORDS as u64 {
        return Err("its checkpoint confirms no header record".into());
    }
    let mut buf = vec![0u64; HEADER_WORDS];
    read_at(&mut buf, span.start, "header")?;
    let found: Vec<u64> = buf.iter().map(|&w| u64::from_le(w)).collect();
    if found[0] != HEADER {
        return Err(format!("no header record at byte {}", span.start));
    }
    let mut head = check(&buf[..HEADER_WORDS - 1], 0);
    if u64::from_le(buf[HEADER_WORDS - 1]) != head {
        return Err(format!(
            "the header record at byte {} fails its check",
            span.start
        ));
    }
    if found[..HEADER_WORDS - 1] != header {
        return Err(
            "it is the log of another checkpoint (its header names another run or generation)"
                .into(),
        );
    }
    // The count records.
    let mut at = span.start + 8 * HEADER_WORDS as u64;
    while at < span.end {
        if words_left(at) < 4 {
            return Err(format!("a record at byte {at} runs past the confirmed end"));
        }
        let mut words3 = [0u64; 3];
        read_at(&mut words3, at, "record")?;
        let [tag, first, n] = words3.map(u64::from_le);
        if tag != COUNTS {
            return Err(format!("no count record at byte {at}"));
        }
        if !(1..=RECORD_COUNTS).contains(&n) {
            return Err(format!(
                "the record at byte {at} holds {n} counts (1 to {RECORD_COUNTS} allowed)"
            ));
        }
        let Some(end) = first.checked_add(n).filter(|&e| e <= batches) else {
            return Err(format!(
                "the record at byte {at} names batches {first} + {n}, outside the run's {batches}"
            ));
        };
        let words = 3 + n as usize + 1;
        if words_left(at) < words as u64 {
            return Err(format!("a record at byte {at} runs past the confirmed end"));
        }
        buf.resize(words, 0);
        read_at(&mut buf, at, "record")?;
        head = check(&buf[..words - 1], head);
        if u64::from_le(buf[words - 1]) != head {
            return Err(format!("the record at byte {at} fails its check"));
        }
        let counts = &mut buf[3..words - 1];
        counts.iter_mut().for_each(|w| *w = u64::from_le(*w));
        each(first..end, counts)?;
        at += 8 * words as u64;
    }
    if at != span.end || head != span.head {
        return Err("its records do not end where, or as, its checkpoint confirms".into());
    }
    Ok(len - span.end)
}

/// Releases the first `len` bytes of the log `file` (older generations no
/// manifest names any more): a hole punched where the file system can; left
/// as they are elsewhere.
pub fn release(file: &File, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        let flags = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        let len = libc::off_t::try_from(len).unwrap_or(libc::off_t::MAX);
        // SAFETY: fallocate on a descriptor the caller holds open; a failure
        // (a file system without holes) leaves the bytes as they were.
        unsafe { libc::fallocate(file.as_raw_fd(), flags, 0, len) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, len);
}

/// Whether `file` is empty or begins with a header record or a released
/// (zeroed) older generation: a log mcpi wrote (the file at a checkpoint's
/// log path may be anything).
pub fn is_log(file: &File) -> io::Result<bool> {
    let mut b = [0u8; 8];
    match file.read_exact_at(&mut b, 0) {
        // (Zeros: an older generation released, a hole punched.)
        Ok(()) => Ok(matches!(u64::from_le_bytes(b), HEADER | 0)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(file.metadata()?.len() == 0),
        Err(e) => Err(e),
    }
}

/// Writes a generation of `records` (first batch, counts), each with its
/// check, from byte 0 of `file`; returns its span. For tests that need a log
/// whose checks pass but whose contents are wrong.
#[cfg(test)]
pub(super) fn write_raw(
    file: &File,
    header: [u64; HEADER_WORDS - 1],
    records: &[(u64, Vec<u64>)],
) -> LogSpan {
    let mut r = Records {
        file,
        buf: Vec::new(),
        at: 0,
        head: 0,
    };
    r.push(header).unwrap();
    for (first, counts) in records {
        let head = [COUNTS, *first, counts.len() as u64];
        r.push(head.into_iter().chain(counts.iter().copied()))
            .unwrap();
    }
    r.write().unwrap();
    LogSpan {
        id: header[1],
        start: 0,
        end: r.at,
        head: r.head,
    }
}
