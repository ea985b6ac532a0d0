//! Seeded fuzzers, bounded in time: argument vectors for `mcpi run` built from the
//! real flags with valid, boundary and hostile values, and mutated copies of a
//! real checkpoint given to `--resume`. Every outcome must be one the README
//! promises: exit 0, 3 or 2 (one `mcpi: error:` line, nothing written), a
//! resumed run that ends with the uninterrupted count; never a panic, a signal
//! death or a hang.
//!
//! `MCPI_FUZZ_SEED` (decimal or 0x hex) and `MCPI_FUZZ_CASES` change the seed and
//! the number of cases; `MCPI_FUZZ_JOBS` the cases run at once (each case waits
//! mostly on MPI start-up). Every failure is printed with its seed, its case and
//! a command line that reproduces it; all of a run's failures are listed before
//! the test fails. The PRNG is splitmix64, a few lines here: a case is a pure
//! function of (seed, case index), whatever the crate versions.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use hdf5::types::{FixedAscii, VarLenUnicode};

use crate::util::{json, JobTmp, Scratch};

// ---------------------------------------------------------------------------
// The harness: PRNG, settings, one run with a timeout, failures
// ---------------------------------------------------------------------------

/// splitmix64: the PRNG of every case.
struct Rng(u64);

impl Rng {
    /// The generator of case `case` under `seed`.
    fn for_case(seed: u64, case: usize) -> Rng {
        let mut r = Rng(seed ^ (case as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// The first of `items` (a valid value) usually, any of them otherwise: most
    /// cases then have one or two hostile values, which reach the code behind
    /// every earlier check.
    fn mostly_first<'a>(&mut self, valid: &'a [&'a str], any: &'a [&'a str]) -> &'a str {
        let from = if self.chance(80) { valid } else { any };
        from[self.below(from.len())]
    }
}

/// An integer from the environment, or `default`.
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        }
        Err(_) => default,
    }
}

/// Where a case's stdout goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stdout {
    /// Read by the test.
    Piped,
    /// A pipe whose reader is gone (EPIPE).
    Broken,
    /// `/dev/full` (ENOSPC).
    Full,
}

/// How one run ended.
#[derive(Debug)]
struct Outcome {
    /// The exit status, when it exited.
    code: Option<i32>,
    /// The signal that ended it, when one did.
    signal: Option<i32>,
    /// Killed by the test after the per-case timeout.
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn ended(&self) -> String {
        if self.timed_out {
            "hang (killed after the per-case timeout)".into()
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        }
    }
    /// The line of stderr that says most: a panic, an error, else the first.
    fn first_stderr_line(&self) -> &str {
        let lines = || self.stderr.lines().filter(|l| !l.trim().is_empty());
        lines()
            .find(|l| l.contains("panicked"))
            .or_else(|| lines().find(|l| l.contains("error")))
            .or_else(|| lines().next())
            .unwrap_or("")
    }
}

/// Runs `mcpi ARGS` in `dir` (under `mpirun -n RANKS` when given), in its own
/// process group so a hang is killed whole, with the data segment limited to
/// 4 GiB so a runaway allocation fails in the child instead of swamping the host.
fn run(
    ranks: Option<usize>,
    args: &[OsString],
    env: &[(&str, &str)],
    dir: &Path,
    stdout: Stdout,
    timeout: Duration,
) -> Outcome {
    let bin = env!("CARGO_BIN_EXE_mcpi");
    let mut cmd = match ranks {
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args(["-q", "-n", &n.to_string(), bin]);
            c
        }
        None => Command::new(bin),
    };
    let tmp = JobTmp::new();
    cmd.args(args)
        .envs(env.iter().copied())
        .env("TMPDIR", &tmp.0)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            libc::setrlimit(libc::RLIMIT_DATA, &limit);
            Ok(())
        });
    }
    match stdout {
        Stdout::Piped => {
            cmd.stdout(Stdio::piped());
        }
        Stdout::Broken => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            cmd.stdout(writer);
        }
        Stdout::Full => {
            cmd.stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        }
    }
    let mut child = cmd.spawn().expect("cannot start mcpi or mpirun");
    drop(cmd); // the parent's copy of a broken pipe's writer
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            // SAFETY: signals the process group this test created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            break child.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(10));
    };
    if !timed_out {
        // Whatever the run left in its group (an MPI helper) goes with it.
        // SAFETY: as above.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    }
    Outcome {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A value as a shell word (`$'…'` when it needs escapes); long runs of one
/// character are abbreviated as `<N×'c'>`.
fn shell_word(arg: &OsStr) -> String {
    let bytes = arg.as_bytes();
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_./=:,+-@%^".contains(&b);
    if !bytes.is_empty() && bytes.iter().all(|&b| plain(b)) && bytes.len() <= 80 {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    if bytes.len() > 80 && bytes.iter().all(|&b| b == bytes[0]) {
        return format!(
            "$(printf '{}%.0s' $(seq {}))",
            bytes[0] as char,
            bytes.len()
        );
    }
    let mut s = String::from("$'");
    for &b in bytes {
        match b {
            b'\'' => s.push_str("\\'"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('\'');
    s
}

/// The command line of a case, to paste into a shell in a scratch directory.
fn command_line(
    ranks: Option<usize>,
    args: &[OsString],
    env: &[(&str, &str)],
    stdout: Stdout,
) -> String {
    let mut words: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_word(OsStr::new(v))))
        .collect();
    if let Some(n) = ranks {
        words.push(format!("mpirun -q -n {n}"));
    }
    words.push("mcpi".into());
    words.extend(args.iter().map(|a| shell_word(a)));
    match stdout {
        Stdout::Piped => {}
        Stdout::Broken => words.push("| true  # stdout a pipe nobody reads".into()),
        Stdout::Full => words.push(">/dev/full".into()),
    }
    words.join(" ")
}

/// Failures found so far, shared by the worker threads.
struct Failures {
    what: &'static str,
    seed: u64,
    list: Mutex<Vec<(usize, String, String)>>,
}

impl Failures {
    fn new(what: &'static str, seed: u64) -> Failures {
        Failures {
            what,
            seed,
            list: Mutex::new(Vec::new()),
        }
    }

    fn add(&self, case: usize, repro: &str, problem: String) {
        eprintln!(
            "{} FAILURE (MCPI_FUZZ_SEED={:#x}, case {case}): {problem}\n    {repro}",
            self.what, self.seed
        );
        self.list
            .lock()
            .unwrap()
            .push((case, repro.to_string(), problem));
    }

    /// Fails the test with every failure, grouped by kind of problem.
    fn finish(self, cases: usize, started: Instant) {
        let mut list = self.list.into_inner().unwrap();
        eprintln!(
            "{}: {cases} cases in {:.1} s, {} failures (MCPI_FUZZ_SEED={:#x})",
            self.what,
            started.elapsed().as_secs_f64(),
            list.len(),
            self.seed
        );
        if list.is_empty() {
            return;
        }
        list.sort();
        let class = |p: &str| -> String {
            p.split(':')
                .next()
                .unwrap_or(p)
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect()
        };
        let mut classes: Vec<String> = list.iter().map(|(_, _, p)| class(p)).collect();
        classes.sort();
        classes.dedup();
        let mut summary = String::new();
        for c in &classes {
            let of: Vec<_> = list.iter().filter(|(_, _, p)| &class(p) == c).collect();
            summary.push_str(&format!("\n[{} cases] {c}", of.len()));
            for (case, repro, problem) in of.iter().take(3) {
                summary.push_str(&format!("\n  case {case}: {problem}\n    {repro}"));
            }
        }
        panic!(
            "{}: {} of {cases} cases failed (reproduce with MCPI_FUZZ_SEED={:#x}):{summary}",
            self.what,
            list.len(),
            self.seed
        );
    }
}

/// Runs `cases` cases of `one` on `jobs` threads.
fn in_parallel(cases: usize, jobs: usize, one: &(dyn Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    break;
                }
                one(i);
            });
        }
    });
}

