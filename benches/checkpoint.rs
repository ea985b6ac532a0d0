//! What one checkpoint costs: the log append of the batches counted since the
//! previous checkpoint, its sync, and the manifest's replacement (write, sync,
//! rename, directory sync), as rank 0's checkpoint writer thread does it.
//!
//! `done`: 10^4 new batches per checkpoint after 10^5, 10^6 and 10^7 batches
//! done — the cost must not grow with the batches done. `new`: 10^3 to 10^6
//! new batches after 10^6 done — the part that grows with what changed.
//! The files go to `$TMPDIR` (or `MCPI_BENCH_DIR`): point it at the file
//! system checkpoints go to, since its syncs are most of the cost.
//! `make bench-checkpoint` runs this, then the whole-run overhead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mcpi::checkpoint::Writer;
use mcpi::config::Config;
use mcpi::intervals::Intervals;
use mcpi::plan::Plan;
use mcpi::store::Store;

/// A run of `batches` batches of 1000 samples (the overhead run's batch size).
fn config(batches: u64) -> Config {
    Config::of(Plan::new(batches * 1000, 1000), 1)
}

fn dir() -> PathBuf {
    std::env::var_os("MCPI_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// A checkpoint after `done` batches, timed over checkpoints of `new` batches
/// each; the run has room for 64 of them (16 of 10^6) and starts over
/// (untimed) when it is full.
struct Run {
    config: Config,
    store: Store,
    writer: Writer,
    end: u64,
    done: u64,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Run {
    fn new(done: u64, new: u64) -> Run {
        // Room for 64 checkpoints (16 of the largest) before starting over.
        let config = config(done + (64 * new).min(16_000_000));
        let mut store = Store::new(config.plan.batches, &std::env::temp_dir()).unwrap();
        fill(&mut store, 0..config.plan.batches);
        let tmp = tempfile::tempdir_in(dir()).unwrap();
        let path = tmp.path().join("ck.h5");
        let mut run = Run {
            writer: Writer::new(&path).unwrap(),
            config,
            store,
            end: done,
            done,
            _dir: tmp,
            path,
        };
        run.restart();
        run
    }

    /// A new generation holding the first `done` batches (the untimed first
    /// checkpoint).
    fn restart(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(mcpi::checkpoint::log_path(&self.path));
        self.writer = Writer::new(&self.path).unwrap();
        self.end = self.done;
        let done = Intervals::range(0..self.end);
        self.writer.save(&self.config, &done, &self.store).unwrap();
    }

    /// The time of `iters` checkpoints of `new` batches each.
    fn time(&mut self, iters: u64, new: u64) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            if self.end + new > self.config.plan.batches {
                self.restart();
            }
            self.end += new;
            let done = Intervals::range(0..self.end);
            let t = Instant::now();
            self.writer.save(&self.config, &done, &self.store).unwrap();
            total += t.elapsed();
        }
        total
    }
}

/// Counts for `batches` in `store`, as the count loop would have put them.
fn fill(store: &mut Store, batches: std::ops::Range<u64>) {
    let mut b = batches.start;
    while b < batches.end {
        let end = batches.end.min(b + (1 << 19));
        let counts: Vec<u64> = (b..end).map(|i| 785 + i % 7).collect();
        store.put(b, &counts);
        b = end;
    }
}

fn per_checkpoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkpoint-after");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    let new = 10_000u64;
    for done in [100_000u64, 1_000_000, 10_000_000] {
        let mut run = Run::new(done, new);
        g.bench_with_input(BenchmarkId::new("done", done), &done, |b, _| {
            b.iter_custom(|iters| run.time(iters, new))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("checkpoint-of");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for new in [1_000u64, 100_000, 1_000_000] {
        let mut run = Run::new(1_000_000, new);
        g.throughput(Throughput::Elements(new));
        g.bench_with_input(BenchmarkId::new("new", new), &new, |b, &new| {
            b.iter_custom(|iters| run.time(iters, new))
        });
    }
    g.finish();
}

criterion_group!(benches, per_checkpoint);
criterion_main!(benches);
