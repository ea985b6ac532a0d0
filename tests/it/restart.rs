//! Nothing lost: runs stopped by real signals under mpirun write a partial report
//! and a checkpoint and exit 75; resumed on another rank count, any number of
//! times, they end with the uninterrupted count exactly. `kill -9` of a rank
//! leaves the last checkpoint resumable; damaged, foreign, newer and mismatched
//! checkpoints are refused and left untouched; a checkpoint directory that
//! turns read-only keeps the previous checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{edit_h5, json, mcpi, JobTmp, Scratch, TIMEOUT};

/// The run every test interrupts: 200 batches, a few seconds on 2 cores.
const RUN: [&str; 4] = ["--samples", "1e10", "--batch-size", "5e7"];

/// The inside count of [`RUN`], uninterrupted (computed once).
pub fn reference_inside() -> u64 {
    static INSIDE: OnceLock<u64> = OnceLock::new();
    *INSIDE.get_or_init(|| {
        let dir = Scratch::new("restart-ref");
        let mut args = vec!["run", "-q", "--output", "ref"];
        args.extend(RUN);
        let run = mcpi(Some(2), &args, dir.path());
        assert_eq!(run.status, 0, "{run:?}");
        json(&dir.path().join("ref.json"))["inside"]
            .as_u64()
            .unwrap()
    })
}

/// `mpirun -n RANKS mcpi run RUN ARGS` in the background, output to files.
struct Job {
    child: Child,
    _tmp: JobTmp,
    dir: PathBuf,
    name: String,
}

impl Job {
    fn start(ranks: usize, args: &[&str], dir: &Path, name: &str) -> Job {
        let mut all: Vec<&str> = vec!["run", "-q"];
        all.extend(RUN);
        all.extend(args);
        let out = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(dir.join(format!("{name}.err"))).unwrap();
        let tmp = JobTmp::new();
        let child = Command::new("mpirun")
            .env("TMPDIR", &tmp.0)
            .args(["-q", "-n", &ranks.to_string(), env!("CARGO_BIN_EXE_mcpi")])
            .args(&all)
            .current_dir(dir)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("mpirun");
        Job {
            child,
            _tmp: tmp,
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// The ranks: mpirun's child processes (local launch: no daemon between).
    fn ranks(&self) -> Vec<u32> {
        let me = self.child.id().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let after = stat.rsplit(") ").next().unwrap_or("");
            let ppid = after.split(' ').nth(1).unwrap_or("");
            if ppid == me && stat.contains("(mcpi)") {
                pids.push(entry.file_name().to_string_lossy().parse().unwrap());
            }
        }
        pids.sort();
        pids
    }

    /// Sends `signal` (a `kill -s` name) to `pids`.
    fn kill(pids: &[u32], signal: &str) {
        let status = Command::new("kill")
            .arg("-s")
            .arg(signal)
            .args(pids.iter().map(u32::to_string))
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} {pids:?}");
    }

    /// Waits for the ranks to be counting, then signals every one of them.
    fn signal_ranks(&mut self, signal: &str, expected: usize) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let pids = self.ranks();
            if pids.len() == expected {
                Job::kill(&pids, signal);
                return;
            }
            assert!(Instant::now() < deadline, "ranks never appeared");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the exit status (with the suite's timeout).
    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} timed out:\n{}", self.name, self.stderr());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.err", self.name))).unwrap_or_default()
    }
}

/// Waits until `path` exists.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Batches done according to a checkpoint, read back with the HDF5 library.
fn checkpoint_batches(path: &Path) -> u64 {
    let file = hdf5::File::open(path).unwrap();
    file.attr("batches_done")
        .unwrap()
        .read_scalar::<u64>()
        .unwrap()
}

/// Starts a run on `ranks`, lets it count for `after` once its first checkpoint
/// exists, stops it with `signals` (sent to every rank, 2 ms apart) and checks
/// the partial report and checkpoint. Returns the batches done.
fn interrupt(
    dir: &Path,
    name: &str,
    ranks: usize,
    resume: bool,
    after: Duration,
    signals: &[&str],
) -> u64 {
    interrupt_shaped(dir, name, (ranks, &[]), resume, after, signals)
}

