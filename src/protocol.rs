//! The count protocol: how per-batch counts reach rank 0 while every rank
//! counts, and how a stop signal received by any rank stops them all at a batch
//! boundary, with no barrier in the loop.
//!
//! The count loop sees one small interface, [`Flow`], used by each rank's main
//! thread alone (only it calls MPI): `push` each batch's count, `push_from` the
//! counts its other threads hand over, `poll` between batches (true: stop now),
//! `finish` after the loop. Rank 0's
//! side is a [`Collector`]: it stores its own counts and, between its batches,
//! receives the other ranks' into the [`Ledger`]'s store, writes due checkpoints,
//! feeds the progress display and orders a stop when a signal (its own, or a
//! request from another rank) asks for one. The other ranks' side is a
//! [`Sender`]: it sends its counts in messages of at most [`MESSAGE_COUNTS`]
//! (sooner while progress or checkpoints want them), asks rank 0 for a stop on a
//! signal and looks for rank 0's order. Counts move by position in the round's
//! work (see [`crate::intervals`]), each thread's in a message stream of its own
//! (an MPI tag per thread), so they arrive in order; the store indexes them by
//! batch.

use std::ops::Range;

use crate::checkpoint;
use crate::comm::{Comm, Received, ROOT};
use crate::host::thread_cpu_seconds;
use crate::intervals::Intervals;
use crate::plan::part;
use crate::progress::Progress;
use crate::signals;
use crate::store::Store;

/// Per-batch counts move to rank 0 in messages of at most this many (4 MiB).
pub const MESSAGE_COUNTS: usize = 1 << 19;

/// How often the other ranks look for rank 0's stop order (a non-blocking
/// probe) when they have no signal of their own.
const STOP_POLL_SECONDS: f64 = 0.01;

/// What the count loop calls, on any rank, from the main thread only.
pub trait Flow {
    /// The count of the batch the main thread (thread 0) just counted: its next
    /// position.
    fn push(&mut self, count: u64);
    /// Counts handed over by this rank's thread `thread` (not 0): its next
    /// positions, in order.
    fn push_from(&mut self, thread: usize, counts: &[u64]);
    /// Between batches, at time `now`: moves counts on, acts on stops. True when
    /// the loop must stop (a stop was ordered).
    fn poll(&mut self, now: f64) -> bool;
    /// After every thread's loop: moves the last counts; whether a stop was
    /// ordered (the same answer on every rank).
    fn finish(self) -> bool;
    /// The time the main thread has spent so far in the protocol's costly
    /// steps — storing and sending counts, checkpoints — clocked around those
    /// steps only (not every poll), so the count loop can tell its own CPU time.
    fn busy(&self) -> Busy;
}

/// CPU and wall seconds spent in clocked steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Busy {
    /// The thread's CPU time in them.
    pub cpu: f64,
    /// Their elapsed time.
    pub wall: f64,
}

impl Busy {
    /// The clocks now, to pass to [`Busy::since`] after the step.
    fn mark() -> (f64, f64) {
        (thread_cpu_seconds(), Comm::time())
    }

    /// Adds the time since `mark`.
    fn since(&mut self, (cpu, wall): (f64, f64)) {
        self.cpu += thread_cpu_seconds() - cpu;
        self.wall += Comm::time() - wall;
    }
}

/// Rank 0's record of the run across its rounds.
pub struct Ledger {
    /// Every count of the run, by batch.
    pub store: Store,
    /// Every batch known counted: resumed, and in finished rounds.
    pub done: Intervals,
    /// Batches counted on all ranks in finished rounds (for progress).
    pub counted_before: u64,
    /// The progress display.
    pub progress: Progress,
    /// The checkpoints, if asked for.
    pub checkpoints: Option<checkpoint::Checkpointer>,
}

