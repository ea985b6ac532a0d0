//! mcpi across hosts, on an emulated cluster (`tests/cluster/netcluster.sh`, as
//! root): a head host and three compute hosts, each in its own network, UTS and
//! mount namespaces, on a private subnet that exists only inside them.
//!
//! - `mpirun --hostfile` on the head host, launching through the cluster's ssh
//!   stand-in and forced onto TCP, puts 4 ranks on the 3 compute hosts; the count
//!   equals a single process's, and the report names the hosts and their ranks.
//! - A compute host whose every process is killed mid-run ends the job with a
//!   non-zero exit and mpirun's account of it, leaves no rank behind elsewhere,
//!   and leaves a checkpoint that one process resumes to the uninterrupted count.
//! - A 3-node Slurm cluster on the same hosts runs every script in `slurm/`,
//!   unchanged, with `sbatch -N 2` and `-N 3` under both launchers; the reports
//!   record the allocation, and `mcpi study` groups the runs by ranks and nodes.
//! - Teardown leaves no namespace, interface or process.
//!
//! One test owns the cluster; a guard tears it down whatever happens. Without
//! root the test says so on stderr and passes, except under CI=true, where it
//! fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::slurm::{job_fields, log_tails, tail, Job};
use crate::util::{json, Scratch};

/// The repository.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The run mpirun spreads over the hosts, the one killed, and the reference:
/// 200 batches, a second or two on 2 cores.
const SAMPLES: &str = "4e9";
const BATCH_SIZE: &str = "2e7";
const BATCHES: u64 = 200;
/// The killed run counts with the scalar kernel (several times slower: the
/// count does not depend on the kernel), and a host dies once its checkpoint
/// holds this many batches: well before the end, whatever the machine's load.
const KILL_AFTER: u64 = 8;
const SEED: &str = "314159265358979";

/// Compute hosts of the cluster.
const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// `up`, `slurm` and `down` finish well within this (each daemon gets 30 s).
const HARNESS_TIMEOUT: Duration = Duration::from_secs(150);
/// A run or a Slurm client command.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// Every Slurm job must have ended this long after the last submission.
const JOBS_TIMEOUT: Duration = Duration::from_secs(180);

fn netcluster() -> String {
    format!("{ROOT}/tests/cluster/netcluster.sh")
}

/// What a finished command left behind.
struct Out {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Out {
    fn ok(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    fn text(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, output captured; after `timeout` it is sent
/// SIGTERM, then SIGKILL, and the test fails (the cluster guard then tears
/// everything down).
fn run_for(cmd: &mut Command, timeout: Duration) -> Out {
    let what = format!("{cmd:?}");
    let out = run_limited(cmd, timeout);
    assert!(
        !out.timed_out,
        "{what} timed out after {timeout:?}:\n{}",
        out.text()
    );
    out
}

/// [`run_for`] that reports a timeout in `Out::timed_out` instead of failing.
fn run_limited(cmd: &mut Command, timeout: Duration) -> Out {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            use std::os::unix::process::ExitStatusExt;
            return Out {
                status: ExitStatus::from_raw(127 << 8),
                stdout: String::new(),
                stderr: format!("cannot start {what}: {e}\n"),
                timed_out: false,
            };
        }
    };
    // Pipes are drained by threads; a grandchild that keeps a pipe open (a
    // daemon) must not block the test, so the threads are waited for briefly.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        rx
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            break child.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(20));
    };
    let collect = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| "(output still open after exit)\n".into())
    };
    Out {
        status,
        stdout: collect(out),
        stderr: collect(err),
        timed_out,
    }
}

/// The emulated cluster in a directory; dropping it runs `netcluster.sh down`,
/// so nothing is left behind even when an assertion fails.
struct Cluster {
    dir: PathBuf,
    subnet: String,
}