/// [`interrupt`] on `ranks` with `extra` flags (`--threads 2`).
fn interrupt_shaped(
    dir: &Path,
    name: &str,
    (ranks, extra): (usize, &[&str]),
    resume: bool,
    after: Duration,
    signals: &[&str],
) -> u64 {
    let ck = dir.join("ck.h5");
    let mut args = vec![
        "--checkpoint",
        "ck.h5",
        "--checkpoint-interval",
        "0.2s",
        "--output",
        name,
    ];
    args.extend(extra);
    if resume {
        args.extend(["--resume", "ck.h5"]);
    } else {
        wait_for_absent(&ck);
    }
    let mut job = Job::start(ranks, &args, dir, name);
    if !resume {
        wait_for(&ck);
    }
    thread::sleep(after);
    for s in signals {
        job.signal_ranks(s, ranks);
        thread::sleep(Duration::from_millis(2));
    }
    let status = job.wait();
    let report = json(&dir.join(format!("{name}.json")));
    if status == 0 {
        // The run finished before the signal reached it: nothing to check here.
        assert_eq!(report["complete"], true);
        return report["batches"].as_u64().unwrap();
    }
    assert_eq!(status, 75, "{name}: {}", job.stderr());
    assert_eq!(report["complete"], false, "{report:#}");
    assert!(
        report["stopped_by"].as_str().unwrap().starts_with("SIG"),
        "{report:#}"
    );
    let done = report["batches_done"].as_u64().unwrap();
    assert!(done < 200, "{report:#}");
    // The checkpoint holds exactly what the partial report counted.
    assert_eq!(checkpoint_batches(&ck), done, "{report:#}");
    let partial_samples = report["samples_done"].as_u64().unwrap();
    assert_eq!(partial_samples, done * 50_000_000);
    assert!(
        !std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-")),
        "temporary files left"
    );
    done
}

fn wait_for_absent(path: &Path) {
    assert!(!path.exists(), "{} exists already", path.display());
}

/// Resumes the checkpoint on `ranks` to the end; returns the final report.
fn resume_to_end(dir: &Path, name: &str, ranks: usize) -> Value {
    resume_shaped(dir, name, (ranks, &[]))
}

/// [`resume_to_end`] on `ranks` with `extra` flags.
fn resume_shaped(dir: &Path, name: &str, (ranks, extra): (usize, &[&str])) -> Value {
    let mut args = vec![
        "run",
        "-q",
        "--samples",
        "1e10",
        "--batch-size",
        "5e7",
        "--resume",
        "ck.h5",
        "--output",
        name,
    ];
    args.extend(extra);
    let run = mcpi(Some(ranks), &args, dir);
    assert_eq!(run.status, 0, "{run:?}");
    json(&dir.join(format!("{name}.json")))
}

#[test]
fn sigterm_mid_run_then_resume_on_another_rank_count() {
    let want = reference_inside();
    for (from, to, after) in [(2, 3, 0), (3, 2, 600)] {
        let dir = Scratch::new("restart-term");
        let done = interrupt(
            dir.path(),
            "part",
            from,
            false,
            Duration::from_millis(after),
            &["TERM"],
        );
        let report = resume_to_end(dir.path(), "final", to);
        assert_eq!(
            report["inside"], want,
            "{from} -> {to} ranks, stopped after {done} batches"
        );
        assert_eq!(report["complete"], true);
        assert_eq!(report["resumed_batches"], done);
        assert_eq!(report["ranks"], to as u64);
        assert_eq!(checkpoint_batches(&dir.path().join("ck.h5")), 200);
    }
}

