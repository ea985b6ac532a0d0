//! The job scripts in `slurm/`, submitted with `sbatch` to a private one-node
//! Slurm cluster (`tests/slurm/cluster.sh`, as root): every script under both
//! launchers, `srun` (PMIx) and `mpirun`. Each job must end COMPLETED with exit
//! code 0:0 and leave exactly the reports its name scheme promises — complete,
//! with the right rank count, label and Slurm job — and every report of the same
//! (seed, samples, batch size) must hold the same inside count, whatever the
//! rank count, launcher or script. One test owns the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{json, JobTmp, Scratch};

/// The repository: the scripts live here.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every job must have ended this long after the last submission.
const JOBS_TIMEOUT: Duration = Duration::from_secs(120);

/// CPUs the node declares (more than a 2-core CI machine has; Slurm allows it).
const CPUS: &str = "4";

/// Samples per batch in every job: small runs, several batches per rank.
const BATCH_SIZE: u64 = 10_000_000;

/// A private Slurm cluster in a directory; dropping it runs `cluster.sh down`,
/// so its daemons stop even when an assertion fails.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn up(dir: PathBuf) -> Cluster {
        // The guard exists before `up` runs: a half-started cluster is stopped too.
        let cluster = Cluster { dir };
        let out = run(Command::new(format!("{ROOT}/tests/slurm/cluster.sh"))
            .arg("up")
            .arg(&cluster.dir)
            .env("CPUS", CPUS));
        assert!(
            out.status.success(),
            "cluster.sh up failed:\n{}",
            output_text(&out)
        );
        cluster
    }

    /// `prog` talking to this cluster, without the variables of any Slurm job or
    /// allocation the tests themselves may run in.
    fn command(&self, prog: &str) -> Command {
        let mut cmd = Command::new(prog);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if ["SLURM_", "SBATCH_", "SALLOC_", "SRUN_"]
                .iter()
                .any(|p| key.starts_with(p))
            {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("SLURM_CONF", self.dir.join("slurm.conf"));
        cmd
    }

    /// `scontrol show job ID` as one line of `Key=Value` fields.
    fn job_fields(&self, id: &str) -> BTreeMap<String, String> {
        let out = run(self.command("scontrol").args(["show", "job", "-o", id]));
        job_fields(&String::from_utf8_lossy(&out.stdout))
    }

    /// The end of every daemon log, for failure messages.
    fn logs(&self) -> String {
        log_tails(&self.dir.join("log"), 30)
    }
}

/// `scontrol show job -o` output as its `Key=Value` fields.
pub(crate) fn job_fields(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The last `lines` lines of every log in `dir`, for failure messages.
pub(crate) fn log_tails(dir: &Path, lines: usize) -> String {
    let mut text = String::new();
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.sort();
    for log in logs {
        let _ = write!(text, "--- {}\n{}", log.display(), tail(&log, lines));
    }
    text
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = run(Command::new(format!("{ROOT}/tests/slurm/cluster.sh"))
            .arg("down")
            .arg(&self.dir));
        if !out.status.success() {
            eprintln!("cluster.sh down failed:\n{}", output_text(&out));
        }
    }
}

/// One submission and what it must produce (also used by `multinode`).
pub(crate) struct Job {
    pub script: &'static str,
    pub launcher: &'static str,
    /// Nodes asked for.
    pub nodes: usize,
    /// Tasks in all: nodes x tasks per node.
    pub tasks: u64,
    /// `SAMPLES`: total for mcpi and strong scaling, per rank for weak scaling.
    pub samples: u64,
    pub repeats: u64,
    pub id: String,
}

impl Job {
    /// A one-node job of `tasks` tasks (sweeps repeated twice).
    pub fn new(script: &'static str, launcher: &'static str, tasks: u64, samples: u64) -> Job {
        let repeats = if script == "mcpi.sbatch" { 1 } else { 2 };
        Job {
            script,
            launcher,
            nodes: 1,
            tasks,
            samples,
            repeats,
            id: String::new(),
        }
    }

    /// A job on `nodes` nodes with `per_node` tasks each, run once.
    pub fn on_nodes(
        script: &'static str,
        launcher: &'static str,
        nodes: usize,
        per_node: usize,
        samples: u64,
    ) -> Job {
        Job {
            nodes,
            tasks: (nodes * per_node) as u64,
            repeats: 1,
            ..Job::new(script, launcher, 0, samples)
        }
    }

    /// Tasks per node.
    pub fn tasks_per_node(&self) -> usize {
        self.tasks as usize / self.nodes
    }