impl Cluster {
    fn up(dir: PathBuf) -> Cluster {
        // The guard exists before `up` runs: a half-made cluster is removed too.
        let mut cluster = Cluster {
            dir,
            subnet: String::new(),
        };
        let out = run_for(
            Command::new(netcluster()).arg("up").arg(&cluster.dir),
            HARNESS_TIMEOUT,
        );
        assert!(out.ok(), "netcluster.sh up failed:\n{}", out.text());
        cluster.subnet = out.stdout.trim().to_string();
        assert!(
            cluster.subnet.contains('/'),
            "netcluster.sh up printed no subnet:\n{}",
            out.text()
        );
        cluster
    }

    fn slurm(&self) {
        let out = run_for(
            Command::new(netcluster()).arg("slurm").arg(&self.dir),
            HARNESS_TIMEOUT,
        );
        assert!(out.ok(), "netcluster.sh slurm failed:\n{}", out.text());
    }

    /// `prog` on `host`, with this process's environment less any Slurm job's.
    fn on(&self, host: &str, prog: &str) -> Command {
        let mut cmd = Command::new(netcluster());
        cmd.arg("on").arg(&self.dir).args([host, prog]);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if ["SLURM_", "SBATCH_", "SALLOC_", "SRUN_"]
                .iter()
                .any(|p| key.starts_with(p))
            {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        cmd
    }

    /// `mpirun` on the head host, over the hostfile's compute hosts through the
    /// ssh stand-in, on TCP within the cluster's subnet, one rank per host in turn.
    fn mpirun(&self, ranks: usize) -> Command {
        let mut cmd = self.on("head", "mpirun");
        cmd.arg("--hostfile")
            .arg(self.dir.join("hostfile"))
            .args([
                "-n",
                &ranks.to_string(),
                "--map-by",
                "node",
                "--bind-to",
                "none",
            ])
            .arg("--mca")
            .arg("plm_rsh_agent")
            .arg(self.dir.join("rsh"))
            .args(["--mca", "pml", "ob1", "--mca", "btl", "tcp,self"])
            .args(["--mca", "btl_tcp_if_include", &self.subnet])
            .args(["--mca", "oob_tcp_if_include", &self.subnet])
            .arg(env!("CARGO_BIN_EXE_mcpi"));
        cmd
    }

    /// The processes on `host` (its holder aside).
    fn pids(&self, host: &str) -> Vec<u32> {
        let out = run_for(
            Command::new(netcluster())
                .arg("pids")
                .arg(&self.dir)
                .arg(host),
            HARNESS_TIMEOUT,
        );
        assert!(out.ok(), "netcluster.sh pids {host}:\n{}", out.text());
        out.stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// The command names of the processes on `host`.
    fn processes(&self, host: &str) -> Vec<String> {
        self.pids(host)
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|c| c.trim().to_string())
            .collect()
    }

    /// `scontrol show job -o ID` as `Key=Value` fields.
    fn job_fields(&self, id: &str) -> BTreeMap<String, String> {
        let out = run_for(
            self.on("head", "scontrol").args(["show", "job", "-o", id]),
            RUN_TIMEOUT,
        );
        job_fields(&out.stdout)
    }

    /// The end of every log the harness and the daemons wrote.
    fn logs(&self) -> String {
        log_tails(&self.dir.join("log"), 25)
    }

    /// `netcluster.sh down`; never panics (it runs in `drop`).
    fn down(&self) -> Out {
        run_limited(
            Command::new(netcluster()).arg("down").arg(&self.dir),
            HARNESS_TIMEOUT,
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = self.down();
        if !out.ok() {
            let _ = writeln!(
                std::io::stderr(),
                "netcluster.sh down {} failed{}:\n{}",
                self.dir.display(),
                if out.timed_out { " (timed out)" } else { "" },
                out.text()
            );
        }
    }
}

/// True when the suite may make namespaces; otherwise says why on stderr, and
/// fails under CI, which must run this test.
fn have_root() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid == "0" {
        return true;
    }
    let msg = "multinode: NOT RUN: the emulated cluster needs root (network namespaces, \
               slurmd); run `sudo make cluster-test` or the suite as root";
    // Straight to the stderr file: the test harness captures eprintln!.
    let _ = writeln!(std::io::stderr(), "{msg}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg} (CI=true: this test must run)"
    );
    false
}

/// `mcpi run ARGS` as one process in the root namespace (an MPI singleton).
fn single(dir: &Path, args: &[&str]) -> Value {
    let out = run_for(
        Command::new(env!("CARGO_BIN_EXE_mcpi"))
            .arg("run")
            .args(args)
            .current_dir(dir),
        RUN_TIMEOUT,
    );
    assert!(
        out.ok(),
        "single-process mcpi run {args:?}:\n{}",
        out.text()
    );
    let prefix = args
        .windows(2)
        .find(|w| w[0] == "--output")
        .map(|w| w[1])
        .expect("--output");
    json(&dir.join(format!("{prefix}.json")))
}

/// Checks `hosts` and, when the report has them, the `per_host` figures: the
/// hosts in order, each host's ranks (the given ones, or any), every rank once.
fn check_hosts(report: &Value, hosts: &[&str], ranks_of: Option<&[&[u64]]>, why: &str) {
    assert_eq!(report["hosts"], serde_json::json!(hosts), "hosts: {why}");
    let Some(per_host) = report.get("per_host").and_then(Value::as_array) else {
        let _ = writeln!(
            std::io::stderr(),
            "multinode: this mcpi's report has no per_host: not checked"
        );
        return;
    };
    let names: Vec<&str> = per_host
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(names, hosts, "per_host hosts: {why}");
    let total = report["ranks"].as_u64().unwrap();
    let mut all = Vec::new();
    for (i, h) in per_host.iter().enumerate() {
        let ranks: Vec<u64> = match &h["ranks"] {
            Value::Array(list) => list.iter().map(|r| r.as_u64().unwrap()).collect(),
            other => panic!("per_host[{i}].ranks is not a list: {other}: {why}"),
        };
        if let Some(want) = ranks_of {
            assert_eq!(ranks, want[i], "ranks on {}: {why}", names[i]);
        }
        assert!(!ranks.is_empty(), "no ranks on {}: {why}", names[i]);
        all.extend(ranks);
        let rate = h["samples_per_second"].as_f64();
        assert!(
            rate.is_some_and(|r| r > 0.0),
            "{}: throughput: {why}",
            names[i]
        );
        assert!(
            h["compute_seconds"]["max"]
                .as_f64()
                .is_some_and(|s| s > 0.0),
            "{}: compute seconds: {why}",
            names[i]
        );
    }
    all.sort();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "per_host ranks: {why}");
    let samples: u64 = per_host.iter().filter_map(|h| h["samples"].as_u64()).sum();
    assert_eq!(
        samples,
        report["samples_done"].as_u64().unwrap() - resumed_samples(report),
        "per_host samples: {why}"
    );
}