#[test]
fn threaded_runs_stop_checkpoint_and_resume_on_another_shape() {
    let want = reference_inside();
    let dir = Scratch::new("restart-threads");
    // 2 ranks × 2 threads, stopped; then 1 rank × 3 threads, to the end.
    let done = interrupt_shaped(
        dir.path(),
        "part",
        (2, &["--threads", "2"]),
        false,
        Duration::from_millis(300),
        &["TERM"],
    );
    let report = resume_shaped(dir.path(), "final", (1, &["--threads", "3"]));
    assert_eq!(report["inside"], want, "stopped after {done} batches");
    assert_eq!(report["complete"], true);
    assert_eq!(report["resumed_batches"], done);
    assert_eq!(
        (report["ranks"].clone(), report["threads"].clone()),
        (1.into(), 3.into())
    );
}

#[test]
fn repeated_interrupts_with_two_signals_each() {
    let want = reference_inside();
    let dir = Scratch::new("restart-repeat");
    // SIGINT then SIGTERM, SIGUSR1 then SIGUSR1: the second signal of each pair
    // arrives during the stop and must not spoil the checkpoint.
    let a = interrupt(dir.path(), "p1", 2, false, Duration::ZERO, &["INT", "TERM"]);
    let b = interrupt(
        dir.path(),
        "p2",
        3,
        true,
        Duration::from_millis(300),
        &["USR1", "USR1"],
    );
    assert!(b >= a, "{a} then {b}");
    let report = resume_to_end(dir.path(), "final", 1);
    assert_eq!(report["inside"], want);
    assert_eq!(report["resumed_batches"], b);
}

#[test]
fn kill_9_of_one_rank_leaves_a_resumable_checkpoint() {
    let want = reference_inside();
    let dir = Scratch::new("restart-kill");
    let ck = dir.path().join("ck.h5");
    let args = [
        "--checkpoint",
        "ck.h5",
        "--checkpoint-interval",
        "0.2s",
        "--output",
        "killed",
    ];
    let mut job = Job::start(2, &args, dir.path(), "killed");
    wait_for(&ck);
    thread::sleep(Duration::from_millis(300));
    let ranks = job.ranks();
    assert_eq!(ranks.len(), 2);
    Job::kill(&ranks[1..], "KILL");
    let status = job.wait();
    assert_ne!(status, 0, "{}", job.stderr());
    assert!(
        !dir.path().join("killed.json").exists(),
        "no report from a killed job"
    );
    let saved = checkpoint_batches(&ck);
    assert!(saved < 200, "{saved}");
    let report = resume_to_end(dir.path(), "final", 3);
    assert_eq!(report["inside"], want);
    assert_eq!(report["resumed_batches"], saved);
}

/// A small complete run's checkpoint, to damage.
fn small_checkpoint(dir: &Path) -> PathBuf {
    let run = mcpi(
        None,
        &[
            "run",
            "-q",
            "--samples",
            "1e8",
            "--batch-size",
            "1e6",
            "--checkpoint",
            "good.h5",
            "--output",
            "small",
        ],
        dir,
    );
    assert_eq!(run.status, 0, "{run:?}");
    dir.join("good.h5")
}

