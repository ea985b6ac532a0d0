//! `mcpi plan`: the decomposition printed without running, as `key value` lines
//! and as JSON, with `run`'s count syntax and checks; refusals exit 2 and name
//! the flag.

use crate::util::{mcpi, Scratch};

/// `mcpi plan ARGS` in an empty directory, which it must leave empty.
fn plan(args: &[&str]) -> crate::util::Run {
    let dir = Scratch::new("plan");
    let mut full = vec!["plan"];
    full.extend_from_slice(args);
    let run = mcpi(None, &full, dir.path());
    assert!(dir.files().is_empty(), "{args:?} wrote {:?}", dir.files());
    run
}

/// 1e9 samples in 100 batches on 3 ranks: 33, 33 and 34 batches.
const ARGS: [&str; 6] = ["--samples", "1e9", "--batch-size", "10M", "--ranks", "3"];

#[test]
fn text_has_one_key_per_line() {
    let run = plan(&ARGS);
    assert_eq!((run.status, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(
        run.stdout,
        "samples 1000000000\n\
         batch_size 10000000\n\
         batches 100\n\
         ranks 3\n\
         rank 0 first_batch 0 batches 33 samples 330000000\n\
         rank 1 first_batch 33 batches 33 samples 330000000\n\
         rank 2 first_batch 66 batches 34 samples 340000000\n"
    );
    // The defaults are run's: 1e10 samples in batches of 1e7, on one rank.
    let run = plan(&[]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(
            "samples 10000000000\nbatch_size 10000000\nbatches 1000\nranks 1\n\
             rank 0 first_batch 0 batches 1000 samples 10000000000\n"
        ),
        "{run:?}"
    );
}

#[test]
fn json_has_the_same_figures() {
    let mut args = ARGS.to_vec();
    args.push("--json");
    let run = plan(&args);
    assert_eq!(run.status, 0, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "samples": 1_000_000_000u64,
            "batch_size": 10_000_000,
            "batches": 100,
            "ranks": 3,
            "shares": [
                {"rank": 0, "first_batch": 0, "batches": 33, "samples": 330_000_000},
                {"rank": 1, "first_batch": 33, "batches": 33, "samples": 330_000_000},
                {"rank": 2, "first_batch": 66, "batches": 34, "samples": 340_000_000},
            ],
        })
    );
}

#[test]
fn refusals_exit_2_naming_the_flag() {
    for (args, names) in [
        (&["--ranks", "0"][..], &["--ranks", "at least 1"][..]),
        (&["--ranks", "1e9"], &["--ranks"]),
        (&["--samples", "2.5"], &["--samples", "whole"]),
        (
            &["--samples", "1e7", "--batch-size", "1e8"],
            &["--batch-size", "--samples"],
        ),
        (&["--samples", "1T", "--batch-size", "1"], &["--batch-size"]),
        (&["--seed", "1"], &["--seed"]),
    ] {
        let run = plan(args);
        assert_eq!(run.status, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}: nothing on stdout");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {lines:?}");
        assert!(lines[0].starts_with("mcpi plan: error: "), "{lines:?}");
        for name in names {
            assert!(
                lines[0].contains(name),
                "{args:?}: '{}' lacks {name}",
                lines[0]
            );
        }
    }
}
