//! What the machine and the batch system tell a rank about where it runs: the
//! CPUs its host gives the job, its name, whether a process lives, and the
//! Slurm job it belongs to.

use serde::{Deserialize, Serialize};

/// The CPUs this host gives the job: its online logical CPUs, or fewer under
/// Slurm (`SLURM_CPUS_ON_NODE`, the allocation on this node). Not this rank's
/// affinity mask, which a launcher may have narrowed to one core. A host that
/// runs more ranks than this is oversubscribed.
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
