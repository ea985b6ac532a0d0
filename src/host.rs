//! What the machine and the batch system tell a rank about where it runs: the
//! CPUs its host gives the job, its affinity mask and the CPU a thread is on,
//! its name, whether a process lives, and the Slurm job it belongs to.

use serde::{Deserialize, Serialize};

/// The CPUs this host gives the job: its online logical CPUs, or fewer under
/// Slurm (`SLURM_CPUS_ON_NODE`, the allocation on this node). Not this rank's
/// affinity mask, which a launcher may have narrowed to one core. A host that
/// runs more ranks × threads than this is oversubscribed.
pub fn host_cpus() -> u64 {
    // SAFETY: sysconf only reads a system setting.
    let online = match unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } {
        n if n > 0 => n as u64,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    };
    let allocated = std::env::var("SLURM_CPUS_ON_NODE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0);
    allocated.map_or(online, |n| n.min(online))
}

/// The CPUs this process may run on (its affinity mask, `sched_getaffinity`),
/// in increasing order: what the launcher bound it to. Threads started later
/// inherit it. Empty if the mask cannot be read.
pub fn affinity() -> Vec<u32> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set, and sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as u32)
        // SAFETY: the index is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c as usize, &set) })
        .collect()
}

/// The CPU the calling thread runs on now (`sched_getcpu`), if known.
pub fn current_cpu() -> Option<u32> {
    // SAFETY: sched_getcpu takes nothing and returns a number.
    u32::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// Seconds of CPU time the calling thread has used
/// (`CLOCK_THREAD_CPUTIME_ID`): time it ran, not time it waited for a CPU.
pub fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `t`.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return f64::NAN;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// This host's name (`gethostname`), or `unknown`.
pub fn name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "unknown".into(),
    }
}

/// Whether process `pid` is alive on this host (`kill(pid, 0)`: only "no such
/// process" counts as gone).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 checks for existence and sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Whether an MPI launcher (mpirun, mpiexec, srun with PMI or PMIx) started
/// this process, as its environment says.
pub fn under_mpi_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// The Slurm job the run belongs to, from `SLURM_*` variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slurm {
    /// `SLURM_JOB_ID`.
    pub job_id: String,
    /// `SLURM_JOB_NUM_NODES`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// `SLURM_NTASKS`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u64>,
    /// `SLURM_JOB_NODELIST`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodelist: Option<String>,
}

impl Slurm {
    /// The job from the environment, or `None` outside Slurm.
    pub fn from_env() -> Option<Slurm> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Some(Slurm {
            job_id: var("SLURM_JOB_ID")?,
            nodes: var("SLURM_JOB_NUM_NODES").and_then(|v| v.parse().ok()),
            tasks: var("SLURM_NTASKS").and_then(|v| v.parse().ok()),
            nodelist: var("SLURM_JOB_NODELIST"),
        })
    }
}
