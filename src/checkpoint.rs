//! Checkpoints: the run's configuration and every completed batch's index and
//! inside count, in an HDF5 file that rank 0 rewrites (temporary name, sync,
//! rename) so the file on disk is always a whole, valid checkpoint.
//!
//! Layout: root attributes `format` ("mcpi checkpoint"), `format_version`,
//! `version` (mcpi), `seed`, `samples`, `batch_size`, `batches`,
//! `stream_layout`, `batches_done`, `samples_done`, `inside`, `digest`,
//! `written_at`; datasets `/done/start` and `/done/end` (the completed batches as
//! half-open intervals, in order) and `/done/inside` (their counts, in batch
//! order). `digest` is FNV-1a over the configuration, the intervals and the
//! counts, so a damaged file is refused rather than resumed.

use std::ops::Range;
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::File;

use crate::cli::Config;
use crate::comm::CHUNK;
use crate::error::Error;
use crate::plan::Plan;
use crate::report::files::{iso8601, TempFile};
use crate::report::hdf5::h5err;
use crate::stream::STREAM_LAYOUT;
use crate::work::Intervals;

/// The `format` attribute of every checkpoint.
pub const FORMAT: &str = "mcpi checkpoint";
/// The layout version this mcpi writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

/// FNV-1a, 64-bit, over little-endian u64 words.
struct Digest(u64);

