//! Hostile input (issue 12's failure classes): odd files, damaged checkpoint
//! dataspaces, a full report disk, numeric edges, closed pipes, concurrent runs,
//! odd signals, MPMD mixes, invisible labels and stale temporaries. Each test
//! failed (or hung, until its timeout) before its fix.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::report::TinyDisk;
use crate::util::{edit_h5, expected_counts, json, mcpi, mcpi_mpmd, Run, Scratch};

/// `mcpi ARGS` as a plain process in `dir`.
fn one(args: &[&str], dir: &Path) -> Run {
    mcpi(None, args, dir)
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// The inside count of every batch of (seed, samples, batch size), summed.
fn expected(seed: u64, samples: u64, batch: u64) -> u64 {
    expected_counts(seed, samples, batch).iter().sum()
}

#[test]
fn fifos_devices_and_dangling_links_are_refused_before_any_work() {
    let dir = Scratch::new("odd-files");
    let p = dir.path();
    mkfifo(&p.join("fifo"));
    mkfifo(&p.join("lf.log"));
    // A character device of our own (as /dev/null), never a system one.
    assert!(Command::new("mknod")
        .args([p.join("dev").to_str().unwrap(), "c", "1", "3"])
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink(p.join("nowhere.h5"), p.join("r.h5")).unwrap();
    let before = dir.files();
    for (args, names) in [
        (
            &["run", "--resume", "fifo"][..],
            &["--resume", "fifo", "FIFO"][..],
        ),
        (
            &["run", "--checkpoint", "fifo", "--force"],
            &["--checkpoint", "fifo", "FIFO"],
        ),
        (
            &["run", "--checkpoint", "dev", "--force"],
            &["--checkpoint", "dev", "device"],
        ),
        // The checkpoint's log, appended to in place, is checked as well.
        (
            &["run", "--checkpoint", "lf", "--force"],
            &["--checkpoint", "its log lf.log", "FIFO"],
        ),
        (
            &["run", "--output", "r", "--force"],
            &["--output", "r.h5", "dangling"],
        ),
        (&["run", "--output", "r"], &["--output", "r.h5", "dangling"]),
    ] {
        let run = one(args, p);
        run.assert_one_error(2, names);
        assert_eq!(dir.files(), before, "{args:?} wrote or removed something");
    }
    assert!(std::fs::metadata(p.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::metadata(p.join("dev"))
        .unwrap()
        .file_type()
        .is_char_device());
    // mcpi study: a FIFO or /dev/zero as input, a FIFO or device as output.
    for args in [
        &["study", "fifo"][..],
        &["study", "/dev/zero"],
        &["study", "/dev/zero", "--csv", "out.csv"],
    ] {
        let run = one(args, p);
        assert_eq!(run.status, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("mcpi study: error:"), "{run:?}");
    }
    std::fs::write(p.join("not-a-report.json"), "{}").unwrap();
    for out in ["--csv", "--plot", "--markdown"] {
        for target in ["fifo", "dev"] {
            let run = one(&["study", "not-a-report.json", out, target, "--force"], p);
            assert_eq!(run.status, 2, "{run:?}");
            assert!(
                run.stderr.contains(out) && run.stderr.contains(target),
                "{run:?}"
            );
        }
    }
    assert!(std::fs::metadata(p.join("dev"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn a_prefix_too_long_for_its_temporary_name_is_refused_up_front() {
    let dir = Scratch::new("long-name");
    let long = "x".repeat(245); // x.json fits NAME_MAX, its temporary does not
    let run = one(&["run", "--samples", "1e6", "--output", &long], dir.path());
    run.assert_one_error(2, &["--output", "too long"]);
    assert!(dir.files().is_empty());
}

/// Writes `ck.h5`, the checkpoint of a complete 100-batch run, in `dir`; returns
/// the flags a resume of it needs.
fn small_checkpoint(dir: &Path) -> [&'static str; 4] {
    let args = ["--samples", "1e8", "--batch-size", "1e6"];
    let mut first = vec!["run", "-q", "--checkpoint", "ck.h5", "--output", "a"];
    first.extend(args);
    assert_eq!(one(&first, dir).status, 0);
    args
}

#[test]
fn checkpoint_dataspaces_are_checked_before_anything_is_read() {
    let dir = Scratch::new("dataspace");
    let p = dir.path();
    let args = small_checkpoint(p);
    for (name, edit) in [
        ("huge.h5", "huge"),
        ("float.h5", "float"),
        ("matrix.h5", "matrix"),
    ] {
        std::fs::copy(p.join("ck.h5"), p.join(name)).unwrap();
        edit_h5(&p.join(name), |f| {
            let g = f.group("done").unwrap();
            g.unlink("start").unwrap();
            match edit {
                // 2^33 values declared, none stored: reading would allocate 64 GiB.
                "huge" => drop(
                    g.new_dataset::<u64>()
                        .shape(1usize << 33)
                        .create("start")
                        .unwrap(),
                ),
                "float" => g
                    .new_dataset::<f64>()
                    .shape(1)
                    .create("start")
                    .unwrap()
                    .write_raw(&[0.0f64])
                    .unwrap(),
                _ => g
                    .new_dataset::<u64>()
                    .shape((1, 1))
                    .create("start")
                    .unwrap()
                    .write_raw(&[0u64])
                    .unwrap(),
            }
        });
        let bytes = std::fs::read(p.join(name)).unwrap();
        let mut resume = vec!["run", "-q", "--resume", name, "--output", "b"];
        resume.extend(args);
        let run = one(&resume, p);
        run.assert_one_error(2, &["--resume", name, "/done/start"]);
        assert_eq!(
            std::fs::read(p.join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
        assert!(!p.join("b.json").exists());
    }
}

#[test]
fn a_full_report_disk_does_not_stop_the_checkpoints() {
    let disk = TinyDisk::mount(); // 64 KiB: the report's 20 000 counts do not fit
    let dir = Scratch::new("full-report");
    let p = dir.path();
    let report = disk.0.path().join("r");
    let (samples, batch) = (20_000_000u64, 1_000u64);
    let run_with = |extra: &[&str]| {
        let mut args = vec!["run", "-q", "--samples", "2e7", "--batch-size", "1e3"];
        args.extend_from_slice(extra);
        one(&args, p)
    };
    let run = run_with(&[
        "--checkpoint",
        "ck.h5",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 1, "the report cannot be written: {run:?}");
    // The checkpoint holds every batch: resuming it redoes nothing.
    let run = run_with(&["--resume", "ck.h5", "--output", "r2"]);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let r = json(&p.join("r2.json"));
    assert_eq!(r["resumed_batches"], 20_000);
    assert_eq!(
        r["inside"],
        expected(mcpi::config::DEFAULT_SEED, samples, batch)
    );
}

#[test]
fn float_flags_that_give_no_finite_interval_are_refused() {
    let dir = Scratch::new("float-edges");
    for (args, names) in [
        // 0.5 + C/2 rounds to 1: no finite quantile (it was NaN, and ran to the maximum).
        (
            &[
                "--target-error",
                "1e-5",
                "--confidence",
                "0.9999999999999999",
                "--samples",
                "1e9",
            ][..],
            &["--confidence", "close to 1"][..],
        ),
        // A finite quantile needing ~1.4e12 samples: refused, not run to the maximum.
        (
            &[
                "--target-error",
                "1e-5",
                "--confidence",
                "0.999999999999999",
                "--samples",
                "1e9",
            ],
            &["--target-error", "needs about"],
        ),
        (
            &[
                "--target-error",
                "1e-5",
                "--confidence",
                "1e-300",
                "--samples",
                "1e9",
            ],
            &["--confidence"],
        ),
    ] {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        one(&full, dir.path()).assert_one_error(2, names);
    }
    assert!(dir.files().is_empty());
}

/// A real report, and a copy whose wall time is tiny enough to overflow.
fn reports_with_tiny_wall_time(dir: &Path) {
    let run = one(&["run", "-q", "--samples", "1e6", "--output", "real"], dir);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let mut r = json(&dir.join("real.json"));
    r["wall_seconds"] = serde_json::json!(1e-310);
    std::fs::write(dir.join("tiny.json"), r.to_string()).unwrap();
}

#[test]
fn study_refuses_figures_that_are_not_finite_instead_of_looping() {
    let dir = Scratch::new("study-tiny");
    reports_with_tiny_wall_time(dir.path());
    let run = one(&["study", "tiny.json", "--plot", "p.svg"], dir.path());
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("mcpi study: error:") && run.stderr.contains("tiny.json"),
        "{run:?}"
    );
    assert!(!dir.path().join("p.svg").exists());
}

#[test]
fn study_reads_its_own_reports_with_null_figures() {
    let dir = Scratch::new("study-null");
    // One sample: all or nothing inside, no error bar, z-score null in the JSON.
    let run = one(
        &["run", "-q", "--samples", "1", "--output", "one"],
        dir.path(),
    );
    assert_eq!(run.status, 3, "{run:?}");
    assert!(json(&dir.path().join("one.json"))["z_score"].is_null());
    let run = one(&["study", "one.json"], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
}

/// Runs `mcpi ARGS` in `dir` with stdout closed before it writes, and stderr to
/// `stderr`; returns the exit status.
fn with_closed_stdout(args: &[&str], dir: &Path, stderr: Stdio) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpi"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone: writes fail with EPIPE
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(Instant::now() < deadline, "{args:?} hung");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_stdout_or_a_full_stderr_is_no_failure_and_no_panic() {
    let dir = Scratch::new("pipes");
    let p = dir.path();
    let status = with_closed_stdout(
        &["run", "-q", "--samples", "1e6", "--output", "r"],
        p,
        Stdio::null(),
    );
    assert!(status == Some(0) || status == Some(3), "{status:?}");
    assert!(p.join("r.h5").exists() && p.join("r.json").exists());
    // study writes its files first.
    let status = with_closed_stdout(&["study", "r.json", "--csv", "t.csv"], p, Stdio::null());
    assert_eq!(status, Some(0));
    assert!(p.join("t.csv").exists());
    // A bad flag with stderr on a full disk: still exit 2, no panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = with_closed_stdout(&["run", "--samples", "0"], p, Stdio::from(full));
    assert_eq!(status, Some(2));
}

#[test]
fn two_runs_on_one_prefix_never_mix_their_report_pair() {
    let dir = Scratch::new("lock");
    let p = dir.path();
    let long = ["run", "-q", "--samples", "3e9", "--output", "p", "--force"];
    let mut first = Command::new(env!("CARGO_BIN_EXE_mcpi"))
        .args(long)
        .current_dir(p)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.join(".p.lock").exists() {
        assert!(Instant::now() < deadline, "no lock appeared");
        thread::sleep(Duration::from_millis(10));
    }
    let second = one(
        &["run", "-q", "--samples", "1e6", "--output", "p", "--force"],
        p,
    );
    second.assert_one_error(2, &["--output", "another mcpi run"]);
    let status = first.wait().unwrap().code();
    assert!(status == Some(0) || status == Some(3), "{status:?}");
    let r = json(&p.join("p.json"));
    assert_eq!(r["samples"], 3_000_000_000u64);
    let h5 = hdf5::File::open(p.join("p.h5")).unwrap();
    let samples: u64 = h5.attr("samples").unwrap().read_scalar().unwrap();
    assert_eq!(samples, 3_000_000_000);
    assert!(
        !p.join(".p.lock").exists(),
        "the lock file is removed: {:?}",
        dir.files()
    );
}

#[test]
fn default_names_stay_unique_when_another_run_holds_one() {
    use std::os::unix::io::AsRawFd;
    let dir = Scratch::new("default-name");
    let p = dir.path();
    // Hold the locks of the default names of the next seconds, as concurrent
    // runs started in the same second would.
    let now = SystemTime::now();
    let mut held = Vec::new();
    let mut names = Vec::new();
    for s in 0..5 {
        let name = mcpi::report::files::default_prefix(now + Duration::from_secs(s), None);
        let f = std::fs::File::create(p.join(format!(".{name}.lock"))).unwrap();
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        held.push(f);
        names.push(name);
    }
    let run = one(&["run", "-q", "--samples", "1e6"], p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let reports: Vec<String> = dir
        .files()
        .into_iter()
        .filter(|f| f.ends_with(".json"))
        .collect();
    assert_eq!(reports.len(), 1, "{:?}", dir.files());
    assert!(
        names.iter().any(|n| reports[0] == format!("{n}-2.json")),
        "{reports:?} is not a held name with -2"
    );
}

#[test]
fn sighup_and_sigxcpu_stop_gracefully_with_a_partial_report() {
    for signal in ["HUP", "XCPU"] {
        let dir = Scratch::new("signals");
        let p = dir.path();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpi"))
            .args([
                "run",
                "-q",
                "--samples",
                "1e11",
                "--output",
                "s",
                "--checkpoint",
                "ck.h5",
            ])
            .current_dir(p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(1500));
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        assert_eq!(child.wait().unwrap().code(), Some(75), "SIG{signal}");
        let r = json(&p.join("s.json"));
        assert_eq!(r["complete"], false);
        assert_eq!(r["stopped_by"], format!("SIG{signal}"));
        assert!(p.join("ck.h5").exists());
        assert!(
            !dir.files().iter().any(|f| f.contains(".tmp-")),
            "{:?}",
            dir.files()
        );
    }
}

#[test]
fn an_mpmd_launch_mixing_study_with_run_is_refused_on_every_rank() {
    let dir = Scratch::new("mpmd-study");
    let run: &[&str] = &["run", "--samples", "1e6", "--output", "x"];
    let study: &[&str] = &["study", "x.json"];
    let result = mcpi_mpmd(&[(&[], run), (&[], study)], dir.path());
    result.assert_one_error(2, &["different arguments"]);
    assert!(dir.files().is_empty());
}

#[test]
fn labels_and_counts_at_their_edges() {
    let dir = Scratch::new("labels");
    let p = dir.path();
    for bad in ["right\u{202E}left", "zero\u{200B}width", "bom\u{FEFF}"] {
        one(&["run", "--samples", "1e6", "--label", bad], p).assert_one_error(2, &["--label"]);
    }
    // Invalid UTF-8 names the flag too.
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let out = Command::new(env!("CARGO_BIN_EXE_mcpi"))
        .args(["run", "--samples", "1e6", "--label"])
        .arg(bad)
        .current_dir(p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().count() == 1 && stderr.contains("--label"),
        "{stderr}"
    );
    one(&["run", "--samples", "1e2147483648"], p).assert_one_error(2, &["--samples", "too large"]);
    assert!(dir.files().is_empty());
    let run = one(&["run", "-q", "--samples", "+1000", "--output", "plus"], p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert_eq!(json(&p.join("plus.json"))["samples"], 1000);
}

#[test]
fn stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept() {
    let dir = Scratch::new("stale");
    let p = dir.path();
    let host = mcpi::host::name();
    // A pid no process has (pid_max is at most 2^22), and this test's own.
    let dead = (4_194_000..4_194_300u32)
        .find(|&pid| !mcpi::host::process_alive(pid))
        .unwrap();
    let stale = format!(".r.h5.tmp-{host}-{dead}-abc123");
    let live = format!(".r.json.tmp-{host}-{}-def456", std::process::id());
    let other_host = format!(".r.h5.tmp-elsewhere-{dead}-ghi789");
    // A host whose name extends this one's ("{host}-{dead}"): not ours.
    let longer_host = format!(".r.h5.tmp-{host}-{dead}-4711-jkl012");
    for f in [&stale, &live, &other_host, &longer_host] {
        std::fs::write(p.join(f), b"x").unwrap();
    }
    let run = one(&["run", "-q", "--samples", "1e6", "--output", "r"], p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert!(
        run.stderr.contains(&stale) && run.stderr.contains("removed"),
        "{run:?}"
    );
    let files = dir.files();
    assert!(!files.contains(&stale), "{files:?}");
    assert!(
        files.contains(&live) && files.contains(&other_host) && files.contains(&longer_host),
        "{files:?}"
    );
}

/// Checkpoints written by mcpi before format 3 (`tests/fixtures`): runs stopped
/// by SIGUSR1, with `--checkpoint-interval 0.01s`; version 1: `--samples 1e9
/// --batch-size 1e6`, 27 batches done; version 2: `--target-error 1e-4
/// --samples 1e10 --batch-size 1e6`, 13 batches done.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn version_1_and_2_checkpoints_are_still_resumed_and_continued_in_version_3() {
    let dir = Scratch::new("v1");
    let p = dir.path();
    // (fixture, flags, batches done in it, and the uninterrupted run's inside
    // count and samples, from mcpi before format 3)
    let cases: [(&str, &[&str], u64, u64, u64); 2] = [
        (
            "checkpoint-v1.h5",
            &["--samples", "1e9", "--batch-size", "1e6"],
            27,
            785_388_280,
            1_000_000_000,
        ),
        (
            "checkpoint-v2.h5",
            &[
                "--target-error",
                "1e-4",
                "--samples",
                "1e10",
                "--batch-size",
                "1e6",
            ],
            13,
            814_448_525,
            1_037_000_000,
        ),
    ];
    let version = |file: &str| -> u64 {
        hdf5::File::open(p.join(file))
            .unwrap()
            .attr("format_version")
            .unwrap()
            .read_scalar()
            .unwrap()
    };
    for (fixture, flags, done, inside, samples) in cases {
        std::fs::copy(Path::new(FIXTURES).join(fixture), p.join(fixture)).unwrap();
        assert!(
            version(fixture) < 3,
            "{fixture}: format {}",
            version(fixture)
        );
        let mut resume = vec!["run", "-q", "--resume", fixture, "--output", "b", "--force"];
        resume.extend(flags);
        let run = one(&resume, p);
        assert!(run.status == 0 || run.status == 3, "{run:?}");
        let r = json(&p.join("b.json"));
        assert_eq!(r["resumed_batches"], done, "{fixture}");
        assert_eq!(
            (r["inside"].clone(), r["samples"].clone()),
            (inside.into(), samples.into())
        );
        // Checkpointed again on the same path: now format 3, with its log.
        assert_eq!(version(fixture), mcpi::checkpoint::FORMAT_VERSION);
        assert!(p.join(format!("{fixture}.log")).exists());
        let run = one(&resume, p);
        assert!(run.status == 0 || run.status == 3, "{run:?}");
        assert_eq!(json(&p.join("b.json"))["inside"], inside);
    }
}
