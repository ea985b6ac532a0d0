//! Checkpoints: the run's configuration and every completed batch's index and
//! inside count, in an HDF5 file that rank 0 rewrites (temporary name, sync,
//! rename) so the file on disk is always a whole, valid checkpoint.
//!
//! Layout: root attributes `format` ("mcpi checkpoint"), `format_version`,
//! `version` (mcpi), `seed`, `samples`, `batch_size`, `batches`,
//! `stream_layout`, `batches_done`, `samples_done`, `inside`, `digest`,
//! `written_at`, and for a `--target-error` run `target_error` and
//! `confidence` (f64; format version 2); datasets `/done/start` and `/done/end` (the completed batches as
//! half-open intervals, in order) and `/done/inside` (their counts, in batch
//! order). `digest` is FNV-1a over the configuration, the intervals and the
//! counts, so a damaged file is refused rather than resumed.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use hdf5::File;

use crate::config::Config;
use crate::intervals::Intervals;
use crate::plan::Plan;
use crate::report::files::{check_file, Access, Staged};
use crate::report::hdf5::h5err;
use crate::store::Store;
use crate::stream::STREAM_LAYOUT;

/// The `format` attribute of every checkpoint.
pub const FORMAT: &str = "mcpi checkpoint";
/// The layout version this mcpi writes for `--target-error` runs and the
/// newest it reads. Version 2 adds `target_error` and `confidence`; other runs'
/// checkpoints are still version 1, which has neither (read as no target).
pub const FORMAT_VERSION: u64 = 2;

/// A checkpoint's counts are read (and checked) this many at a time (4 MiB).
const READ_COUNTS: u64 = 1 << 19;

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

/// FNV-1a, 64-bit, over little-endian u64 words. Written here rather than taken
/// from a crate: the digest is part of the checkpoint format (version 1), so
/// its exact definition lives beside the format it protects.
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

/// Writes the checkpoint of `config` with `done` batches to `path`, their
/// counts read from `store`: under a temporary name, synced, then renamed over
/// the previous checkpoint.
pub fn save(
    path: &Path,
    config: &Config,
    done: &Intervals,
    store: &Store,
) -> Result<(), CheckpointError> {
    let fail = |why: String| CheckpointError::Write {
        path: path.to_path_buf(),
        why,
    };
    let tmp = Staged::new(path).map_err(|e| fail(crate::error::one_line(&e)))?;
    write_file(tmp.path(), config, done, store).map_err(fail)?;
    let as_checkpoint = |e: crate::report::files::FileError| {
        fail(match std::error::Error::source(&e) {
            Some(s) => crate::error::one_line(s),
            None => e.to_string(),
        })
    };
    tmp.sync().map_err(as_checkpoint)?;
    tmp.publish(true).map_err(as_checkpoint)
}

/// The HDF5 contents of a checkpoint, written to `tmp`.
fn write_file(tmp: &Path, config: &Config, done: &Intervals, store: &Store) -> Result<(), String> {
    let plan = &config.plan;
    let mut digest = Digest::start(plan, config.seed, done);
    let mut inside = 0u64;
    let file = File::create(tmp).map_err(h5err)?;
    let group = file.create_group("done").map_err(h5err)?;
    let column = |name: &str, v: Vec<u64>| {
        group
            .new_dataset::<u64>()
            .shape(v.len())
            .create(name)
            .and_then(|ds| ds.write_raw(&v))
    };
    column("start", done.ranges().iter().map(|r| r.start).collect()).map_err(h5err)?;
    column("end", done.ranges().iter().map(|r| r.end).collect()).map_err(h5err)?;
    let ds = group
        .new_dataset::<u64>()
        .shape(done.count() as usize)
        .create("inside")
        .map_err(h5err)?;
    let mut at = 0usize;
    store
        .for_each_chunk(done, |_, c| {
            digest.add(c);
            inside += c.iter().sum::<u64>();
            ds.write_slice(c, at..at + c.len())
                .map_err(|e| io::Error::other(h5err(e)))?;
            at += c.len();
            Ok(())
        })
        .map_err(|e| crate::error::one_line(&e))?;
    let text = |s: &str| s.parse::<VarLenUnicode>().expect("plain text");
    let attrs: [(&str, u64); 9] = [
        // Version 1 where its layout is enough, so older mcpi still resume it.
        (
            "format_version",
            if config.target.is_some() {
                FORMAT_VERSION
            } else {
                1
            },
        ),
        ("seed", config.seed),
        ("samples", plan.samples),
        ("batch_size", plan.batch_size),
        ("batches", plan.batches),
        ("batches_done", done.count()),
        ("samples_done", plan.samples_in_all(done)),
        ("inside", inside),
        ("digest", digest.0),
    ];
    for (k, v) in attrs {
        file.new_attr::<u64>()
            .create(k)
            .and_then(|a| a.write_scalar(&v))
            .map_err(h5err)?;
    }
    if let Some(t) = config.target {
        for (k, v) in [("target_error", t.error), ("confidence", t.confidence)] {
            file.new_attr::<f64>()
                .create(k)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5err)?;
        }
    }
    for (k, v) in [
        ("format", FORMAT.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("stream_layout", STREAM_LAYOUT.to_string()),
        (
            "written_at",
            crate::clock::iso8601(std::time::SystemTime::now()),
        ),
    ] {
        file.new_attr::<VarLenUnicode>()
            .create(k)
            .and_then(|a| a.write_scalar(&text(&v)))
            .map_err(h5err)?;
    }
    file.close().map_err(h5err)
}