impl Digest {
    fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }
    fn add(&mut self, words: &[u64]) {
        for w in words {
            for byte in w.to_le_bytes() {
                self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    fn start(plan: &Plan, seed: u64, done: &Intervals) -> Digest {
        let mut d = Digest::new();
        d.add(&[seed, plan.samples, plan.batch_size]);
        for r in done.ranges() {
            d.add(&[r.start, r.end]);
        }
        d
    }
}

/// A checkpoint read back: the completed batches and their total inside count.
#[derive(Clone, Debug)]
pub struct Resumed {
    /// Completed batches.
    pub done: Intervals,
    /// Their inside count.
    pub inside: u64,
}

/// Writes the checkpoint of `config` with `done` batches to `path`;
/// `counts(range)` gives the counts of a range of done batches.
pub fn save(
    path: &Path,
    config: &Config,
    done: &Intervals,
    mut counts: impl FnMut(Range<u64>) -> Result<Vec<u64>, String>,
) -> Result<(), Error> {
    let fail = |why: String| Error::Checkpoint {
        path: path.to_path_buf(),
        why,
    };
    let tmp = TempFile::for_dest(path);
    let plan = &config.plan;
    let mut digest = Digest::start(plan, config.seed, done);
    let mut inside = 0u64;
    {
        let file = File::create(&tmp.path).map_err(|e| fail(h5err(e)))?;
        let h5 = |e: hdf5::Error| fail(h5err(e));
        let group = file.create_group("done").map_err(h5)?;
        let column = |name: &str, v: Vec<u64>| {
            group
                .new_dataset::<u64>()
                .shape(v.len())
                .create(name)
                .and_then(|ds| ds.write_raw(&v))
        };
        column("start", done.ranges().iter().map(|r| r.start).collect()).map_err(h5)?;
        column("end", done.ranges().iter().map(|r| r.end).collect()).map_err(h5)?;
        let ds = group
            .new_dataset::<u64>()
            .shape(done.count() as usize)
            .create("inside")
            .map_err(h5)?;
        let mut at = 0usize;
        for r in done.ranges() {
            let mut b = r.start;
            while b < r.end {
                let end = r.end.min(b + CHUNK as u64);
                let c = counts(b..end).map_err(fail)?;
                if c.len() as u64 != end - b {
                    return Err(fail(format!("{} counts for {} batches", c.len(), end - b)));
                }
                digest.add(&c);
                inside += c.iter().sum::<u64>();
                ds.write_slice(&c, at..at + c.len()).map_err(h5)?;
                at += c.len();
                b = end;
            }
        }
        let text = |s: &str| s.parse::<VarLenUnicode>().expect("plain text");
        let attrs: [(&str, u64); 8] = [
            ("format_version", FORMAT_VERSION),
            ("seed", config.seed),
            ("samples", plan.samples),
            ("batch_size", plan.batch_size),
            ("batches", plan.batches),
            ("batches_done", done.count()),
            (
                "samples_done",
                done.ranges()
                    .iter()
                    .map(|r| plan.samples_in(r.clone()))
                    .sum(),
            ),
            ("inside", inside),
        ];
        for (k, v) in attrs {
            file.new_attr::<u64>()
                .create(k)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5)?;
        }
        file.new_attr::<u64>()
            .create("digest")
            .and_then(|a| a.write_scalar(&digest.0))
            .map_err(h5)?;
        for (k, v) in [
            ("format", FORMAT.to_string()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("stream_layout", STREAM_LAYOUT.to_string()),
            ("written_at", iso8601(std::time::SystemTime::now())),
        ] {
            file.new_attr::<VarLenUnicode>()
                .create(k)
                .and_then(|a| a.write_scalar(&text(&v)))
                .map_err(h5)?;
        }
        file.close().map_err(h5)?;
    }
    let as_checkpoint = |e: Error| match e {
        Error::Write { why, .. } => fail(why),
        other => other,
    };
    tmp.sync().map_err(as_checkpoint)?;
    tmp.place(true).map_err(as_checkpoint)
}

/// Reads the checkpoint at `path` for a resume of `config` (`--resume`), checks
/// it whole, and hands the counts of its completed batches to
/// `sink(first_batch, counts)`. Every problem is a usage error naming the file.
pub fn load(
    path: &Path,
    config: &Config,
    mut sink: impl FnMut(u64, &[u64]),
) -> Result<Resumed, Error> {
    let bad = |why: String| Error::Usage(format!("--resume {}: {why}", path.display()));
    let not_ours = |why: String| bad(format!("not an mcpi checkpoint ({why})"));
    if let Err(e) = std::fs::metadata(path) {
        return Err(bad(crate::report::files::io_reason(&e)));
    }
    let file = File::open(path).map_err(|e| bad(format!("unreadable or damaged: {}", h5err(e))))?;
    let text = |k: &str| -> Result<String, Error> {
        file.attr(k)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(|e| not_ours(format!("attribute {k}: {}", h5err(e))))
    };
    let number = |k: &str| -> Result<u64, Error> {
        file.attr(k)
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|e| bad(format!("damaged: attribute {k}: {}", h5err(e))))
    };
    if text("format")? != FORMAT {
        return Err(not_ours("its format attribute says otherwise".into()));
    }
    let format_version = number("format_version")?;
    if format_version > FORMAT_VERSION {
        return Err(bad(format!(
            "written by a newer mcpi ({}; checkpoint format {format_version}, this mcpi reads up to {FORMAT_VERSION})",
            text("version").unwrap_or_default()
        )));
    }
    let plan = &config.plan;
    for (key, flag, want) in [
        ("seed", "--seed", config.seed),
        ("samples", "--samples", plan.samples),
        ("batch_size", "--batch-size", plan.batch_size),
    ] {
        let have = number(key)?;
        if have != want {
            return Err(bad(format!(
                "the checkpoint is for {flag} {have}, not {want} (resume with the interrupted run's flags)"
            )));
        }
    }
    let layout = text("stream_layout")?;
    if layout != STREAM_LAYOUT {
        return Err(bad(format!(
            "stream layout {layout}, but this mcpi draws {STREAM_LAYOUT}: its counts cannot be continued"
        )));
    }
    let damaged = |why: &str| bad(format!("damaged: {why}"));
    let column = |name: &str| -> Result<Vec<u64>, Error> {
        file.dataset(&format!("done/{name}"))
            .and_then(|d| d.read_raw::<u64>())
            .map_err(|e| damaged(&format!("/done/{name}: {}", h5err(e))))
    };
    let (starts, ends) = (column("start")?, column("end")?);
    if starts.len() != ends.len() {
        return Err(damaged("/done/start and /done/end differ in length"));
    }
    let ranges: Vec<Range<u64>> = starts.iter().zip(&ends).map(|(&s, &e)| s..e).collect();
    let ordered = ranges
        .iter()
        .all(|r| r.start < r.end && r.end <= plan.batches)
        && ranges.windows(2).all(|w| w[0].end < w[1].start);
    if !ordered {
        return Err(damaged("completed batches out of order or out of range"));
    }
    let done = Intervals::new(ranges);
    let ds = file
        .dataset("done/inside")
        .map_err(|e| damaged(&format!("/done/inside: {}", h5err(e))))?;
    if ds.size() as u64 != done.count() || number("batches_done")? != done.count() {
        return Err(damaged(
            "the number of counts does not match the completed batches",
        ));
    }
    let mut digest = Digest::start(plan, config.seed, &done);
    let mut inside = 0u64;
    let mut at = 0usize;
    for r in done.ranges() {
        let mut b = r.start;
        while b < r.end {
            let end = r.end.min(b + CHUNK as u64);
            let len = (end - b) as usize;
            let counts: Vec<u64> = ds
                .read_slice_1d::<u64, _>(at..at + len)
                .map_err(|e| damaged(&format!("/done/inside: {}", h5err(e))))?
                .to_vec();
            if (b..end).zip(&counts).any(|(i, &c)| c > plan.batch_len(i)) {
                return Err(damaged("a count exceeds its batch's samples"));
            }
            digest.add(&counts);
            inside += counts.iter().sum::<u64>();
            sink(b, &counts);
            at += len;
            b = end;
        }
    }
    if digest.0 != number("digest")? || inside != number("inside")? {
        return Err(damaged("its contents do not match their digest"));
    }
    Ok(Resumed { done, inside })
}
