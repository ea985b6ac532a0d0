//! Hybrid MPI + threads: the count is the in-process reference on any ranks ×
//! threads and every kernel; `--threads` and its `auto` sources are checked up
//! front; the report shows where each rank and thread ran, warns about
//! placement mistakes, and names a rank slowed on purpose as an outlier.

use hdf5::types::VarLenUnicode;
use mcpi::kernel::Kernel;
use serde_json::Value;

use crate::util::{expected_counts, json, mcpi, mcpi_env, mcpi_mpmd, mcpi_wrapped, Run, Scratch};

const SEED: u64 = 4_242;
// 23 batches, the last one short: fewer than 3 × 2 workers leave some a
// single batch, and 1 × 7 leaves some threads with two or three.
const SAMPLES: u64 = 2_200_017;
const BATCH: u64 = 100_000;

fn small_run(out: &str, threads: &str, kernel: &str) -> Vec<String> {
    [
        "run",
        "-q",
        "--seed",
        &SEED.to_string(),
        "--samples",
        &SAMPLES.to_string(),
        "--batch-size",
        &BATCH.to_string(),
        "--threads",
        threads,
        "--kernel",
        kernel,
        "--output",
        out,
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn counts_equal_the_reference_on_any_ranks_by_threads_and_kernel() {
    let per_batch = expected_counts(SEED, SAMPLES, BATCH);
    let inside: u64 = per_batch.iter().sum();
    let dir = Scratch::new("threads-shapes");
    let shapes = [
        (Some(1), 1),
        (Some(1), 2),
        (Some(2), 1),
        (Some(3), 2),
        (Some(1), 7),
        (None, 3), // the singleton, several threads
    ];
    for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
        for (ranks, threads) in shapes {
            let what = format!("{ranks:?} ranks × {threads} threads, {}", kernel.name());
            let out = format!("{}-{ranks:?}-{threads}", kernel.name()).replace(['(', ')'], "");
            let args = small_run(&out, &threads.to_string(), kernel.name());
            let run = mcpi(ranks, &strs(&args), dir.path());
            assert_eq!(run.status, 0, "{what}: {run:?}");
            let report = json(&dir.path().join(format!("{out}.json")));
            assert_eq!(report["inside"], inside, "{what}");
            assert_eq!(report["threads"], threads, "{what}");
            assert_eq!(report["threads_from"], "--threads", "{what}");
            let file = hdf5::File::open(dir.path().join(format!("{out}.h5"))).unwrap();
            let got: Vec<u64> = file.dataset("batches/inside").unwrap().read_raw().unwrap();
            assert_eq!(got, per_batch, "{what}: per-batch counts");
            // One /threads row per thread; together they counted every batch once.
            let rows: Vec<u64> = file.dataset("threads/batches").unwrap().read_raw().unwrap();
            assert_eq!(rows.len(), ranks.unwrap_or(1) * threads, "{what}");
            assert_eq!(rows.iter().sum::<u64>(), 23, "{what}");
            let samples: Vec<u64> = file.dataset("threads/samples").unwrap().read_raw().unwrap();
            assert_eq!(samples.iter().sum::<u64>(), SAMPLES, "{what}");
        }
    }
}

#[test]
fn the_report_shows_threads_affinity_and_binding() {
    let dir = Scratch::new("threads-report");
    // 1 rank with a CPU per thread: --map-by slot:PE=2 --bind-to core.
    let args = small_run("pe2", "2", "auto");
    let run = mcpi_wrapped(
        &["-n", "1", "--map-by", "slot:PE=2", "--bind-to", "core"],
        &[],
        &strs(&args),
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join("pe2.json"));
    assert_eq!(
        report["placement_warnings"],
        serde_json::json!([]),
        "{run:?}"
    );
    // Where the threads finished is up to the scheduler, within the mask.
    let binding = run.field("binding");
    let shown = "1 rank × 2 threads = 2 cores (2 from --threads); rank 0 on 0-1 (ran on ";
    assert!(
        binding.starts_with(shown) && ["0)", "1)", "0-1)"].iter().any(|c| binding.ends_with(c)),
        "{binding}"
    );
    let file = hdf5::File::open(dir.path().join("pe2.h5")).unwrap();
    let threads: Vec<u64> = file.dataset("ranks/threads").unwrap().read_raw().unwrap();
    assert_eq!(threads, [2]);
    let affinity: Vec<VarLenUnicode> = file.dataset("ranks/affinity").unwrap().read_raw().unwrap();
    assert_eq!(affinity[0].as_str(), "0-1");
    let rank: Vec<u64> = file.dataset("threads/rank").unwrap().read_raw().unwrap();
    let thread: Vec<u64> = file.dataset("threads/thread").unwrap().read_raw().unwrap();
    assert_eq!((rank, thread), (vec![0, 0], vec![0, 1]));
    let cpus: Vec<i64> = file.dataset("threads/cpu").unwrap().read_raw().unwrap();
    assert!(cpus.iter().all(|c| (0..2).contains(c)), "{cpus:?}");
    // compute_seconds is over threads: its max is the slowest thread's.
    let secs: Vec<f64> = file
        .dataset("threads/compute_seconds")
        .unwrap()
        .read_raw()
        .unwrap();
    let max = secs.iter().copied().fold(0.0, f64::max);
    assert_eq!(report["compute_seconds"]["max"].as_f64().unwrap(), max);
    let names: Vec<VarLenUnicode> = file.attr("placement_warnings").unwrap().read_raw().unwrap();
    assert!(names.is_empty());
}

/// The placement warnings of `run`'s JSON report `name`, after checking that
/// each is also a warning line on stderr.
fn warnings(run: &Run, dir: &Scratch, name: &str) -> Vec<String> {
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join(format!("{name}.json")));
    let list: Vec<String> = report["placement_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    for w in &list {
        assert!(
            run.stderr.contains(&format!("mcpi: warning: {w}\n")),
            "{w} not on stderr: {run:?}"
        );
    }
    list
}

