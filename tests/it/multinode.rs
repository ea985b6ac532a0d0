//! mcpi across hosts, on an emulated cluster (`tests/cluster/netcluster.sh`, as
//! root): a head host and three compute hosts, each in its own network, UTS and
//! mount namespaces, on a private subnet that exists only inside them.
//!
//! - `mpirun --hostfile` on the head host, launching through the cluster's ssh
//!   stand-in and forced onto TCP, puts 4 ranks on the 3 compute hosts; the count
//!   equals a single process's, and the report names the hosts and their ranks.
//! - A compute host whose ranks count with the portable kernel (several times
//!   slower, as on a lesser node) is named in the report's `outliers`, with
//!   each of its ranks, and no other rank is; the count is still the reference.
//! - A compute host whose every process is killed mid-run ends the job with a
//!   non-zero exit and mpirun's account of it, leaves no rank behind elsewhere,
//!   and leaves a checkpoint that one process resumes to the uninterrupted count.
//! - A 3-node Slurm cluster on the same hosts, binding tasks to cores
//!   (task/affinity), runs every script in `slurm/`, unchanged, with `sbatch -N
//!   2` and `-N 3` under both launchers, and with `-c 2` and the hybrid sweep;
//!   the reports record the allocation, every srun step's ranks (and mpirun's
//!   given `PE=`) are bound to cores of their own, a thread per CPU, and `mcpi
//!   study` groups the runs by ranks, threads and nodes.
//! - Teardown leaves no namespace, interface or process.
//!
//! One test owns the cluster, its phases the functions below; a guard tears it
//! down whatever happens. Without root the test says so on stderr and passes,
//! except under CI=true, where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{
    check_bound, json_names, log_tails, not_world_writable, run_for, run_limited, setup_slurm,
    tail, without_slurm_job, Csv, Job, Out, Slurm, ROOT,
};
use crate::util::{json, Scratch};

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

/// `SAMPLES` and `BATCH_SIZE` of the Slurm jobs (weak scaling: per rank 5e7).
const SLURM_SAMPLES: u64 = 200_000_000;
const SLURM_BATCH_SIZE: &str = "1e7";

fn netcluster() -> String {
    format!("{ROOT}/tests/cluster/netcluster.sh")
}

#[test]
fn mpirun_and_slurm_across_hosts_of_an_emulated_cluster() {
    if !have_root() {
        return;
    }
    let started = Instant::now();
    setup_slurm();
    let h = Harness::up(started);

    // ---- mpirun across hosts, then with one host slowed, then killed mid-run.
    let inside = h.mpirun_across_hosts();
    h.slow_host_is_an_outlier(inside);
    h.host_dies_mid_run(inside);

    // ---- Slurm on the same hosts: every script on 2 and 3 nodes.
    h.cluster.slurm();
    h.say("Slurm up");
    let jobs = h.run_every_script();
    let groups = h.check_reports(&jobs);
    h.check_study(&groups);

    // ---- Teardown leaves nothing.
    h.teardown_leaves_nothing();
}

/// The cluster and what the phases share. Fields drop in order: the cluster is
/// torn down before its directory is removed.
struct Harness {
    cluster: Cluster,
    /// The cluster's id (`state/id`): its namespaces are `mcpi-<id>-*`.
    id: String,
    /// The reference run of [`SAMPLES`], started with the harness; taken once.
    reference: std::cell::RefCell<Option<thread::JoinHandle<u64>>>,
    started: Instant,
    /// The working directory of the runs; `submit/` and `results/` of the jobs.
    work: PathBuf,
    _scratch: Scratch,
}

impl Harness {
    /// Starts the reference run (one process in the root namespace), and the
    /// cluster meanwhile.
    fn up(started: Instant) -> Harness {
        let scratch = Scratch::new("multinode");
        let work = scratch.path().to_path_buf();
        not_world_writable(&work);
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
        let h = Harness {
            cluster,
            id,
            reference: std::cell::RefCell::new(Some(reference)),
            started,
            work,
            _scratch: scratch,
        };
        h.say(&format!("cluster mcpi-{} up on {}", h.id, h.cluster.subnet));
        h
    }

