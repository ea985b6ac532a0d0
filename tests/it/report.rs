//! The report: stdout, JSON and HDF5 are views of one report and agree; files are
//! published atomically, never clobbered without --force, and a failed write
//! leaves nothing behind.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use serde_json::Value;

use crate::util::{expected_counts, json, mcpi, mcpi_env, Scratch};

/// Every JSON key has an HDF5 root attribute of the same value (objects
/// flattened as `key_subkey`).
fn assert_attrs_equal_json(file: &hdf5::File, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (sub, v) in map {
                assert_attrs_equal_json(file, &format!("{key}_{sub}"), v);
            }
        }
        _ => {
            let attr = file
                .attr(key)
                .unwrap_or_else(|e| panic!("attribute {key}: {e}"));
            match value {
                Value::Bool(b) => assert_eq!(attr.read_scalar::<bool>().unwrap(), *b, "{key}"),
                Value::String(s) => assert_eq!(
                    attr.read_scalar::<VarLenUnicode>().unwrap().as_str(),
                    s,
                    "{key}"
                ),
                Value::Number(n) if n.is_u64() => assert_eq!(
                    attr.read_scalar::<u64>().unwrap(),
                    n.as_u64().unwrap(),
                    "{key}"
                ),
                Value::Number(n) => assert_eq!(
                    attr.read_scalar::<f64>().unwrap(),
                    n.as_f64().unwrap(),
                    "{key}"
                ),
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    let got: Vec<String> = attr
                        .read_raw::<VarLenUnicode>()
                        .unwrap()
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    let want: Vec<&str> = items.iter().map(|v| v.as_str().unwrap()).collect();
                    assert_eq!(got, want, "{key}");
                }
                Value::Array(items) => {
                    let want: Vec<f64> = items.iter().map(|v| v.as_f64().unwrap()).collect();
                    assert_eq!(attr.read_raw::<f64>().unwrap(), want, "{key}");
                }
                Value::Null => panic!("{key} is null in JSON"),
                Value::Object(_) => unreachable!(),
            }
        }
    }
}

