//! Helpers: run `mcpi` under `mpirun` (or alone) with a timeout, scratch
//! directories, and the expected counts computed in-process by the library.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mcpi::intervals::Intervals;
use mcpi::kernel::scalar;
use mcpi::plan::Plan;
use mcpi::stream::Streams;

/// No test run may take longer than this; a hang fails instead of blocking CI.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// What a finished run left behind.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The value printed after `key` in the text report.
    pub fn field(&self, key: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("  {key:<18} ")))
            .unwrap_or_else(|| panic!("no '{key}' line in stdout:\n{}", self.stdout))
            .to_string()
    }

    /// Asserts that the run ended with `status` and exactly one `mcpi: error:` line
    /// (from rank 0 alone) that names each of `names`.
    pub fn assert_one_error(&self, status: i32, names: &[&str]) {
        assert_eq!(self.status, status, "{self:?}");
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "want one error line from rank 0, got {lines:?}"
        );
        for name in names {
            assert!(
                lines[0].contains(name),
                "'{}' does not name {name}",
                lines[0]
            );
        }
    }

    /// The error lines mcpi itself wrote to stderr.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("mcpi: error"))
            .collect()
    }
}

/// Runs `mcpi ARGS` in `dir`: under `mpirun -n RANKS` when `ranks` is given, as a
/// plain process (MPI singleton) otherwise.
pub fn mcpi(ranks: Option<usize>, args: &[&str], dir: &Path) -> Run {
    mcpi_env(ranks, args, dir, &[])
}

/// [`mcpi`] with extra environment variables.
pub fn mcpi_env(ranks: Option<usize>, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Run {
    let bin = env!("CARGO_BIN_EXE_mcpi");
    let mut cmd = match ranks {
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args(["-q", "-n", &n.to_string(), bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).envs(env.iter().copied());
    run_with_timeout(cmd, dir)
}

/// One rank per entry, each with its own environment (an MPMD `mpirun`, as on a
/// cluster whose nodes differ), all with the same arguments.
pub fn mcpi_per_rank_env(envs: &[&[(&str, &str)]], args: &[&str], dir: &Path) -> Run {
    let ranks: Vec<_> = envs.iter().map(|env| (*env, args)).collect();
    mcpi_mpmd(&ranks, dir)
}

/// One MPMD rank: its environment and its arguments.
pub type RankSpec<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// One rank per entry, each with its own environment and arguments.
pub fn mcpi_mpmd(ranks: &[RankSpec], dir: &Path) -> Run {
    let bin = env!("CARGO_BIN_EXE_mcpi");
    let mut cmd = Command::new("mpirun");
    cmd.arg("-q");
    for (i, (env, args)) in ranks.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-n", "1"]);
        for (k, v) in env.iter() {
            cmd.args(["-x", &format!("{k}={v}")]);
        }
        cmd.arg(bin).args(*args);
    }
    run_with_timeout(cmd, dir)
}

/// A private TMPDIR for one mpirun: concurrent OpenMPI jobs on one host race
/// on their shared session directory (one removes it while another creates
/// its own inside); each job with its own is safe. Removed when dropped.
pub struct JobTmp(pub PathBuf);

impl JobTmp {
    pub fn new() -> JobTmp {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mcpi-job-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        JobTmp(dir)
    }
}

impl Drop for JobTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `mpirun -q OPTIONS WRAPPER… mcpi ARGS` in `dir`: launcher options
/// (binding, mapping) and a wrapper such as `taskset -c 0`.
pub fn mcpi_wrapped(options: &[&str], wrapper: &[&str], args: &[&str], dir: &Path) -> Run {
    let mut cmd = Command::new("mpirun");
    cmd.arg("-q").args(options).args(wrapper);
    cmd.arg(env!("CARGO_BIN_EXE_mcpi")).args(args);
    run_with_timeout(cmd, dir)
}

fn run_with_timeout(mut cmd: Command, dir: &Path) -> Run {
    let what = format!("{cmd:?}");
    // `--threads auto` reads these: a test sets them itself or runs without.
    for var in ["OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"] {
        if !cmd.get_envs().any(|(k, _)| k == var) {
            cmd.env_remove(var);
        }
    }
    let tmp = JobTmp::new();
    cmd.env("TMPDIR", &tmp.0);
    cmd.current_dir(dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {:?}: {e} (is OpenMPI installed? `make test` installs it)",
            cmd.get_program()
        )
    });
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} timed out after {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Run {
        status: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Edits the HDF5 file at `path` in this process without leaving it locked.
/// HDF5 opens files without `O_CLOEXEC`, and the suite's tests run in parallel:
/// a process another test starts during the edit inherits the descriptor and
/// its `flock`, and mcpi's open of `path` then fails with EAGAIN. So the edit
/// is made on a copy, whose bytes are then copied back into `path` (an inode
/// only this process's `std` ever opened).
pub fn edit_h5<T>(path: &Path, edit: impl FnOnce(&hdf5::File) -> T) -> T {
    let mut scratch = path.as_os_str().to_owned();
    scratch.push(".edit");
    let scratch = PathBuf::from(scratch);
    std::fs::copy(path, &scratch).unwrap();
    let out = {
        let f = hdf5::File::open_rw(&scratch).unwrap();
        edit(&f)
    };
    std::fs::copy(&scratch, path).unwrap();
    std::fs::remove_file(&scratch).unwrap();
    out
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        Scratch::new_in(&std::env::temp_dir(), name)
    }

    /// A scratch directory in `parent`.
    pub fn new_in(parent: &Path, name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("mcpi-it-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Every name in the directory, hidden ones included, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The per-batch inside counts of (seed, samples, batch size), by the scalar
/// reference kernel in this process: what every run must reproduce.
pub fn expected_counts(seed: u64, samples: u64, batch_size: u64) -> Vec<u64> {
    let plan = Plan::new(samples, batch_size);
    let mut counts = Vec::with_capacity(plan.batches as usize);
    Streams::new(seed).walk(
        &plan,
        &Intervals::range(0..plan.batches),
        |_, lanes, len| {
            counts.push(scalar::count_inside(lanes, len));
            std::ops::ControlFlow::Continue(())
        },
    );
    counts
}

/// The JSON report at `path`.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