/// Reads the checkpoint at `path` for a resume of `config` (`--resume`), checks
/// it whole, and puts the counts of its completed batches into `store`. Every
/// problem refuses the resume, naming the file.
pub fn load(path: &Path, config: &Config, store: &mut Store) -> Result<Resumed, CheckpointError> {
    let bad = |why: String| CheckpointError::Refused {
        path: path.to_path_buf(),
        why,
    };
    check_path(path)?;
    let file = File::open(path).map_err(|e| bad(format!("unreadable or damaged: {}", h5err(e))))?;
    let reader = Reader { file: &file };
    reader.check_header(config).map_err(bad)?;
    let done = reader
        .done(&config.plan)
        .map_err(|why| bad(format!("damaged: {why}")))?;
    let inside = reader
        .counts(config, &done, store)
        .map_err(|why| bad(format!("damaged: {why}")))?;
    Ok(Resumed { done, inside })
}

/// Refuses a `--resume` path that is not a regular file: a FIFO would block
/// the open, a device is no checkpoint.
pub fn check_path(path: &Path) -> Result<(), CheckpointError> {
    match check_file(path, Access::Read) {
        Some(why) => Err(CheckpointError::Refused {
            path: path.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// A checkpoint file being checked and read.
struct Reader<'a> {
    file: &'a File,
}

impl Reader<'_> {
    fn text(&self, k: &str) -> Result<String, String> {
        self.file
            .attr(k)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(|e| format!("not an mcpi checkpoint (attribute {k}: {})", h5err(e)))
    }

    fn number(&self, k: &str) -> Result<u64, String> {
        self.file
            .attr(k)
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|e| format!("attribute {k}: {}", h5err(e)))
    }

    /// [`Reader::number`], for the header: its failure says the file is damaged.
    fn header_number(&self, k: &str) -> Result<u64, String> {
        self.number(k).map_err(|e| format!("damaged: {e}"))
    }

    /// Format, version, configuration and stream layout against `config`.
    fn check_header(&self, config: &Config) -> Result<(), String> {
        if self.text("format")? != FORMAT {
            return Err("not an mcpi checkpoint (its format attribute says otherwise)".into());
        }
        let format_version = self.header_number("format_version")?;
        if format_version > FORMAT_VERSION {
            return Err(format!(
                "written by a newer mcpi ({}; checkpoint format {format_version}, this mcpi reads up to {FORMAT_VERSION})",
                self.text("version").unwrap_or_default()
            ));
        }
        let plan = &config.plan;
        for (key, flag, want) in [
            ("seed", "--seed", config.seed),
            ("samples", "--samples", plan.samples),
            ("batch_size", "--batch-size", plan.batch_size),
        ] {
            let have = self.header_number(key)?;
            if have != want {
                return Err(format!(
                    "the checkpoint is for {flag} {have}, not {want} (resume with the interrupted run's flags)"
                ));
            }
        }
        self.check_target(config)?;
        let layout = self.text("stream_layout")?;
        if layout != STREAM_LAYOUT {
            return Err(format!(
                "stream layout {layout}, but this mcpi draws {STREAM_LAYOUT}: its counts cannot be continued"
            ));
        }
        Ok(())
    }

    /// Opens `/done/NAME` after checking, before anything is read or
    /// allocated, that it is a 1-D u64 dataset of at most `most` elements (a
    /// size read from a file is never trusted).
    fn column(&self, name: &str, most: u64) -> Result<hdf5::Dataset, String> {
        let path = format!("/done/{name}");
        let ds = self
            .file
            .dataset(&path)
            .map_err(|e| format!("{path}: {}", h5err(e)))?;
        let is_u64 = ds.dtype().is_ok_and(|t| t.is::<u64>());
        if ds.ndim() != 1 || !is_u64 {
            return Err(format!("{path} is not a list of unsigned 64-bit integers"));
        }
        if ds.size() as u64 > most {
            return Err(format!(
                "{path} holds {} values, more than the {most} the configuration allows",
                ds.size()
            ));
        }
        Ok(ds)
    }

    /// The checkpoint's `--target-error` and `--confidence` (none: a run
    /// without a target, or a version-1 checkpoint) against `config`'s.
    fn check_target(&self, config: &Config) -> Result<(), String> {
        let float = |k: &str| -> Result<Option<f64>, String> {
            match self.file.attr(k) {
                Err(_) => Ok(None),
                Ok(a) => a
                    .read_scalar::<f64>()
                    .map(Some)
                    .map_err(|e| format!("damaged: attribute {k}: {}", h5err(e))),
            }
        };
        let have = match (float("target_error")?, float("confidence")?) {
            (Some(error), Some(confidence)) => Some((error, confidence)),
            (None, None) => None,
            _ => return Err("damaged: target_error without confidence, or the reverse".into()),
        };
        let want = config.target.map(|t| (t.error, t.confidence));
        let say = |t: Option<(f64, f64)>| match t {
            Some((e, c)) => format!("--target-error {e:e} --confidence {c}"),
            None => "no --target-error".into(),
        };
        if have != want {
            return Err(format!(
                "the checkpoint is for {}, not {} (resume with the interrupted run's flags)",
                say(have),
                say(want)
            ));
        }
        Ok(())
    }

    /// The completed batches, checked to be ordered and within `plan`.
    fn done(&self, plan: &Plan) -> Result<Intervals, String> {
        // At most one interval per batch (disjoint, non-adjacent: fewer still).
        let column = |name: &str| -> Result<Vec<u64>, String> {
            self.column(name, plan.batches)?
                .read_raw::<u64>()
                .map_err(|e| format!("/done/{name}: {}", h5err(e)))
        };
        let (starts, ends) = (column("start")?, column("end")?);
        if starts.len() != ends.len() {
            return Err("/done/start and /done/end differ in length".into());
        }
        let ranges: Vec<Range<u64>> = starts.iter().zip(&ends).map(|(&s, &e)| s..e).collect();
        let ordered = ranges
            .iter()
            .all(|r| r.start < r.end && r.end <= plan.batches)
            && ranges.windows(2).all(|w| w[0].end < w[1].start);
        if !ordered {
            return Err("completed batches out of order or out of range".into());
        }
        let done = Intervals::new(ranges);
        if self.number("batches_done")? != done.count() {
            return Err("the number of counts does not match the completed batches".into());
        }
        Ok(done)
    }

    /// The counts of `done`, checked against their batches and the digest, put
    /// into `store`; returns their sum.
    fn counts(&self, config: &Config, done: &Intervals, store: &mut Store) -> Result<u64, String> {
        let plan = &config.plan;
        let ds = self.column("inside", done.count())?;
        if ds.size() as u64 != done.count() {
            return Err("the number of counts does not match the completed batches".into());
        }
        let mut digest = Digest::start(plan, config.seed, done);
        let mut inside = 0u64;
        let mut at = 0usize;
        for r in done.ranges() {
            let mut b = r.start;
            while b < r.end {
                let end = r.end.min(b + READ_COUNTS);
                let len = (end - b) as usize;
                let counts: Vec<u64> = ds
                    .read_slice_1d::<u64, _>(at..at + len)
                    .map_err(|e| format!("/done/inside: {}", h5err(e)))?
                    .to_vec();
                if (b..end).zip(&counts).any(|(i, &c)| c > plan.batch_len(i)) {
                    return Err("a count exceeds its batch's samples".into());
                }
                digest.add(&counts);
                inside += counts.iter().sum::<u64>();
                store.put(b, &counts);
                at += len;
                b = end;
            }
        }
        if digest.0 != self.number("digest")? || inside != self.number("inside")? {
            return Err("its contents do not match their digest".into());
        }
        Ok(inside)
    }
}

/// Rank 0's checkpoints during a run: where, how often, when last written.
pub struct Schedule {
    path: PathBuf,
    every: f64,
    last: f64,
    failed: bool,
}

impl Schedule {
    /// Checkpoints to `path` every `every` seconds, counted from `now`.
    pub fn new(path: &Path, every: f64, now: f64) -> Schedule {
        Schedule {
            path: path.to_path_buf(),
            every,
            last: now,
            failed: false,
        }
    }

    /// Whether a checkpoint is due at time `now`.
    pub fn due(&self, now: f64) -> bool {
        now - self.last >= self.every
    }

    /// Writes the checkpoint of `done` (a due one, at time `now`). A failure is
    /// reported once; the previous checkpoint stays as it was and the run goes on.
    pub fn save_due(&mut self, config: &Config, done: &Intervals, store: &Store, now: f64) {
        self.last = now;
        match save(&self.path, config, done, store) {
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

    /// The checkpoint at the end of the run, stopped or complete.
    pub fn save_final(
        &self,
        config: &Config,
        done: &Intervals,
        store: &Store,
    ) -> Result<(), CheckpointError> {
        save(&self.path, config, done, store)
    }
}