/// Batches done according to a checkpoint (0 while there is none).
fn checkpoint_batches(path: &Path) -> u64 {
    if !path.exists() {
        return 0;
    }
    hdf5::File::open(path)
        .and_then(|f| f.attr("batches_done")?.read_scalar::<u64>())
        .unwrap_or(0)
}

/// Samples taken over from a checkpoint (0 for a fresh run).
fn resumed_samples(report: &Value) -> u64 {
    let batches = report["resumed_batches"].as_u64().unwrap_or(0);
    batches * report["batch_size"].as_u64().unwrap()
}

#[test]
fn mpirun_and_slurm_across_hosts_of_an_emulated_cluster() {
    if !have_root() {
        return;
    }
    let started = Instant::now();
    let setup = run_for(
        &mut Command::new(format!("{ROOT}/scripts/setup-slurm.sh")),
        Duration::from_secs(600),
    );
    assert!(
        setup.ok(),
        "scripts/setup-slurm.sh failed:\n{}",
        setup.text()
    );

    let scratch = Scratch::new("multinode");
    let work = scratch.path().to_path_buf();
    // munged refuses a key under a directory others may write to.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // The reference: one process in the root namespace, meanwhile.
    let reference = {
        let dir = work.clone();
        thread::spawn(move || {
            let report = single(
                &dir,
                &[
                    "-q",
                    "--seed",
                    SEED,
                    "--samples",
                    SAMPLES,
                    "--batch-size",
                    BATCH_SIZE,
                    "--output",
                    "reference",
                ],
            );
            report["inside"].as_u64().unwrap()
        })
    };

    let cluster = Cluster::up(work.join("cluster"));
    let id = std::fs::read_to_string(cluster.dir.join("state/id"))
        .unwrap()
        .trim()
        .to_string();
    eprintln!(
        "multinode: cluster mcpi-{id} up on {} after {:.1?}",
        cluster.subnet,
        started.elapsed()
    );

    // --- mpirun across hosts -------------------------------------------------
    let run_args = [
        "run",
        "-q",
        "--seed",
        SEED,
        "--samples",
        SAMPLES,
        "--batch-size",
        BATCH_SIZE,
    ];
    let across = run_for(
        cluster
            .mpirun(4)
            .args(run_args)
            .args(["--output", "across"])
            .current_dir(&work),
        RUN_TIMEOUT,
    );
    assert!(
        across.ok(),
        "mpirun across the hosts:\n{}\n{}",
        across.text(),
        cluster.logs()
    );
    let report = json(&work.join("across.json"));
    let why = format!("{report:#}\n{}", across.text());
    let inside = reference.join().expect("reference run");
    assert_eq!(
        report["inside"], inside,
        "across hosts vs one process: {why}"
    );
    assert_eq!(report["ranks"], 4, "{why}");
    assert_eq!(report["complete"], true, "{why}");
    check_hosts(&report, &NODES, Some(&[&[0, 3], &[1], &[2]]), &why);
    eprintln!(
        "multinode: mpirun on 3 hosts = one process ({inside}) after {:.1?}",
        started.elapsed()
    );

    // --- one host dies mid-run -------------------------------------------------
    let out = std::fs::File::create(work.join("killed.out")).unwrap();
    let err = std::fs::File::create(work.join("killed.err")).unwrap();
    let mut job = cluster
        .mpirun(4)
        .args(run_args)
        .args(["--kernel", "scalar"])
        .args(["--checkpoint", "ck.h5", "--checkpoint-interval", "0.2s"])
        .args(["--output", "killed"])
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("mpirun");
    let killed_stderr = || tail(&work.join("killed.err"), 80);
    let checkpoint = work.join("ck.h5");
    let deadline = Instant::now() + RUN_TIMEOUT;
    while checkpoint_batches(&checkpoint) < KILL_AFTER {
        if Instant::now() > deadline || job.try_wait().unwrap().is_some() {
            let _ = job.kill();
            let _ = job.wait();
            panic!(
                "no checkpoint of {KILL_AFTER} batches:\n{}{}",
                killed_stderr(),
                cluster.logs()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
    let before = cluster.processes("node3");
    let crash = run_for(
        Command::new(netcluster())
            .arg("kill")
            .arg(&cluster.dir)
            .arg("node3"),
        HARNESS_TIMEOUT,
    );
    assert!(crash.ok(), "netcluster.sh kill node3:\n{}", crash.text());
    assert!(
        before.iter().any(|c| c == "mcpi"),
        "no rank on node3 to kill: {before:?}"
    );
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = job.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = job.kill();
            let _ = job.wait();
            panic!(
                "mpirun still running {RUN_TIMEOUT:?} after node3 died:\n{}{}",
                killed_stderr(),
                cluster.logs()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(work.join("killed.err")).unwrap_or_default();
    let why = format!("killed {before:?} on node3; mpirun {status}:\n{stderr}");
    assert!(
        !status.success(),
        "mpirun exited 0 though node3 died: {why}"
    );
    // mpirun's account: the daemon on node3 is gone, or a rank was killed, or
    // the peers lost it.
    let said = [
        "ORTE was unable to reliably start one or more daemons",
        "ORTE has lost communication with a remote daemon",
        "exited on signal 9",
        "An MPI communication peer process has unexpectedly disconnected",
    ]
    .into_iter()
    .find(|m| stderr.contains(m))
    .unwrap_or_else(|| panic!("mpirun does not report the failure: {why}"));
    assert!(
        !work.join("killed.json").exists(),
        "a report from a killed job: {why}"
    );
    // mpirun took the surviving ranks and daemons down with it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<(&str, Vec<String>)> = ["head", "node1", "node2", "node3"]
            .into_iter()
            .map(|h| (h, cluster.processes(h)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left on the hosts 30 s after mpirun exited: {left:?}\n{why}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let saved = checkpoint_batches(&checkpoint);
    let resumed = single(
        &work,
        &[
            "-q",
            "--seed",
            SEED,
            "--samples",
            SAMPLES,
            "--batch-size",
            BATCH_SIZE,
            "--resume",
            "ck.h5",
            "--output",
            "resumed",
        ],
    );
    let taken = resumed["resumed_batches"].as_u64().unwrap();
    assert!(
        taken >= KILL_AFTER && taken == saved && taken < BATCHES,
        "resumed {taken} of {BATCHES} batches, checkpoint {saved}: {resumed:#}\n{why}"
    );
    assert_eq!(resumed["complete"], true, "{resumed:#}");
    assert_eq!(
        resumed["inside"], inside,
        "resumed vs uninterrupted: {resumed:#}"
    );
    eprintln!(
        "multinode: node3 killed after {taken} checkpointed batches; mpirun {status}: \
         \"{said}\"; resumed to the same count; after {:.1?}",
        started.elapsed()
    );

    // --- Slurm on the same hosts -------------------------------------------------
    cluster.slurm();
    eprintln!("multinode: Slurm up after {:.1?}", started.elapsed());
    let submit = work.join("submit");
    let results = work.join("results");
    std::fs::create_dir_all(&submit).unwrap();
    let job = Job::on_nodes;
    let mut jobs = vec![
        job("mcpi.sbatch", "srun", 2, 2, 200_000_000),
        job("mcpi.sbatch", "mpirun", 3, 1, 200_000_000),
        job("strong-scaling.sbatch", "srun", 3, 1, 200_000_000),
        job("strong-scaling.sbatch", "mpirun", 2, 2, 200_000_000),
        job("weak-scaling.sbatch", "srun", 2, 2, 50_000_000),
        job("weak-scaling.sbatch", "mpirun", 3, 1, 50_000_000),
    ];
    for job in &mut jobs {
        let out = run_for(
            cluster
                .on("head", "sbatch")
                .current_dir(&submit)
                .args(["--parsable", "--time=5"])
                .arg(format!("--nodes={}", job.nodes))
                .arg(format!("--ntasks-per-node={}", job.tasks_per_node()))
                .arg(format!("{ROOT}/slurm/{}", job.script))
                .env_remove("RANKS")
                .env("MCPI", env!("CARGO_BIN_EXE_mcpi"))
                .env("RESULTS", &results)
                .env("LAUNCHER", job.launcher)
                .env("SAMPLES", job.samples.to_string())
                .env("BATCH_SIZE", "1e7")
                .env("REPEATS", "1"),
            RUN_TIMEOUT,
        );
        job.id = out
            .stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        assert!(
            out.ok() && !job.id.is_empty(),
            "sbatch -N {} {} ({}):\n{}\n{}",
            job.nodes,
            job.script,
            job.launcher,
            out.text(),
            cluster.logs()
        );
    }
    let diagnose = |job: &Job| {
        let record = run_for(
            cluster
                .on("head", "scontrol")
                .args(["show", "job", &job.id]),
            RUN_TIMEOUT,
        );
        format!(
            "job {} ({} -N {} with {})\n{}--- batch log {}\n{}{}",
            job.id,
            job.script,
            job.nodes,
            job.launcher,
            record.text(),
            job.log(&submit).display(),
            tail(&job.log(&submit), 60),
            cluster.logs()
        )
    };
    let deadline = Instant::now() + JOBS_TIMEOUT;
    for job in &jobs {
        let fields = loop {
            let fields = cluster.job_fields(&job.id);
            let state = fields.get("JobState").map(String::as_str).unwrap_or("");
            let ended = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"];
            if ended.contains(&state) || state.starts_with("OUT_OF") {
                break fields;
            }
            assert!(
                Instant::now() < deadline,
                "job {} still {state:?} after {JOBS_TIMEOUT:?}:\n{}",
                job.id,
                diagnose(job)
            );
            thread::sleep(Duration::from_millis(200));
        };
        assert!(
            fields["JobState"] == "COMPLETED" && fields["ExitCode"] == "0:0",
            "job ended {} with exit code {}:\n{}",
            fields["JobState"],
            fields["ExitCode"],
            diagnose(job)
        );
        let nodelist = format!("node[1-{}]", job.nodes);
        assert_eq!(fields["NodeList"], nodelist, "{}", diagnose(job));
        let log = std::fs::read_to_string(job.log(&submit)).unwrap_or_default();
        assert!(
            log.contains(&format!("{}: {},", job.script, job.launcher)),
            "the batch log does not show LAUNCHER={}:\n{}",
            job.launcher,
            diagnose(job)
        );
    }
    eprintln!(
        "multinode: {} Slurm jobs completed after {:.1?}",
        jobs.len(),
        started.elapsed()
    );

    // Every report: complete, the allocation recorded, its hosts from it, the
    // count of one process.
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    // (label, ranks, nodes) -> runs, to hold `mcpi study` to.
    let mut groups: BTreeMap<(String, u64, u64), u64> = BTreeMap::new();
    let mut found = 0;
    for job in &jobs {
        let allocated: Vec<String> = (1..=job.nodes).map(|i| format!("node{i}")).collect();
        for ranks in job.ranks() {
            let name = format!(
                "{}-j{}-N{}-n{ranks}-r1.json",
                job.study(),
                job.id,
                job.nodes
            );
            let path = results.join(&name);
            assert!(path.exists(), "no {name}:\n{}", diagnose(job));
            let report = json(&path);
            found += 1;
            let why = format!("{name}\n{report:#}\n{}", diagnose(job));
            assert_eq!(report["complete"], true, "{why}");
            assert_eq!(report["ranks"], ranks, "{why}");
            assert_eq!(report["label"], job.name(), "{why}");
            let slurm = &report["slurm"];
            assert_eq!(slurm["nodes"], job.nodes, "slurm.nodes: {why}");
            assert_eq!(
                slurm["nodelist"],
                format!("node[1-{}]", job.nodes),
                "slurm.nodelist: {why}"
            );
            let job_id = match &slurm["job_id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(job_id, job.id, "slurm.job_id: {why}");
            let hosts: Vec<&str> = report["hosts"]
                .as_array()
                .unwrap_or_else(|| panic!("hosts: {why}"))
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect();
            assert!(
                !hosts.is_empty() && hosts.iter().all(|h| allocated.iter().any(|a| a == h)),
                "hosts outside the allocation {allocated:?}: {why}"
            );
            if ranks == job.tasks {
                // The whole allocation: every node, tasks-per-node ranks each,
                // in blocks.
                let names: Vec<&str> = allocated.iter().map(String::as_str).collect();
                let per: Vec<Vec<u64>> = (0..job.nodes as u64)
                    .map(|n| {
                        let k = job.tasks_per_node() as u64;
                        (n * k..(n + 1) * k).collect()
                    })
                    .collect();
                let per: Vec<&[u64]> = per.iter().map(Vec::as_slice).collect();
                check_hosts(&report, &names, Some(&per), &why);
            } else {
                check_hosts(&report, &hosts, None, &why);
            }
            let samples = report["samples"].as_u64().unwrap();
            assert_eq!(samples, job.samples_on(ranks), "samples: {why}");
            counts.insert(samples, report["inside"].as_u64().unwrap());
            *groups
                .entry((job.name().to_string(), ranks, hosts.len() as u64))
                .or_default() += 1;
        }
    }
    for (samples, inside) in &counts {
        let reference = single(
            &work,
            &[
                "-q",
                "--samples",
                &samples.to_string(),
                "--batch-size",
                "1e7",
                "--output",
                &format!("single-{samples}"),
            ],
        );
        assert_eq!(
            reference["inside"], *inside,
            "{samples} samples: the Slurm runs vs one process"
        );
    }
    let json_files = std::fs::read_dir(&results)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    assert_eq!(json_files, found, "reports other than the expected ones");

    // `mcpi study` over all of them: one row per (ranks, nodes) of each label,
    // holding exactly the runs with that many ranks on that many hosts.
    let csv_path = work.join("study.csv");
    let study = run_for(
        Command::new(env!("CARGO_BIN_EXE_mcpi"))
            .args(["study", "--csv"])
            .arg(&csv_path)
            .arg(&results),
        RUN_TIMEOUT,
    );
    assert!(study.ok(), "mcpi study:\n{}", study.text());
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |row: &[&str], name: &str| {
        let i = head
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name}: {csv}"));
        row[i].to_string()
    };
    let mut rows: BTreeMap<(String, u64, u64), u64> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let row: Vec<&str> = line.split(',').collect();
        let key = (
            col(&row, "label"),
            col(&row, "ranks").parse().unwrap(),
            col(&row, "nodes").parse().unwrap(),
        );
        rows.insert(key, col(&row, "runs").parse().unwrap());
    }
    assert_eq!(
        rows, groups,
        "mcpi study rows (label, ranks, nodes) -> runs, vs the reports:\n{csv}\n{}",
        study.stdout
    );
    let nodes: BTreeSet<u64> = rows.keys().map(|k| k.2).collect();
    assert!(
        nodes.contains(&2) && nodes.contains(&3),
        "no rows on 2 and 3 nodes:\n{csv}"
    );
    // The same rank count on different node counts stays apart.
    assert!(
        rows.keys().any(|(l, r, n)| rows
            .keys()
            .any(|(l2, r2, n2)| l == l2 && r == r2 && n != n2)),
        "no rank count on two node counts:\n{csv}"
    );
    eprintln!(
        "multinode: reports and mcpi study checked after {:.1?}",
        started.elapsed()
    );

    // --- teardown leaves nothing -------------------------------------------------
    let down = cluster.down();
    assert!(down.ok(), "netcluster.sh down:\n{}", down.text());
    let netns = run_for(Command::new("ip").args(["netns", "list"]), RUN_TIMEOUT);
    assert!(
        !netns.stdout.contains(&format!("mcpi-{id}-")),
        "namespaces left:\n{}",
        netns.stdout
    );
    assert!(
        !cluster.dir.join("state").exists(),
        "state left in {}",
        cluster.dir.display()
    );
    let tmp = PathBuf::from(format!("/tmp/mcpi-{id}"));
    assert!(!tmp.exists(), "the hosts' TMPDIR {} is left", tmp.display());
    let again = cluster.down();
    assert!(again.ok(), "a second down:\n{}", again.text());
    eprintln!("multinode: torn down after {:.1?}", started.elapsed());
}
