//! Known-answer tests: literal numbers for the stream layout
//! `xoshiro256++/seed_from_u64/long_jump-per-batch/jump-per-lane/32-lanes/v1`.
//!
//! Every other count test recomputes its expected value with the library's own
//! scalar reference (`util::expected_counts`), so a change to the stream layout
//! or the sample test, made alike in the kernels and in the reference, would
//! still pass. These tests compare with numbers instead, like rand's
//! known-answer tests. They pin:
//!
//! * the README's example: the default seed, `--samples 1e10 --batch-size 1e7`
//!   under `mpirun -n 2` gives `inside = 7853953617`;
//! * the ReFrame checks' count: the default seed, `--samples 2e9 --batch-size
//!   1e7` gives `inside = 1570815599` (`reframe/mcpi_checks.py` holds the same
//!   literal, `tests/it/reframe.rs` checks that it does);
//! * `inside` for a table of small runs over seeds, batch sizes (1, 31, 32, 33,
//!   short last batches), rank counts (singleton, `mpirun -n 1/2/3`) and every
//!   `--kernel` variant (a variant this CPU lacks must be refused with status 2);
//! * the per-batch counts of a tiny run, read back from the HDF5 report;
//! * library outputs: the first outputs of `State::from_seed` and
//!   `scalar::count_inside` of a few batches, a far one included.
//!
//! Each literal was computed once, by the binary, and checked against the
//! library's scalar reference (and, for the library outputs of near batches,
//! against `rand_xoshiro` with sequential jumps and a separately written sample
//! test). A layout change must change `STREAM_LAYOUT` and these literals
//! together, on purpose.

use mcpi::kernel::scalar;
use mcpi::kernel::Kernel;
use mcpi::stream::{State, Streams};

use crate::util::{json, mcpi, Scratch};

/// The default `--seed`.
const DEFAULT_SEED: u64 = 314_159_265_358_979;

const LAYOUT: &str = "xoshiro256++/seed_from_u64/long_jump-per-batch/jump-per-lane/32-lanes/v1";

/// `inside` of the default seed, 2e9 samples in batches of 1e7: what every
/// run of the ReFrame checks must count (their `KNOWN_INSIDE`).
pub const REFRAME_INSIDE: u64 = 1_570_815_599;

#[test]
fn readme_example_1e10_samples_on_2_ranks() {
    let dir = Scratch::new("kat-readme");
    let args = [
        "run",
        "--samples",
        "1e10",
        "--batch-size",
        "1e7",
        "--output",
        "readme",
        "-q",
    ];
    let run = mcpi(Some(2), &args, dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.field("inside"), "7853953617");
    let report = json(&dir.path().join("readme.json"));
    assert_eq!(report["inside"], 7_853_953_617u64);
    assert_eq!(report["stream_layout"], LAYOUT);
    assert_eq!(report["samples"], 10_000_000_000u64);
    assert_eq!(report["batch_size"], 10_000_000u64);
    assert_eq!(report["batches"], 1000);
    assert_eq!(report["seed"], DEFAULT_SEED);
    assert_eq!(report["ranks"], 2);
}

#[test]
fn reframe_checks_count_on_1_rank_of_2_threads() {
    let dir = Scratch::new("kat-reframe");
    let args = [
        "run",
        "--samples",
        "2e9",
        "--batch-size",
        "1e7",
        "--threads",
        "2",
        "--output",
        "reframe",
        "-q",
    ];
    let run = mcpi(Some(1), &args, dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join("reframe.json"));
    assert_eq!(report["inside"], REFRAME_INSIDE, "{report:#}");
    assert_eq!(report["seed"], DEFAULT_SEED);
    assert_eq!(report["stream_layout"], LAYOUT);
    assert_eq!(report["threads"], 2);
}

/// One small run: `mcpi run [--seed SEED] --samples SAMPLES --batch-size BATCH`,
/// once per kernel (`auto`: no `--kernel` flag), on `ranks` (`None`: singleton).
struct Row {
    ranks: Option<usize>,
    seed: Option<&'static str>,
    samples: u64,
    batch: u64,
    kernels: &'static [&'static str],
    batches: u64,
    inside: u64,
}

/// Each kernel appears under mpirun and with several batch sizes; the kernels
/// are spread over the rows to keep the number of launches small.
const TABLE: [Row; 7] = [
    // Batch size 1: every sample from lane 0 of its own batch.
    Row {
        ranks: None,
        seed: Some("0"),
        samples: 1000,
        batch: 1,
        kernels: &["avx512", "scalar"],
        batches: 1000,
        inside: 776,
    },
    // 31 = one lane short of a full round.
    Row {
        ranks: None,
        seed: Some("1"),
        samples: 310,
        batch: 31,
        kernels: &["avx2", "portable"],
        batches: 10,
        inside: 244,
    },
    // 32 = exactly one round of the lanes.
    Row {
        ranks: Some(1),
        seed: Some("42"),
        samples: 320,
        batch: 32,
        kernels: &["avx2", "scalar"],
        batches: 10,
        inside: 243,
    },
    // 33 = one round and one sample; 1000 = 30 · 33 + 10, a short last batch.
    Row {
        ranks: Some(2),
        seed: Some("0xdeadbeef"),
        samples: 1000,
        batch: 33,
        kernels: &["avx512", "avx2", "portable", "scalar"],
        batches: 31,
        inside: 783,
    },
    // u64::MAX; 100_003 = 100 · 1000 + 3.
    Row {
        ranks: Some(3),
        seed: Some("18446744073709551615"),
        samples: 100_003,
        batch: 1000,
        kernels: &["portable"],
        batches: 101,
        inside: 78_564,
    },
    // The default seed; 12_345 = 398 · 31 + 7.
    Row {
        ranks: Some(3),
        seed: None,
        samples: 12_345,
        batch: 31,
        kernels: &["avx512"],
        batches: 399,
        inside: 9690,
    },
    // Larger batches, the default kernel choice; 1_048_583 = 16 · 65_536 + 7.
    Row {
        ranks: None,
        seed: None,
        samples: 1_048_583,
        batch: 65_536,
        kernels: &["auto"],
        batches: 17,
        inside: 824_037,
    },
];

