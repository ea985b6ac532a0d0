//! The HDF5 view of a [`Report`]: the report's scalars as attributes of the root
//! group (named as the JSON keys; nested objects flattened with `_`), datasets
//! `/batches/inside`, `/done/{start,end}` (the batches counted, as intervals),
//! `/hosts/{name,rank_count,cpus,samples,compute_seconds_max,samples_per_second}`
//! and `/ranks/{compute_seconds,first_batch,batch_count,cpus,samples,host,kernel}`.
//!
//! The writer is opened before the run, so per-batch counts stream into the file
//! in chunks and rank 0's memory stays bounded however many batches there are.

use std::path::Path;
use std::time::Instant;

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, File, Group, H5Type};
use serde_json::Value;

use super::files::{io_reason, TempFile};
use super::Report;
use crate::error::Error;

/// An HDF5 report being written under its temporary name.
pub struct Hdf5Writer {
    // Field order matters: handles close before the temporary file is removed.
    inside: Option<Dataset>,
    file: Option<File>,
    tmp: TempFile,
    failed: Option<String>,
    seconds: f64,
}

/// HDF5's error as one line: the system's reason when it gives one (`No space
/// left on device`), else the first line of its message.
pub(crate) fn h5err(e: hdf5::Error) -> String {
    let text = e.to_string();
    if let Some(start) = text.find("error message = '") {
        let rest = &text[start + 17..];
        if let Some(end) = rest.find('\'') {
            return rest[..end].to_string();
        }
    }
    text.lines().next().unwrap_or("HDF5 error").to_string()
}

impl Hdf5Writer {
    /// Creates the temporary file for `dest` with room for `batches` counts. A
    /// failure here means the output location is unusable: a usage error.
    pub fn create(dest: &Path, batches: u64) -> Result<Hdf5Writer, Error> {
        let tmp = TempFile::for_dest(dest);
        let dir = tmp.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let unusable = |why: String| Error::Output {
            path: dir.clone(),
            why,
        };
        // Create it with std first: its error says why the directory is unusable.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp.path)
            .map_err(|e| unusable(format!("cannot create files here: {}", io_reason(&e))))?;
        let file = File::create(&tmp.path).map_err(|e| unusable(h5err(e)))?;
        let inside = file
            .create_group("batches")
            .and_then(|g| {
                g.new_dataset::<u64>()
                    .shape(batches as usize)
                    .create("inside")
            })
            .map_err(|e| unusable(h5err(e)))?;
        Ok(Hdf5Writer {
            inside: Some(inside),
            file: Some(file),
            tmp,
            failed: None,
            seconds: 0.0,
        })
    }

    /// Writes the counts of batches `first..first + counts.len()`. The first
    /// failure is kept and reported by [`Hdf5Writer::finish`]; the run goes on, so
    /// no rank is left waiting.
    pub fn write_batches(&mut self, first: u64, counts: &[u64]) {
        if self.failed.is_some() || counts.is_empty() {
            return;
        }
        let t = Instant::now();
        let first = first as usize;
        let ds = self.inside.as_ref().expect("open until finish");
        if let Err(e) = ds.write_slice(counts, first..first + counts.len()) {
            self.failed = Some(h5err(e));
        }
        self.seconds += t.elapsed().as_secs_f64();
    }

    /// Reads back the counts of batches `range`, as written so far (for a
    /// checkpoint).
    pub fn read_batches(&self, range: std::ops::Range<u64>) -> Result<Vec<u64>, String> {
        if let Some(why) = &self.failed {
            return Err(format!("the report file failed earlier: {why}"));
        }
        let ds = self.inside.as_ref().expect("open until finish");
        ds.read_slice_1d::<u64, _>(range.start as usize..range.end as usize)
            .map(|a| a.to_vec())
            .map_err(h5err)
    }

    /// Seconds spent in [`Hdf5Writer::write_batches`].
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Writes the report's attributes and per-rank datasets and closes the file,
    /// still under its temporary name. On failure the temporary file is removed.
    pub fn finish(mut self, report: &Report) -> Result<TempFile, Error> {
        let fail = |why: String| Error::Write {
            path: self.tmp.dest().to_path_buf(),
            why,
        };
        if let Some(why) = self.failed.take() {
            return Err(fail(why));
        }
        self.inside.take();
        let file = self.file.take().expect("open until finish");
        write_report(&file, report).map_err(|e| fail(h5err(e)))?;
        file.flush().map_err(|e| fail(h5err(e)))?;
        file.close().map_err(|e| fail(h5err(e)))?;
        Ok(self.tmp)
    }
}