/// Rank 0's side of one round. The round's positions are shared out over the
/// ranks, and each rank's share over its threads ([`part`]): one *worker* per
/// (rank, thread), numbered rank by rank; the counts of each worker arrive in
/// order.
pub struct Collector<'a> {
    comm: &'a Comm,
    work: &'a Intervals,
    ledger: &'a mut Ledger,
    threads: usize,
    /// Rank 0's main thread's counts not yet stored.
    pending: Vec<u64>,
    /// Each worker's first position, and the position of its next count to
    /// store (rank 0's main thread: of its first pending count).
    start: Vec<u64>,
    next: Vec<u64>,
    /// Each worker's end of positions.
    end: Vec<u64>,
    /// Other ranks that have not sent their last message.
    unfinished: usize,
    finished: Vec<bool>,
    /// Counts stored this round, pending ones not included (for progress).
    arrived: u64,
    stop_requested: bool,
    stop_sent: bool,
    buf: Vec<u64>,
    busy: Busy,
}

impl<'a> Collector<'a> {
    /// Rank 0's side of counting `work` on ranks of `threads` threads each.
    pub fn new(
        comm: &'a Comm,
        work: &'a Intervals,
        threads: usize,
        ledger: &'a mut Ledger,
    ) -> Collector<'a> {
        let ranks = comm.size();
        let t = threads as u64;
        let parts: Vec<Range<u64>> = (0..ranks)
            .flat_map(|r| (0..t).map(move |i| part(work.count(), r, ranks, i, t)))
            .collect();
        let mut finished = vec![false; ranks as usize];
        finished[ROOT as usize] = true;
        Collector {
            comm,
            work,
            ledger,
            threads,
            pending: Vec::new(),
            start: parts.iter().map(|p| p.start).collect(),
            next: parts.iter().map(|p| p.start).collect(),
            end: parts.iter().map(|p| p.end).collect(),
            unfinished: ranks as usize - 1,
            finished,
            arrived: 0,
            stop_requested: false,
            stop_sent: false,
            buf: vec![0; MESSAGE_COUNTS],
            busy: Busy::default(),
        }
    }

    /// Stores `counts`, worker `w`'s next counts (positions map to batches
    /// through the round's work, across its gaps).
    fn store(&mut self, w: usize, counts: &[u64]) {
        let first = self.next[w];
        assert!(
            first + counts.len() as u64 <= self.end[w],
            "unexpected counts from worker {w}"
        );
        let mut at = 0usize;
        for r in self.work.slice(first..first + counts.len() as u64).ranges() {
            let n = (r.end - r.start) as usize;
            self.ledger.store.put(r.start, &counts[at..at + n]);
            at += n;
        }
        self.next[w] += counts.len() as u64;
        self.arrived += counts.len() as u64;
    }

    fn store_own(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.store(ROOT as usize, &pending);
        self.pending = pending;
        self.pending.clear();
    }

    /// Takes in what has arrived; returns whether anything did.
    fn receive(&mut self) -> bool {
        let mut since = None;
        while let Some(msg) = self.comm.receive_any(&mut self.buf) {
            since.get_or_insert_with(Busy::mark);
            match msg {
                Received::StopRequest => self.stop_requested = true,
                Received::Counts { from, thread, len } => {
                    assert!(
                        !self.finished[from] && thread < self.threads,
                        "unexpected counts from rank {from} thread {thread}"
                    );
                    let counts = std::mem::take(&mut self.buf);
                    self.store(from * self.threads + thread, &counts[..len]);
                    self.buf = counts;
                }
                Received::Last { from } => {
                    assert!(!self.finished[from], "rank {from} finished twice");
                    self.finished[from] = true;
                    self.unfinished -= 1;
                }
            }
        }
        if let Some(mark) = since {
            self.busy.since(mark);
        }
        since.is_some()
    }

    /// Every batch known counted now: the ledger's and every worker's stored
    /// counts.
    fn done_now(&self) -> Intervals {
        let stored = (0..self.start.len()).map(|w| self.work.slice(self.start[w]..self.next[w]));
        self.ledger.done.union_all(stored)
    }

    /// The work between batches (and while waiting for the last counts):
    /// checkpoints, stops, progress.
    fn tend(&mut self, now: f64) {
        // The stop order first: a checkpoint can take seconds at 10^8 batches.
        if !self.stop_sent && (signals::received().is_some() || self.stop_requested) {
            self.comm.order_stop();
            self.stop_sent = true;
        }
        if self.ledger.checkpoints.as_mut().is_some_and(|c| c.due(now)) {
            let mark = Busy::mark();
            // Every count of `done` is in the store before the writer reads it.
            self.store_own();
            let done = self.done_now();
            if let Some(ck) = self.ledger.checkpoints.as_mut() {
                ck.save_due(done, now);
            }
            self.busy.since(mark);
        }
        let counted = self.ledger.counted_before + self.arrived + self.pending.len() as u64;
        self.ledger.progress.update(counted);
    }
}

