//! The statistics catch broken streams: library-level runs over deliberately
//! wrong stream layouts — every batch from the same state, lanes that share a
//! state, a generator with a short period — fail the verdict, while mcpi's own
//! streams pass the dispersion test at the rate chance predicts.

use mcpi::kernel::{inside, Kernel};
use mcpi::stats::{verdict, Dispersion, DispersionSum, Estimate, Verdict};
use mcpi::stream::{State, Streams, LANES};

/// Samples per batch in these experiments.
const N: u64 = 200_000;

/// The estimate, dispersion test and verdict of per-batch `counts` (N each).
fn judge(counts: &[u64]) -> (Estimate, Option<Dispersion>, Verdict, String) {
    let inside: u64 = counts.iter().sum();
    let total = N * counts.len() as u64;
    let mut sum = DispersionSum::new(inside, total);
    counts.iter().for_each(|&x| sum.add(N, x));
    let est = Estimate::new(inside, total);
    let d = sum.finish();
    let (v, why) = verdict(&est, d.as_ref());
    (est, d, v, why)
}

/// Per-batch counts of `batches` batches whose lanes `lanes(b)` gives.
fn counts(batches: u64, mut lanes: impl FnMut(u64) -> [State; LANES]) -> Vec<u64> {
    let kernel = Kernel::detect();
    (0..batches)
        .map(|b| kernel.count_inside(&lanes(b), N))
        .collect()
}

#[test]
fn mcpi_streams_pass_at_the_rate_chance_predicts() {
    // 200 experiments of 50 batches each (2e9 samples): p-values should be
    // uniform, so about 5% fall below 0.05, and none below 1e-4 (fixed seeds:
    // the outcome is the same every time).
    let mut below_5_percent = 0;
    for seed in 1..=200u64 {
        let mut streams = Streams::new(seed);
        let c = counts(50, |b| streams.batch_lanes(b));
        let (est, d, v, why) = judge(&c);
        let d = d.unwrap();
        assert_eq!(d.dof, 49);
        assert_eq!(v, Verdict::Pass, "seed {seed}: {why} (z {})", est.z_score);
        below_5_percent += usize::from(d.p_value < 0.05);
    }
    // Binomial(200, 0.05): mean 10, sd 3.1; this accepts within about 3 sd.
    assert!(
        (1..=20).contains(&below_5_percent),
        "{below_5_percent} of 200 below 0.05"
    );
}

#[test]
fn every_batch_from_the_same_state_fails_the_dispersion_test() {
    let streams = Streams::new(42);
    let first = streams.lanes(State::from_seed(42));
    let c = counts(100, |_| first);
    let (_, d, v, why) = judge(&c);
    assert_eq!(v, Verdict::Fail, "{why}");
    assert!(d.unwrap().p_value < 1e-100, "{why}");
    assert!(why.contains("less than independent streams"), "{why}");
}

#[test]
fn lanes_that_share_a_state_fail_the_dispersion_test() {
    // Each batch's own stream, but all 32 lanes on the same state: every sample
    // is drawn 32 times, so counts spread 32 times as much as they should.
    let mut streams = Streams::new(42);
    let c = counts(100, |b| [streams.batch_state(b); LANES]);
    let (_, d, v, why) = judge(&c);
    assert_eq!(v, Verdict::Fail, "{why}");
    let d = d.unwrap();
    assert!(d.chi2 > 10.0 * d.dof as f64 && d.p_value < 1e-100, "{d:?}");
    assert!(why.contains("more than independent streams"), "{why}");
}

#[test]
fn a_generator_with_a_short_period_fails() {
    // A 12-bit LCG, mixed into 64-bit words: a period of 4096, so a batch of
    // 200 000 samples repeats it ~49 times. Every batch counts nearly the same
    // and the fraction is that of 4096 fixed points, not of the plane.
    let word = |state: u64| {
        state
            .wrapping_add(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(17)
            ^ 0xd1b5_4a32_d192_ed03
    };
    let c: Vec<u64> = (0..100u64)
        .map(|b| {
            let mut s = (b * 977) % 4096;
            (0..N)
                .map(|_| {
                    s = (s * 1_664_525 + 1_013_904_223) % 4096;
                    inside(word(s))
                })
                .sum()
        })
        .collect();
    let (est, d, v, why) = judge(&c);
    assert_eq!(v, Verdict::Fail, "{why}");
    assert!(
        d.unwrap().p_value < 1e-4 || est.z_score.abs() > 4.0,
        "{why}"
    );
}

#[test]
fn the_report_carries_the_test_of_its_own_batches() {
    let dir = crate::util::Scratch::new("dispersion-report");
    let run = crate::util::mcpi(
        Some(2),
        &[
            "run",
            "-q",
            "--samples",
            "1e8",
            "--batch-size",
            "999999",
            "--output",
            "d",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    let report = crate::util::json(&dir.path().join("d.json"));
    // Recomputed here from the HDF5 file's counts (the last batch is short).
    let file = hdf5::File::open(dir.path().join("d.h5")).unwrap();
    let counts = file
        .dataset("batches/inside")
        .unwrap()
        .read_raw::<u64>()
        .unwrap();
    let samples = 100_000_000u64;
    let mut sum = DispersionSum::new(counts.iter().sum(), samples);
    for (b, &x) in counts.iter().enumerate() {
        sum.add(999_999.min(samples - b as u64 * 999_999), x);
    }
    let want = sum.finish().unwrap();
    let got = &report["dispersion"];
    assert_eq!(got["dof"], counts.len() as u64 - 1);
    assert!((got["chi2"].as_f64().unwrap() - want.chi2).abs() < 1e-9 * want.chi2);
    assert!((got["p_value"].as_f64().unwrap() - want.p_value).abs() < 1e-12);
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    assert!(report["verdict_reason"]
        .as_str()
        .unwrap()
        .contains("dispersion p ="));
    assert!(
        run.stdout.contains("dispersion         chi2 "),
        "{}",
        run.stdout
    );
}
