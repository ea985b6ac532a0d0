//! The checkpoint file itself, `PATH`: an HDF5 file that rank 0 replaces whole
//! at every checkpoint (temporary name, sync, rename). Format 3 holds the run's
//! configuration, the completed batches as intervals and how much of the log
//! (`PATH.log`) they are in — a few hundred bytes whatever the batches done;
//! formats 1 and 2 held every count in `/done/inside` and are still read.

use std::ops::Range;
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::File;

use super::log::LogSpan;
use super::{FORMAT, FORMAT_VERSION};
use crate::config::Config;
use crate::intervals::Intervals;
use crate::plan::Plan;
use crate::report::hdf5::h5err;
use crate::store::Store;
use crate::stream::STREAM_LAYOUT;

/// A format 1 or 2 checkpoint's counts are read (and checked) this many at a
/// time (4 MiB).
const READ_COUNTS: u64 = 1 << 19;

/// FNV-1a, 64-bit, over little-endian u64 words. Written here rather than taken
/// from a crate: the digest is part of the checkpoint format (version 1), so
/// its exact definition lives beside the format it protects. It covers a
/// manifest's few words; the log's counts have their own checks (XXH3).
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
    /// Format 3's: the configuration, the intervals, the log span, the inside
    /// count and the target.
    fn of_manifest(config: &Config, done: &Intervals, span: &LogSpan, inside: u64) -> u64 {
        let mut d = Digest::start(&config.plan, config.seed, done);
        d.add(&[span.id, span.start, span.end, span.head, inside]);
        match config.target {
            Some(t) => d.add(&[1, t.error.to_bits(), t.confidence.to_bits()]),
            None => d.add(&[0]),
        }
        d.0
    }
}

/// Writes a format-3 manifest to `tmp`: `config`, the `done` batches, whose
/// counts (`inside` in all) are the log `log_name`'s `span`.
pub fn write(
    tmp: &Path,
    config: &Config,
    done: &Intervals,
    (span, inside): (&LogSpan, u64),
    log_name: &str,
) -> Result<(), String> {
    let plan = &config.plan;
    let file = File::create(tmp).map_err(h5err)?;
    {
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
    } // (closed before the file: a close with objects open defers the writes)
    let attrs: [(&str, u64); 13] = [
        ("format_version", FORMAT_VERSION),
        ("seed", config.seed),
        ("samples", plan.samples),
        ("batch_size", plan.batch_size),
        ("batches", plan.batches),
        ("batches_done", done.count()),
        ("samples_done", plan.samples_in_all(done)),
        ("inside", inside),
        ("log_id", span.id),
        ("log_start", span.start),
        ("log_end", span.end),
        ("log_head", span.head),
        ("digest", Digest::of_manifest(config, done, span, inside)),
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
    let text = |s: &str| s.parse::<VarLenUnicode>().expect("plain text");
    for (k, v) in [
        ("format", FORMAT.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("stream_layout", STREAM_LAYOUT.to_string()),
        ("log", log_name.to_string()),
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
    // Written out now, where a full disk shows: the file is synced and
    // renamed into place only after this succeeds.
    file.flush().map_err(h5err)?;
    file.close().map_err(h5err)
}

/// A checkpoint file being checked and read.
pub struct Reader<'a> {
    /// The open HDF5 file.
    pub file: &'a File,
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

    /// Format, version, configuration and stream layout against `config`;
    /// returns the format version.
    pub fn check_header(&self, config: &Config) -> Result<u64, String> {
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
        Ok(format_version)
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
    pub fn done(&self, plan: &Plan) -> Result<Intervals, String> {
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
            return Err("batches_done does not match the completed batches".into());
        }
        Ok(done)
    }

    /// Format 3: the log span holding the counts of `done`, and their inside
    /// count, checked against the manifest's digest.
    pub fn confirmed(&self, config: &Config, done: &Intervals) -> Result<(LogSpan, u64), String> {
        let span = LogSpan {
            id: self.number("log_id")?,
            start: self.number("log_start")?,
            end: self.number("log_end")?,
            head: self.number("log_head")?,
        };
        let inside = self.number("inside")?;
        if Digest::of_manifest(config, done, &span, inside) != self.number("digest")? {
            return Err("its contents do not match their digest".into());
        }
        Ok((span, inside))
    }

    /// Formats 1 and 2: the counts of `done` in `/done/inside`, checked against
    /// their batches and the digest, put into `store`; returns their sum.
    pub fn counts(
        &self,
        config: &Config,
        done: &Intervals,
        store: &mut Store,
    ) -> Result<u64, String> {
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