    /// A progress line on stderr, with the time since the start.
    fn say(&self, what: &str) {
        eprintln!("multinode: {what} after {:.1?}", self.started.elapsed());
    }

    fn submit(&self) -> PathBuf {
        self.work.join("submit")
    }

    fn results(&self) -> PathBuf {
        self.work.join("results")
    }

    /// 4 ranks on the 3 compute hosts over TCP: the reference count, the hosts
    /// and their ranks in the report. Returns the count.
    fn mpirun_across_hosts(&self) -> u64 {
        let across = run_for(
            self.cluster
                .mpirun(4)
                .args(RUN_ARGS)
                .args(["--output", "across"])
                .current_dir(&self.work),
            RUN_TIMEOUT,
        );
        assert!(
            across.ok(),
            "mpirun across the hosts:\n{}\n{}",
            across.text(),
            self.cluster.logs()
        );
        let report = json(&self.work.join("across.json"));
        let why = format!("{report:#}\n{}", across.text());
        let reference = self.reference.borrow_mut().take().expect("one reference");
        let inside = reference.join().expect("reference run");
        assert_eq!(
            report["inside"], inside,
            "across hosts vs one process: {why}"
        );
        assert_eq!(report["ranks"], 4, "{why}");
        assert_eq!(report["complete"], true, "{why}");
        check_hosts(&report, &NODES, Some(&[&[0, 3], &[1], &[2]]), &why);
        self.say(&format!("mpirun on 3 hosts = one process ({inside})"));
        inside
    }