#[test]
fn json_hdf5_and_stdout_agree() {
    let dir = Scratch::new("views");
    let (seed, samples, batch) = (77u64, 4_000_037u64, 100_000u64);
    let run = mcpi(
        Some(3),
        &[
            "run",
            "--seed",
            "77",
            "--samples",
            "4000037",
            "--batch-size",
            "100000",
            "--output",
            "rep",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        dir.files(),
        ["rep.h5", "rep.json"],
        "no temporary files left"
    );
    let expected = expected_counts(seed, samples, batch);
    let inside: u64 = expected.iter().sum();

    let report = json(&dir.path().join("rep.json"));
    for key in [
        "version",
        "seed",
        "stream_layout",
        "samples",
        "batch_size",
        "batches",
        "ranks",
        "inside",
        "pi_estimate",
        "std_error",
        "ci95",
        "z_score",
        "verdict",
        "kernel",
        "wall_seconds",
        "compute_seconds",
        "samples_per_second",
        "hosts",
        "started_at",
        "complete",
    ] {
        assert!(report.get(key).is_some(), "JSON lacks {key}");
    }
    assert_eq!(report["inside"], inside);
    assert_eq!(report["complete"], true);
    assert_eq!(report["batches"], 41);
    assert!(
        report.get("slurm").is_none(),
        "no slurm object outside Slurm"
    );
    let pi_hat = 4.0 * inside as f64 / samples as f64;
    assert_eq!(report["pi_estimate"].as_f64().unwrap(), pi_hat);
    let ci = report["ci95"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < pi_hat && pi_hat < ci[1].as_f64().unwrap());

    let file = hdf5::File::open(dir.path().join("rep.h5")).unwrap();
    for (key, value) in report.as_object().unwrap() {
        if key != "per_host" && key != "outliers" {
            assert_attrs_equal_json(&file, key, value);
        }
    }
    // outliers is the /outliers table, a row per entry.
    let outlier_hosts: Vec<VarLenUnicode> =
        file.dataset("outliers/host").unwrap().read_raw().unwrap();
    assert_eq!(
        outlier_hosts.len(),
        report["outliers"].as_array().unwrap().len()
    );
    // per_host is the /hosts table: one host here, all three ranks.
    let per_host = report["per_host"].as_array().unwrap();
    assert_eq!(per_host.len(), 1);
    assert_eq!(per_host[0]["ranks"], serde_json::json!([0, 1, 2]));
    assert_eq!(per_host[0]["samples"], samples);
    let host_samples: Vec<u64> = file.dataset("hosts/samples").unwrap().read_raw().unwrap();
    assert_eq!(host_samples, vec![samples]);
    let rank_samples: Vec<u64> = file.dataset("ranks/samples").unwrap().read_raw().unwrap();
    assert_eq!(rank_samples.iter().sum::<u64>(), samples);
    let per_batch: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
    assert_eq!(
        per_batch, expected,
        "per-batch counts equal the scalar reference"
    );
    let first: Vec<u64> = file
        .dataset("ranks/first_batch")
        .unwrap()
        .read_raw()
        .unwrap();
    let count: Vec<u64> = file
        .dataset("ranks/batch_count")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!((first, count), (vec![0, 13, 27], vec![13, 14, 14]));
    let secs: Vec<f64> = file
        .dataset("ranks/compute_seconds")
        .unwrap()
        .read_raw()
        .unwrap();
    let max = secs.iter().copied().fold(0.0, f64::max);
    assert_eq!(report["compute_seconds"]["max"].as_f64().unwrap(), max);
    let hosts: Vec<VarLenUnicode> = file.dataset("ranks/host").unwrap().read_raw().unwrap();
    assert_eq!(hosts.len(), 3);
    assert_eq!(report["hosts"][0].as_str().unwrap(), hosts[0].as_str());

    assert_eq!(run.field("inside"), inside.to_string());
    assert_eq!(run.field("seed"), seed.to_string());
    assert_eq!(
        run.field("samples"),
        format!("{samples} (41 batches of {batch})")
    );
    assert_eq!(run.field("pi estimate"), format!("{pi_hat:.12}"));
    assert_eq!(
        run.field("stream layout"),
        report["stream_layout"].as_str().unwrap()
    );
    assert_eq!(run.field("kernel"), report["kernel"].as_str().unwrap());
    assert_eq!(
        run.field("z-score"),
        format!("{:+.3}", report["z_score"].as_f64().unwrap())
    );
    assert!(run.field("ranks").starts_with("3 on 1 host(s)"));
    assert!(run.stdout.trim_end().ends_with(" sigma from pi"));
    assert!(run
        .stdout
        .lines()
        .last()
        .unwrap()
        .starts_with(report["verdict"].as_str().unwrap()));
}

#[test]
fn reports_are_never_overwritten_without_force() {
    let dir = Scratch::new("force");
    let args = |seed: &'static str| {
        [
            "run",
            "--samples",
            "1e6",
            "--batch-size",
            "1e5",
            "--seed",
            seed,
            "--output",
            "same",
        ]
    };
    assert_eq!(mcpi(Some(2), &args("1"), dir.path()).status, 0);
    let before = (
        std::fs::read(dir.path().join("same.h5")).unwrap(),
        std::fs::read(dir.path().join("same.json")).unwrap(),
    );
    let again = mcpi(Some(2), &args("2"), dir.path());
    again.assert_one_error(2, &["--output", "same.h5", "--force"]);
    let after = (
        std::fs::read(dir.path().join("same.h5")).unwrap(),
        std::fs::read(dir.path().join("same.json")).unwrap(),
    );
    assert!(before == after, "existing report untouched");

    let mut forced = args("2").to_vec();
    forced.push("--force");
    let run = mcpi(Some(2), &forced, dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(json(&dir.path().join("same.json"))["seed"], 2);
    assert_eq!(dir.files(), ["same.h5", "same.json"]);
}

#[test]
fn default_name_is_timestamped_and_carries_the_slurm_job() {
    let dir = Scratch::new("default");
    let slurm = [
        ("SLURM_JOB_ID", "4242"),
        ("SLURM_JOB_NUM_NODES", "1"),
        ("SLURM_NTASKS", "1"),
        ("SLURM_JOB_NODELIST", "node001"),
    ];
    let run = mcpi_env(
        None,
        &["run", "--samples", "1e6", "--batch-size", "1e6"],
        dir.path(),
        &slurm,
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let files = dir.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let stem = files[0].strip_suffix(".h5").expect("an .h5 file");
    assert_eq!(files[1], format!("{stem}.json"));
    // mcpi-yyyymmddThhmmss-4242
    let stamp = stem
        .strip_prefix("mcpi-")
        .and_then(|s| s.strip_suffix("-4242"))
        .expect(stem);
    assert_eq!(stamp.len(), 15, "{stem}");
    assert_eq!(&stamp[8..9], "T");
    assert!(
        stamp.chars().filter(char::is_ascii_digit).count() == 14,
        "{stem}"
    );
    let report = json(&dir.path().join(format!("{stem}.json")));
    assert_eq!(report["slurm"]["job_id"], "4242");
    assert_eq!(report["slurm"]["nodes"], 1);
    assert_eq!(report["slurm"]["nodelist"], "node001");
    assert!(run.field("slurm").starts_with("job 4242"));
}

#[test]
fn help_is_printed_once() {
    let dir = Scratch::new("help");
    let run = mcpi(Some(2), &["run", "--help"], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout.matches("Usage:").count(), 1, "{}", run.stdout);
    for flag in ["--samples", "--batch-size", "--seed", "--output", "--force"] {
        assert!(run.stdout.contains(flag), "help lacks {flag}");
    }
    assert!(dir.files().is_empty());
}

/// A tmpfs of 64 KiB: too small for the per-batch counts of 100 000 batches.
pub(crate) struct TinyDisk(pub(crate) Scratch);

impl TinyDisk {
    pub(crate) fn mount() -> TinyDisk {
        let dir = Scratch::new("full");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success());
        assert_eq!(
            ok.ok(),
            Some(true),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        TinyDisk(dir)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_leaves_no_partial_report() {
    let disk = TinyDisk::mount();
    let prefix = disk.0.path().join("r");
    let run = mcpi(
        Some(2),
        &[
            "run",
            "--samples",
            "1e6",
            "--batch-size",
            "10",
            "--output",
            prefix.to_str().unwrap(),
        ],
        Path::new("."),
    );
    run.assert_one_error(1, &["r.h5", "No space left on device"]);
    assert!(
        run.field("inside").parse::<u64>().is_ok(),
        "the result still reaches stdout"
    );
    assert_eq!(
        disk.0.files(),
        Vec::<String>::new(),
        "no report and no temporary file"
    );
}

#[test]
fn per_batch_counts_cross_in_several_chunks_per_rank() {
    // 1.2e6 batches on 2 ranks: rank 1 sends its 6e5 counts as two chunks of at
    // most 2^19, received by rank 0 between its own batches; rank 0 writes its
    // own 6e5 in two chunks too.
    let dir = Scratch::new("chunks");
    let run = mcpi(
        Some(2),
        &[
            "run",
            "--seed",
            "5",
            "--samples",
            "1.2e6",
            "--batch-size",
            "1",
            "--output",
            "c",
        ],
        dir.path(),
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let file = hdf5::File::open(dir.path().join("c.h5")).unwrap();
    let per_batch: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
    assert!(per_batch.len() > 2 * mcpi::protocol::MESSAGE_COUNTS);
    assert_eq!(per_batch, expected_counts(5, 1_200_000, 1));
}
