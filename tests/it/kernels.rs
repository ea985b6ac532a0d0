//! Kernel dispatch end to end: every variant gives the same count, `--kernel`
//! refuses a variant some rank's CPU cannot run, and ranks with different CPUs
//! (emulated with `MCPI_NO_KERNEL` per rank) still agree on the count.

use mcpi::kernel::Kernel;

use crate::util::{expected_counts, json, mcpi, mcpi_env, mcpi_per_rank_env, Scratch};

const ARGS: [&str; 7] = [
    "run",
    "--seed",
    "9",
    "--samples",
    "3000017",
    "--batch-size",
    "250000",
];

fn expected() -> u64 {
    expected_counts(9, 3_000_017, 250_000).iter().sum()
}

#[test]
fn every_supported_variant_gives_the_reference_count() {
    let dir = Scratch::new("variants");
    for k in Kernel::ALL.into_iter().filter(|k| k.supported()) {
        let mut args = ARGS.to_vec();
        args.extend(["--kernel", k.name(), "--output", k.name()]);
        let run = mcpi(Some(2), &args, dir.path());
        assert!(run.status == 0 || run.status == 3, "{}: {run:?}", k.name());
        assert_eq!(run.field("inside"), expected().to_string(), "{}", k.name());
        assert_eq!(run.field("kernel"), k.name());
        assert_eq!(
            json(&dir.path().join(format!("{}.json", k.name())))["kernel"],
            k.name()
        );
    }
}

#[test]
fn a_variant_this_cpu_lacks_is_refused_before_any_work() {
    let dir = Scratch::new("nokernel");
    let mut args = ARGS.to_vec();
    args.extend(["--kernel", "avx512"]);
    let run = mcpi_env(Some(2), &args, dir.path(), &[("MCPI_NO_KERNEL", "avx512")]);
    run.assert_one_error(2, &["--kernel avx512", "2 of 2"]);
    assert!(dir.files().is_empty());
}

#[test]
fn one_rank_lacking_the_variant_stops_every_rank() {
    let dir = Scratch::new("hetero-forced");
    let mut args = ARGS.to_vec();
    args.extend(["--kernel", "avx2"]);
    let run = mcpi_per_rank_env(
        &[&[], &[("MCPI_NO_KERNEL", "avx2")], &[]],
        &args,
        dir.path(),
    );
    run.assert_one_error(2, &["--kernel avx2", "1 of 3"]);
    assert!(dir.files().is_empty());
}

#[test]
fn mixed_cpus_choose_their_own_variant_and_agree_on_the_count() {
    let dir = Scratch::new("hetero-auto");
    let mut args = ARGS.to_vec();
    args.extend(["--output", "mixed"]);
    let run = mcpi_per_rank_env(
        &[&[("MCPI_NO_KERNEL", "avx512,avx2")], &[]],
        &args,
        dir.path(),
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert_eq!(run.field("inside"), expected().to_string());
    let best = Kernel::detect().name();
    assert_eq!(run.field("kernel"), format!("portable+{best}"));
    let file = hdf5::File::open(dir.path().join("mixed.h5")).unwrap();
    let kernels: Vec<hdf5::types::VarLenUnicode> =
        file.dataset("ranks/kernel").unwrap().read_raw().unwrap();
    assert_eq!(kernels[0].as_str(), "portable");
    assert_eq!(kernels[1].as_str(), best);
}
