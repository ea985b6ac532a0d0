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

use crate::report::TinyDisk;
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
        Job::spawn(ranks, &RUN, args, dir, name)
    }

    /// `mpirun -n RANKS mcpi run RUN ARGS`, with any `run`.
    fn spawn(ranks: usize, run: &[&str], args: &[&str], dir: &Path, name: &str) -> Job {
        let mut all: Vec<&str> = vec!["run", "-q"];
        all.extend(run);
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

    /// Waits for the ranks to be counting, then signals every one of them; a
    /// job that has ended meanwhile (a second signal after a quick stop) is
    /// left to the caller's checks.
    fn signal_ranks(&mut self, signal: &str, expected: usize) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let pids = self.ranks();
            if pids.len() == expected {
                Job::kill(&pids, signal);
                return;
            }
            if self.ended() {
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

    /// Whether the job has ended (without waiting).
    fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
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

/// The run the kill test interrupts: 10^4 batches, about 4 s of counting on
/// one core.
const KILL_RUN: [&str; 4] = ["--samples", "1e10", "--batch-size", "1e6"];
/// Its inside count, uninterrupted (mcpi before checkpoint format 3 counted it).
const KILL_RUN_INSIDE: u64 = 7_853_974_323;

/// The rank among `ranks` writing a checkpoint in `dir` now: the pid in the
/// name of a temporary manifest (`.ck.h5.tmp-HOST-PID-XXXXXX`; one a killed
/// run left has another pid).
fn checkpoint_writer(dir: &Path, ranks: &[u32]) -> Option<u32> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix(".ck.h5.tmp-")?;
        let pid = rest.rsplit('-').nth(1)?.parse().ok()?;
        ranks.contains(&pid).then_some(pid)
    })
}