fn write_report(file: &File, r: &Report) -> hdf5::Result<()> {
    let json = serde_json::to_value(r).expect("a report always serializes");
    if let Value::Object(map) = &json {
        // per_host is a table: the /hosts group below.
        for (key, value) in map.iter().filter(|(k, _)| *k != "per_host") {
            write_attr(file, key, value)?;
        }
    }
    let done = file.create_group("done")?;
    let ranges = r.done.ranges();
    dataset(
        &done,
        "start",
        &ranges.iter().map(|x| x.start).collect::<Vec<u64>>(),
    )?;
    dataset(
        &done,
        "end",
        &ranges.iter().map(|x| x.end).collect::<Vec<u64>>(),
    )?;
    let hosts = file.create_group("hosts")?;
    let h = &r.per_host;
    dataset(&hosts, "name", &strings(h.iter().map(|x| x.host.as_str())))?;
    dataset(
        &hosts,
        "rank_count",
        &h.iter().map(|x| x.ranks.len() as u64).collect::<Vec<u64>>(),
    )?;
    dataset(
        &hosts,
        "cpus",
        &h.iter().map(|x| x.cpus).collect::<Vec<u64>>(),
    )?;
    dataset(
        &hosts,
        "samples",
        &h.iter().map(|x| x.samples).collect::<Vec<u64>>(),
    )?;
    dataset(
        &hosts,
        "compute_seconds_max",
        &h.iter()
            .map(|x| x.compute_seconds.max)
            .collect::<Vec<f64>>(),
    )?;
    dataset(
        &hosts,
        "samples_per_second",
        &h.iter().map(|x| x.samples_per_second).collect::<Vec<f64>>(),
    )?;
    let ranks = file.create_group("ranks")?;
    let col =
        |f: &dyn Fn(&super::RankFigures) -> u64| r.per_rank.iter().map(f).collect::<Vec<u64>>();
    dataset(
        &ranks,
        "compute_seconds",
        &r.per_rank
            .iter()
            .map(|x| x.compute_seconds)
            .collect::<Vec<f64>>(),
    )?;
    dataset(&ranks, "first_batch", &col(&|x| x.first_batch))?;
    dataset(&ranks, "batch_count", &col(&|x| x.batch_count))?;
    dataset(&ranks, "cpus", &col(&|x| x.cpus))?;
    dataset(&ranks, "samples", &col(&|x| x.samples))?;
    dataset(
        &ranks,
        "host",
        &strings(r.per_rank.iter().map(|x| x.host.as_str())),
    )?;
    dataset(
        &ranks,
        "kernel",
        &strings(r.per_rank.iter().map(|x| x.kernel.as_str())),
    )?;
    Ok(())
}

fn dataset<T: H5Type>(group: &Group, name: &str, data: &[T]) -> hdf5::Result<()> {
    group
        .new_dataset::<T>()
        .shape(data.len())
        .create(name)?
        .write_raw(data)
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Vec<VarLenUnicode> {
    items
        .map(|s| s.parse().expect("VarLenUnicode parses any str"))
        .collect()
}

/// One JSON value as an attribute: integers as u64/i64, other numbers (and
/// `null`, a non-finite float) as f64, strings, booleans, arrays of numbers or
/// strings; objects become `key_subkey` attributes.
fn write_attr(loc: &Group, key: &str, value: &Value) -> hdf5::Result<()> {
    fn scalar<T: H5Type>(loc: &Group, key: &str, v: T) -> hdf5::Result<()> {
        loc.new_attr::<T>().create(key)?.write_scalar(&v)
    }
    match value {
        Value::Bool(b) => scalar(loc, key, *b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => scalar(loc, key, u),
            (None, Some(i)) => scalar(loc, key, i),
            _ => scalar(loc, key, n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Null => scalar(loc, key, f64::NAN),
        Value::String(s) => scalar(loc, key, strings(std::iter::once(s.as_str())).remove(0)),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let v = strings(items.iter().filter_map(Value::as_str));
            loc.new_attr::<VarLenUnicode>()
                .shape(v.len())
                .create(key)?
                .write_raw(&v)
        }
        Value::Array(items) => {
            let v: Vec<f64> = items
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect();
            loc.new_attr::<f64>()
                .shape(v.len())
                .create(key)?
                .write_raw(&v)
        }
        Value::Object(map) => {
            for (sub, v) in map {
                write_attr(loc, &format!("{key}_{sub}"), v)?;
            }
            Ok(())
        }
    }
}