/// Every entry under `dir` (hidden ones included, symbolic links not followed)
/// with its kind and, for files, its size: what "nothing written" compares.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let t = meta.file_type();
            if t.is_dir() {
                out.push(format!("{name}/"));
                walk(&e.path(), &format!("{name}/"), out);
            } else if t.is_symlink() {
                let to = std::fs::read_link(e.path()).unwrap_or_default();
                out.push(format!("{name} -> {}", to.display()));
            } else if t.is_fifo() {
                out.push(format!("{name} (fifo)"));
            } else {
                out.push(format!("{name} ({} bytes)", meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// The temporary files (`.NAME.tmp-XXXXXX`) in a listing.
fn temporaries(listing: &[String]) -> Vec<&String> {
    listing.iter().filter(|l| l.contains(".tmp")).collect()
}

/// The stderr rule of a refusal: exactly one line, `mcpi: error: …`. Returns the
/// problem, if any.
fn one_error_line(o: &Outcome) -> Option<String> {
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = lines
        .iter()
        .filter(|l| l.starts_with("mcpi: error:"))
        .count();
    if errors != 1 || lines.len() != 1 {
        return Some(format!(
            "exit 2 with {errors} 'mcpi: error:' lines in {} stderr lines: {:?}",
            lines.len(),
            lines.iter().take(4).collect::<Vec<_>>()
        ));
    }
    None
}

// ---------------------------------------------------------------------------
// 1. The command-line fuzzer
// ---------------------------------------------------------------------------

/// Odd things every case's directory holds, for paths to point at.
fn fixtures(dir: &Path) {
    std::fs::write(dir.join("plain"), b"").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::create_dir(dir.join("dir.h5")).unwrap();
    for fifo in ["fifo", "fifo.h5"] {
        let c = std::ffi::CString::new(dir.join(fifo).as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    }
    // Checkpoints whose log (PATH.log) is no regular file.
    let c = std::ffi::CString::new(dir.join("lfifo.log").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    std::fs::create_dir(dir.join("ldir.log")).unwrap();
    for (link, to) in [
        ("ldangling.log", "no-such-target"),
        ("dangling", "no-such-target"),
        ("dangling.h5", "no-such-target"),
        ("null.h5", "/dev/null"),
        ("zero.h5", "/dev/zero"),
    ] {
        std::os::unix::fs::symlink(to, dir.join(link)).unwrap();
    }
}

/// `--samples` values that run in milliseconds, with their value.
const SMALL_SAMPLES: &[(&str, u64)] = &[
    ("1", 1),
    ("2", 2),
    ("31", 31),
    ("32", 32),
    ("33", 33),
    ("1000", 1000),
    ("1e4", 10_000),
    ("12345", 12_345),
    ("1e5", 100_000),
    ("1e6", 1_000_000),
    ("2.5e3", 2500),
    ("10_000", 10_000),
    ("1k", 1000),
    ("1M", 1_000_000),
    ("1m", 1_000_000),
    ("+5", 5),
    ("1e+6", 1_000_000),
    ("1.0e6", 1_000_000),
    ("0.000001e12", 1_000_000),
    ("1e0000000000000000000006", 1_000_000),
];

/// `--samples` values that must be refused, or are tiny whatever they parse to.
/// Never a large valid count: the run would not end.
const HOSTILE_COUNTS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1e2147483648",
    "1e-2147483648",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "",
    " ",
    "1e20",
    "18446744073709551616",
    "99999999999999999999999",
    "2.5",
    "0.5",
    "1e-3",
    "lots",
    "π",
    "１０",
    "1_",
    "_1",
    "1e",
    "e5",
    "1kk",
    "1E400",
    "5 ",
    " 5",
    "1\n",
    "\u{202e}1",
    "1e6.5",
    "0x",
    "\x1b[31m1",
];

/// A count of `n` digits '9' (overflow) or `n` zeros then 1 (one sample).
fn long_count(rng: &mut Rng) -> String {
    let n = *rng.pick(&[30, 400, 5000, 100_000]);
    if rng.chance(50) {
        "9".repeat(n)
    } else {
        format!("{}1", "0".repeat(n))
    }
}

const SEEDS: &[&str] = &[
    "0",
    "1",
    "7",
    "0x0",
    "0xffffffffffffffff",
    "0XFF",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "",
    "0x",
    "0xg",
    " 1",
    "1 ",
    "١",
    "1e3",
    "NaN",
    "314159265358979",
];

const TARGETS: &[&str] = &[
    "0.1",
    "0.5",
    "1",
    "4",
    "10",
    "1e308",
    "0.05",
    "0",
    "-0",
    "-1",
    "-0.1",
    "NaN",
    "inf",
    "-inf",
    "",
    "1e2147483648",
    "1e-2147483648",
    "5e-324",
    "1e-300",
    "1e-5",
    "0x1p-3",
    "tiny",
    "1e-1",
];

const CONFIDENCES: &[&str] = &[
    "0.95",
    "0.5",
    "0.99",
    "0.999999",
    "0.9999999999999999",
    "0.99999999999999999",
    "0.99999999999999",
    "1",
    "0",
    "-0",
    "-1",
    "1.5",
    "NaN",
    "inf",
    "",
    "1e-300",
    "5e-324",
    "1e-320",
    "0.0000001",
    "1e2147483648",
    "1e-2147483648",
];

const OUTPUTS: &[&str] = &[
    "out",
    "sub/out",
    "out/",
    "sub/",
    "",
    ".",
    "..",
    "missing/out",
    "plain/out",
    "fifo",
    "dir",
    "dangling",
    "null",
    "zero",
    "/nonexistent-mcpi-fuzz/out",
    "/proc/mcpi-fuzz",
    "π-ü",
    "a\x01b",
    "a\nb",
    " lead",
    "-dash",
    "a b",
    "*",
    "~",
    "sub//out",
    "./out",
];

const KERNELS: &[&str] = &[
    "auto", "avx512", "avx2", "portable", "scalar", "AVX512", "", "sse", "avx512 ", "ščalar",
];

const THREADS: &[&str] = &[
    "0",
    "-1",
    "4097",
    "x",
    "",
    "1e3",
    "2.0",
    " 2",
    "18446744073709551616",
    "AUTO",
];

const CHECKPOINTS: &[&str] = &[
    "ck.h5",
    "sub/ck.h5",
    "missing/ck.h5",
    "fifo",
    "fifo.h5",
    "dir.h5",
    "sub",
    "dangling",
    "dangling.h5",
    "null.h5",
    "zero.h5",
    "plain",
    "",
    "out.h5",
    "out.json",
    "ck.h5/",
    "lfifo",
    "ldir",
    "ldangling",
    "fifo.log",
    "/nonexistent-mcpi-fuzz/ck.h5",
    "/proc/ck.h5",
    ".",
];

const INTERVALS: &[&str] = &[
    "60s",
    "0",
    "0s",
    "-1",
    "1e2s",
    "1h 30m",
    "NaN",
    "inf",
    "1e308",
    "1e2147483648",
    "",
    "5m",
    "0.01s",
    "0.001",
    "1ms",
    "999999999999h",
    "1x",
    "s",
    "1 h",
    "-5m",
    "1e-2147483648",
];

/// Resume paths: the only place direct /dev paths appear (a refused load never
/// writes; checkpoints and reports only ever go to paths under the case's
/// directory, so nothing outside it can be replaced).
const RESUMES: &[&str] = &[
    "ck.h5",
    "lfifo",
    "ldir",
    "plain",
    "fifo",
    "fifo.h5",
    "sub",
    "dir.h5",
    "dangling",
    "/dev/null",
    "/dev/zero",
    "",
    "null.h5",
    "zero.h5",
    "missing/ck.h5",
    ".",
];

const PROGRESS: &[&str] = &["auto", "bar", "lines", "none", "", "BAR", "x", "lines "];

const GARBAGE: &[&str] = &[
    "--frobnicate",
    "-x",
    "--",
    "-",
    "positional",
    "--samples",
    "--help-me",
    "-qq",
    "--force=yes",
    "--quiet=1",
];

/// A label: short, boundary or hostile.
fn label(rng: &mut Rng) -> OsString {
    let fixed: &[&str] = &[
        "x",
        "strong-scaling",
        "",
        " ",
        "π",
        "a\tb",
        "a\nb",
        "\x1b[31mred",
        "\x7f",
        "\u{202e}evil",
        "é",
    ];
    match rng.below(5) {
        0 => OsString::from("a".repeat(*rng.pick(&[63, 64, 65, 1000, 100_000]))),
        1 => OsString::from("π".repeat(*rng.pick(&[32, 33, 64, 65]))),
        2 => OsString::from_vec(vec![b'a', 0xff, 0xfe, b'b']),
        _ => OsString::from(*rng.pick(fixed)),
    }
}

/// An output prefix, sometimes very long (NAME_MAX is 255 bytes).
fn output(rng: &mut Rng) -> OsString {
    if rng.chance(20) {
        let n = *rng.pick(&[200, 240, 245, 248, 250, 251, 252, 253, 256, 300, 5000]);
        let name = "o".repeat(n);
        return OsString::from(if rng.chance(30) {
            format!("sub/{name}")
        } else {
            name
        });
    }
    if rng.chance(5) {
        return OsString::from_vec(vec![b'o', 0xff, b'x']);
    }
    OsString::from(rng.mostly_first(
        &[
            "out", "sub/out", "dangling", "fifo", "null", "dir", "π-ü", "a\nb",
        ],
        OUTPUTS,
    ))
}

/// A generated case: argument vector, environment, where stdout goes.
struct CliCase {
    args: Vec<OsString>,
    env: Vec<(&'static str, &'static str)>,
    stdout: Stdout,
    ranks: Option<usize>,
}

fn cli_case(seed: u64, case: usize) -> CliCase {
    let mut rng = Rng::for_case(seed, case);
    // Flag groups, shuffled, each `--flag VALUE` or `--flag=VALUE`.
    let mut groups: Vec<Vec<OsString>> = Vec::new();
    let mut flag = |rng: &mut Rng, name: &str, value: OsString| {
        if rng.chance(20) {
            let mut joined = OsString::from(format!("{name}="));
            joined.push(&value);
            groups.push(vec![joined]);
        } else {
            groups.push(vec![OsString::from(name), value]);
        }
    };
    // --samples: always given, small or refused.
    let samples = if rng.chance(88) {
        let (text, n) = *rng.pick(SMALL_SAMPLES);
        flag(&mut rng, "--samples", text.into());
        Some(n)
    } else {
        let v = if rng.chance(15) {
            long_count(&mut rng)
        } else {
            rng.pick(HOSTILE_COUNTS).to_string()
        };
        flag(&mut rng, "--samples", v.into());
        None
    };
    if rng.chance(50) {
        let n = samples.unwrap_or(1_000_000);
        let valid: Vec<String> = [1u64, 2, 7, 10, 100, 1000, 10_000, 100_000, 1_000_000]
            .iter()
            .filter(|&&c| c <= n && n / c <= 10_000)
            .map(|c| c.to_string())
            .chain([n.to_string()])
            .collect();
        let hostile = [
            "0",
            "-1",
            "NaN",
            "inf",
            "",
            "1e20",
            "1.5",
            "2e6",
            "18446744073709551616",
            "lots",
            "1e2147483648",
            "1e7",
        ];
        let v = if samples.is_some() && rng.chance(80) {
            rng.pick(&valid).clone()
        } else {
            rng.pick(&hostile).to_string()
        };
        flag(&mut rng, "--batch-size", v.into());
    }
    if rng.chance(40) {
        let v =
            OsString::from(rng.mostly_first(&["0", "7", "0xff", "18446744073709551615"], SEEDS));
        flag(&mut rng, "--seed", v);
    }
    let target = rng.chance(20);
    if target {
        let v = OsString::from(rng.mostly_first(&["0.1", "0.5", "0.05", "1", "4", "10"], TARGETS));
        flag(&mut rng, "--target-error", v);
    }
    if rng.chance(if target { 50 } else { 8 }) {
        let v = OsString::from(rng.mostly_first(
            &[
                "0.95",
                "0.5",
                "0.99",
                "0.9999999999999999",
                "0.99999999999999",
                "1e-300",
                "5e-324",
            ],
            CONFIDENCES,
        ));
        flag(&mut rng, "--confidence", v);
    }
    if rng.chance(75) {
        let o = output(&mut rng);
        flag(&mut rng, "--output", o);
    }
    if rng.chance(20) {
        let l = label(&mut rng);
        flag(&mut rng, "--label", l);
    }
    if rng.chance(20) {
        let v = OsString::from(
            rng.mostly_first(&["auto", "portable", "scalar", "avx2", "avx512"], KERNELS),
        );
        flag(&mut rng, "--kernel", v);
    }
    if rng.chance(20) {
        let v = OsString::from(rng.mostly_first(&["1", "2", "3", "auto", "7"], THREADS));
        flag(&mut rng, "--threads", v);
    }
    if rng.chance(25) {
        let v = OsString::from(rng.mostly_first(
            &[
                "ck.h5",
                "sub/ck.h5",
                "fifo",
                "dangling",
                "dangling.h5",
                "null.h5",
                "zero.h5",
                "dir.h5",
            ],
            CHECKPOINTS,
        ));
        flag(&mut rng, "--checkpoint", v);
    }
    if rng.chance(20) {
        let v = OsString::from(
            rng.mostly_first(&["60s", "0.01s", "0.001", "1h 30m", "1e2s"], INTERVALS),
        );
        flag(&mut rng, "--checkpoint-interval", v);
    }
    if rng.chance(15) {
        let v = OsString::from(rng.mostly_first(
            &[
                "fifo",
                "fifo.h5",
                "/dev/zero",
                "/dev/null",
                "zero.h5",
                "dangling",
                "dir.h5",
                "ck.h5",
            ],
            RESUMES,
        ));
        flag(&mut rng, "--resume", v);
    }
    if rng.chance(20) {
        let v = OsString::from(rng.mostly_first(&["auto", "bar", "lines", "none"], PROGRESS));
        flag(&mut rng, "--progress", v);
    }
    if rng.chance(20) {
        groups.push(vec!["--force".into()]);
    }
    if rng.chance(30) {
        groups.push(vec![(*rng.pick(&["-q", "--quiet"])).into()]);
    }
    if rng.chance(6) {
        groups.push(vec![(*rng.pick(GARBAGE)).into()]);
    }
    // Fisher–Yates.
    for i in (1..groups.len()).rev() {
        let j = rng.below(i + 1);
        groups.swap(i, j);
    }
    let mut args: Vec<OsString> = Vec::new();
    if !rng.chance(10) {
        args.push("run".into()); // plain `mcpi [OPTIONS]` is the same
    }
    args.extend(groups.into_iter().flatten());
    let mut env = Vec::new();
    if rng.chance(10) {
        let v = *rng.pick(&[
            "avx512",
            "avx512,avx2,portable",
            "scalar",
            "garbage,",
            "",
            "avx2,,x",
        ]);
        env.push(("MCPI_NO_KERNEL", v));
    }
    // A few cases under mpirun on 2 ranks; the rest as singletons, some with a
    // stdout nobody reads or that is full.
    let (ranks, stdout) = if case % 25 == 7 {
        (Some(2), Stdout::Piped)
    } else {
        let stdout = match rng.below(10) {
            0 => Stdout::Broken,
            1 => Stdout::Full,
            _ => Stdout::Piped,
        };
        (None, stdout)
    };
    CliCase {
        args,
        env,
        stdout,
        ranks,
    }
}

/// What is wrong with the outcome of a command-line case, if anything.
fn cli_problem(o: &Outcome, c: &CliCase, before: &[String], after: &[String]) -> Option<String> {
    if o.stderr.contains("panicked") {
        return Some(format!("panic ({}): {}", o.ended(), o.first_stderr_line()));
    }
    if o.timed_out || o.signal.is_some() {
        return Some(format!("{}: {}", o.ended(), o.first_stderr_line()));
    }
    match o.code {
        Some(2) => {
            if let Some(p) = one_error_line(o) {
                return Some(p);
            }
            if before != after {
                let new: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
                let gone: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
                return Some(format!(
                    "exit 2 but the directory changed: new {new:?}, gone {gone:?}; stderr {}",
                    o.first_stderr_line()
                ));
            }
            if c.stdout == Stdout::Piped && !o.stdout.is_empty() {
                return Some(format!(
                    "exit 2 with output on stdout: {:?}",
                    o.first_stderr_line()
                ));
            }
            None
        }
        Some(0) | Some(3) => {
            let tmp = temporaries(after);
            if !tmp.is_empty() {
                return Some(format!("exit {:?} left temporaries: {tmp:?}", o.code));
            }
            None
        }
        _ => Some(format!("{}: {}", o.ended(), o.first_stderr_line())),
    }
}

#[test]
fn fuzz_command_line() {
    let seed = setting("MCPI_FUZZ_SEED", 0x6d63_7069_636c_6931);
    let cases = setting("MCPI_FUZZ_CASES", 240) as usize;
    let jobs = setting("MCPI_FUZZ_JOBS", 8) as usize;
    let timeout = Duration::from_secs(setting("MCPI_FUZZ_TIMEOUT", 20));
    let started = Instant::now();
    let failures = Failures::new("fuzz_command_line", seed);
    in_parallel(cases, jobs, &|i| {
        let c = cli_case(seed, i);
        let dir = Scratch::new("fuzz-cli");
        fixtures(dir.path());
        let before = listing(dir.path());
        let o = run(c.ranks, &c.args, &c.env, dir.path(), c.stdout, timeout);
        let after = listing(dir.path());
        if let Some(problem) = cli_problem(&o, &c, &before, &after) {
            failures.add(
                i,
                &command_line(c.ranks, &c.args, &c.env, c.stdout),
                problem,
            );
        }
    });
    failures.finish(cases, started);
}

// ---------------------------------------------------------------------------
// 2. The checkpoint mutation fuzzer
// ---------------------------------------------------------------------------

/// The run whose checkpoint is mutated: 2000 batches, a fraction of a second.
const CK_RUN: [&str; 4] = ["--samples", "2e8", "--batch-size", "1e5"];

/// A real checkpoint of [`CK_RUN`] and its log, stopped part way by SIGUSR1
/// (or complete, if the run outran every signal), with the uninterrupted count
/// and status.
struct Base {
    bytes: Vec<u8>,
    log: Vec<u8>,
    /// Inside count and exit status of the uninterrupted run.
    inside: u64,
    status: i32,
    /// `/done/start` and `/done/end` lengths, and the batches done.
    intervals: u64,
    counts: u64,
    /// The byte the log's confirmed records end at (`log_end`).
    log_end: u64,
}

fn base_checkpoint(dir: &Path) -> Base {
    let bin = env!("CARGO_BIN_EXE_mcpi");
    let reference = run(
        None,
        &["run", "-q", "--output", "ref"]
            .iter()
            .chain(CK_RUN.iter())
            .map(OsString::from)
            .collect::<Vec<_>>(),
        &[],
        dir,
        Stdout::Piped,
        Duration::from_secs(120),
    );
    let status = reference.code.unwrap_or(-1);
    assert!(matches!(status, 0 | 3), "reference run: {reference:?}");
    let inside = json(&dir.join("ref.json"))["inside"].as_u64().unwrap();
    let ck = dir.join("ck.h5");
    for attempt in 0..5 {
        let _ = std::fs::remove_file(&ck);
        let _ = std::fs::remove_file(dir.join("ck.h5.log"));
        let part = format!("part{attempt}");
        let tmp = JobTmp::new();
        let mut child = Command::new(bin)
            .args([
                "run",
                "-q",
                "--checkpoint",
                "ck.h5",
                "--checkpoint-interval",
                "0.01s",
            ])
            .args(["--output", &part])
            .args(CK_RUN)
            .env("TMPDIR", &tmp.0)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ck.exists() && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no checkpoint appeared");
            thread::sleep(Duration::from_millis(1));
        }
        // A few checkpoints more, so the log holds several records.
        thread::sleep(Duration::from_millis(40));
        // SAFETY: signals the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        let code = child.wait().unwrap().code();
        if code == Some(75) || attempt == 4 {
            assert!(matches!(code, Some(75) | Some(0) | Some(3)), "{code:?}");
            break;
        }
    }
    let file = hdf5::File::open(&ck).unwrap();
    let intervals = file.dataset("done/start").unwrap().size() as u64;
    let number = |k: &str| file.attr(k).unwrap().read_scalar::<u64>().unwrap();
    let (counts, log_end) = (number("batches_done"), number("log_end"));
    drop(file);
    let log = std::fs::read(dir.join("ck.h5.log")).unwrap();
    eprintln!(
        "checkpoint: {intervals} interval(s), {counts} of 2000 batches done, log of {} bytes; \
         uninterrupted inside {inside}",
        log.len()
    );
    Base {
        bytes: std::fs::read(&ck).unwrap(),
        log,
        inside,
        status,
        intervals,
        counts,
        log_end,
    }
}

/// The root attributes of a checkpoint.
const ATTRS: &[&str] = &[
    "format",
    "format_version",
    "version",
    "seed",
    "samples",
    "batch_size",
    "batches",
    "stream_layout",
    "batches_done",
    "samples_done",
    "inside",
    "digest",
    "written_at",
    "log",
    "log_id",
    "log_start",
    "log_end",
    "log_head",
];

const DATASETS: &[&str] = &["start", "end"];

/// Replaces `/done/NAME` by a dataset of another shape or type (its values kept
/// where they fit); returns what was done.
fn rewrite_dataset(f: &hdf5::File, name: &str, rng: &mut Rng) -> hdf5::Result<String> {
    let group = f.group("done")?;
    let old: Vec<u64> = group.dataset(name)?.read_raw()?;
    group.unlink(name)?;
    let n = old.len();
    let what = match rng.below(14) {
        0 => {
            group
                .new_dataset::<u64>()
                .shape(1usize << 33)
                .create(name)?;
            "u64 [2^33], never written".to_string()
        }
        1 => {
            group
                .new_dataset::<u64>()
                .chunk(1 << 16)
                .shape(1usize << 40)
                .create(name)?;
            "u64 [2^40] chunked, never written".to_string()
        }
        2 => {
            let mut v = old.clone();
            v.push(rng.next() % 4000);
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("u64 [{}] (one more)", v.len())
        }
        3 => {
            let v = &old[..n.saturating_sub(1)];
            group.new_dataset_builder().with_data(v).create(name)?;
            format!("u64 [{}] (one fewer)", v.len())
        }
        4 => {
            group.new_dataset::<u64>().shape(0).create(name)?;
            "u64 [0]".to_string()
        }
        5 => {
            group
                .new_dataset::<u64>()
                .shape((n, 1))
                .create(name)?
                .write_raw(&old)?;
            format!("u64 [{n}, 1]")
        }
        6 => {
            group
                .new_dataset::<u64>()
                .shape((1, n))
                .create(name)?
                .write_raw(&old)?;
            format!("u64 [1, {n}]")
        }
        7 => {
            group
                .new_dataset::<u64>()
                .create(name)?
                .write_scalar(&old.first().copied().unwrap_or(0))?;
            "u64 scalar".to_string()
        }
        8 => {
            let v: Vec<u32> = old.iter().map(|&x| x as u32).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("u32 [{n}] (same values)")
        }
        9 => {
            let v: Vec<i64> = old.iter().map(|&x| x as i64).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("i64 [{n}] (same values)")
        }
        10 => {
            let v: Vec<f64> = old.iter().map(|&x| x as f64).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("f64 [{n}] (same values)")
        }
        11 => {
            let v: Vec<u8> = old.iter().map(|&x| x as u8).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("u8 [{n}] (values cut to a byte)")
        }
        12 => {
            let v: Vec<VarLenUnicode> =
                old.iter().map(|x| x.to_string().parse().unwrap()).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("string [{n}]")
        }
        _ => {
            let v: Vec<i64> = old.iter().map(|_| -1).collect();
            group
                .new_dataset_builder()
                .with_data(v.as_slice())
                .create(name)?;
            format!("i64 [{n}] of -1")
        }
    };
    Ok(format!("/done/{name} rewritten as {what}"))
}

/// Replaces root attribute `name` by one of another type, shape or value, or
/// deletes it; returns what was done.
fn rewrite_attr(f: &hdf5::File, name: &str, rng: &mut Rng) -> hdf5::Result<String> {
    let number = f.attr(name)?.read_scalar::<u64>().ok();
    f.delete_attr(name)?;
    let same = number.unwrap_or(1);
    let what = match rng.below(11) {
        0 => "deleted".to_string(),
        1 => {
            f.new_attr::<u32>()
                .create(name)?
                .write_scalar(&(same as u32))?;
            format!("u32 {}", same as u32)
        }
        2 => {
            f.new_attr::<i64>().create(name)?.write_scalar(&-1i64)?;
            "i64 -1".to_string()
        }
        3 => {
            f.new_attr::<f64>().create(name)?.write_scalar(&f64::NAN)?;
            "f64 NaN".to_string()
        }
        4 => {
            f.new_attr::<f64>()
                .create(name)?
                .write_scalar(&(same as f64))?;
            format!("f64 {}", same as f64)
        }
        5 => {
            let s: VarLenUnicode = same.to_string().parse().unwrap();
            f.new_attr::<VarLenUnicode>()
                .create(name)?
                .write_scalar(&s)?;
            format!("string {same:?}")
        }
        6 => {
            let s = FixedAscii::<16>::from_ascii("mcpi checkpoint").unwrap();
            f.new_attr::<FixedAscii<16>>()
                .create(name)?
                .write_scalar(&s)?;
            "fixed-length ASCII \"mcpi checkpoint\"".to_string()
        }
        7 => {
            f.new_attr::<u64>()
                .shape(2)
                .create(name)?
                .write_raw(&[same, same])?;
            format!("u64 [2] of {same}")
        }
        8 => {
            f.new_attr::<u64>().create(name)?.write_scalar(&u64::MAX)?;
            "u64 2^64-1".to_string()
        }
        9 => {
            let v = same.wrapping_add(1);
            f.new_attr::<u64>().create(name)?.write_scalar(&v)?;
            format!("u64 {v} (one more)")
        }
        _ => {
            f.new_attr::<u64>().shape(0).create(name)?;
            "u64 [0]".to_string()
        }
    };
    Ok(format!("attribute {name} rewritten as {what}"))
}

/// A structural edit of the file; returns what was done.
fn rewrite_structure(f: &hdf5::File, rng: &mut Rng) -> hdf5::Result<String> {
    Ok(match rng.below(5) {
        0 => {
            f.unlink("done")?;
            "/done deleted".to_string()
        }
        1 => {
            f.unlink("done")?;
            f.new_dataset::<u64>().shape(3).create("done")?;
            "/done replaced by a dataset".to_string()
        }
        2 => {
            let name = *rng.pick(DATASETS);
            let g = f.group("done")?;
            g.unlink(name)?;
            g.create_group(name)?;
            format!("/done/{name} replaced by a group")
        }
        3 => {
            let name = *rng.pick(DATASETS);
            f.group("done")?.unlink(name)?;
            format!("/done/{name} deleted")
        }
        _ => {
            let g = f.group("done")?;
            g.relink("start", "tmp")?;
            g.relink("end", "start")?;
            g.relink("tmp", "end")?;
            "/done/start and /done/end swapped".to_string()
        }
    })
}

/// A mutated copy of the checkpoint's log at `path`; returns what was done.
/// Bytes past `log_end` are a tail no checkpoint confirms: changing them must
/// not matter.
fn mutate_log(path: &Path, base: &Base, rng: &mut Rng) -> String {
    let mut bytes = base.log.clone();
    let len = bytes.len();
    let end = base.log_end as usize;
    let what = match rng.below(9) {
        0 | 1 => {
            let (o, bit) = (rng.below(len), rng.below(8));
            bytes[o] ^= 1 << bit;
            let side = if o < end { "confirmed" } else { "tail" };
            format!("log: bit flip at byte {o} bit {bit} ({side})")
        }
        2 => {
            let n = rng.below(len + 1);
            bytes.truncate(n);
            format!("log: truncated to {n} of {len} bytes (confirmed {end})")
        }
        3 => {
            // A word of a record (a tag, a batch index, a length, a count, a
            // check) set to a hostile value.
            let words = len / 8;
            let o = 8 * rng.below(words.max(1));
            let v = *rng.pick(&[0, 1, u64::MAX, 1 << 19, (1 << 19) + 1, 1999, 2000, 1 << 40]);
            if o + 8 <= len {
                bytes[o..o + 8].copy_from_slice(&v.to_le_bytes());
            }
            format!("log: the word at byte {o} set to {v}")
        }
        4 => {
            let n = 1 + rng.below(4096);
            bytes.extend((0..n).map(|_| rng.next() as u8));
            format!("log: {n} random bytes appended (an unconfirmed tail)")
        }
        5 => {
            // A copy of its own records appended: a well-formed, unconfirmed tail.
            let from = 48 + rng.below(end.saturating_sub(48).max(1));
            let copy = bytes[from.min(len)..end].to_vec();
            bytes.extend_from_slice(&copy);
            format!("log: bytes {from}..{end} appended again")
        }
        6 => {
            std::fs::remove_file(path).ok();
            return "log: deleted".into();
        }
        7 => {
            // Two 8-byte words of the confirmed records swapped.
            let words = end / 8;
            let (a, b) = (8 * rng.below(words.max(1)), 8 * rng.below(words.max(1)));
            for i in 0..8 {
                bytes.swap(a + i, b + i);
            }
            format!("log: words at bytes {a} and {b} swapped")
        }
        _ => {
            bytes.clear();
            "log: emptied".into()
        }
    };
    std::fs::write(path, &bytes).unwrap();
    what
}

/// A mutated copy of the checkpoint at `path` (and its log beside it); returns
/// what was done.
fn mutate(path: &Path, base: &Base, rng: &mut Rng) -> String {
    let log = mcpi::checkpoint::log_path(path);
    std::fs::write(path, &base.bytes).unwrap();
    std::fs::write(&log, &base.log).unwrap();
    match rng.below(10) {
        0..=3 => return mutate_log(&log, base, rng),
        4 => {
            let a = mutate_log(&log, base, rng);
            return format!("{a}; {}", mutate_manifest(path, base, rng));
        }
        _ => {}
    }
    mutate_manifest(path, base, rng)
}

/// A mutated copy of the checkpoint's manifest at `path`; returns what was done.
fn mutate_manifest(path: &Path, base: &Base, rng: &mut Rng) -> String {
    let mut bytes = base.bytes.clone();
    let len = bytes.len();
    let what = match rng.below(10) {
        0 | 1 => {
            let flips = 1 + rng.below(3);
            let mut at = Vec::new();
            for _ in 0..flips {
                let (o, bit) = (rng.below(len), rng.below(8));
                bytes[o] ^= 1 << bit;
                at.push(format!("byte {o} bit {bit}"));
            }
            format!("bit flip at {}", at.join(", "))
        }
        2 => {
            let o = rng.below(len);
            let v = *rng.pick(&[0x00u8, 0xff, 0x80, 0x7f]);
            bytes[o] = v;
            format!("byte {o} set to {v:#04x}")
        }
        3 => {
            let n = rng.below(len);
            bytes.truncate(n);
            format!("truncated to {n} of {len} bytes")
        }
        4 => {
            // A flipped high bit in a stored length: the dataspace dimensions of
            // /done/* are 8-byte little-endian words equal to their lengths
            // (and batches_done is the number of counts).
            let want = *rng.pick(&[base.intervals, base.counts]);
            let hits: Vec<usize> = (0..len.saturating_sub(8))
                .filter(|&o| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) == want)
                .collect();
            if hits.is_empty() {
                bytes.push(0);
                "one zero byte appended".to_string()
            } else {
                let o = *rng.pick(&hits);
                let bit = 32 + rng.below(31);
                let v = want ^ (1u64 << bit);
                bytes[o..o + 8].copy_from_slice(&v.to_le_bytes());
                format!(
                    "the 8-byte word {want} at byte {o} (one of {}) set to {want}^2^{bit}",
                    hits.len()
                )
            }
        }
        5 => {
            let n = 1 + rng.below(4096);
            bytes.extend((0..n).map(|_| rng.next() as u8));
            format!("{n} random bytes appended")
        }
        _ => {
            std::fs::write(path, &bytes).unwrap();
            let f = hdf5::File::open_rw(path).unwrap();
            let what = match rng.below(3) {
                0 => {
                    let name = *rng.pick(DATASETS);
                    rewrite_dataset(&f, name, rng)
                }
                1 => {
                    let name = *rng.pick(ATTRS);
                    rewrite_attr(&f, name, rng)
                }
                _ => rewrite_structure(&f, rng),
            };
            drop(f);
            return what.unwrap_or_else(|e| format!("(edit failed: {e})"));
        }
    };
    std::fs::write(path, &bytes).unwrap();
    what
}

#[test]
fn fuzz_checkpoint_mutations() {
    let seed = setting("MCPI_FUZZ_SEED", 0x6d63_7069_636b_7074);
    let cases = setting("MCPI_FUZZ_CASES", 160) as usize;
    let jobs = setting("MCPI_FUZZ_JOBS", 8) as usize;
    let timeout = Duration::from_secs(setting("MCPI_FUZZ_TIMEOUT", 20));
    let started = Instant::now();
    let base_dir = Scratch::new("fuzz-ck-base");
    let base = base_checkpoint(base_dir.path());
    let failures = Failures::new("fuzz_checkpoint_mutations", seed);
    in_parallel(cases, jobs, &|i| {
        let mut rng = Rng::for_case(seed, i);
        let dir = Scratch::new("fuzz-ck");
        let copy = dir.path().join("copy.h5");
        let what = mutate(&copy, &base, &mut rng);
        let before_bytes = std::fs::read(&copy).unwrap();
        let copy_log = dir.path().join("copy.h5.log");
        let before_log = std::fs::read(&copy_log).ok();
        // A log longer than the checkpoint confirms has a tail to ignore.
        let tail = before_log
            .as_ref()
            .is_some_and(|l| l.len() as u64 > base.log_end);
        let before = listing(dir.path());
        let mut args: Vec<OsString> = ["run", "-q", "--resume", "copy.h5", "--output", "out"]
            .iter()
            .chain(&CK_RUN)
            .chain(&["--checkpoint-interval", "1h"])
            .map(OsString::from)
            .collect();
        let ranks = (i % 20 == 11).then_some(2);
        if ranks.is_some() {
            args.push("--force".into());
        }
        let o = run(ranks, &args, &[], dir.path(), Stdout::Piped, timeout);
        let after = listing(dir.path());
        let repro = format!(
            "{}  # copy.h5: {what}",
            command_line(ranks, &args, &[], Stdout::Piped)
        );
        let problem = if o.stderr.contains("panicked") {
            Some(format!("panic ({}): {}", o.ended(), o.first_stderr_line()))
        } else if o.timed_out || o.signal.is_some() {
            Some(format!("{}: {}", o.ended(), o.first_stderr_line()))
        } else if o.code == Some(2) {
            one_error_line(&o)
                .or_else(|| {
                    (!o.first_stderr_line().contains("copy.h5")).then(|| {
                        format!("refusal does not name the file: {}", o.first_stderr_line())
                    })
                })
                .or_else(|| {
                    (std::fs::read(&copy).ok().as_ref() != Some(&before_bytes))
                        .then(|| "refused, but the copy changed".to_string())
                })
                .or_else(|| {
                    (std::fs::read(&copy_log).ok() != before_log)
                        .then(|| "refused, but its log changed".to_string())
                })
                .or_else(|| {
                    (before != after)
                        .then(|| format!("refused, but the directory changed: {after:?}"))
                })
        } else if o.code == Some(base.status) {
            let report = dir.path().join("out.json");
            let inside = report.exists().then(|| json(&report)["inside"].as_u64());
            let tmp = temporaries(&after);
            if inside != Some(Some(base.inside)) {
                Some(format!(
                    "accepted with the wrong count: inside {inside:?}, uninterrupted {}",
                    base.inside
                ))
            } else if !tmp.is_empty() {
                Some(format!("accepted, but temporaries left: {tmp:?}"))
            } else if tail && !o.stderr.contains("ignoring the last") {
                Some("accepted a log with an unconfirmed tail without saying so".to_string())
            } else {
                None
            }
        } else {
            Some(format!("{}: {}", o.ended(), o.first_stderr_line()))
        };
        if let Some(p) = problem {
            failures.add(i, &repro, p);
        }
    });
    failures.finish(cases, started);
}
