//! The ReFrame checks in `reframe/`, run by the pinned ReFrame
//! (`scripts/setup-reframe.sh`: a virtual environment in the build directory)
//! on the binary under test: with the local configuration (mpirun) and on the
//! private one-node Slurm cluster (srun, the `squeue` scheduler). Every check
//! must pass, leave its reports, perflogs and `mcpi study` output where
//! ReFrame puts them, and get the references of its own shape; a reference
//! mcpi cannot meet must fail the performance stage and a wrong expected count
//! the sanity stage.
//!
//! Timings are not asserted: the passing sessions take their references from
//! a file every real run meets (one value per shape, so that the report shows
//! which reference each shape got), and the failing one from a reference of
//! 10^15 samples/s. `make reframe` holds this machine to `reframe/references.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::cluster::{
    not_world_writable, run_for, setup_slurm, without_slurm_job, Cluster, Out, ROOT,
};
use crate::known_answers::REFRAME_INSIDE;
use crate::util::{json, JobTmp, Scratch};

/// A whole session of the checks takes well under a minute here.
const SESSION_TIMEOUT: Duration = Duration::from_secs(400);

/// The shapes McpiPerformance runs by default, and the reference of
/// samples/s the lenient references give each.
const SHAPES: [(&str, f64); 3] = [("1x1", 1000.0), ("2x1", 2000.0), ("1x2", 3000.0)];

/// The test cases of a whole session: 2 correctness, 3 performance, the
/// scaling study, its 2 + 2 runs, and the build.
const CASES: usize = 11;

#[test]
fn the_checks_expect_the_known_answer() {
    let checks = std::fs::read_to_string(format!("{ROOT}/reframe/mcpi_checks.py")).unwrap();
    let literal = checks
        .lines()
        .find_map(|l| l.strip_prefix("KNOWN_INSIDE = "))
        .expect("no KNOWN_INSIDE line in reframe/mcpi_checks.py");
    assert_eq!(literal.replace('_', "").parse::<u64>(), Ok(REFRAME_INSIDE));
    for (name, value) in [("SAMPLES", "'2e9'"), ("BATCH_SIZE", "'1e7'")] {
        assert!(
            checks.contains(&format!("\n{name} = {value}\n")),
            "reframe/mcpi_checks.py: {name} is not {value}, which KNOWN_INSIDE is the count of"
        );
    }
}

#[test]
fn every_check_passes_here_with_mpirun() {
    let rfm = ReFrame::new("rfm-local");
    let refs = rfm.lenient_references("local:default");
    let session = rfm.run("local", &[("references_file", &refs)], &[], &[]);
    session.assert_passed();
    session.check_references("local:default");
    session.check_outputs("local");
    let perflog = rfm
        .prefix
        .join("perflogs/local/default/McpiPerformance.log");
    let text = std::fs::read_to_string(&perflog).unwrap_or_else(|e| panic!("{perflog:?}: {e}"));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split('|').collect();
    let col = head
        .iter()
        .position(|h| *h == "samples_per_second_value")
        .unwrap_or_else(|| panic!("no samples_per_second_value in {perflog:?}:\n{text}"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), SHAPES.len(), "{text}");
    for row in rows {
        assert_eq!(row[0], "pass", "{text}");
        let value: f64 = row[col].parse().unwrap();
        assert!(value > 1e6, "samples/s {value}: {text}");
    }
}

#[test]
fn unmet_references_fail_performance_and_a_wrong_count_fails_sanity() {
    let rfm = ReFrame::new("rfm-fail");
    let refs = rfm.prefix.join("impossible.py");
    std::fs::create_dir_all(&rfm.prefix).unwrap();
    std::fs::write(
        &refs,
        "PERFORMANCE = {'local:default': {'2x1': {\n\
         \x20   'samples_per_second': (1e15, -0.1, None, 'samples/s')}}}\n\
         SCALING = {}\n",
    )
    .unwrap();
    let wrong = (REFRAME_INSIDE + 1).to_string();
    let session = rfm.run(
        "local",
        &[
            ("McpiPerformance.references_file", &refs.to_string_lossy()),
            ("McpiCorrectness.expected_inside", &wrong),
        ],
        &["McpiPerformance%shape=2x1", "McpiCorrectness%shape=2x1"],
        &[],
    );
    let why = session.out.text();
    assert!(
        !session.out.ok(),
        "ReFrame passed checks that must fail:\n{why}"
    );
    assert_eq!(session.report["session_info"]["num_failures"], 2, "{why}");
    assert_eq!(
        session.out.stdout.matches("FAILURE INFO for").count(),
        2,
        "{why}"
    );
    let perf = session.case("McpiPerformance %shape=2x1");
    assert_eq!(perf["fail_phase"], "performance", "{perf:#}");
    let reason = perf["fail_reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("failed to meet reference") && reason.contains("samples_per_second="),
        "{reason}"
    );
    let sanity = session.case("McpiCorrectness %shape=2x1");
    assert_eq!(sanity["fail_phase"], "sanity", "{sanity:#}");
    let reason = sanity["fail_reason"].as_str().unwrap_or("");
    assert!(
        reason.contains(&format!("inside = {REFRAME_INSIDE}, but"))
            && reason.contains(&format!("must give {wrong}")),
        "{reason}"
    );
}

