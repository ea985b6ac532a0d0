//! The only module that calls MPI. Every collective is written once here, with the
//! root/non-root asymmetry inside; the rest of mcpi sees plain values and `Option`s
//! that are `Some` on rank 0 only. The point-to-point messages of the count
//! protocol (counts, stop requests, stop orders) are primitives here; the
//! protocol itself is [`crate::protocol`].

use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::environment::{Threading, Universe};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, Process, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Tag;

/// Rank 0: parses, decides, prints and writes.
pub const ROOT: i32 = 0;

/// Bytes of a short string (host name, kernel) carried to rank 0 (POSIX
/// HOST_NAME_MAX is 64).
const NAME_BYTES: usize = 64;

/// The sender's last message (empty): every thread of it has stopped counting
/// and every count it counted has been sent.
const LAST_TAG: Tag = 1;
/// Rank 0 to every other rank: stop at the next batch boundary. Any other rank
/// to rank 0: please order a stop (it received a signal).
const STOP_TAG: Tag = 2;
/// Per-batch counts of the sender's thread `t` have tag `COUNTS_TAG + t`: one tag
/// per thread, so each thread's counts arrive in the order they were sent (MPI
/// guarantees a tag's order, and the standard's smallest tag bound, 32767,
/// leaves room for [`crate::config::MAX_THREADS`]).
const COUNTS_TAG: Tag = 16;

/// MPI could not be initialised.
#[derive(Debug, thiserror::Error)]
#[error("MPI initialisation failed (was MPI already initialised?)")]
pub struct InitError;

/// What [`Comm::receive_any`] took in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// `len` per-batch counts from thread `thread` of rank `from`.
    Counts {
        /// The sender.
        from: usize,
        /// Its thread that counted them.
        thread: usize,
        /// How many counts are now at the front of the buffer.
        len: usize,
    },
    /// Rank `from` has stopped and sent every count.
    Last {
        /// The sender.
        from: usize,
    },
    /// Some rank asks for a stop (it received a signal).
    StopRequest,
}

/// The MPI world of this run. Dropping it finalizes MPI, so return from `main`
/// rather than calling `process::exit`.
pub struct Comm {
    world: SimpleCommunicator,
    rank: u64,
    size: u64,
    threading: Threading,
    // Declared last: finalizes MPI after `world` is dropped.
    _universe: Universe,
}

impl Comm {
    /// Initialises MPI; works under `mpirun`/`srun` and as a singleton. With
    /// `threads`, asks for `MPI_THREAD_FUNNELED` (threads count, only the main
    /// thread calls MPI; what the library provides is [`Comm::funneled`]);
    /// without, for `MPI_THREAD_SINGLE`, which keeps OpenMPI's probes between
    /// batches free of locking (about 50 ns a batch less).
    pub fn init(threads: bool) -> Result<Comm, InitError> {
        let level = if threads {
            Threading::Funneled
        } else {
            Threading::Single
        };
        let (universe, threading) = mpi::initialize_with_threading(level).ok_or(InitError)?;
        let world = universe.world();
        Ok(Comm {
            rank: world.rank() as u64,
            size: world.size() as u64,
            threading,
            world,
            _universe: universe,
        })
    }

    /// Whether the MPI library allows threads beside the one calling MPI
    /// (`MPI_THREAD_FUNNELED` or more), as `--threads` above 1 needs.
    pub fn funneled(&self) -> bool {
        self.threading >= Threading::Funneled
    }

    /// The thread level the library provides, as MPI names it.
    pub fn threading_name(&self) -> &'static str {
        match self.threading {
            Threading::Single => "MPI_THREAD_SINGLE",
            Threading::Funneled => "MPI_THREAD_FUNNELED",
            Threading::Serialized => "MPI_THREAD_SERIALIZED",
            Threading::Multiple => "MPI_THREAD_MULTIPLE",
        }
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