    /// The job name (`#SBATCH --job-name`), which is also the report label.
    pub fn name(&self) -> &'static str {
        self.script.trim_end_matches(".sbatch")
    }

    /// The first word of its report names.
    pub fn study(&self) -> &'static str {
        match self.script {
            "mcpi.sbatch" => "run",
            "strong-scaling.sbatch" => "strong",
            _ => "weak",
        }
    }

    /// The rank counts it runs: all tasks, or 1, 2, 4, ... and all tasks.
    pub fn ranks(&self) -> Vec<u64> {
        if self.script == "mcpi.sbatch" {
            return vec![self.tasks];
        }
        let mut ranks: Vec<u64> = (0..)
            .map(|k| 1 << k)
            .take_while(|&r| r < self.tasks)
            .collect();
        ranks.push(self.tasks);
        ranks
    }

    /// The samples of its run on `ranks` ranks.
    pub fn samples_on(&self, ranks: u64) -> u64 {
        if self.study() == "weak" {
            self.samples * ranks
        } else {
            self.samples
        }
    }

    /// Its batch log (`#SBATCH --output=%x-%j.out`, in the submit directory).
    pub fn log(&self, submit: &Path) -> PathBuf {
        submit.join(format!("{}-{}.out", self.name(), self.id))
    }
}