fn check_rows(rows: impl Iterator<Item = &'static Row>) {
    let dir = Scratch::new("kat-table");
    for (i, row) in rows.enumerate() {
        let (samples, batch) = (row.samples.to_string(), row.batch.to_string());
        for &kernel in row.kernels {
            let out = format!("row{i}-{kernel}");
            let mut args = vec!["run", "--samples", &samples, "--batch-size", &batch];
            if let Some(seed) = row.seed {
                args.extend(["--seed", seed]);
            }
            if kernel != "auto" {
                args.extend(["--kernel", kernel]);
            }
            args.extend(["--output", &out, "-q"]);
            let what = format!("{:?} ranks: {}", row.ranks, args.join(" "));
            let run = mcpi(row.ranks, &args, dir.path());

            let supported = kernel == "auto"
                || Kernel::from_name(kernel)
                    .unwrap_or_else(|| panic!("unknown kernel {kernel}"))
                    .supported();
            if !supported {
                run.assert_one_error(2, &[&format!("--kernel {kernel}")]);
                assert!(
                    !dir.path().join(format!("{out}.json")).exists(),
                    "{what}: refused, yet wrote a report"
                );
                continue;
            }
            // 3 is a FAIL verdict, possible on tiny runs: the count is what is pinned.
            assert!(run.status == 0 || run.status == 3, "{what}: {run:?}");
            assert_eq!(run.field("inside"), row.inside.to_string(), "{what}");
            let report = json(&dir.path().join(format!("{out}.json")));
            assert_eq!(report["inside"], row.inside, "{what}");
            assert_eq!(report["samples"], row.samples, "{what}");
            assert_eq!(report["batches"], row.batches, "{what}");
            assert_eq!(report["ranks"], row.ranks.unwrap_or(1) as u64, "{what}");
            assert_eq!(report["stream_layout"], LAYOUT, "{what}");
            let ran = match kernel {
                "auto" => Kernel::detect().name(),
                forced => forced,
            };
            assert_eq!(report["kernel"], ran, "{what}");
        }
    }
}

#[test]
fn small_runs_as_singleton_give_their_literal_counts() {
    check_rows(TABLE.iter().filter(|r| r.ranks.is_none()));
}

#[test]
fn small_runs_under_mpirun_give_their_literal_counts() {
    check_rows(TABLE.iter().filter(|r| r.ranks.is_some()));
}

#[test]
fn per_batch_counts_of_a_tiny_run_in_the_hdf5_report() {
    let dir = Scratch::new("kat-batches");
    let args = [
        "run",
        "--seed",
        "42",
        "--samples",
        "100",
        "--batch-size",
        "10",
        "--output",
        "tiny",
        "-q",
    ];
    let run = mcpi(Some(2), &args, dir.path());
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let file = hdf5::File::open(dir.path().join("tiny.h5")).unwrap();
    let per_batch: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
    assert_eq!(per_batch, [9, 8, 7, 8, 9, 10, 10, 10, 9, 6]);
    assert_eq!(json(&dir.path().join("tiny.json"))["inside"], 86);
}

#[test]
fn first_outputs_of_the_base_states() {
    let mut s = State::from_seed(DEFAULT_SEED);
    let got: Vec<u64> = (0..8).map(|_| s.next_u64()).collect();
    assert_eq!(
        got,
        [
            0xd38a_d1bc_ff24_acf1,
            0xc215_730c_c955_72be,
            0xefbe_2d38_fd83_47ef,
            0xc680_34bd_ae26_a28c,
            0xdb0d_d39a_0aa2_d953,
            0x7ab3_97f9_08f6_778a,
            0x3566_b6ee_5a31_117d,
            0x35e9_e242_9e71_8ee4,
        ]
    );
    let mut s = State::from_seed(0);
    let got: Vec<u64> = (0..4).map(|_| s.next_u64()).collect();
    assert_eq!(
        got,
        [
            0x5317_5d61_490b_23df,
            0x61da_6f3d_c380_d507,
            0x5c0f_df91_ec9a_7bfc,
            0x02ee_bf8c_3bbe_5e1a,
        ]
    );
}

#[test]
fn scalar_counts_of_near_and_far_batches() {
    // (seed, batch, n, inside)
    let cases: [(u64, u64, u64, u64); 8] = [
        (DEFAULT_SEED, 0, 1000, 814),
        (0, 1, 33, 24),
        (42, 7, 10_000, 7852),
        (0xdead_beef, 31, 31, 24),
        (u64::MAX, 2, 100_000, 78_369),
        (DEFAULT_SEED, 1_000_000_000, 100_000, 78_365),
        (0, 1_000_000_000, 4096, 3196),
        (42, u64::MAX, 1000, 809),
    ];
    for (seed, batch, n, inside) in cases {
        let lanes = Streams::new(seed).batch_lanes(batch);
        assert_eq!(
            scalar::count_inside(&lanes, n),
            inside,
            "seed {seed}, batch {batch}, {n} samples"
        );
    }
}
