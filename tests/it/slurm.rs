//! The job scripts in `slurm/`, submitted with `sbatch` to a private one-node
//! Slurm cluster (`tests/slurm/cluster.sh`, as root): every script under both
//! launchers, `srun` (PMIx) and `mpirun`. Each job must end COMPLETED with exit
//! code 0:0 and leave exactly the reports its name scheme promises — complete,
//! with the right rank count, label and Slurm job — and every report of the same
//! (seed, samples, batch size) must hold the same inside count, whatever the
//! rank count, launcher or script. A run stopped as by the time limit requeues
//! itself and completes with the uninterrupted count; a script that cannot find
//! `slurm/common.sh`, or is given a bad `SAMPLES`, stops at once with status 2.
//! The scripts ask for no size: jobs sized only by `-n`, `-N`,
//! `--ntasks-per-node` or `--exclusive` run on the tasks they were given.
//! With `-c` every rank runs a thread per CPU of its task (`SLURM_CPUS_PER_TASK`
//! under srun, `--threads` under mpirun, bound by mpirun to cores of its own);
//! the hybrid sweep runs every ranks x threads shape of the job's cores and
//! ends with the hybrid table, and refuses a job it cannot sweep with status 2.
//! One test owns the cluster; its phases are the functions below.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::cluster::{
    check_bound, json_names, not_world_writable, run_for, setup_slurm, Cluster, Csv, Job, Shape,
    Slurm, CLIENT_TIMEOUT,
};
use crate::util::{json, JobTmp, Scratch};

/// Inside counts by (seed, samples, batch size): every report's name and count.
type Counts = BTreeMap<(u64, u64, u64), Vec<(String, u64)>>;

/// Every job must have ended this long after the last submission.
const JOBS_TIMEOUT: Duration = Duration::from_secs(120);

/// CPUs the node declares (more than a 2-core CI machine has; Slurm allows it).
const CPUS: &str = "4";

/// `SAMPLES` of the jobs that must agree: 2e8, the same count from mcpi (1 to
/// 4 ranks), strong scaling (1 to 4 ranks), weak scaling on 4 ranks (4 x 5e7)
/// and the hybrid sweeps, on 1 to 4 threads per rank.
const SHARED_SAMPLES: u64 = 200_000_000;

/// The stopped run's shape: 2 ranks of one thread.
const STOPPED_SHAPE: Shape = Shape {
    ranks: 2,
    threads: 1,
};

#[test]
fn every_script_under_srun_and_mpirun_on_a_private_cluster() {
    setup_slurm();
    let mut h = Harness::up();

    // ---- A long run, stopped as by the time-limit warning, submitted first.
    let requeued = h.stop_a_long_run();

    // ---- Every script under both launchers; two that must refuse; jobs sized
    // ---- only as a user types it, the script asking for no size.
    let mut jobs = h.submit_every_script();
    h.refusals();
    jobs.extend(h.submit_as_typed());
    let deadline = Instant::now() + JOBS_TIMEOUT;
    for job in &jobs {
        h.cluster.assert_completed(job, deadline);
    }

    // ---- What they left: reports, summaries, progress lines.
    let inside = h.check_reports(&jobs);
    check_one_count_per_key(&inside);
    h.check_mpirun_binding(&jobs);
    h.check_sweep_summaries(&jobs);
    h.check_hybrid_summaries(&jobs);
    h.check_study_of_everything();
    check_progress_lines(&jobs);

    // ---- The stopped run: requeued, resumed, complete.
    h.check_requeued(&requeued);
}

/// The cluster and the directories every phase uses. Fields drop in order: the
/// cluster stops before its directory is removed.
struct Harness {
    cluster: Cluster,
    /// The submit directory: batch logs.
    submit: PathBuf,
    /// Where the jobs of `submit_every_script` report.
    results: PathBuf,
    /// Where the stopped run reports.
    requeued_results: PathBuf,
    /// Every job its own TMPDIR: concurrent OpenMPI jobs on one host race on a
    /// shared session directory.
    tmps: Vec<JobTmp>,
    scratch: Scratch,
}

impl Harness {
    fn up() -> Harness {
        let scratch = Scratch::new("slurm");
        not_world_writable(scratch.path());
        let cluster = Cluster::up(scratch.path().join("cluster"), CPUS);
        Harness {
            cluster,
            submit: scratch.path().join("submit"),
            results: scratch.path().join("results"),
            requeued_results: scratch.path().join("results-requeued"),
            tmps: Vec::new(),
            scratch,
        }
    }

