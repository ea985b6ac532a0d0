//! The HDF5 view of a [`Report`]: the report's scalars as attributes of the root
//! group (named as the JSON keys; nested objects flattened with `_`), datasets
//! `/batches/inside`, `/done/{start,end}` (the batches counted, as intervals),
//! `/hosts/{name,rank_count,cpus,samples,compute_seconds_max,samples_per_second}`,
//! `/ranks/{compute_seconds,first_batch,batch_count,cpus,samples,host,kernel,threads,affinity}`
//! (`affinity`: the CPU list of the rank's mask, `0-3,8`),
//! `/threads/{rank,thread,compute_seconds,cpu_seconds,batches,samples,cpu}` and
//! `/outliers/{rank,host,relative_speed,kernel}`.
//!
//! The file is created under its temporary name before the run (proving the
//! location writable); `/batches/inside` is copied from rank 0's count store in
//! chunks when the report is written, so memory stays bounded.

use std::io;
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, File, Group, H5Type};
use serde_json::Value;

use super::files::{unusable, FileError, Staged};
use super::{Report, ThreadFigures};
use crate::placement::cpu_list;
use crate::store::{Counts, Store};

/// An HDF5 report being written under its temporary name.
pub struct Hdf5Writer {
    // Field order matters: handles close before the temporary file is removed.
    inside: Dataset,
    file: File,
    tmp: Staged,
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
    /// Creates the temporary file for `dest` with room for `batches` counts,
    /// before any work. A failure here means the output location is unusable: a
    /// usage error.
    pub fn create(dest: &Path, batches: u64) -> Result<Hdf5Writer, FileError> {
        let dir = super::files::parent_dir(dest);
        // Create it with std first: its error says why the directory is unusable.
        let tmp = Staged::new(dest).map_err(|e| {
            unusable(
                dir,
                &format!("cannot create files here: {}", crate::error::one_line(&e)),
            )
        })?;
        let file = File::create(tmp.path()).map_err(|e| unusable(dir, &h5err(e)))?;
        let inside = file
            .create_group("batches")
            .and_then(|g| {
                g.new_dataset::<u64>()
                    .shape(batches as usize)
                    .create("inside")
            })
            .map_err(|e| unusable(dir, &h5err(e)))?;
        Ok(Hdf5Writer { inside, file, tmp })
    }

    /// Copies the per-batch counts of the report's done batches from `store`,
    /// writes the report's attributes and tables and closes the file, still under
    /// its temporary name. On failure the temporary file is removed (after the
    /// HDF5 handles are closed).
    pub fn finish(self, report: &Report, store: &Store) -> Result<Staged, FileError> {
        let Hdf5Writer { inside, file, tmp } = self;
        match fill(inside, file, report, store) {
            Ok(()) => Ok(tmp),
            Err(why) => Err(FileError::Write {
                path: tmp.dest().to_path_buf(),
                source: io::Error::other(why),
            }),
        }
    }
}

/// `/batches/inside` from the store, then the report; closes the file.
fn fill(inside: Dataset, file: File, report: &Report, store: &Store) -> Result<(), String> {
    store
        .for_each_chunk(&report.done, |first, counts| {
            let first = first as usize;
            inside
                .write_slice(counts, first..first + counts.len())
                .map_err(|e| io::Error::other(h5err(e)))
        })
        .map_err(|e| crate::error::one_line(&e))?;
    drop(inside);
    write_report(&file, report).map_err(h5err)?;
    file.flush().map_err(h5err)?;
    file.close().map_err(h5err)
}

fn write_report(file: &File, r: &Report) -> hdf5::Result<()> {
    let json = serde_json::to_value(r).expect("a report always serializes");
    if let Value::Object(map) = &json {
        // per_host and outliers are tables: the /hosts and /outliers groups below.
        let tables = ["per_host", "outliers"];
        for (key, value) in map.iter().filter(|(k, _)| !tables.contains(&k.as_str())) {
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
    dataset(&ranks, "threads", &col(&|x| x.threads))?;
    let lists: Vec<String> = r.per_rank.iter().map(|x| cpu_list(&x.affinity)).collect();
    dataset(
        &ranks,
        "affinity",
        &strings(lists.iter().map(String::as_str)),
    )?;
    write_threads(file, r)?;
    write_outliers(file, r)
}

/// `/threads/{rank,thread,compute_seconds,cpu_seconds,batches,samples,cpu}`: one row per
/// thread of every rank (`cpu` −1: unknown).
fn write_threads(file: &File, r: &Report) -> hdf5::Result<()> {
    let threads = file.create_group("threads")?;
    let t = &r.per_thread;
    let col = |f: &dyn Fn(&ThreadFigures) -> u64| t.iter().map(f).collect::<Vec<u64>>();
    dataset(&threads, "rank", &col(&|x| x.rank))?;
    dataset(&threads, "thread", &col(&|x| x.thread))?;
    dataset(
        &threads,
        "compute_seconds",
        &t.iter().map(|x| x.compute_seconds).collect::<Vec<f64>>(),
    )?;
    dataset(
        &threads,
        "cpu_seconds",
        &t.iter().map(|x| x.cpu_seconds).collect::<Vec<f64>>(),
    )?;
    dataset(&threads, "batches", &col(&|x| x.batches))?;
    dataset(&threads, "samples", &col(&|x| x.samples))?;
    dataset(
        &threads,
        "cpu",
        &t.iter()
            .map(|x| x.cpu.map_or(-1, i64::from))
            .collect::<Vec<i64>>(),
    )
}

/// `/outliers/{rank,host,relative_speed,kernel}`: the JSON's `outliers`
/// (`rank` −1: a whole host); empty datasets when there are none.
fn write_outliers(file: &File, r: &Report) -> hdf5::Result<()> {
    let group = file.create_group("outliers")?;
    let o = &r.outliers;
    dataset(
        &group,
        "rank",
        &o.iter()
            .map(|x| x.rank.map_or(-1, |r| r as i64))
            .collect::<Vec<i64>>(),
    )?;
    dataset(&group, "host", &strings(o.iter().map(|x| x.host.as_str())))?;
    dataset(
        &group,
        "relative_speed",
        &o.iter().map(|x| x.relative_speed).collect::<Vec<f64>>(),
    )?;
    dataset(
        &group,
        "kernel",
        &strings(o.iter().map(|x| x.kernel.as_str())),
    )
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