    /// The reference run on 4 ranks, node1 and node2 one each, node3 two that
    /// count with the portable kernel (`MCPI_NO_KERNEL`, an MPMD mpirun): 1e9
    /// samples a rank, so the median rank counts for ~0.4 CPU seconds, above
    /// the outlier rule's 0.2. node3's ranks and node3 itself (rank null) are
    /// the outliers, nothing else; the count is `inside`.
    fn slow_host_is_an_outlier(&self, inside: u64) {
        let slow: &[(&str, &str)] = &[("MCPI_NO_KERNEL", "avx512,avx2")];
        let mut args = RUN_ARGS.to_vec();
        args.extend(["--output", "slowed"]);
        let run = run_for(
            self.cluster
                .mpmd(
                    &[("node1", 1, &[]), ("node2", 1, &[]), ("node3", 2, slow)],
                    &args,
                )
                .current_dir(&self.work),
            RUN_TIMEOUT,
        );
        assert!(
            run.ok(),
            "mpirun with node3 slowed:\n{}\n{}",
            run.text(),
            self.cluster.logs()
        );
        let report = json(&self.work.join("slowed.json"));
        let why = format!("{report:#}\n{}", run.text());
        assert_eq!(report["inside"], inside, "slowed vs one process: {why}");
        check_hosts(&report, &NODES, Some(&[&[0], &[1], &[2, 3]]), &why);
        let listed: Vec<(Option<u64>, &str)> = report["outliers"]
            .as_array()
            .unwrap_or_else(|| panic!("outliers: {why}"))
            .iter()
            .map(|o| (o["rank"].as_u64(), o["host"].as_str().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [(Some(2), "node3"), (Some(3), "node3"), (None, "node3")],
            "outliers (rank, host): {why}"
        );
        for o in report["outliers"].as_array().unwrap() {
            assert_eq!(o["kernel"], "portable", "{why}");
            let speed = o["relative_speed"].as_f64().unwrap();
            assert!(speed > 0.0 && speed < 0.75, "relative speed {speed}: {why}");
        }
        let line = "mcpi: warning: host node3 counts at ";
        assert!(run.stderr.contains(line), "no {line:?}: {why}");
        self.say("node3 slowed: its ranks and the host are the outliers, the same count;");
    }

    /// Kills everything on node3 once the run's checkpoint holds
    /// [`KILL_AFTER`] batches: mpirun fails and says so, no report, nothing
    /// left on any host, and the checkpoint resumes to `inside`.
    fn host_dies_mid_run(&self, inside: u64) {
        let work = &self.work;
        let out = std::fs::File::create(work.join("killed.out")).unwrap();
        let err = std::fs::File::create(work.join("killed.err")).unwrap();
        let mut job = self
            .cluster
            .mpirun(4)
            .args(RUN_ARGS)
            .args(["--kernel", "scalar"])
            .args(["--checkpoint", "ck.h5", "--checkpoint-interval", "0.2s"])
            .args(["--output", "killed"])
            .current_dir(work)
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
                    self.cluster.logs()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        let before = self.cluster.processes("node3");
        let crash = run_for(
            Command::new(netcluster())
                .arg("kill")
                .arg(&self.cluster.dir)
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
                    self.cluster.logs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(work.join("killed.err")).unwrap_or_default();
        let why = format!("killed {before:?} on node3; mpirun {status}:\n{stderr}");
        let said = self.check_failure_reported(status, &stderr, &why);
        let saved = checkpoint_batches(&checkpoint);
        let resumed = single(
            work,
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
        self.say(&format!(
            "node3 killed after {taken} checkpointed batches; mpirun {status}: \
             \"{said}\"; resumed to the same count;"
        ));
    }

    /// After node3 died: mpirun failed and gave its account, wrote no report,
    /// and took the surviving ranks and daemons down with it. Returns its words.
    fn check_failure_reported(&self, status: ExitStatus, stderr: &str, why: &str) -> &'static str {
        assert!(
            !status.success(),
            "mpirun exited 0 though node3 died: {why}"
        );
        // mpirun's account: the daemon on node3 is gone, or a rank was killed,
        // or the peers lost it.
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
            !self.work.join("killed.json").exists(),
            "a report from a killed job: {why}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left: Vec<(&str, Vec<String>)> = ["head", "node1", "node2", "node3"]
                .into_iter()
                .map(|h| (h, self.cluster.processes(h)))
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
        said
    }

    /// Every script under both launchers with `-N 2` and `-N 3`, mcpi with `-c
    /// 2` (a rank a node, 2 threads) and the hybrid sweep on 2 nodes of 2 cores
    /// (4x1, 2x2): each job completes on the nodes it asked for.
    fn run_every_script(&self) -> Vec<Job> {
        let (submit, n) = (self.submit(), SLURM_SAMPLES);
        let job = |script, launcher, nodes, per_node, samples| {
            let mut job = Job::on_nodes(&submit, script, launcher, nodes, per_node, samples);
            job.batch_size = SLURM_BATCH_SIZE.parse::<f64>().unwrap() as u64;
            job
        };
        let mut jobs = vec![
            job("mcpi.sbatch", "srun", 2, 2, n),
            job("mcpi.sbatch", "mpirun", 3, 1, n),
            job("strong-scaling.sbatch", "srun", 3, 1, n),
            job("strong-scaling.sbatch", "mpirun", 2, 2, n),
            job("weak-scaling.sbatch", "srun", 2, 2, n / 4),
            job("weak-scaling.sbatch", "mpirun", 3, 1, n / 4),
            job("mcpi.sbatch", "srun", 2, 1, n).with_cpus_per_task(2),
            job("mcpi.sbatch", "mpirun", 2, 1, n).with_cpus_per_task(2),
            job("hybrid-scaling.sbatch", "srun", 2, 2, n),
            job("hybrid-scaling.sbatch", "mpirun", 2, 2, n),
        ];
        for job in &mut jobs {
            self.cluster.sbatch(job, &self.results(), |_| {});
        }
        let deadline = Instant::now() + JOBS_TIMEOUT;
        for job in &jobs {
            let fields = self.cluster.assert_completed(job, deadline);
            let nodelist = format!("node[1-{}]", job.nodes);
            assert_eq!(
                fields["NodeList"],
                nodelist,
                "{}",
                self.cluster.diagnose(job)
            );
        }
        self.say(&format!("{} Slurm jobs completed", jobs.len()));
        jobs
    }

    /// Every report: complete, the allocation recorded, its hosts from it, the
    /// count of one process, its ranks bound to cores of their own where the
    /// launcher binds (every srun step; mpirun given `PE=`), and no other
    /// report. Returns (label, ranks, threads, nodes) -> runs, to hold `mcpi
    /// study` to.
    fn check_reports(&self, jobs: &[Job]) -> Groups {
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        let mut groups = Groups::new();
        let mut found = 0;
        for job in jobs {
            let allocated: Vec<String> = (1..=job.nodes).map(|i| format!("node{i}")).collect();
            for shape in job.shapes() {
                let (ranks, threads) = (shape.ranks, shape.threads);
                let (_, report, why) = self.cluster.check_report(job, &self.results(), shape, 1);
                found += 1;
                if job.launcher == "srun" || job.mpirun_binds() {
                    let h5 = self
                        .results()
                        .join(format!("{}.h5", job.report_prefix(shape, 1)));
                    check_bound(&report, &h5, &why);
                }
                assert_eq!(
                    report["slurm"]["nodelist"],
                    format!("node[1-{}]", job.nodes),
                    "slurm.nodelist: {why}"
                );
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
                if ranks * threads == job.cores() {
                    // The whole allocation: every node, as many ranks each,
                    // in blocks.
                    let names: Vec<&str> = allocated.iter().map(String::as_str).collect();
                    let k = ranks / job.nodes as u64;
                    let per: Vec<Vec<u64>> = (0..job.nodes as u64)
                        .map(|n| (n * k..(n + 1) * k).collect())
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
                    .entry((job.name().to_string(), ranks, threads, hosts.len() as u64))
                    .or_default() += 1;
            }
        }
        for (samples, inside) in &counts {
            let reference = single(
                &self.work,
                &[
                    "-q",
                    "--samples",
                    &samples.to_string(),
                    "--batch-size",
                    SLURM_BATCH_SIZE,
                    "--output",
                    &format!("single-{samples}"),
                ],
            );
            assert_eq!(
                reference["inside"], *inside,
                "{samples} samples: the Slurm runs vs one process"
            );
        }
        assert_eq!(
            json_names(&self.results()).len(),
            found,
            "reports other than the expected ones"
        );
        groups
    }

    /// `mcpi study` over all of them: in the scaling series, one row per
    /// (ranks, threads, nodes) of each label, holding exactly the runs of that
    /// shape on that many hosts; the hybrid sweep's shapes in a hybrid series.
    fn check_study(&self, groups: &Groups) {
        let csv_path = self.work.join("study.csv");
        let study = run_for(
            Command::new(env!("CARGO_BIN_EXE_mcpi"))
                .args(["study", "--csv"])
                .arg(&csv_path)
                .arg(self.results()),
            RUN_TIMEOUT,
        );
        assert!(study.ok(), "mcpi study:\n{}", study.text());
        let csv = Csv::read(&csv_path);
        let text = &csv.text;
        let mut rows = Groups::new();
        let mut hybrid: BTreeSet<(String, u64, u64)> = BTreeSet::new();
        for row in &csv.rows {
            let num = |name| -> u64 { csv.col(row, name).parse().unwrap() };
            let label = csv.col(row, "label").to_string();
            if csv.col(row, "kind") == "hybrid" {
                hybrid.insert((label, num("ranks"), num("threads")));
                continue;
            }
            let key = (label, num("ranks"), num("threads"), num("nodes"));
            rows.insert(key, num("runs"));
        }
        assert_eq!(
            &rows, groups,
            "mcpi study's scaling rows (label, ranks, threads, nodes) -> runs, vs the \
             reports:\n{text}\n{}",
            study.stdout
        );
        let sweep = [(4, 1), (2, 2)].map(|(r, t)| ("hybrid-scaling".to_string(), r, t));
        assert!(
            sweep.iter().all(|shape| hybrid.contains(shape)),
            "no hybrid series of 4x1 and 2x2 in {hybrid:?}:\n{text}"
        );
        let nodes: BTreeSet<u64> = rows.keys().map(|k| k.3).collect();
        assert!(
            nodes.contains(&2) && nodes.contains(&3),
            "no rows on 2 and 3 nodes:\n{text}"
        );
        // The same rank count on different node counts stays apart.
        assert!(
            rows.keys().any(|(l, r, t, n)| rows
                .keys()
                .any(|(l2, r2, t2, n2)| l == l2 && r == r2 && t == t2 && n != n2)),
            "no rank count on two node counts:\n{text}"
        );
        self.say("reports and mcpi study checked");
    }

    /// `down` removes the namespaces, the state and the hosts' TMPDIR, and may
    /// be run again.
    fn teardown_leaves_nothing(&self) {
        let down = self.cluster.down();
        assert!(down.ok(), "netcluster.sh down:\n{}", down.text());
        let netns = run_for(Command::new("ip").args(["netns", "list"]), RUN_TIMEOUT);
        assert!(
            !netns.stdout.contains(&format!("mcpi-{}-", self.id)),
            "namespaces left:\n{}",
            netns.stdout
        );
        assert!(
            !self.cluster.dir.join("state").exists(),
            "state left in {}",
            self.cluster.dir.display()
        );
        let tmp = PathBuf::from(format!("/tmp/mcpi-{}", self.id));
        assert!(!tmp.exists(), "the hosts' TMPDIR {} is left", tmp.display());
        let again = self.cluster.down();
        assert!(again.ok(), "a second down:\n{}", again.text());
        self.say("torn down");
    }
}

/// Runs by (label, ranks, threads, nodes): what each row of `mcpi study`'s
/// scaling series must hold.
type Groups = BTreeMap<(String, u64, u64, u64), u64>;

/// An MPMD mpirun's app context: a host, its ranks, their environment.
type HostRanks<'a> = (&'a str, usize, &'a [(&'a str, &'a str)]);

/// `mcpi run` of the reference, across hosts, slowed and killed.
const RUN_ARGS: [&str; 8] = [
    "run",
    "-q",
    "--seed",
    SEED,
    "--samples",
    SAMPLES,
    "--batch-size",
    BATCH_SIZE,
];

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
        without_slurm_job(&mut cmd)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        cmd
    }

    /// `mpirun` on the head host, over the hostfile's compute hosts through the
    /// ssh stand-in, on TCP within the cluster's subnet, one rank per host in turn.
    fn mpirun(&self, ranks: usize) -> Command {
        let mut cmd = self.mpirun_over_hosts();
        cmd.args(["-n", &ranks.to_string(), "--map-by", "node"])
            .arg(env!("CARGO_BIN_EXE_mcpi"));
        cmd
    }

    /// An MPMD [`mpirun`](Self::mpirun): per (host, ranks, environment), that
    /// many ranks on that host with those variables (`-x`), each running mcpi
    /// with `args`; ranks numbered in that order.
    fn mpmd(&self, contexts: &[HostRanks], args: &[&str]) -> Command {
        let mut cmd = self.mpirun_over_hosts();
        for (i, (host, ranks, env)) in contexts.iter().enumerate() {
            if i > 0 {
                cmd.arg(":");
            }
            cmd.args([
                "-n",
                &ranks.to_string(),
                "--host",
                &format!("{host}:{ranks}"),
            ]);
            for (k, v) in env.iter() {
                cmd.args(["-x", &format!("{k}={v}")]);
            }
            cmd.arg(env!("CARGO_BIN_EXE_mcpi")).args(args);
        }
        cmd
    }

    /// What both share: the hostfile, the ssh stand-in, TCP on the subnet, no
    /// binding (the hosts share the machine's CPUs).
    fn mpirun_over_hosts(&self) -> Command {
        let mut cmd = self.on("head", "mpirun");
        cmd.arg("--hostfile")
            .arg(self.dir.join("hostfile"))
            .args(["--bind-to", "none"])
            .arg("--mca")
            .arg("plm_rsh_agent")
            .arg(self.dir.join("rsh"))
            .args(["--mca", "pml", "ob1", "--mca", "btl", "tcp,self"])
            .args(["--mca", "btl_tcp_if_include", &self.subnet])
            .args(["--mca", "oob_tcp_if_include", &self.subnet]);
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

    /// `netcluster.sh down`; never panics (it runs in `drop`).
    fn down(&self) -> Out {
        run_limited(
            Command::new(netcluster()).arg("down").arg(&self.dir),
            HARNESS_TIMEOUT,
        )
    }
}

/// Slurm's clients run on the head host.
impl Slurm for Cluster {
    fn client(&self, prog: &str) -> Command {
        self.on("head", prog)
    }

    /// The end of every log the harness and the daemons wrote.
    fn logs(&self) -> String {
        log_tails(&self.dir.join("log"), 25)
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
