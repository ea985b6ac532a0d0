//! Bad input: one line from rank 0 naming the flag or file, exit status 2, before
//! any work, nothing written, no rank left hanging (every run has a timeout).

use crate::util::{mcpi, mcpi_mpmd, Scratch};

fn refused(ranks: Option<usize>, args: &[&str], names: &[&str]) {
    let dir = Scratch::new("bad");
    std::fs::write(dir.path().join("plainfile"), b"").unwrap();
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    let run = mcpi(ranks, &full, dir.path());
    run.assert_one_error(2, names);
    assert_eq!(run.stdout, "", "{args:?}: nothing on stdout");
    assert_eq!(dir.files(), ["plainfile"], "{args:?}: nothing written");
}

#[test]
fn bad_counts_name_their_flag() {
    for (args, names) in [
        (&["--samples", "0"][..], &["--samples", "at least 1"][..]),
        (&["--samples", "-5"], &["--samples", "positive"]),
        (&["--samples", "2.5"], &["--samples", "whole"]),
        (&["--samples", "lots"], &["--samples", "not a number"]),
        (&["--samples", "1e20"], &["--samples", "too large"]),
        (
            &["--samples", "18446744073709551616"],
            &["--samples", "too large"],
        ),
        (&["--batch-size", "0"], &["--batch-size"]),
        (&["--batch-size", "1.5"], &["--batch-size"]),
        (
            &["--samples", "1e7", "--batch-size", "1e8"],
            &["--batch-size", "--samples"],
        ),
        (&["--seed", "-1"], &["--seed"]),
        (&["--seed", "99999999999999999999"], &["--seed"]),
        (&["--samples"], &["--samples"]),
    ] {
        refused(Some(2), args, names);
    }
}

#[test]
fn unknown_flags_are_named() {
    refused(Some(3), &["--frobnicate"], &["--frobnicate"]);
    refused(None, &["--samples", "1e6", "--nope", "1"], &["--nope"]);
}

#[test]
fn unusable_output_locations_are_named() {
    refused(
        Some(2),
        &["--output", "/nonexistent/dir/run"],
        &["--output", "/nonexistent/dir"],
    );
    refused(
        Some(2),
        &["--output", "plainfile/run"],
        &["--output", "plainfile", "not a directory"],
    );
    // Not writable even for root.
    refused(
        Some(2),
        &["--output", "/proc/mcpi-run"],
        &["--output", "/proc"],
    );
    refused(None, &["--output", ""], &["--output"]);
}

#[test]
fn ranks_started_with_different_arguments_are_refused() {
    let dir = Scratch::new("mpmd");
    let a: &[&str] = &["run", "--samples", "1e6", "--output", "x"];
    let b: &[&str] = &["run", "--samples", "2e6", "--output", "x"];
    let run = mcpi_mpmd(&[(&[], a), (&[], b)], dir.path());
    run.assert_one_error(2, &["different arguments"]);
    assert!(dir.files().is_empty());
}