#[test]
fn kill_9_at_random_moments_and_mid_checkpoint_resumes_to_the_exact_count() {
    let dir = Scratch::new("restart-kill-many");
    let p = dir.path();
    // A fixed seed: the moments differ from run to run anyway (start-up times).
    let mut x = 0x6b69_6c6c_2d39u64;
    let mut random_ms = |most: u64| {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (z ^ (z >> 29)) % most
    };
    let shapes: [(usize, &[&str]); 4] = [(2, &[]), (1, &["--threads", "2"]), (3, &[]), (1, &[])];
    let (mut kills, mut mid_write) = (0, 0);
    let mut stderr = String::new();
    let t0 = Instant::now();
    for i in 0..14 {
        if kills == 8 {
            break;
        }
        let (ranks, extra) = shapes[i % shapes.len()];
        let mut args = vec!["--checkpoint", "ck.h5", "--checkpoint-interval", "0.005s"];
        args.extend(["--output", "seg", "--force"]);
        args.extend(extra);
        // Killed before its first checkpoint: start afresh (a log no manifest
        // names may be there, written over).
        if p.join("ck.h5").exists() {
            args.extend(["--resume", "ck.h5"]);
        }
        let mtime = || {
            std::fs::metadata(p.join("ck.h5"))
                .and_then(|m| m.modified())
                .ok()
        };
        let before = mtime();
        let mut job = Job::spawn(ranks, &KILL_RUN, &args, p, &format!("seg{i}"));
        eprintln!(
            "{:.1?}: segment {i} on {ranks} rank(s) {extra:?}",
            t0.elapsed()
        );
        let deadline = Instant::now() + TIMEOUT;
        // Counting, past its first checkpoint (so every segment gets on).
        while (job.ranks().len() < ranks || mtime() == before) && !job.ended() {
            assert!(Instant::now() < deadline, "no checkpoint appeared");
            thread::sleep(Duration::from_millis(2));
        }
        thread::sleep(Duration::from_millis(random_ms(300)));
        if i % 2 == 1 {
            // Rank 0 the moment it is seen writing a checkpoint's manifest.
            let pids = job.ranks();
            while !job.ended() {
                if let Some(pid) = checkpoint_writer(p, &pids) {
                    // SAFETY: kills a rank of the job this test started.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    mid_write += 1;
                    break;
                }
                thread::sleep(Duration::from_micros(100));
            }
        } else {
            Job::kill(&job.ranks(), "KILL");
        }
        let status = job.wait();
        stderr.push_str(&job.stderr());
        assert_ne!(status, 2, "segment {i} refused: {}", job.stderr());
        if status == 0 || status == 3 {
            break; // it finished before the kill
        }
        kills += 1;
    }
    // The same report name: this run removes what the killed ones left.
    let args = [
        &["run", "-q"][..],
        &KILL_RUN,
        &["--resume", "ck.h5", "--output", "seg", "--force"],
    ]
    .concat();
    let run = mcpi(Some(2), &args, p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    stderr.push_str(&run.stderr);
    let report = json(&p.join("seg.json"));
    assert_eq!(report["inside"], KILL_RUN_INSIDE, "after {kills} kills");
    assert_eq!(report["complete"], true);
    assert_eq!(checkpoint_batches(&p.join("ck.h5")), 10_000);
    // What the kills interrupted: a manifest being written (its temporary,
    // removed by the next run), an append never confirmed (its tail ignored).
    let temporaries = stderr.matches("mcpi: removed ").count();
    let manifests = stderr
        .lines()
        .filter(|l| l.contains("removed") && l.contains(".ck.h5.tmp-"))
        .count();
    let tails = stderr.matches("ignoring the last").count();
    eprintln!(
        "{kills} kills ({mid_write} of rank 0 seen writing a manifest): {manifests} manifests \
         left half-written, {tails} unconfirmed log tails, {temporaries} temporaries removed"
    );
    assert!(kills >= 3, "the run outran the kills: {kills}");
    assert!(
        manifests + tails > 0,
        "no kill landed inside a checkpoint write:\n{stderr}"
    );
    assert!(
        !dir.files().iter().any(|f| f.contains(".tmp-")),
        "{:?}",
        dir.files()
    );
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

/// `name` and its log, as bytes (`None`: absent).
fn both(dir: &Path, name: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let read = |n: &str| std::fs::read(dir.join(n)).ok();
    (read(name), read(&format!("{name}.log")))
}

/// Writes checkpoint `name` in `dir`: its manifest and its log (`None`: absent).
fn put(dir: &Path, name: &str, manifest: Option<&[u8]>, log: Option<&[u8]>) -> String {
    for (file, data) in [(name.to_string(), manifest), (format!("{name}.log"), log)] {
        if let Some(d) = data {
            std::fs::write(dir.join(file), d).unwrap();
        }
    }
    name.to_string()
}

#[test]
fn bad_checkpoints_are_refused_and_left_alone() {
    let dir = Scratch::new("restart-bad");
    let p = dir.path();
    let good = small_checkpoint(p);
    let (Some(bytes), Some(log)) = both(p, "good.h5") else {
        panic!("no checkpoint and log: {:?}", dir.files());
    };
    let (m, l) = (Some(&bytes[..]), Some(&log[..]));
    // Damaged manifests, with their log whole.
    let truncated = put(p, "truncated.h5", Some(&bytes[..bytes.len() / 2]), l);
    let text = put(p, "text.h5", Some(b"not HDF5 at all\n"), l);
    let newer = put(p, "newer.h5", m, l);
    // A flipped bit in the log generation's id (an attribute, found by its
    // random value): only the manifest's digest can tell.
    let id: u64 = hdf5::File::open(&good)
        .unwrap()
        .attr("log_id")
        .unwrap()
        .read_scalar()
        .unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == id.to_le_bytes())
        .expect("log_id in the manifest's bytes");
    let mut flipped = bytes.clone();
    flipped[at + 3] ^= 0x10;
    let corrupted = put(p, "corrupted.h5", Some(&flipped), l);
    edit_h5(&p.join(&newer), |f| {
        f.delete_attr("format_version").unwrap();
        f.new_attr::<u64>()
            .create("format_version")
            .unwrap()
            .write_scalar(&99u64)
            .unwrap();
    });
    // Damaged logs, with their manifest whole. A flipped bit in a count: only
    // the record's check can tell (header 48 bytes, then the record's 3 words).
    let mut flipped = log.clone();
    flipped[48 + 24 + 8 * 5] ^= 0x01;
    let log_flipped = put(p, "log-flipped.h5", m, Some(&flipped));
    let log_cut = put(p, "log-cut.h5", m, Some(&log[..log.len() - 9]));
    let log_missing = put(p, "log-missing.h5", m, None);
    // Another checkpoint of the same run: its own log generation.
    let other = mcpi(
        None,
        &["run", "-q", "--samples", "1e8", "--batch-size", "1e6"]
            .into_iter()
            .chain(["--checkpoint", "other.h5", "--output", "other-report"])
            .collect::<Vec<_>>(),
        p,
    );
    assert_eq!(other.status, 0, "{other:?}");
    let foreign = put(p, "log-foreign.h5", m, both(p, "other.h5").1.as_deref());
    let log_fifo = put(p, "log-fifo.h5", m, None);
    assert!(Command::new("mkfifo")
        .arg(p.join("log-fifo.h5.log"))
        .status()
        .unwrap()
        .success());
    // (file, --samples, --seed, what the error must say)
    let default_seed = mcpi::config::DEFAULT_SEED.to_string();
    let (seed, other_seed) = (default_seed.as_str(), "7");
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (&truncated, "1e8", seed, vec!["damaged"]),
        (&text, "1e8", seed, vec!["damaged"]),
        (&corrupted, "1e8", seed, vec!["damaged", "digest"]),
        ("small.h5", "1e8", seed, vec!["not an mcpi checkpoint"]),
        (&newer, "1e8", seed, vec!["newer mcpi", "99"]),
        ("good.h5", "1e8", other_seed, vec!["--seed"]),
        ("good.h5", "2e8", seed, vec!["--samples"]),
        ("missing.h5", "1e8", seed, vec!["No such file"]),
        (
            &log_flipped,
            "1e8",
            seed,
            vec!["damaged", "log-flipped.h5.log", "check"],
        ),
        (
            &log_cut,
            "1e8",
            seed,
            vec!["damaged", "log-cut.h5.log", "truncated"],
        ),
        (
            &log_missing,
            "1e8",
            seed,
            vec!["log-missing.h5.log", "is missing", "copy or move both"],
        ),
        (&foreign, "1e8", seed, vec!["damaged", "another checkpoint"]),
        (
            &log_fifo,
            "1e8",
            seed,
            vec!["its log log-fifo.h5.log", "FIFO"],
        ),
    ];
    for (file, samples, seed, words) in cases {
        // (A FIFO's open would block: it is only checked to be there after.)
        let before = (file != log_fifo).then(|| both(p, file));
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
        // The log's cases as one process: the refusal is rank 0's either way.
        let ranks = (!file.starts_with("log-")).then_some(2);
        let run = mcpi(ranks, &args, p);
        let mut names = vec!["--resume", file];
        names.extend(words);
        run.assert_one_error(2, &names);
        if let Some(before) = before {
            assert_eq!(both(p, file), before, "{file} or its log was modified");
        }
        assert!(!p.join("out.json").exists() && !p.join("out.h5").exists());
    }
    // Bytes after the confirmed end (a checkpoint killed while appending) are
    // ignored, and said so; the checkpoint before them resumes.
    let mut tail = log.clone();
    tail.extend_from_slice(&[0xa5; 100]);
    let tailed = put(p, "tail.h5", m, Some(&tail));
    let run = mcpi(
        None,
        &["run", "-q", "--samples", "1e8", "--batch-size", "1e6"]
            .into_iter()
            .chain(["--resume", &tailed, "--output", "tail-report"])
            .collect::<Vec<_>>(),
        p,
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: --resume tail.h5: ignoring the last 100 bytes of tail.h5.log"),
        "{run:?}"
    );
    assert_eq!(
        json(&p.join("tail-report.json"))["inside"],
        json(&p.join("small.json"))["inside"]
    );
    // A checkpoint that would be the report itself, in a missing directory, an
    // existing one (not overwritten by a fresh run without --force), one whose
    // log path holds a file mcpi did not write, or whose files would be the
    // resumed checkpoint's.
    let notes = b"my notes, not a log\n";
    put(p, "orphan.h5", None, Some(notes));
    put(p, "ck.log", m, None);
    for (checkpoint, output, resume, words) in [
        ("o3.h5", "o3", None, vec!["--output", "report"]),
        ("nowhere/ck.h5", "o4", None, vec!["directory", "exist"]),
        ("good.h5", "o5", None, vec!["exists", "--resume"]),
        (
            "orphan.h5",
            "o6",
            None,
            vec!["orphan.h5.log", "not an mcpi checkpoint log", "--force"],
        ),
        (
            "good.h5.log",
            "o7",
            Some("good.h5"),
            vec!["log of the checkpoint resumed"],
        ),
        (
            "ck",
            "o8",
            Some("ck.log"),
            vec!["its log ck.log", "checkpoint resumed"],
        ),
    ] {
        let mut args = vec![
            "run",
            "--samples",
            "1e8",
            "--batch-size",
            "1e6",
            "--checkpoint",
            checkpoint,
            "--output",
            output,
        ];
        args.extend(resume.iter().flat_map(|r| ["--resume", *r]));
        let run = mcpi(Some(2), &args, p);
        let mut names = vec!["--checkpoint", checkpoint];
        names.extend(words);
        run.assert_one_error(2, &names);
        assert!(!p.join(format!("{output}.json")).exists());
    }
    assert_eq!(both(p, "orphan.h5"), (None, Some(notes.to_vec())));
    assert_eq!(std::fs::read(&good).unwrap(), bytes);
    assert_eq!(std::fs::read(p.join("good.h5.log")).unwrap(), log);
}

