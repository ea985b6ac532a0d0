//! The count is a pure function of (seed, samples, batch size): the same on any
//! number of ranks, as a singleton, and equal to the scalar reference.

use crate::util::{expected_counts, json, mcpi, Scratch};

const SEED: u64 = 20_261_121;
// 31 batches, the last one short (10_000_019 = 30 · 333_333 + 19).
const SAMPLES: u64 = 10_000_019;
const BATCH: u64 = 333_333;

#[test]
fn same_count_on_1_2_3_4_7_ranks_and_as_singleton() {
    let per_batch = expected_counts(SEED, SAMPLES, BATCH);
    let expected: u64 = per_batch.iter().sum();
    let dir = Scratch::new("determinism");
    let (seed, samples, batch) = (SEED.to_string(), SAMPLES.to_string(), BATCH.to_string());
    for ranks in [None, Some(1), Some(2), Some(3), Some(4), Some(7)] {
        let out = format!("r{ranks:?}").replace(['(', ')'], "");
        let run = mcpi(
            ranks,
            &[
                "run",
                "--seed",
                &seed,
                "--samples",
                &samples,
                "--batch-size",
                &batch,
                "--output",
                &out,
            ],
            dir.path(),
        );
        assert_eq!(run.status, 0, "{ranks:?} ranks: {run:?}");
        assert_eq!(run.field("inside"), expected.to_string(), "{ranks:?} ranks");
        let report = json(&dir.path().join(format!("{out}.json")));
        assert_eq!(report["inside"], expected, "{ranks:?} ranks");
        assert_eq!(report["ranks"], ranks.unwrap_or(1) as u64);
        assert_eq!(report["batches"], 31);
        let file = hdf5::File::open(dir.path().join(format!("{out}.h5"))).unwrap();
        let got: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
        assert_eq!(got, per_batch, "{ranks:?} ranks: every per-batch count");
    }
}

#[test]
fn more_ranks_than_batches_all_finish_with_the_same_count() {
    let dir = Scratch::new("fewbatches");
    let expected: u64 = expected_counts(SEED, 2_000, 1_000).iter().sum();
    let run = mcpi(
        Some(3),
        &[
            "run",
            "--seed",
            &SEED.to_string(),
            "--samples",
            "2000",
            "--batch-size",
            "1000",
            "--output",
            "few",
        ],
        dir.path(),
    );
    assert_eq!(run.error_lines(), Vec::<&str>::new());
    assert!(
        run.stderr.contains("mcpi: warning: 3 ranks for 2 batches"),
        "{}",
        run.stderr
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert_eq!(run.field("inside"), expected.to_string());
    let file = hdf5::File::open(dir.path().join("few.h5")).unwrap();
    let per_batch: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
    assert_eq!(per_batch, expected_counts(SEED, 2_000, 1_000));
    let counts: Vec<u64> = file
        .dataset("ranks/batch_count")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(counts, [0, 1, 1]);
}

#[test]
fn a_billion_samples_pass_the_z_test() {
    let dir = Scratch::new("billion");
    let run = mcpi(
        Some(2),
        &["run", "--samples", "1e9", "--output", "big"],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join("big.json"));
    let z = report["z_score"].as_f64().unwrap();
    assert!(z.abs() <= 4.0, "z = {z}");
    assert_eq!(report["verdict"], "PASS");
    assert!(
        run.stdout.lines().last().unwrap().starts_with("PASS: "),
        "{}",
        run.stdout
    );
    assert_eq!(report["samples"], 1_000_000_000u64);
    assert_eq!(report["seed"], mcpi::config::DEFAULT_SEED);
}