    /// A new private TMPDIR, for one job's environment.
    fn tmpdir(&mut self) -> PathBuf {
        let tmp = JobTmp::new();
        let path = tmp.0.clone();
        self.tmps.push(tmp);
        path
    }

    /// Submits a 1e10-sample run on 2 ranks checkpointing every 0.2 s, waits
    /// for its first checkpoint and sends USR1 to its batch shell alone, as
    /// the time-limit warning does.
    fn stop_a_long_run(&mut self) -> Job {
        let mut job = Job::new(&self.submit, "mcpi.sbatch", "mpirun", 2, 10_000_000_000);
        job.batch_size = 50_000_000;
        let tmp = self.tmpdir();
        let results = self.requeued_results.clone();
        self.cluster.sbatch(&mut job, &results, |cmd| {
            cmd.env("CHECKPOINT_INTERVAL", "0.2s").env("TMPDIR", tmp);
        });
        let checkpoint = results.join(format!("{}.ckpt.h5", job.report_prefix(STOPPED_SHAPE, 1)));
        let deadline = Instant::now() + JOBS_TIMEOUT;
        while !checkpoint.exists() {
            assert!(
                Instant::now() < deadline,
                "no checkpoint:\n{}",
                crate::cluster::tail(&job.log(), 60)
            );
            thread::sleep(Duration::from_millis(20));
        }
        let signal = run_for(
            self.cluster
                .client("scancel")
                .args(["--signal=USR1", "--batch", &job.id]),
            CLIENT_TIMEOUT,
        );
        assert!(signal.ok(), "scancel: {}", signal.text());
        job
    }

    /// Every script under both launchers, one node, 2 to 4 tasks: the hybrid
    /// sweep on 4 cores under srun (4x1, 2x2, 1x4), on 2 under mpirun (2x1,
    /// 1x2: mpirun binds every rank to cores of its own, which the machine must
    /// have).
    fn submit_every_script(&mut self) -> Vec<Job> {
        let s = &self.submit;
        let mut jobs = vec![
            Job::new(s, "mcpi.sbatch", "srun", 4, SHARED_SAMPLES),
            Job::new(s, "mcpi.sbatch", "mpirun", 3, SHARED_SAMPLES),
            Job::new(s, "strong-scaling.sbatch", "srun", 3, SHARED_SAMPLES),
            Job::new(s, "strong-scaling.sbatch", "mpirun", 4, SHARED_SAMPLES),
            Job::new(s, "weak-scaling.sbatch", "srun", 4, SHARED_SAMPLES / 4),
            Job::new(s, "weak-scaling.sbatch", "mpirun", 3, SHARED_SAMPLES / 4),
            Job::new(s, "hybrid-scaling.sbatch", "srun", 4, SHARED_SAMPLES),
            Job::new(s, "hybrid-scaling.sbatch", "mpirun", 2, SHARED_SAMPLES),
        ];
        for job in &mut jobs {
            let tmp = self.tmpdir();
            self.cluster.sbatch(job, &self.results, |cmd| {
                cmd.env("TMPDIR", tmp);
            });
        }
        jobs
    }