#[test]
fn a_leftover_log_is_written_over_and_a_held_one_refused() {
    let dir = Scratch::new("restart-leftover");
    let p = dir.path();
    small_checkpoint(p);
    let (_, Some(log)) = both(p, "good.h5") else {
        panic!("no log: {:?}", dir.files());
    };
    // A log no manifest names (its run was killed inside its first
    // checkpoint): a fresh run without --force writes over it, and says so.
    put(p, "left.h5", None, Some(&log));
    let args = [
        "run",
        "--samples",
        "1e8",
        "--batch-size",
        "1e6",
        "--seed",
        "3",
    ];
    let with = |ck: &'static str, out: &'static str| {
        let mut a = args.to_vec();
        a.extend(["--checkpoint", ck, "--output", out, "-q"]);
        a
    };
    let run = mcpi(Some(2), &with("left.h5", "l1"), p);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "warning: --checkpoint left.h5: its log left.h5.log is named by no checkpoint"
        ),
        "{run:?}"
    );
    let mut resume = with("left.h5", "l2");
    resume.extend(["--resume", "left.h5"]);
    let again = mcpi(None, &resume, p);
    assert!(again.status == 0 || again.status == 3, "{again:?}");
    let inside = |name: &str| json(&p.join(name))["inside"].clone();
    assert_eq!(inside("l2.json"), inside("l1.json"));
    // A log another live run holds (its lock): refused before any work.
    let lock = std::fs::File::open(p.join("left.h5.log")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let mut held = with("left.h5", "held");
    held.extend(["--resume", "left.h5", "--force"]);
    let before = both(p, "left.h5");
    mcpi(Some(2), &held, p).assert_one_error(
        2,
        &["--checkpoint", "left.h5", "left.h5.log", "another mcpi run"],
    );
    assert_eq!(both(p, "left.h5"), before);
    assert!(!p.join("held.json").exists());
    drop(lock);
    // Started over on the checkpoint (--force): a new generation after the
    // old one, which is then released (zeros where a hole was punched). The
    // checkpoint still resumes without --force.
    let mut over = with("left.h5", "l3");
    over.push("--force");
    let run = mcpi(None, &over, p);
    assert_eq!(run.status, 0, "{run:?}");
    let log = std::fs::read(p.join("left.h5.log")).unwrap();
    assert!(
        log.starts_with(&[0; 8]),
        "the old generation is not released"
    );
    let mut resume = with("left.h5", "l4");
    resume.extend(["--resume", "left.h5"]);
    let run = mcpi(Some(2), &resume, p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert_eq!(inside("l4.json"), inside("l1.json"));
    // A symbolic link to the log as a fresh checkpoint's log: appended
    // after, never written over or punched (left.h5 still names it).
    std::os::unix::fs::symlink("left.h5.log", p.join("sym.h5.log")).unwrap();
    let run = mcpi(None, &with("sym.h5", "l8"), p);
    assert_eq!(run.status, 0, "{run:?}");
    let now = std::fs::read(p.join("left.h5.log")).unwrap();
    assert!(now.len() > log.len() && now[..log.len()] == log[..]);
    std::fs::remove_file(p.join("sym.h5.log")).unwrap();
    std::fs::remove_file(p.join("sym.h5")).unwrap();
    let log = now;
    // A hard link to the log as another checkpoint's log: refused, not
    // written over (the manifest of left.h5 names it).
    std::fs::hard_link(p.join("left.h5.log"), p.join("linked.h5.log")).unwrap();
    let mut linked = with("linked.h5", "l5");
    linked.extend(["--resume", "left.h5"]);
    mcpi(None, &linked, p).assert_one_error(
        2,
        &["--checkpoint", "linked.h5", "log of the checkpoint resumed"],
    );
    let mut fresh = with("linked.h5", "l6");
    fresh.push("--force");
    let run = mcpi(None, &fresh, p);
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        std::fs::read(p.join("left.h5.log")).unwrap()[..log.len()],
        log[..]
    );
    let mut resume = with("left.h5", "l7");
    resume.extend(["--resume", "left.h5"]);
    let run = mcpi(None, &resume, p);
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    assert_eq!(inside("l7.json"), inside("l1.json"));
}