impl Flow for Collector<'_> {
    fn push(&mut self, count: u64) {
        self.pending.push(count);
    }

    fn push_from(&mut self, thread: usize, counts: &[u64]) {
        let mark = Busy::mark();
        self.store(thread, counts);
        self.busy.since(mark);
    }

    fn poll(&mut self, now: f64) -> bool {
        if self.pending.len() == MESSAGE_COUNTS {
            let mark = Busy::mark();
            self.store_own();
            self.busy.since(mark);
        }
        self.receive();
        self.tend(now);
        self.stop_sent
    }

    fn finish(mut self) -> bool {
        self.store_own();
        // The other ranks' last counts; a stop can still be ordered meanwhile.
        while self.unfinished > 0 {
            let arrived = self.receive();
            self.tend(Comm::time());
            if !arrived {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        // Everything counted in this round, on every rank, is in the store.
        self.ledger.done = self.done_now();
        self.ledger.counted_before += self.arrived;
        self.comm.broadcast(u8::from(self.stop_sent)) == 1
    }

    fn busy(&self) -> Busy {
        self.busy
    }
}

/// The other ranks' side of one round.
pub struct Sender<'a> {
    comm: &'a Comm,
    /// Each thread's counts not yet sent.
    pending: Vec<Vec<u64>>,
    /// Send what is pending at least this often (seconds).
    flush_every: f64,
    flushed: f64,
    polled: f64,
    stop_asked: bool,
    stop_got: bool,
    busy: Busy,
}

impl<'a> Sender<'a> {
    /// The side of a rank of `threads` threads; it sends its counts at least
    /// every `flush_every` seconds (infinite: only full messages).
    pub fn new(comm: &'a Comm, threads: usize, flush_every: f64, now: f64) -> Sender<'a> {
        Sender {
            comm,
            pending: vec![Vec::new(); threads],
            flush_every,
            flushed: now,
            polled: now,
            stop_asked: false,
            stop_got: false,
            busy: Busy::default(),
        }
    }

    /// Sends thread `t`'s pending counts, in messages of at most
    /// [`MESSAGE_COUNTS`].
    fn send(&mut self, t: usize) {
        let mark = Busy::mark();
        for chunk in self.pending[t].chunks(MESSAGE_COUNTS) {
            self.comm.send_counts(t, chunk);
        }
        self.pending[t].clear();
        self.busy.since(mark);
    }
}

impl Flow for Sender<'_> {
    fn push(&mut self, count: u64) {
        self.pending[0].push(count);
    }

    fn push_from(&mut self, thread: usize, counts: &[u64]) {
        self.pending[thread].extend_from_slice(counts);
        if self.pending[thread].len() >= MESSAGE_COUNTS {
            self.send(thread);
        }
    }

    fn poll(&mut self, now: f64) -> bool {
        if self.pending[0].len() == MESSAGE_COUNTS {
            self.send(0);
        }
        if now - self.flushed >= self.flush_every {
            for t in 0..self.pending.len() {
                if !self.pending[t].is_empty() {
                    self.send(t);
                }
            }
            self.flushed = now;
        }
        if !self.stop_asked && signals::received().is_some() {
            self.comm.request_stop();
            self.stop_asked = true;
        }
        // Once received, the order stands: the main thread polls on while its
        // other threads finish, and the order comes only once.
        if !self.stop_got && (self.stop_asked || now - self.polled >= STOP_POLL_SECONDS) {
            self.polled = now;
            self.stop_got = self.comm.stop_ordered();
        }
        self.stop_got
    }

    fn finish(mut self) -> bool {
        for t in 0..self.pending.len() {
            self.send(t);
        }
        self.comm.send_last();
        // Every rank learns whether a stop was ordered; a rank that left its loop
        // before the order came still receives it.
        let stopped = self.comm.broadcast(0) == 1;
        if stopped && !self.stop_got {
            self.comm.await_stop_order();
        }
        stopped
    }

    fn busy(&self) -> Busy {
        self.busy
    }
}
