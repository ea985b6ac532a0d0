//! What the cluster tests share (`slurm` and `reframe`: the private one-node
//! cluster; `multinode`: an emulated cluster): commands run with a timeout, the
//! one-node cluster's guard, a submission of a script in `slurm/` and the
//! reports it must leave, the one wait for a Slurm job, `scontrol` fields, log
//! tails for failure messages, `mcpi study`'s CSV, and the check that a run's
//! ranks were bound to cores of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository: the scripts live here.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A Slurm client command (sbatch, scontrol, scancel) or an mcpi run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// `cluster.sh up` and `down` finish well within this (each daemon gets 30 s).
const HARNESS_TIMEOUT: Duration = Duration::from_secs(150);

/// What a finished command left behind.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Out {
    /// Exit status 0 within the time allowed.
    pub fn ok(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// Status and output, for failure messages.
    pub fn text(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, output captured; after `timeout` it is sent
/// SIGTERM, then SIGKILL, and the test fails (the cluster guards then tear
/// everything down).
pub fn run_for(cmd: &mut Command, timeout: Duration) -> Out {
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
pub fn run_limited(cmd: &mut Command, timeout: Duration) -> Out {
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

/// Removes from `cmd` the variables of any Slurm job or allocation the tests
/// themselves may run in, so that it talks to the test's cluster alone.
pub fn without_slurm_job(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if ["SLURM_", "SBATCH_", "SALLOC_", "SRUN_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

/// Installs Slurm and MUNGE (`scripts/setup-slurm.sh`, as root, as CI runs).
pub fn setup_slurm() {
    let setup = run_for(
        &mut Command::new(format!("{ROOT}/scripts/setup-slurm.sh")),
        Duration::from_secs(600),
    );
    assert!(
        setup.ok(),
        "scripts/setup-slurm.sh failed (the Slurm tests run as root, as CI does):\n{}",
        setup.text()
    );
}

/// Makes `dir` mode 755: munged refuses a key under a directory others may
/// write to.
pub fn not_world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `scontrol show job -o` output as its `Key=Value` fields.
pub fn job_fields(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The last `lines` lines of every log in `dir`, for failure messages.
pub fn log_tails(dir: &Path, lines: usize) -> String {
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

/// The last `lines` lines of a file, or why there are none, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
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

/// The names of the JSON files in `dir`.
pub fn json_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect()
}

/// `mcpi study --csv` output: a header and rows of columns.
pub struct Csv {
    pub text: String,
    head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    /// The CSV file at `path`.
    pub fn read(path: &Path) -> Csv {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text
            .lines()
            .map(|l| l.split(',').map(String::from).collect());
        let head = lines.next().unwrap_or_default();
        let rows = lines.collect();
        Csv { text, head, rows }
    }

    /// Column `name` of `row`.
    pub fn col<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        let i = self
            .head
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {}", self.text));
        &row[i]
    }
}

/// Slurm jobs in this state have ended: any other (none yet, pending,
/// configuring, running, completing, suspended, requeued) is waited through.
fn ended(state: &str) -> bool {
    let ended = [
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
    ];
    ended.contains(&state) || state.starts_with("OUT_OF")
}

/// A running test cluster the Slurm clients can talk to.
pub trait Slurm {
    /// `prog` (a Slurm client) talking to this cluster.
    fn client(&self, prog: &str) -> Command;

    /// The end of every daemon log, for failure messages.
    fn logs(&self) -> String;

    /// `scontrol show job -o ID` as `Key=Value` fields.
    fn job_fields(&self, id: &str) -> BTreeMap<String, String> {
        let out = run_for(
            self.client("scontrol").args(["show", "job", "-o", id]),
            CLIENT_TIMEOUT,
        );
        job_fields(&out.stdout)
    }

    /// Submits `job` from `job.submit`, reports to `results`; `more` adds to
    /// the sbatch command (environment). Sets `job.id`; fails the test if
    /// sbatch does.
    fn sbatch(&self, job: &mut Job, results: &Path, more: impl FnOnce(&mut Command)) {
        std::fs::create_dir_all(&job.submit).unwrap();
        let mut cmd = self.client("sbatch");
        cmd.current_dir(&job.submit)
            .args(["--parsable", "--time=5"])
            .args(job.sizing())
            .arg(format!("{ROOT}/slurm/{}", job.script))
            .env_remove("RANKS")
            .env_remove("THREADS")
            .env_remove("MCPI_SLURM_DIR")
            .env("MCPI", env!("CARGO_BIN_EXE_mcpi"))
            .env("RESULTS", results)
            .env("LAUNCHER", job.launcher)
            .env("SAMPLES", job.samples.to_string())
            .env("BATCH_SIZE", job.batch_size.to_string())
            .env("REPEATS", job.repeats.to_string())
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        more(&mut cmd);
        let out = run_for(&mut cmd, CLIENT_TIMEOUT);
        job.id = out
            .stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        assert!(
            out.ok() && !job.id.is_empty(),
            "sbatch {} {} ({}):\n{}\n{}",
            job.sizing().join(" "),
            job.script,
            job.launcher,
            out.text(),
            self.logs()
        );
    }

    /// Waits until `job` has ended, at the latest by `deadline`, and returns
    /// its fields.
    fn wait_for(&self, job: &Job, deadline: Instant) -> BTreeMap<String, String> {
        loop {
            let fields = self.job_fields(&job.id);
            let state = fields.get("JobState").map(String::as_str).unwrap_or("");
            if ended(state) {
                return fields;
            }
            assert!(
                Instant::now() < deadline,
                "job {} still {state:?} at its deadline:\n{}",
                job.id,
                self.diagnose(job)
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// What went wrong with a job: its record, its batch log, the daemons' logs.
    fn diagnose(&self, job: &Job) -> String {
        let record = run_for(
            self.client("scontrol").args(["show", "job", &job.id]),
            CLIENT_TIMEOUT,
        );
        format!(
            "job {} (sbatch {} {} with {}, {} tasks)\n{}--- batch log {}\n{}{}",
            job.id,
            job.sizing().join(" "),
            job.script,
            job.launcher,
            job.tasks,
            record.text(),
            job.log().display(),
            tail(&job.log(), 60),
            self.logs()
        )
    }

    /// Asserts that `job` ended COMPLETED with exit code 0:0 and that its batch
    /// log shows its launcher and the tasks and nodes it found; returns its
    /// fields.
    fn assert_completed(&self, job: &Job, deadline: Instant) -> BTreeMap<String, String> {
        let fields = self.wait_for(job, deadline);
        assert!(
            fields["JobState"] == "COMPLETED" && fields["ExitCode"] == "0:0",
            "job ended {} with exit code {}:\n{}",
            fields["JobState"],
            fields["ExitCode"],
            self.diagnose(job)
        );
        assert!(
            job.log_text()
                .contains(&format!("{}: {},", job.script, job.launcher)),
            "the batch log does not show LAUNCHER={}:\n{}",
            job.launcher,
            self.diagnose(job)
        );
        let sized = format!(
            "{}: job {}, tasks {}, nodes {} (",
            job.script, job.id, job.tasks, job.nodes
        );
        assert!(
            job.log_text().contains(&sized),
            "the batch log does not say {sized:?}:\n{}",
            self.diagnose(job)
        );
        fields
    }

    /// Asserts what every report of `job`'s run of `shape`, repeat `repeat`,
    /// must be: there, with its HDF5 twin, complete, of that many ranks,
    /// threads per rank and samples, the threads from where the launcher puts
    /// them, labelled with the study, recording the job, its node count and at
    /// least `ranks` tasks (SLURM_NTASKS: the step's under srun, the job's under
    /// mpirun). Returns the report and a failure context.
    fn check_report(
        &self,
        job: &Job,
        results: &Path,
        shape: Shape,
        repeat: u64,
    ) -> (String, Value, String) {
        let Shape { ranks, threads } = shape;
        let prefix = job.report_prefix(shape, repeat);
        let name = format!("{prefix}.json");
        assert!(
            results.join(&name).exists(),
            "no {name} among {:?}:\n{}",
            json_names(results),
            self.diagnose(job)
        );
        assert!(
            results.join(format!("{prefix}.h5")).exists(),
            "no {prefix}.h5:\n{}",
            self.diagnose(job)
        );
        let report = crate::util::json(&results.join(&name));
        let why = format!("{name}\n{report:#}\n{}", self.diagnose(job));
        assert_eq!(report["complete"], true, "not complete: {why}");
        assert_eq!(report["ranks"], ranks, "rank count: {why}");
        assert_eq!(report["threads"], threads, "threads per rank: {why}");
        assert_eq!(
            report["threads_from"],
            job.threads_from(),
            "threads_from: {why}"
        );
        assert_eq!(report["label"], job.name(), "label: {why}");
        assert_eq!(report["samples"], job.samples_on(ranks), "samples: {why}");
        let slurm = &report["slurm"];
        let job_id = match &slurm["job_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(job_id, job.id, "slurm.job_id: {why}");
        assert_eq!(slurm["nodes"], job.nodes, "slurm.nodes: {why}");
        assert!(slurm["tasks"].as_u64() >= Some(ranks), "slurm.tasks: {why}");
        (name, report, why)
    }
}

/// A run's ranks and threads per rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shape {
    pub ranks: u64,
    pub threads: u64,
}

/// Asserts that the run of `report` (JSON, with its HDF5 twin `h5`) had its
/// ranks bound to cores of their own, as `--cpu-bind=cores` with
/// `--cpus-per-task` or mpirun's `PE=` with `--bind-to core` give: no
/// placement warning, each rank's affinity mask exactly as many CPUs as it
/// runs threads, and no two masks on one host sharing a CPU.
pub fn check_bound(report: &Value, h5: &Path, why: &str) {
    use hdf5::types::VarLenUnicode;
    assert_eq!(
        report["placement_warnings"],
        serde_json::json!([]),
        "placement warnings: {why}"
    );
    let file = hdf5::File::open(h5).unwrap_or_else(|e| panic!("{}: {e}", h5.display()));
    let read = |name: &str| -> Vec<String> {
        let v: Vec<VarLenUnicode> = file.dataset(name).unwrap().read_raw().unwrap();
        v.iter().map(|s| s.as_str().to_string()).collect()
    };
    let (hosts, masks) = (read("ranks/host"), read("ranks/affinity"));
    let threads = report["threads"].as_u64().unwrap() as usize;
    let mut taken: BTreeSet<(String, u32)> = BTreeSet::new();
    for (rank, (host, mask)) in hosts.iter().zip(&masks).enumerate() {
        let cpus = cpu_list(mask);
        assert_eq!(
            cpus.len(),
            threads,
            "rank {rank} on {host}: mask {mask} for {threads} threads: {why}"
        );
        for cpu in cpus {
            assert!(
                taken.insert((host.clone(), cpu)),
                "CPU {cpu} of {host} in two masks {masks:?}: {why}"
            );
        }
    }
}

/// The CPUs of a list as launchers write it (`0-3,8`).
fn cpu_list(text: &str) -> Vec<u32> {
    text.split(',')
        .flat_map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
            a..=b
        })
        .collect()
}

/// One submission and what it must produce.
pub struct Job {
    pub script: &'static str,
    pub launcher: &'static str,
    /// Nodes it gets.
    pub nodes: usize,
    /// Tasks it gets in all: nodes x tasks per node.
    pub tasks: u64,
    /// `--cpus-per-task` (given when more than 1): each rank's threads.
    pub cpus_per_task: u64,
    /// Its sizing options as a user types them (`-n 2`); empty: `--nodes` and
    /// `--ntasks-per-node` from `nodes` and `tasks`.
    pub typed: &'static [&'static str],
    /// `SAMPLES`: total for mcpi and strong scaling, per rank for weak scaling.
    pub samples: u64,
    /// `BATCH_SIZE`.
    pub batch_size: u64,
    pub repeats: u64,
    /// The submit directory, where its batch log goes.
    pub submit: PathBuf,
    /// Slurm's job id, once submitted.
    pub id: String,
}

impl Job {
    /// A one-node job of `tasks` tasks in batches of 1e7 (sweeps repeated twice).
    pub fn new(
        submit: &Path,
        script: &'static str,
        launcher: &'static str,
        tasks: u64,
        samples: u64,
    ) -> Job {
        let repeats = if script == "mcpi.sbatch" { 1 } else { 2 };
        Job {
            script,
            launcher,
            nodes: 1,
            tasks,
            cpus_per_task: 1,
            samples,
            batch_size: 10_000_000,
            repeats,
            typed: &[],
            submit: submit.to_path_buf(),
            id: String::new(),
        }
    }

    /// A job on `nodes` nodes with `per_node` tasks each, run once.
    pub fn on_nodes(
        submit: &Path,
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
            ..Job::new(submit, script, launcher, 0, samples)
        }
    }

    /// A one-node job sized by `typed` alone, as a user submits it, which must
    /// get `tasks` tasks.
    pub fn typed(
        submit: &Path,
        script: &'static str,
        launcher: &'static str,
        typed: &'static [&'static str],
        tasks: u64,
        samples: u64,
    ) -> Job {
        Job {
            typed,
            ..Job::new(submit, script, launcher, tasks, samples)
        }
    }

    /// Tasks per node.
    pub fn tasks_per_node(&self) -> usize {
        self.tasks as usize / self.nodes
    }

    /// The same job with `--cpus-per-task=n`.
    pub fn with_cpus_per_task(self, n: u64) -> Job {
        Job {
            cpus_per_task: n,
            ..self
        }
    }

    /// The sbatch options that size it.
    pub fn sizing(&self) -> Vec<String> {
        let mut sizing: Vec<String> = if self.typed.is_empty() {
            vec![
                format!("--nodes={}", self.nodes),
                format!("--ntasks-per-node={}", self.tasks_per_node()),
            ]
        } else {
            self.typed.iter().map(|s| s.to_string()).collect()
        };
        if self.cpus_per_task > 1 {
            sizing.push(format!("--cpus-per-task={}", self.cpus_per_task));
        }
        sizing
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
            "hybrid-scaling.sbatch" => "hybrid",
            _ => "weak",
        }
    }

    /// Its cores: tasks x CPUs per task.
    pub fn cores(&self) -> u64 {
        self.tasks * self.cpus_per_task
    }

    /// The rank counts of mcpi.sbatch and the scaling sweeps: all tasks, or 1,
    /// 2, 4, ... and all tasks.
    fn ranks(&self) -> Vec<u64> {
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

    /// The shapes it runs, in order: the hybrid sweep's ranks x threads at the
    /// job's cores (threads 1, 2, 4, ... dividing a node's cores, and a node's
    /// cores), else its rank counts with a thread per CPU of a task.
    pub fn shapes(&self) -> Vec<Shape> {
        if self.study() != "hybrid" {
            let threads = self.cpus_per_task;
            return self
                .ranks()
                .into_iter()
                .map(|ranks| Shape { ranks, threads })
                .collect();
        }
        let per_node = self.cores() / self.nodes as u64;
        let mut threads: Vec<u64> = (0..)
            .map(|k| 1 << k)
            .take_while(|&t| t < per_node)
            .filter(|&t| per_node.is_multiple_of(t))
            .collect();
        threads.push(per_node);
        threads
            .into_iter()
            .map(|t| Shape {
                ranks: self.cores() / t,
                threads: t,
            })
            .collect()
    }

    /// Runs it makes: every shape, `repeats` times.
    pub fn runs(&self) -> u64 {
        self.shapes().len() as u64 * self.repeats
    }

    /// Where its reports say the threads came from: srun gives every step
    /// `--cpus-per-task` (mcpi reads SLURM_CPUS_PER_TASK), mpirun's runs get
    /// `--threads`.
    pub fn threads_from(&self) -> &'static str {
        if self.launcher == "srun" {
            "SLURM_CPUS_PER_TASK"
        } else {
            "--threads"
        }
    }

    /// Whether the script has mpirun bind its ranks to cores of their own
    /// (`PE=` and `--bind-to core`): with more than one thread per rank, and in
    /// the hybrid sweep. (srun binds them where Slurm has task/affinity.)
    pub fn mpirun_binds(&self) -> bool {
        self.launcher == "mpirun" && (self.cpus_per_task > 1 || self.study() == "hybrid")
    }

    /// The samples of its run on `ranks` ranks.
    pub fn samples_on(&self, ranks: u64) -> u64 {
        if self.study() == "weak" {
            self.samples * ranks
        } else {
            self.samples
        }
    }

    /// The name of its report of the run of `shape`, repeat `repeat`, without
    /// extension: `-t<threads>` when a rank runs more than one.
    pub fn report_prefix(&self, shape: Shape, repeat: u64) -> String {
        let threads = match shape.threads {
            1 => String::new(),
            t => format!("-t{t}"),
        };
        format!(
            "{}-j{}-N{}-n{}{threads}-r{repeat}",
            self.study(),
            self.id,
            self.nodes,
            shape.ranks
        )
    }

    /// Its batch log (`#SBATCH --output=%x-%j.out`, in the submit directory).
    pub fn log(&self) -> PathBuf {
        self.submit.join(format!("{}-{}.out", self.name(), self.id))
    }

    /// Its batch log's text, or nothing.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

/// Held by the one test that has a private one-node cluster up: the tests that
/// need one take turns, so their jobs do not share the machine's cores.
static ONE_NODE: Mutex<()> = Mutex::new(());

/// A private one-node Slurm cluster in a directory (`tests/slurm/cluster.sh`);
/// dropping it runs `cluster.sh down`, so its daemons stop even when an
/// assertion fails.
pub struct Cluster {
    dir: PathBuf,
    /// Released after `down`: fields drop after `Drop::drop` has run.
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts a cluster whose node declares `cpus` CPUs, once no other test
    /// has one up.
    pub fn up(dir: PathBuf, cpus: &str) -> Cluster {
        // A test that failed with the cluster up has stopped it all the same.
        let turn = ONE_NODE.lock().unwrap_or_else(|e| e.into_inner());
        // The guard exists before `up` runs: a half-started cluster is stopped too.
        let cluster = Cluster { dir, _turn: turn };
        let out = run_for(
            Command::new(format!("{ROOT}/tests/slurm/cluster.sh"))
                .arg("up")
                .arg(&cluster.dir)
                .env("CPUS", cpus),
            HARNESS_TIMEOUT,
        );
        assert!(out.ok(), "cluster.sh up failed:\n{}", out.text());
        cluster
    }

    /// Its `slurm.conf`: `SLURM_CONF` for the clients.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }
}

impl Slurm for Cluster {
    fn client(&self, prog: &str) -> Command {
        let mut cmd = Command::new(prog);
        without_slurm_job(&mut cmd).env("SLURM_CONF", self.conf());
        cmd
    }

    fn logs(&self) -> String {
        log_tails(&self.dir.join("log"), 30)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = run_limited(
            Command::new(format!("{ROOT}/tests/slurm/cluster.sh"))
                .arg("down")
                .arg(&self.dir),
            HARNESS_TIMEOUT,
        );
        if !out.ok() {
            eprintln!("cluster.sh down failed:\n{}", out.text());
        }
    }
}
