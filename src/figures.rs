//! What each rank and each of its threads did, gathered on rank 0: the input
//! of the report and of the placement checks ([`crate::placement`]).

/// What one rank did.
#[derive(Clone, Debug, PartialEq)]
pub struct RankFigures {
    /// Seconds in the counting loop, less its time moving per-batch counts: its
    /// slowest thread's.
    pub compute_seconds: f64,
    /// First batch of its range.
    pub first_batch: u64,
    /// Number of batches in its range.
    pub batch_count: u64,
    /// Host it ran on.
    pub host: String,
    /// Kernel variant it ran.
    pub kernel: String,
    /// CPUs its host gives the job (see [`crate::host::host_cpus`]).
    pub cpus: u64,
    /// Samples it counted in this run.
    pub samples: u64,
    /// Threads it counted on.
    pub threads: u64,
    /// Its affinity mask: the CPUs it (and its threads) may run on, in order.
    pub affinity: Vec<u32>,
}

/// What one thread did (HDF5 `/threads`).
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadFigures {
    /// Its rank.
    pub rank: u64,
    /// Its number within the rank (0: the main thread).
    pub thread: u64,
    /// Seconds in its counting loop, less the time moving per-batch counts.
    pub compute_seconds: f64,
    /// CPU seconds it used in that time: less than `compute_seconds` when it
    /// waited for a CPU (another thread or process on its core).
    pub cpu_seconds: f64,
    /// Batches it counted in this run.
    pub batches: u64,
    /// Samples in them.
    pub samples: u64,
    /// The CPU it ran on when it finished counting, if known.
    pub cpu: Option<u32>,
}

/// Every rank's and thread's figures, and where the thread count came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Per rank, in rank order.
    pub per_rank: Vec<RankFigures>,
    /// Per thread, rank by rank.
    pub per_thread: Vec<ThreadFigures>,
    /// Where `--threads` took its count from.
    pub threads_from: String,
}