#[test]
fn placement_mistakes_are_warned_and_a_clean_launch_is_not() {
    let dir = Scratch::new("threads-placement");
    // mpirun -n 2 binds each rank to a core of its own: nothing to say.
    let clean = small_run("clean", "1", "auto");
    let run = mcpi(Some(2), &strs(&clean), dir.path());
    assert_eq!(warnings(&run, &dir, "clean"), Vec::<String>::new());
    assert!(!run.stderr.contains("warning"), "{run:?}");

    // Both ranks masked to CPU 0 by taskset, under a launcher that binds nothing.
    let both = small_run("both", "1", "auto");
    let run = mcpi_wrapped(
        &["-n", "2", "--bind-to", "none"],
        &["taskset", "-c", "0"],
        &strs(&both),
        dir.path(),
    );
    let w = warnings(&run, &dir, "both");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("ranks 0-1 on ")
            && w[0]
                .contains("have overlapping affinity masks (ranks 0 and 1 may both run on CPUs 0)"),
        "{w:?}"
    );

    // Two threads in a mask of one CPU (mpirun -n 1 binds to one core).
    let narrow = small_run("narrow", "2", "auto");
    let run = mcpi(Some(1), &strs(&narrow), dir.path());
    let w = warnings(&run, &dir, "narrow");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(" runs 2 threads on 1 CPU (affinity "),
        "{w:?}"
    );
    assert!(w[0].contains("--map-by slot:PE=2"), "{w:?}");

    // More ranks × threads than the host's CPUs: oversubscribed, said so.
    let cpus = std::thread::available_parallelism().unwrap().get();
    let many = small_run("many", &(cpus + 1).to_string(), "auto");
    let run = mcpi(None, &strs(&many), dir.path());
    let w = warnings(&run, &dir, "many");
    assert!(
        w.iter().any(|x| x.contains(&format!(
            "runs 1 rank × {} threads = {} threads on the {cpus} CPUs it gives the job",
            cpus + 1,
            cpus + 1
        ))),
        "{w:?}"
    );
    assert_eq!(json(&dir.path().join("many.json"))["oversubscribed"], true);
}