    /// Jobs sized only by what a user types (the scripts ask for no size): `-n
    /// 2`; `-N 1` alone, one CPU on this shared node; `--ntasks-per-node=2` for
    /// a sweep; the same three with `-c 2` (2 threads a rank; mcpi under
    /// mpirun on one task); `-N 1 --exclusive`, every CPU of the node, under
    /// mpirun (the script exports the count it found as SLURM_NTASKS, which the
    /// reports record). Submitted last: the exclusive job waits for the node to
    /// be free.
    fn submit_as_typed(&mut self) -> Vec<Job> {
        let s = &self.submit;
        let cpus: u64 = CPUS.parse().unwrap();
        let n = SHARED_SAMPLES;
        let job = |script, launcher, typed: &'static [&'static str], tasks| {
            Job::typed(s, script, launcher, typed, tasks, n)
        };
        let mut jobs = vec![
            job("mcpi.sbatch", "srun", &["-n", "2"], 2),
            job("mcpi.sbatch", "srun", &["-N", "1"], 1),
            job("strong-scaling.sbatch", "srun", &["--ntasks-per-node=2"], 2),
            job("mcpi.sbatch", "srun", &["-n", "2"], 2).with_cpus_per_task(2),
            job("mcpi.sbatch", "mpirun", &["-n", "1"], 1).with_cpus_per_task(2),
            job("strong-scaling.sbatch", "srun", &["--ntasks-per-node=2"], 2).with_cpus_per_task(2),
            job("mcpi.sbatch", "mpirun", &["-N", "1", "--exclusive"], cpus),
        ];
        for job in &mut jobs {
            let tmp = self.tmpdir();
            self.cluster.sbatch(job, &self.results, |cmd| {
                cmd.env("TMPDIR", tmp);
            });
        }
        jobs
    }

    /// A script whose `slurm/common.sh` is not where MCPI_SLURM_DIR says, weak
    /// scaling with a `SAMPLES` mcpi does not read, the hybrid sweep with a
    /// THREADS that does not divide the cores, and under mpirun on tasks of 2
    /// CPUs (mpirun's slots are the tasks): each job fails with exit code 2,
    /// says why in its log, and runs nothing.
    fn refusals(&mut self) {
        let results = self.scratch.path().join("results-refused");
        let s = &self.submit;
        let mut lost = Job::new(s, "mcpi.sbatch", "srun", 1, 10_000_000);
        self.cluster.sbatch(&mut lost, &results, |cmd| {
            cmd.env("MCPI_SLURM_DIR", "/nonexistent/slurm");
        });
        let mut bad = Job::new(s, "weak-scaling.sbatch", "srun", 1, 10_000_000);
        self.cluster.sbatch(&mut bad, &results, |cmd| {
            cmd.env("SAMPLES", "lots");
        });
        let mut three = Job::new(s, "hybrid-scaling.sbatch", "srun", 4, 10_000_000);
        self.cluster.sbatch(&mut three, &results, |cmd| {
            cmd.env("THREADS", "1 3");
        });
        let mut wide =
            Job::new(s, "hybrid-scaling.sbatch", "mpirun", 1, 10_000_000).with_cpus_per_task(2);
        self.cluster.sbatch(&mut wide, &results, |_| {});
        let deadline = Instant::now() + JOBS_TIMEOUT;
        for (job, says) in [
            (
                &lost,
                &["no common.sh in /nonexistent/slurm", "MCPI_SLURM_DIR"][..],
            ),
            (&bad, &["mcpi plan: error:", "--samples", "SAMPLES='lots'"]),
            (&three, &["THREADS='1 3': 3 does not divide the 4 cores"]),
            (
                &wide,
                &[
                    "LAUNCHER=mpirun takes a rank per task",
                    "--ntasks-per-node=2",
                ],
            ),
        ] {
            let fields = self.cluster.wait_for(job, deadline);
            assert_eq!(
                (fields["JobState"].as_str(), fields["ExitCode"].as_str()),
                ("FAILED", "2:0"),
                "{}",
                self.cluster.diagnose(job)
            );
            let log = job.log_text();
            for text in says {
                assert!(log.contains(text), "no {text:?} in the batch log:\n{log}");
            }
        }
        assert!(
            !results.exists() || json_names(&results).is_empty(),
            "reports from refused jobs"
        );
    }

    /// Exactly the promised reports, each complete and recording its job; their
    /// inside counts by (seed, samples, batch size).
    fn check_reports(&self, jobs: &[Job]) -> Counts {
        let found = json_names(&self.results);
        let mut expected = std::collections::BTreeSet::new();
        let mut inside = Counts::new();
        for job in jobs {
            for shape in job.shapes() {
                for repeat in 1..=job.repeats {
                    let (name, report, why) =
                        self.cluster.check_report(job, &self.results, shape, repeat);
                    let key = ["seed", "samples", "batch_size"]
                        .map(|k| report[k].as_u64().unwrap_or_else(|| panic!("{k}: {why}")));
                    inside
                        .entry((key[0], key[1], key[2]))
                        .or_default()
                        .push((name.clone(), report["inside"].as_u64().unwrap()));
                    expected.insert(name);
                }
            }
        }
        assert_eq!(found, expected, "reports other than the expected ones");
        inside
    }

    /// mpirun given `PE=` and `--bind-to core` (more than one thread per
    /// rank, and the hybrid sweep) bound every rank to cores of its own. (srun
    /// cannot bind here: this node declares more CPUs than the machine has, so
    /// the cluster runs without task/affinity; the emulated cluster binds.)
    fn check_mpirun_binding(&self, jobs: &[Job]) {
        let mut checked = 0;
        for job in jobs.iter().filter(|job| job.mpirun_binds()) {
            for shape in job.shapes() {
                for repeat in 1..=job.repeats {
                    let (_, report, why) =
                        self.cluster.check_report(job, &self.results, shape, repeat);
                    let h5 = self
                        .results
                        .join(format!("{}.h5", job.report_prefix(shape, repeat)));
                    check_bound(&report, &h5, &why);
                    checked += 1;
                }
            }
        }
        // The hybrid sweep's 2x1 and 1x2, twice; mcpi's 1x2.
        assert_eq!(checked, 5, "runs mpirun bound");
    }

    /// The scaling sweeps summarise their own runs with `mcpi study`: one row
    /// per rank count of the job, each from its repeats, at its threads per
    /// rank, speedup 1 on one rank.
    fn check_sweep_summaries(&self, jobs: &[Job]) {
        for job in jobs
            .iter()
            .filter(|job| ["strong", "weak"].contains(&job.study()))
        {
            let prefix = self.results.join(format!("{}-j{}", job.study(), job.id));
            for ext in ["md", "svg"] {
                let path = prefix.with_extension(ext);
                assert!(
                    path.exists(),
                    "no {}:\n{}",
                    path.display(),
                    self.cluster.diagnose(job)
                );
            }
            let csv = Csv::read(&prefix.with_extension("csv"));
            let text = &csv.text;
            let ranks: Vec<u64> = csv
                .rows
                .iter()
                .map(|r| csv.col(r, "ranks").parse().unwrap())
                .collect();
            let want: Vec<u64> = job.shapes().iter().map(|s| s.ranks).collect();
            assert_eq!(ranks, want, "{text}\n{}", self.cluster.diagnose(job));
            for row in &csv.rows {
                assert_eq!(csv.col(row, "kind"), job.study(), "{text}");
                let threads = job.cpus_per_task.to_string();
                assert_eq!(csv.col(row, "threads"), threads, "{text}");
                assert_eq!(csv.col(row, "label"), job.name(), "{text}");
                assert_eq!(csv.col(row, "runs"), job.repeats.to_string(), "{text}");
            }
            assert_eq!(csv.col(&csv.rows[0], "speedup"), "1", "{text}");
            let log = job.log_text();
            assert!(
                log.contains(&format!("{}: {} scaling", job.name(), job.study())),
                "{log}"
            );
        }
    }

    /// The hybrid sweep summarises its runs with `mcpi study`: its hybrid
    /// table has one row per shape, fewest threads first, all at the job's
    /// cores, each from its repeats, relative speed 1 on one thread per rank;
    /// the log and the Markdown show it, and the plot has its panel.
    fn check_hybrid_summaries(&self, jobs: &[Job]) {
        for job in jobs.iter().filter(|job| job.study() == "hybrid") {
            let prefix = self.results.join(format!("hybrid-j{}", job.id));
            let csv = Csv::read(&prefix.with_extension("csv"));
            let text = &csv.text;
            let hybrid: Vec<&Vec<String>> = csv
                .rows
                .iter()
                .filter(|r| csv.col(r, "kind") == "hybrid")
                .collect();
            let shapes: Vec<Shape> = hybrid
                .iter()
                .map(|r| Shape {
                    ranks: csv.col(r, "ranks").parse().unwrap(),
                    threads: csv.col(r, "threads").parse().unwrap(),
                })
                .collect();
            assert_eq!(
                shapes,
                job.shapes(),
                "{text}\n{}",
                self.cluster.diagnose(job)
            );
            for row in &hybrid {
                assert_eq!(csv.col(row, "label"), "hybrid-scaling", "{text}");
                assert_eq!(csv.col(row, "cores"), job.cores().to_string(), "{text}");
                assert_eq!(csv.col(row, "runs"), job.repeats.to_string(), "{text}");
            }
            assert_eq!(csv.col(hybrid[0], "speedup"), "1", "{text}");
            let title = format!(
                "hybrid-scaling: hybrid ranks x threads, {} cores",
                job.cores()
            );
            let log = job.log_text();
            assert_eq!(log.matches(&title).count(), 1, "{title}:\n{log}");
            let md = std::fs::read_to_string(prefix.with_extension("md")).unwrap();
            assert!(md.contains(&title), "{title}:\n{md}");
            let svg = std::fs::read_to_string(prefix.with_extension("svg")).unwrap();
            assert!(
                svg.contains("hybrid: fixed cores, ranks x threads"),
                "no hybrid panel"
            );
        }
    }

    /// A study of the whole results directory keeps the four labels apart,
    /// joins each label's runs across jobs and launchers, and gives each label
    /// exactly its series: a scaling series per threads-per-rank value, a
    /// hybrid one per core count reached in more than one shape.
    fn check_study_of_everything(&self) {
        let all = run_for(
            Command::new(env!("CARGO_BIN_EXE_mcpi"))
                .args(["study", "--csv"])
                .arg(self.scratch.path().join("all.csv"))
                .arg(&self.results),
            CLIENT_TIMEOUT,
        );
        assert!(all.ok(), "{}", all.text());
        let labels = ["mcpi", "strong-scaling", "weak-scaling", "hybrid-scaling"];
        let mut titles: Vec<&str> = all
            .stdout
            .lines()
            .filter(|l| {
                labels
                    .iter()
                    .any(|label| l.starts_with(&format!("{label}: ")))
            })
            .map(|l| l.split(", batch ").next().unwrap())
            .collect();
        titles.sort();
        // mcpi and strong-scaling: 1 to 4 ranks of one thread, 1 and 2 ranks
        // of 2; hybrid-scaling: 4x1, 2x2, 1x4 and 2x1, 1x2.
        let mut want: Vec<String> = [
            "hybrid-scaling: hybrid ranks x threads, 2 cores, 2e8 samples",
            "hybrid-scaling: hybrid ranks x threads, 4 cores, 2e8 samples",
            "hybrid-scaling: strong scaling, 2e8 samples, 1 thread per rank",
            "hybrid-scaling: strong scaling, 2e8 samples, 2 threads per rank",
            "hybrid-scaling: strong scaling, 2e8 samples, 4 threads per rank",
            "weak-scaling: weak scaling, 5e7 samples per rank, 1 thread per rank",
        ]
        .map(String::from)
        .to_vec();
        for label in ["mcpi", "strong-scaling"] {
            for series in [
                "hybrid ranks x threads, 2 cores, 2e8 samples",
                "hybrid ranks x threads, 4 cores, 2e8 samples",
                "strong scaling, 2e8 samples, 1 thread per rank",
                "strong scaling, 2e8 samples, 2 threads per rank",
            ] {
                want.push(format!("{label}: {series}"));
            }
        }
        want.sort();
        assert_eq!(titles, want, "{}", all.stdout);
    }

    /// The stopped job: stopped once, requeued, resumed, complete, and the
    /// count of an uninterrupted run.
    fn check_requeued(&self, job: &Job) {
        let fields = self.cluster.wait_for(job, Instant::now() + JOBS_TIMEOUT);
        let why = || self.cluster.diagnose(job);
        assert_eq!(fields["JobState"], "COMPLETED", "{}", why());
        assert_eq!(fields["Restarts"], "1", "{}", why());
        let log = job.log_text();
        assert!(
            log.contains("requeueing job") && log.contains("repeat 1, resumed"),
            "{log}"
        );
        let report = json(
            &self
                .requeued_results
                .join(format!("{}.json", job.report_prefix(STOPPED_SHAPE, 1))),
        );
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
}

/// The count is a function of (seed, samples, batch size) alone, and enough
/// runs share one key to show it.
fn check_one_count_per_key(inside: &Counts) {
    for (key, runs) in inside {
        assert!(
            runs.iter().all(|(_, n)| *n == runs[0].1),
            "different inside counts for (seed, samples, batch size) = {key:?}: {runs:#?}"
        );
    }
    let shared = inside
        .iter()
        .find(|(k, _)| k.1 == SHARED_SAMPLES)
        .map(|(_, runs)| runs.len());
    assert!(
        shared >= Some(10),
        "too few runs of 2e8 samples to compare: {shared:?}"
    );
}

/// Progress lines in the batch logs: the closing line of every run.
fn check_progress_lines(jobs: &[Job]) {
    for job in jobs {
        let log = job.log_text();
        let runs = job.runs();
        assert_eq!(
            log.matches("mcpi: 100% (").count() as u64,
            runs,
            "progress lines in {}:\n{log}",
            job.log().display()
        );
    }
}