    /// The sum over ranks of `value`, on every rank (MPI_Allreduce).
    pub fn all_sum(&self, value: u64) -> u64 {
        let mut sum = 0u64;
        self.world
            .all_reduce_into(&value, &mut sum, SystemOperation::sum());
        sum
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

    /// Every rank's `values` (any length, rank by rank), on rank 0
    /// (MPI_Gather of the lengths, then MPI_Gatherv).
    pub fn gather_vecs<T: Equivalence + Copy + Default>(
        &self,
        values: &[T],
    ) -> Option<Vec<Vec<T>>> {
        let lens = self.gather(values.len() as i32);
        match lens {
            Some(lens) => {
                let displs: Vec<i32> = lens
                    .iter()
                    .scan(0, |at, &n| {
                        let d = *at;
                        *at += n;
                        Some(d)
                    })
                    .collect();
                let mut all = vec![T::default(); lens.iter().map(|&n| n as usize).sum()];
                let mut parts = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
                self.root().gather_varcount_into_root(values, &mut parts);
                let mut at = 0;
                Some(
                    lens.iter()
                        .map(|&n| {
                            let part = all[at..at + n as usize].to_vec();
                            at += n as usize;
                            part
                        })
                        .collect(),
                )
            }
            None => {
                self.root().gather_varcount_into(values);
                None
            }
        }
    }

    /// Every rank's `text` (any length), in rank order, on rank 0.
    pub fn gather_texts(&self, text: &str) -> Option<Vec<String>> {
        let all = self.gather_vecs(text.as_bytes())?;
        Some(
            all.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
        )
    }

    /// Sends per-batch counts of this rank's thread `thread`, in order, to rank 0
    /// (MPI_Send; rank 0 receives between its own batches, so a large message
    /// waits about a batch of rank 0's).
    pub fn send_counts(&self, thread: usize, counts: &[u64]) {
        debug_assert!(!self.is_root());
        self.root()
            .send_with_tag(counts, COUNTS_TAG + thread as Tag);
    }

    /// Tells rank 0 this rank has sent every count and counts no more.
    pub fn send_last(&self) {
        debug_assert!(!self.is_root());
        self.root().send_with_tag(&[0u64; 0][..], LAST_TAG);
    }

    /// Rank 0: takes in one message from any rank if one has arrived (a
    /// non-blocking matched probe): counts go to the front of `buf`, which must
    /// hold the largest message a rank sends.
    pub fn receive_any(&self, buf: &mut [u64]) -> Option<Received> {
        let (msg, status) = self.world.any_process().immediate_matched_probe()?;
        let from = status.source_rank() as usize;
        let tag = status.tag();
        let len = status.count(u64::equivalent_datatype()) as usize;
        assert!(
            from != ROOT as usize && len <= buf.len() && (tag >= COUNTS_TAG || len == 0),
            "unexpected message from rank {from} (tag {tag}, {len} counts)"
        );
        msg.matched_receive_into(&mut buf[..len]);
        Some(match tag {
            STOP_TAG => Received::StopRequest,
            LAST_TAG => Received::Last { from },
            _ => Received::Counts {
                from,
                thread: (tag - COUNTS_TAG) as usize,
                len,
            },
        })
    }

    /// Rank 0: tells every other rank to stop at its next batch boundary (once).
    pub fn order_stop(&self) {
        debug_assert!(self.is_root());
        for r in 1..self.size as i32 {
            self.world
                .process_at_rank(r)
                .send_with_tag(&[0u64; 0][..], STOP_TAG);
        }
    }

    /// Any other rank: asks rank 0 to order a stop (once, before its last counts).
    pub fn request_stop(&self) {
        debug_assert!(!self.is_root());
        self.root().send_with_tag(&[0u64; 0][..], STOP_TAG);
    }

    /// Any other rank: whether rank 0 has ordered a stop (a non-blocking probe;
    /// the order is received when it has come).
    pub fn stop_ordered(&self) -> bool {
        match self.root().immediate_matched_probe_with_tag(STOP_TAG) {
            Some((msg, _)) => {
                msg.matched_receive_into(&mut [0u64; 0][..]);
                true
            }
            None => false,
        }
    }

    /// Any other rank: waits for rank 0's stop order (known to have been sent).
    pub fn await_stop_order(&self) {
        let (msg, _) = self.root().matched_probe_with_tag(STOP_TAG);
        msg.matched_receive_into(&mut [0u64; 0][..]);
    }

    /// Rank 0's `values` on every rank (MPI_Bcast of the length, then the values).
    pub fn broadcast_u64s(&self, values: Vec<u64>) -> Vec<u64> {
        let mut len = values.len() as u64;
        self.root().broadcast_into(&mut len);
        let mut all = if self.is_root() {
            values
        } else {
            vec![0; len as usize]
        };
        if len > 0 {
            self.root().broadcast_into(&mut all[..]);
        }
        all
    }
}