#[test]
fn a_slowed_rank_is_an_outlier_and_a_uniform_run_has_none() {
    let dir = Scratch::new("threads-outliers");
    // Long enough (~0.4 s a rank at full speed) for timing noise not to matter.
    let args = |out: &'static str| {
        [
            "run",
            "-q",
            "--samples",
            "2e9",
            "--batch-size",
            "1e7",
            "--output",
            out,
        ]
    };
    let uniform = args("uniform");
    let run = mcpi(Some(2), &uniform, dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join("uniform.json"));
    assert_eq!(report["outliers"], serde_json::json!([]), "{run:?}");

    // Rank 1 without its SIMD kernels: the portable one, several times slower.
    let slowed = args("slowed");
    let no_simd: &[(&str, &str)] = &[("MCPI_NO_KERNEL", "avx512,avx2")];
    let run = mcpi_mpmd(&[(&[], &slowed), (no_simd, &slowed)], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.path().join("slowed.json"));
    let outliers = report["outliers"].as_array().unwrap();
    assert_eq!(outliers.len(), 1, "{report:#}");
    let o = &outliers[0];
    assert_eq!(o["rank"], 1);
    assert_eq!(o["kernel"], "portable");
    let speed = o["relative_speed"].as_f64().unwrap();
    assert!(speed > 0.0 && speed < 0.75, "{o}");
    let host = o["host"].as_str().unwrap();
    let line = format!(
        "mcpi: warning: rank 1 on {host} counts at {speed:.2}× the median rank (kernel portable)"
    );
    assert!(run.stderr.contains(&line), "{line} not in {run:?}");
    // The verdict is about π, not the machine.
    assert_eq!(report["verdict"], "PASS");
}

#[test]
fn bad_thread_counts_are_refused_naming_the_flag() {
    let dir = Scratch::new("threads-bad");
    for bad in ["0", "-1", "abc", "4097", "1.5", ""] {
        let args = small_run("never", bad, "auto");
        let run = mcpi(Some(2), &strs(&args), dir.path());
        run.assert_one_error(2, &["--threads"]);
    }
    for (var, value) in [
        ("OMP_NUM_THREADS", "abc"),
        ("OMP_NUM_THREADS", "0"),
        ("SLURM_CPUS_PER_TASK", "100000"),
    ] {
        let args = small_run("never", "auto", "auto");
        let run = mcpi_env(Some(2), &strs(&args), dir.path(), &[(var, value)]);
        run.assert_one_error(2, &["--threads", var]);
    }
    // Ranks whose environments disagree are refused together.
    let args = small_run("never", "auto", "auto");
    let run = mcpi_mpmd(
        &[
            (&[("OMP_NUM_THREADS", "2")], &strs(&args)),
            (&[("OMP_NUM_THREADS", "3")], &strs(&args)),
        ],
        dir.path(),
    );
    run.assert_one_error(2, &["--threads", "different thread counts"]);
    assert!(dir.files().is_empty(), "nothing written: {:?}", dir.files());
}

#[test]
fn auto_takes_slurm_then_openmp_then_one() {
    let dir = Scratch::new("threads-auto");
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Env, u64, &str); 4] = [
        (&[], 1, "default"),
        (&[("OMP_NUM_THREADS", "3,2")], 3, "OMP_NUM_THREADS"),
        (&[("SLURM_CPUS_PER_TASK", "2")], 2, "SLURM_CPUS_PER_TASK"),
        (
            &[("SLURM_CPUS_PER_TASK", "2"), ("OMP_NUM_THREADS", "4")],
            2,
            "SLURM_CPUS_PER_TASK",
        ),
    ];
    for (i, (env, threads, from)) in cases.into_iter().enumerate() {
        let out = format!("auto{i}");
        let args = small_run(&out, "auto", "auto");
        let run = mcpi_env(None, &strs(&args), dir.path(), env);
        assert_eq!(run.status, 0, "{env:?}: {run:?}");
        let report: Value = json(&dir.path().join(format!("{out}.json")));
        assert_eq!(report["threads"], threads, "{env:?}");
        assert_eq!(report["threads_from"], from, "{env:?}");
    }
}