#[test]
fn a_full_checkpoint_disk_keeps_a_resumable_checkpoint() {
    let dir = Scratch::new("restart-full");
    let p = dir.path();
    let disk = TinyDisk::mount(); // 64 KiB
    let ck_path = disk.0.path().join("ck.h5");
    let ck_path = ck_path.to_str().unwrap();
    // 10^4 batches: their log (80 KB) outgrows the disk half-way. The run
    // goes on and says so; the checkpoint left is the last whole one (a
    // manifest whose writes were deferred past its sync was not).
    let ck = ["--checkpoint", ck_path, "--checkpoint-interval", "0.05s"];
    let run = mcpi(
        None,
        &[&["run", "-q", "--output", "r"][..], &KILL_RUN, &ck].concat(),
        p,
    );
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains("No space left on device"), "{run:?}");
    assert_eq!(json(&p.join("r.json"))["inside"], KILL_RUN_INSIDE);
    let resume = [
        "--resume",
        ck_path,
        "--checkpoint",
        "alt.h5",
        "--output",
        "rq",
    ];
    let run = mcpi(
        Some(2),
        &[&["run", "-q"][..], &KILL_RUN, &resume].concat(),
        p,
    );
    assert!(run.status == 0 || run.status == 3, "{run:?}");
    let r = json(&p.join("rq.json"));
    assert!(r["resumed_batches"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["inside"], KILL_RUN_INSIDE);
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
    // A remount fails (EBUSY) while a checkpoint holds a file open for
    // writing there: try again at once.
    assert!(
        (0..50).any(|_| mount(&["-o", "remount,ro", mnt.to_str().unwrap()])
            || (thread::sleep(Duration::from_millis(3)), false).1),
        "remount read-only"
    );
    let kept = std::fs::read(&ck).unwrap();
    let kept_log = std::fs::read(mnt.join("ck.h5.log")).unwrap();
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
    assert_eq!(std::fs::read(mnt.join("ck.h5.log")).unwrap(), kept_log);
    assert!(checkpoint_batches(&ck) < 200);
    // The partial report went elsewhere and is there.
    assert_eq!(json(&dir.path().join("ro.json"))["complete"], false);
}