#[test]
fn bad_checkpoints_are_refused_and_left_alone() {
    let dir = Scratch::new("restart-bad");
    let good = small_checkpoint(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, data: &[u8]| {
        std::fs::write(dir.path().join(name), data).unwrap();
        name.to_string()
    };
    let truncated = variant("truncated.h5", &bytes[..bytes.len() / 2]);
    // A flipped byte inside the per-batch counts: only the digest can tell.
    let offset = hdf5::File::open(&good)
        .unwrap()
        .dataset("done/inside")
        .unwrap()
        .offset()
        .expect("contiguous dataset") as usize;
    let mut flipped = bytes.clone();
    flipped[offset + 8] ^= 0x01;
    let corrupted = variant("corrupted.h5", &flipped);
    let text = variant("text.h5", b"not HDF5 at all\n");
    // A newer format, written with the HDF5 library.
    let newer = variant("newer.h5", &bytes);
    edit_h5(&dir.path().join(&newer), |f| {
        f.delete_attr("format_version").unwrap();
        f.new_attr::<u64>()
            .create("format_version")
            .unwrap()
            .write_scalar(&99u64)
            .unwrap();
    });
    // (file, --samples, --seed, what the error must say)
    let default_seed = mcpi::config::DEFAULT_SEED.to_string();
    let (seed, other_seed) = (default_seed.as_str(), "7");
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (&truncated, "1e8", seed, vec!["damaged"]),
        (&corrupted, "1e8", seed, vec!["damaged"]),
        (&text, "1e8", seed, vec!["damaged"]),
        ("small.h5", "1e8", seed, vec!["not an mcpi checkpoint"]),
        (&newer, "1e8", seed, vec!["newer mcpi", "99"]),
        ("good.h5", "1e8", other_seed, vec!["--seed"]),
        ("good.h5", "2e8", seed, vec!["--samples"]),
        ("missing.h5", "1e8", seed, vec!["No such file"]),
    ];
    for (file, samples, seed, words) in cases {
        let before = std::fs::read(dir.path().join(file)).ok();
        let args = [
            "run",
            "--samples",
            samples,
            "--batch-size",
            "1e6",
            "--seed",
            seed,
            "--resume",
            file,
            "--output",
            "out",
        ];
        let run = mcpi(Some(2), &args, dir.path());
        let mut names = vec!["--resume", file];
        names.extend(words);
        run.assert_one_error(2, &names);
        assert_eq!(
            std::fs::read(dir.path().join(file)).ok(),
            before,
            "{file} was modified"
        );
        assert!(!dir.path().join("out.json").exists() && !dir.path().join("out.h5").exists());
    }
    // A checkpoint that would be the report itself, in a missing directory, or
    // an existing one (not overwritten by a fresh run without --force).
    for (checkpoint, output, words) in [
        ("o3.h5", "o3", ["--output", "report"]),
        ("nowhere/ck.h5", "o4", ["directory", "exist"]),
        ("good.h5", "o5", ["exists", "--resume"]),
    ] {
        let args = [
            "run",
            "--samples",
            "1e8",
            "--checkpoint",
            checkpoint,
            "--output",
            output,
        ];
        let run = mcpi(Some(2), &args, dir.path());
        let mut names = vec!["--checkpoint", checkpoint];
        names.extend(words);
        run.assert_one_error(2, &names);
        assert!(!dir.path().join(format!("{output}.json")).exists());
    }
    assert_eq!(std::fs::read(&good).unwrap(), bytes);
}

#[test]
fn a_read_only_checkpoint_directory_keeps_the_previous_checkpoint() {
    let dir = Scratch::new("restart-ro");
    let mnt = dir.path().join("ckdir");
    std::fs::create_dir(&mnt).unwrap();
    let mount = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    assert!(
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "tmpfs",
            mnt.to_str().unwrap()
        ]),
        "mounting a tmpfs needs root (run the suite as root, as CI does)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let ck = mnt.join("ck.h5");
    let args = [
        "--checkpoint",
        "ckdir/ck.h5",
        "--checkpoint-interval",
        "0.2s",
        "--output",
        "ro",
    ];
    let mut job = Job::start(2, &args, dir.path(), "ro");
    wait_for(&ck);
    thread::sleep(Duration::from_millis(100));
    assert!(
        mount(&["-o", "remount,ro", mnt.to_str().unwrap()]),
        "remount read-only"
    );
    let kept = std::fs::read(&ck).unwrap();
    thread::sleep(Duration::from_millis(500));
    job.signal_ranks("USR1", 2);
    let status = job.wait();
    let stderr = job.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mcpi: error"))
        .collect();
    assert!(!errors.is_empty(), "no error: {stderr}");
    assert!(
        errors
            .iter()
            .all(|l| l.contains("ckdir/ck.h5") && l.contains("Read-only")),
        "{errors:?}"
    );
    // The final checkpoint could not be written either: a failure, not a clean stop.
    assert_eq!(status, 1, "{stderr}");
    assert_eq!(
        std::fs::read(&ck).unwrap(),
        kept,
        "the previous checkpoint changed"
    );
    assert!(checkpoint_batches(&ck) < 200);
    // The partial report went elsewhere and is there.
    assert_eq!(json(&dir.path().join("ro.json"))["complete"], false);
}
