//! The only module that calls MPI. Every collective is written once here, with the
//! root/non-root asymmetry inside; the rest of mcpi sees plain values and `Option`s
//! that are `Some` on rank 0 only.

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, Process, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Tag;

use crate::error::Error;
use crate::plan::Plan;

/// Rank 0: parses, decides, prints and writes.
pub const ROOT: i32 = 0;

/// Bytes of a short string (host name, kernel) carried to rank 0 (POSIX
/// HOST_NAME_MAX is 64).
const NAME_BYTES: usize = 64;

/// Per-batch counts move to rank 0 in messages of at most this many (4 MiB).
pub const CHUNK: usize = 1 << 19;

/// The tag of per-batch count messages, the only point-to-point traffic.
const COUNTS_TAG: Tag = 1;

/// The MPI world of this run. Dropping it finalizes MPI, so return from `main`
/// rather than calling `process::exit`.
pub struct Comm {
    world: SimpleCommunicator,
    rank: u64,
    size: u64,
    // Declared last: finalizes MPI after `world` is dropped.
    _universe: Universe,
}

impl Comm {
    /// Initialises MPI; works under `mpirun`/`srun` and as a singleton.
    pub fn init() -> Result<Comm, Error> {
        let universe = mpi::initialize().ok_or(Error::MpiInit)?;
        let world = universe.world();
        Ok(Comm {
            rank: world.rank() as u64,
            size: world.size() as u64,
            world,
            _universe: universe,
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> u64 {
        self.rank
    }

    /// Number of ranks.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether this is rank 0.
    pub fn is_root(&self) -> bool {
        self.rank == ROOT as u64
    }

    fn root(&self) -> Process<'_> {
        self.world.process_at_rank(ROOT)
    }

    /// MPI_Wtime.
    pub fn time() -> f64 {
        mpi::time()
    }

    /// MPI_Abort: ends every rank of the job with `status`.
    pub fn abort(&self, status: u8) -> ! {
        self.world.abort(i32::from(status))
    }

    /// MPI_Barrier.
    pub fn barrier(&self) {
        self.world.barrier();
    }

    /// This host's name, as MPI reports it.
    pub fn host_name() -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into())
    }

    /// Rank 0's `value`, on every rank (MPI_Bcast). Used to act on decisions only
    /// rank 0 can make, such as whether the output location is usable.
    pub fn broadcast(&self, value: u8) -> u8 {
        let mut v = value;
        self.root().broadcast_into(&mut v);
        v
    }

    /// Whether every rank passed the same `value`, on every rank: one
    /// MPI_Allreduce(MAX) of `[v, !v]` gives the maximum and (negated) the minimum.
    pub fn same_on_all(&self, value: u64) -> bool {
        let mut max = [0u64; 2];
        self.world
            .all_reduce_into(&[value, !value][..], &mut max[..], SystemOperation::max());
        max[0] == !max[1]
    }

    /// How many ranks pass `true`, on every rank (MPI_Allreduce).
    pub fn count_true(&self, flag: bool) -> u64 {
        let mut n = 0u64;
        self.world
            .all_reduce_into(&u64::from(flag), &mut n, SystemOperation::sum());
        n
    }

    /// The sum over ranks of `value`, on rank 0 (MPI_Reduce).
    pub fn sum_to_root(&self, value: u64) -> Option<u64> {
        if self.is_root() {
            let mut sum = 0u64;
            self.root()
                .reduce_into_root(&value, &mut sum, SystemOperation::sum());
            Some(sum)
        } else {
            self.root().reduce_into(&value, SystemOperation::sum());
            None
        }
    }

    /// Every rank's `value`, in rank order, on rank 0 (MPI_Gather).
    pub fn gather<T: Equivalence + Copy + Default>(&self, value: T) -> Option<Vec<T>> {
        if self.is_root() {
            let mut all = vec![T::default(); self.size as usize];
            self.root().gather_into_root(&value, &mut all[..]);
            Some(all)
        } else {
            self.root().gather_into(&value);
            None
        }
    }

    /// Every rank's `name` (a host, a kernel), in rank order, on rank 0
    /// (truncated to 64 bytes).
    pub fn gather_names(&self, name: &str) -> Option<Vec<String>> {
        let mut mine = [0u8; NAME_BYTES];
        let n = name.len().min(NAME_BYTES);
        mine[..n].copy_from_slice(&name.as_bytes()[..n]);
        if self.is_root() {
            let mut all = vec![0u8; NAME_BYTES * self.size as usize];
            self.root().gather_into_root(&mine[..], &mut all[..]);
            Some(
                all.chunks(NAME_BYTES)
                    .map(|b| {
                        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                        String::from_utf8_lossy(&b[..end]).into_owned()
                    })
                    .collect(),
            )
        } else {
            self.root().gather_into(&mine[..]);
            None
        }
    }

    /// Sends a chunk of this rank's per-batch counts, in batch order, to rank 0
    /// (MPI_Send; rank 0 receives between its own batches, so this waits about a
    /// batch of rank 0's, plus any chunks rank 0 is writing).
    pub fn send_counts(&self, counts: &[u64]) {
        debug_assert!(!self.is_root() && counts.len() <= CHUNK);
        self.root().send_with_tag(counts, COUNTS_TAG);
    }

    /// Rank 0: receives per-batch counts from the other ranks and hands each chunk
    /// to `sink(first_batch, counts)` — the chunks already waiting when `wait` is
    /// false (a non-blocking probe, to call between batches), or every chunk still
    /// due when `wait` is true.
    pub fn receive_counts(&self, inbox: &mut Inbox, wait: bool, mut sink: impl FnMut(u64, &[u64])) {
        while inbox.due() {
            let any = self.world.any_process();
            let (msg, status) = if wait {
                any.matched_probe_with_tag(COUNTS_TAG)
            } else {
                match any.immediate_matched_probe_with_tag(COUNTS_TAG) {
                    Some(pending) => pending,
                    None => return,
                }
            };
            let r = status.source_rank() as usize;
            let len = status.count(u64::equivalent_datatype()) as usize;
            assert!(
                r != ROOT as usize && inbox.next[r] + len as u64 <= inbox.end[r],
                "per-batch counts from rank {r} beyond its range"
            );
            msg.matched_receive_into(&mut inbox.buf[..len]);
            sink(inbox.next[r], &inbox.buf[..len]);
            inbox.next[r] += len as u64;
            inbox.remaining -= len as u64;
        }
    }
}

/// Rank 0's account of the per-batch counts still to come from each rank.
pub struct Inbox {
    next: Vec<u64>,
    end: Vec<u64>,
    /// Batches still to arrive from all ranks (so the check between batches is O(1)).
    remaining: u64,
    buf: Vec<u64>,
}

impl Inbox {
    /// What rank 0 expects under `plan` on `ranks` ranks: every other rank's range
    /// (rank 0's own counts are written where they are made).
    pub fn new(plan: &Plan, ranks: u64) -> Inbox {
        let ranges: Vec<_> = (0..ranks).map(|r| plan.rank_range(r, ranks)).collect();
        let mut next: Vec<u64> = ranges.iter().map(|r| r.start).collect();
        next[ROOT as usize] = ranges[ROOT as usize].end;
        let end: Vec<u64> = ranges.iter().map(|r| r.end).collect();
        let remaining = end.iter().zip(&next).map(|(e, n)| e - n).sum();
        Inbox {
            next,
            end,
            remaining,
            buf: vec![0; CHUNK],
        }
    }

    /// Whether some rank's counts have not all arrived.
    fn due(&self) -> bool {
        self.remaining > 0
    }
}