#[test]
fn every_check_passes_on_the_private_slurm_cluster_with_srun() {
    setup_slurm();
    let rfm = ReFrame::new("rfm-slurm");
    not_world_writable(rfm.scratch.path());
    let cluster = Cluster::up(rfm.scratch.path().join("cluster"), "4");
    let refs = rfm.lenient_references("mcpi-slurm:debug");
    let conf = cluster.conf();
    let env = [("SLURM_CONF", conf.as_os_str())];
    let session = rfm.run("slurm", &[("references_file", &refs)], &[], &env);
    session.assert_passed();
    session.check_references("mcpi-slurm:debug");
    session.check_outputs("mcpi-slurm");
    // Every mcpi run was a Slurm job, and its report says which.
    for case in session.cases() {
        let name = case["display_name"].as_str().unwrap();
        // The build and `mcpi study` run where ReFrame does.
        if name.starts_with("McpiBuild") || case["local"] == true {
            continue;
        }
        assert_eq!(case["scheduler"], "squeue", "{name}");
        let prefix = case["executable_opts"]
            .as_array()
            .and_then(|opts| {
                opts.iter()
                    .position(|o| o == "--output")
                    .map(|i| &opts[i + 1])
            })
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name}: no --output"));
        let report =
            json(&Path::new(case["outputdir"].as_str().unwrap()).join(format!("{prefix}.json")));
        assert_eq!(
            report["slurm"]["job_id"].to_string().trim_matches('"'),
            case["jobid"].as_str().unwrap(),
            "{name}: {report:#}"
        );
    }
    drop(cluster);
}

/// One test's ReFrame: its prefix (output, stage, perflogs, report) in a
/// scratch directory.
struct ReFrame {
    prefix: PathBuf,
    scratch: Scratch,
}

/// What a session left: ReFrame's output and its JSON run report.
struct Session {
    out: Out,
    report: Value,
}

impl ReFrame {
    fn new(name: &str) -> ReFrame {
        install();
        let scratch = Scratch::new(name);
        ReFrame {
            prefix: scratch.path().join("results"),
            scratch,
        }
    }

    /// References every real run meets, samples/s one value per shape.
    fn lenient_references(&self, system: &str) -> String {
        let mut text = format!("PERFORMANCE = {{'{system}': {{\n");
        for (shape, reference) in SHAPES {
            text += &format!(
                "    '{shape}': {{'samples_per_second': ({reference}, -0.5, None, 'samples/s'),\n\
                 \x20       'samples_per_second_per_core': (1.0, -0.5, None, 'samples/s'),\n\
                 \x20       'load_imbalance': (1.0, None, 10.0, 'max/mean-1'),\n\
                 \x20       'setup_seconds': (60.0, None, 1.0, 's')}},\n"
            );
        }
        text += &format!(
            "}}}}\nSCALING = {{'{system}': {{'strong_efficiency': (0.01, -0.5, None, '')}}}}\n"
        );
        std::fs::create_dir_all(&self.prefix).unwrap();
        let path = self.prefix.join("references.py");
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// `reframe -C reframe/config/CONFIG.py -c reframe/mcpi_checks.py -r` with
    /// `-S` for each of `set`, `-n` for each of `names` and `env` added.
    fn run(
        &self,
        config: &str,
        set: &[(&str, &str)],
        names: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Session {
        let report = self.prefix.join("report.json");
        let mut cmd = Command::new(venv().join("bin/reframe"));
        cmd.args(["-C", &format!("{ROOT}/reframe/config/{config}.py")])
            .args(["-c", &format!("{ROOT}/reframe/mcpi_checks.py")])
            .arg("--prefix")
            .arg(&self.prefix)
            .arg("--report-file")
            .arg(&report)
            .arg("--nocolor");
        for (var, value) in set {
            cmd.arg("-S").arg(format!("{var}={value}"));
        }
        for name in names {
            cmd.args(["-n", name]);
        }
        cmd.arg("-r").current_dir(self.scratch.path());
        // The build fixture's cargo finds the binary under test up to date.
        let target = Path::new(env!("CARGO_BIN_EXE_mcpi"))
            .ancestors()
            .nth(2)
            .unwrap();
        without_slurm_job(&mut cmd).env("CARGO_TARGET_DIR", target);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RFM_") {
                cmd.env_remove(key);
            }
        }
        // Its own TMPDIR: ReFrame's log, and OpenMPI's session directories.
        let tmp = JobTmp::new();
        cmd.env("TMPDIR", &tmp.0);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = run_for(&mut cmd, SESSION_TIMEOUT);
        let text = std::fs::read_to_string(&report)
            .unwrap_or_else(|e| panic!("no run report {report:?} ({e}):\n{}", out.text()));
        Session {
            report: serde_json::from_str(&text).unwrap(),
            out,
        }
    }
}

