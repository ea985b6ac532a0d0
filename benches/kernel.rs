//! Kernel and stream set-up benchmarks. Criterion prints samples/s for the
//! kernels (`Throughput::Elements`); the set-up group shows what reaching a batch
//! costs next to counting it; the walk group is the job's count loop without
//! MPI (stream walk and kernel over 1000 batches).

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mcpi::intervals::Intervals;
use mcpi::kernel::Kernel;
use mcpi::plan::Plan;
use mcpi::stream::Streams;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const N: u64 = 1 << 22;

/// What a user would write first: one generator, two doubles per sample.
fn naive(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    let unit = |w: u64| (w >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (0..n)
        .map(|_| {
            let (x, y) = (unit(rng.next_u64()), unit(rng.next_u64()));
            u64::from(x * x + y * y < 1.0)
        })
        .sum()
}

fn kernels(c: &mut Criterion) {
    let mut streams = Streams::new(1);
    let lanes = streams.batch_lanes(0);
    let mut g = c.benchmark_group("kernel");
    g.throughput(Throughput::Elements(N));
    for k in Kernel::ALL.into_iter().filter(|k| k.supported()) {
        g.bench_function(k.name(), |b| {
            b.iter(|| k.count_inside(black_box(&lanes), N))
        });
    }
    g.bench_function("naive-rand_xoshiro-f64", |b| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        b.iter(|| naive(&mut rng, N))
    });
    g.finish();
}

fn setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("setup");
    for first in [0u64, 1_000_000, 1_000_000_000] {
        g.bench_with_input(
            BenchmarkId::new("rank-first-batch", first),
            &first,
            |b, &first| b.iter(|| Streams::new(1).batch_lanes(black_box(first))),
        );
    }
    let streams = Streams::new(1);
    let state = mcpi::stream::State::from_seed(1);
    g.bench_function("per-batch-lanes-and-next", |b| {
        b.iter(|| {
            (
                streams.lanes(black_box(state)),
                streams.next_batch(black_box(state)),
            )
        })
    });
    g.finish();
}

/// What the job's count loop does: the walk over a set of batches, each counted
/// by the fastest kernel (small batches, so the per-batch set-up shows).
fn walk(c: &mut Criterion) {
    let kernel = Kernel::detect();
    let mut g = c.benchmark_group("walk");
    for batch_size in [1_000u64, 100_000] {
        let plan = Plan::new(1_000 * batch_size, batch_size);
        let all = Intervals::range(0..plan.batches);
        g.throughput(Throughput::Elements(plan.samples));
        g.bench_with_input(
            BenchmarkId::new(format!("{}-batch", kernel.name()), batch_size),
            &plan,
            |b, plan| {
                let mut streams = Streams::new(1);
                b.iter(|| {
                    let mut inside = 0;
                    streams.walk(plan, &all, |_, lanes, len| {
                        inside += kernel.count_inside(lanes, len);
                        ControlFlow::Continue(())
                    });
                    inside
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, kernels, setup, walk);
criterion_main!(benches);