#[test]
fn every_script_under_srun_and_mpirun_on_a_private_cluster() {
    let setup = run(&mut Command::new(format!("{ROOT}/scripts/setup-slurm.sh")));
    assert!(
        setup.status.success(),
        "scripts/setup-slurm.sh failed (the Slurm test runs as root, as CI does):\n{}",
        output_text(&setup)
    );

    let scratch = Scratch::new("slurm");
    // munged refuses a key under a directory others may write to.
    set_mode(scratch.path(), 0o755);
    let submit = scratch.path().join("submit");
    let results = scratch.path().join("results");
    std::fs::create_dir_all(&submit).unwrap();
    let cluster = Cluster::up(scratch.path().join("cluster"));
    // Every job its own TMPDIR: concurrent OpenMPI jobs on one host race on a
    // shared session directory.
    let mut job_tmps = JobTmps::default();

    // A long run, stopped as by the time-limit warning (USR1 to the batch shell
    // only), must requeue itself and complete with the uninterrupted count.
    let requeued_results = scratch.path().join("results-requeued");
    let mut requeued = Job::new("mcpi.sbatch", "mpirun", 2, 10_000_000_000);
    let out = run(cluster
        .command("sbatch")
        .current_dir(&submit)
        .args(["--parsable", "--nodes=1", "--time=5", "--ntasks-per-node=2"])
        .arg(format!("{ROOT}/slurm/mcpi.sbatch"))
        .env_remove("RANKS")
        .env("MCPI", env!("CARGO_BIN_EXE_mcpi"))
        .env("RESULTS", &requeued_results)
        .env("LAUNCHER", "mpirun")
        .env("SAMPLES", "1e10")
        .env("BATCH_SIZE", "5e7")
        .env("REPEATS", "1")
        .env("CHECKPOINT_INTERVAL", "0.2s")
        .env("TMPDIR", job_tmps.push_new())
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"));
    requeued.id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "sbatch: {}", output_text(&out));
    let checkpoint = requeued_results.join(format!("run-j{}-N1-n2-r1.ckpt.h5", requeued.id));
    let deadline = Instant::now() + JOBS_TIMEOUT;
    while !checkpoint.exists() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint:\n{}",
            tail(&requeued.log(&submit), 60)
        );
        thread::sleep(Duration::from_millis(20));
    }
    let signal = run(cluster
        .command("scancel")
        .args(["--signal=USR1", "--batch", &requeued.id]));
    assert!(signal.status.success(), "scancel: {}", output_text(&signal));

    // 2e8 samples: the same count from mcpi (4 and 3 ranks), strong scaling
    // (1 to 4 ranks) and weak scaling on 4 ranks (4 x 5e7).
    let mut jobs = vec![
        Job::new("mcpi.sbatch", "srun", 4, 200_000_000),
        Job::new("mcpi.sbatch", "mpirun", 3, 200_000_000),
        Job::new("strong-scaling.sbatch", "srun", 3, 200_000_000),
        Job::new("strong-scaling.sbatch", "mpirun", 4, 200_000_000),
        Job::new("weak-scaling.sbatch", "srun", 4, 50_000_000),
        Job::new("weak-scaling.sbatch", "mpirun", 3, 50_000_000),
    ];
    for job in &mut jobs {
        let out = run(cluster
            .command("sbatch")
            .current_dir(&submit)
            .args(["--parsable", "--nodes=1", "--time=5"])
            .arg(format!("--ntasks-per-node={}", job.tasks))
            .arg(format!("{ROOT}/slurm/{}", job.script))
            .env_remove("RANKS")
            .env("MCPI", env!("CARGO_BIN_EXE_mcpi"))
            .env("RESULTS", &results)
            .env("LAUNCHER", job.launcher)
            .env("SAMPLES", job.samples.to_string())
            .env("BATCH_SIZE", BATCH_SIZE.to_string())
            .env("REPEATS", job.repeats.to_string())
            .env("TMPDIR", job_tmps.push_new())
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        job.id = stdout.trim().split(';').next().unwrap_or("").to_string();
        assert!(
            out.status.success() && !job.id.is_empty(),
            "sbatch {} failed:\n{}\n{}",
            job.script,
            output_text(&out),
            cluster.logs()
        );
    }

    // What went wrong with a job: its record, its batch log, the daemons' logs.
    let diagnose = |job: &Job| {
        let record = run(cluster.command("scontrol").args(["show", "job", &job.id]));
        format!(
            "job {} ({} with {}, {} tasks)\n{}--- batch log {}\n{}{}",
            job.id,
            job.script,
            job.launcher,
            job.tasks,
            output_text(&record),
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
            let running = [
                "",
                "PENDING",
                "CONFIGURING",
                "RUNNING",
                "COMPLETING",
                "SUSPENDED",
                "REQUEUED",
            ];
            if !running.contains(&state) {
                break fields;
            }
            assert!(
                Instant::now() < deadline,
                "job {} still {state} after {JOBS_TIMEOUT:?}:\n{}",
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
        let log = std::fs::read_to_string(job.log(&submit)).unwrap_or_default();
        assert!(
            log.contains(&format!("{}: {},", job.script, job.launcher)),
            "the batch log does not show LAUNCHER={}:\n{}",
            job.launcher,
            diagnose(job)
        );
    }

    // Exactly the promised reports, each complete and recording its job.
    let found: BTreeSet<String> = std::fs::read_dir(&results)
        .unwrap_or_else(|e| panic!("{}: {e}", results.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let mut expected = BTreeSet::new();
    let mut inside: BTreeMap<(u64, u64, u64), Vec<(String, u64)>> = BTreeMap::new();
    for job in &jobs {
        for ranks in job.ranks() {
            for repeat in 1..=job.repeats {
                let prefix = format!("{}-j{}-N1-n{ranks}-r{repeat}", job.study(), job.id);
                let name = format!("{prefix}.json");
                assert!(
                    found.contains(&name),
                    "no {name} among {found:?}:\n{}",
                    diagnose(job)
                );
                assert!(
                    results.join(format!("{prefix}.h5")).exists(),
                    "no {prefix}.h5:\n{}",
                    diagnose(job)
                );
                let report = json(&results.join(&name));
                let why = |what: &str| format!("{name}: {what}\n{report:#}\n{}", diagnose(job));
                assert_eq!(report["complete"], true, "{}", why("not complete"));
                assert_eq!(report["ranks"], ranks, "{}", why("rank count"));
                assert_eq!(report["label"], job.name(), "{}", why("label"));
                assert_eq!(
                    report["samples"],
                    job.samples_on(ranks),
                    "{}",
                    why("samples")
                );
                let slurm = &report["slurm"];
                let job_id = match &slurm["job_id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(job_id, job.id, "{}", why("slurm.job_id"));
                // slurm.tasks is SLURM_NTASKS: the step's under srun, the job's
                // under mpirun; either way not below the ranks.
                assert!(
                    slurm["tasks"].as_u64() >= Some(ranks),
                    "{}",
                    why("slurm.tasks")
                );
                assert_eq!(slurm["nodes"], 1, "{}", why("slurm.nodes"));
                let key = ["seed", "samples", "batch_size"]
                    .map(|k| report[k].as_u64().unwrap_or_else(|| panic!("{}", why(k))));
                inside
                    .entry((key[0], key[1], key[2]))
                    .or_default()
                    .push((name.clone(), report["inside"].as_u64().unwrap()));
                expected.insert(name);
            }
        }
    }
    assert_eq!(found, expected, "reports other than the expected ones");

    // The count is a function of (seed, samples, batch size) alone.
    for (key, runs) in &inside {
        assert!(
            runs.iter().all(|(_, n)| *n == runs[0].1),
            "different inside counts for (seed, samples, batch size) = {key:?}: {runs:#?}"
        );
    }
    let shared = inside
        .iter()
        .find(|(k, _)| k.1 == 200_000_000)
        .map(|(_, runs)| runs.len());
    assert!(
        shared >= Some(10),
        "too few runs of 2e8 samples to compare: {shared:?}"
    );

    // The sweep scripts summarise their own runs with `mcpi study`: one row per
    // rank count of the job, each from its repeats, speedup 1 on one rank.
    for job in jobs.iter().filter(|job| job.study() != "run") {
        let prefix = results.join(format!("{}-j{}", job.study(), job.id));
        for ext in ["md", "svg"] {
            let path = prefix.with_extension(ext);
            assert!(path.exists(), "no {}:\n{}", path.display(), diagnose(job));
        }
        let csv = std::fs::read_to_string(prefix.with_extension("csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let col = |row: &Vec<&str>, name: &str| {
            row[head.iter().position(|h| *h == name).unwrap()].to_string()
        };
        let ranks: Vec<u64> = rows
            .iter()
            .map(|r| col(r, "ranks").parse().unwrap())
            .collect();
        assert_eq!(ranks, job.ranks(), "{csv}\n{}", diagnose(job));
        for row in &rows {
            assert_eq!(col(row, "kind"), job.study(), "{csv}");
            assert_eq!(col(row, "label"), job.name(), "{csv}");
            assert_eq!(col(row, "runs"), job.repeats.to_string(), "{csv}");
        }
        assert_eq!(col(&rows[0], "speedup"), "1", "{csv}");
        let log = std::fs::read_to_string(job.log(&submit)).unwrap_or_default();
        assert!(
            log.contains(&format!("{}: {} scaling", job.name(), job.study())),
            "{log}"
        );
    }

    // A study of the whole results directory keeps the three labels apart and
    // joins each label's runs across jobs and launchers.
    let all = run(Command::new(env!("CARGO_BIN_EXE_mcpi"))
        .args(["study", "--csv"])
        .arg(scratch.path().join("all.csv"))
        .arg(&results));
    assert!(all.status.success(), "{}", output_text(&all));
    let stdout = String::from_utf8_lossy(&all.stdout);
    for title in [
        "mcpi: strong scaling",
        "strong-scaling: strong scaling",
        "weak-scaling: weak scaling",
    ] {
        assert_eq!(stdout.matches(title).count(), 1, "{title}:\n{stdout}");
    }
    // Progress lines in the batch logs: the closing line of every run.
    for job in &jobs {
        let log = std::fs::read_to_string(job.log(&submit)).unwrap_or_default();
        let runs = job.ranks().len() as u64 * job.repeats;
        assert_eq!(
            log.matches("mcpi: 100% (").count() as u64,
            runs,
            "progress lines in {}:\n{log}",
            job.log(&submit).display()
        );
    }

    // The requeued job: stopped once, requeued, resumed, complete, and the
    // count of an uninterrupted run.
    let deadline = Instant::now() + JOBS_TIMEOUT;
    let fields = loop {
        let fields = cluster.job_fields(&requeued.id);
        if fields
            .get("JobState")
            .is_some_and(|s| s == "COMPLETED" || s == "FAILED" || s == "CANCELLED")
        {
            break fields;
        }
        assert!(
            Instant::now() < deadline,
            "requeued job unfinished:\n{}",
            diagnose(&requeued)
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(fields["JobState"], "COMPLETED", "{}", diagnose(&requeued));
    assert_eq!(fields["Restarts"], "1", "{}", diagnose(&requeued));
    let log = std::fs::read_to_string(requeued.log(&submit)).unwrap_or_default();
    assert!(
        log.contains("requeueing job") && log.contains("repeat 1, resumed"),
        "{log}"
    );
    let report = json(&requeued_results.join(format!("run-j{}-N1-n2-r1.json", requeued.id)));
    assert_eq!(report["complete"], true, "{report:#}");
    assert!(
        report["resumed_batches"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(
        report["inside"],
        crate::restart::reference_inside(),
        "{report:#}"
    );
}

/// Runs a command to completion, its output captured. The commands here time
/// out on their own (cluster.sh after 30 s per daemon, Slurm's clients after
/// MessageTimeout).
fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

fn output_text(out: &Output) -> String {
    format!(
        "status {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last `lines` lines of a file, or why there are none.
/// The last `lines` lines of a file, for failure messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let mut out = all[all.len().saturating_sub(lines)..].join("\n");
            out.push('\n');
            out
        }
        Err(e) => format!("({e})\n"),
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Private TMPDIRs for the jobs, removed at the end of the test.
#[derive(Default)]
struct JobTmps(Vec<JobTmp>);

impl JobTmps {
    /// A new one, for one job's environment.
    fn push_new(&mut self) -> PathBuf {
        let tmp = JobTmp::new();
        let path = tmp.0.clone();
        self.0.push(tmp);
        path
    }
}