impl Session {
    fn cases(&self) -> &[Value] {
        self.report["runs"][0]["testcases"].as_array().unwrap()
    }

    /// The test case whose display name starts with `name`.
    fn case(&self, name: &str) -> &Value {
        self.cases()
            .iter()
            .find(|c| c["display_name"].as_str().unwrap_or("").starts_with(name))
            .unwrap_or_else(|| panic!("no test case {name}:\n{}", self.out.text()))
    }

    /// ReFrame's summary says PASSED, and every test case passed.
    fn assert_passed(&self) {
        let why = self.out.text();
        assert!(self.out.ok(), "{why}");
        assert!(
            self.out
                .stdout
                .contains(&format!("[  PASSED  ] Ran {CASES}/{CASES} test case(s)")),
            "{why}"
        );
        assert_eq!(self.cases().len(), CASES, "{why}");
        for case in self.cases() {
            assert_eq!(case["result"], "pass", "{case:#}");
        }
    }

    /// Each performance case got the references of its shape.
    fn check_references(&self, system: &str) {
        for (shape, reference) in SHAPES {
            let case = self.case(&format!("McpiPerformance %shape={shape}"));
            let perf = &case["perfvalues"];
            let figure = &perf[format!("{system}:samples_per_second")];
            // [value, reference, lower, upper, unit, result]
            assert_eq!(figure[1], reference, "{shape}: {perf:#}");
            assert_eq!(figure[5], "pass", "{shape}: {perf:#}");
            for var in [
                "samples_per_second_per_rank",
                "load_imbalance",
                "setup_seconds",
            ] {
                assert!(
                    perf.get(format!("{system}:{var}")).is_some(),
                    "{shape}: {perf:#}"
                );
            }
        }
    }

    /// The runs' reports and the study's files in ReFrame's output directory.
    fn check_outputs(&self, system: &str) {
        for shape in ["2x1", "1x2"] {
            let case = self.case(&format!("McpiCorrectness %shape={shape}"));
            let out = Path::new(case["outputdir"].as_str().unwrap());
            let report = json(&out.join("mcpi.json"));
            assert_eq!(report["inside"], REFRAME_INSIDE, "{shape}: {report:#}");
            assert_eq!(report["verdict"], "PASS", "{shape}: {report:#}");
            assert!(out.starts_with(
                self.report["session_info"]["prefix_output"]
                    .as_str()
                    .unwrap()
            ));
            assert!(
                out.to_string_lossy().contains(&format!("/{system}/")),
                "{out:?}"
            );
        }
        let study = self.case("McpiScaling");
        let out = Path::new(study["outputdir"].as_str().unwrap());
        for file in ["scaling.md", "scaling.svg"] {
            assert!(out.join(file).is_file(), "no {file} in {out:?}");
        }
        let csv = crate::cluster::Csv::read(&out.join("scaling.csv"));
        let rows: Vec<(&str, &str, &str)> = csv
            .rows
            .iter()
            .map(|r| (csv.col(r, "kind"), csv.col(r, "label"), csv.col(r, "ranks")))
            .collect();
        assert_eq!(
            rows,
            [
                ("strong", "reframe-strong", "1"),
                ("strong", "reframe-strong", "2"),
                ("weak", "reframe-weak", "1"),
                ("weak", "reframe-weak", "2"),
            ],
            "{}",
            csv.text
        );
        let mut reports: Vec<String> = std::fs::read_dir(out.join("reports"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        reports.sort();
        assert_eq!(
            reports,
            [
                "strong-1x1.json",
                "strong-2x1.json",
                "weak-1x1.json",
                "weak-2x1.json"
            ]
        );
    }
}

/// ReFrame's virtual environment, in the build directory beside the binary.
fn venv() -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_mcpi"))
        .ancestors()
        .nth(2)
        .unwrap();
    target.join("reframe-venv")
}

/// Installs ReFrame once for all these tests (`make test` has already).
fn install() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let setup = run_for(
        Command::new(format!("{ROOT}/scripts/setup-reframe.sh")).env("VENV", venv()),
        Duration::from_secs(600),
    );
    assert!(
        setup.ok(),
        "scripts/setup-reframe.sh failed:\n{}",
        setup.text()
    );
    *done = true;
}
