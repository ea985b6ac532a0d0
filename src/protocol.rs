//! The count protocol: how per-batch counts reach rank 0 while every rank
//! counts, and how a stop signal received by any rank stops them all at a batch
//! boundary, with no barrier in the loop.
//!
//! The count loop sees one small interface, [`Flow`]: `push` each batch's count,
//! `poll` between batches (true: stop now), `finish` after the loop. Rank 0's
//! side is a [`Collector`]: it stores its own counts and, between its batches,
//! receives the other ranks' into the [`Ledger`]'s store, writes due checkpoints,
//! feeds the progress display and orders a stop when a signal (its own, or a
//! request from another rank) asks for one. The other ranks' side is a
//! [`Sender`]: it sends its counts in messages of at most [`MESSAGE_COUNTS`]
//! (sooner while progress or checkpoints want them), asks rank 0 for a stop on a
//! signal and looks for rank 0's order. Counts move by position in the round's
//! work (see [`crate::intervals`]); the store indexes them by batch.

use std::ops::Range;

use crate::checkpoint;
use crate::comm::{Comm, Received, ROOT};
use crate::config::Config;
use crate::intervals::Intervals;
use crate::plan::share;
use crate::progress::Progress;
use crate::signals;
use crate::store::Store;

/// Per-batch counts move to rank 0 in messages of at most this many (4 MiB).
pub const MESSAGE_COUNTS: usize = 1 << 19;

/// How often the other ranks look for rank 0's stop order (a non-blocking
/// probe) when they have no signal of their own.
const STOP_POLL_SECONDS: f64 = 0.01;

/// What the count loop calls, on any rank.
pub trait Flow {
    /// The count of the batch just counted: this rank's next position.
    fn push(&mut self, count: u64);
    /// Between batches, at time `now`: moves counts on, acts on stops. True when
    /// the loop must stop (a stop was ordered).
    fn poll(&mut self, now: f64) -> bool;
    /// After the loop: moves the last counts; whether a stop was ordered (the
    /// same answer on every rank).
    fn finish(self) -> bool;
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
    pub checkpoints: Option<checkpoint::Schedule>,
}

/// Rank 0's side of one round.
pub struct Collector<'a> {
    comm: &'a Comm,
    config: &'a Config,
    work: &'a Intervals,
    ledger: &'a mut Ledger,
    /// Rank 0's own counts not yet stored, from position `own.start`.
    pending: Vec<u64>,
    /// Rank 0's positions counted: stored up to `own.start`, counted to `own.end`.
    own: Range<u64>,
    /// Each rank's share of positions, and the position of its next count to arrive.
    start: Vec<u64>,
    next: Vec<u64>,
    /// Other ranks that have not sent their last counts.
    unfinished: usize,
    finished: Vec<bool>,
    received: u64,
    stop_requested: bool,
    stop_sent: bool,
    buf: Vec<u64>,
}

impl<'a> Collector<'a> {
    /// Rank 0's side of counting `work`, shared out by position over the ranks.
    pub fn new(
        comm: &'a Comm,
        config: &'a Config,
        work: &'a Intervals,
        ledger: &'a mut Ledger,
    ) -> Collector<'a> {
        let ranks = comm.size();
        let shares: Vec<Range<u64>> = (0..ranks).map(|r| share(work.count(), r, ranks)).collect();
        let mut finished = vec![false; ranks as usize];
        finished[ROOT as usize] = true;
        Collector {
            comm,
            config,
            work,
            ledger,
            pending: Vec::new(),
            own: shares[ROOT as usize].start..shares[ROOT as usize].start,
            start: shares.iter().map(|s| s.start).collect(),
            next: shares.iter().map(|s| s.start).collect(),
            unfinished: ranks as usize - 1,
            finished,
            received: 0,
            stop_requested: false,
            stop_sent: false,
            buf: vec![0; MESSAGE_COUNTS],
        }
    }

    /// Stores `counts`, the counts of the positions from `first` on (positions
    /// map to batches through the round's work, across its gaps).
    fn store(&mut self, first: u64, counts: &[u64]) {
        let mut at = 0usize;
        for r in self.work.slice(first..first + counts.len() as u64).ranges() {
            let n = (r.end - r.start) as usize;
            self.ledger.store.put(r.start, &counts[at..at + n]);
            at += n;
        }
    }

    fn store_own(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.store(self.own.start, &pending);
        self.own.start += pending.len() as u64;
        self.pending = pending;
        self.pending.clear();
    }

    /// Takes in what has arrived; returns whether anything did.
    fn receive(&mut self) -> bool {
        let mut any = false;
        while let Some(msg) = self.comm.receive_any(&mut self.buf) {
            any = true;
            let (from, len, last) = match msg {
                Received::StopRequest => {
                    self.stop_requested = true;
                    continue;
                }
                Received::Counts { from, len } => (from, len, false),
                Received::Last { from, len } => (from, len, true),
            };
            let end = share(self.work.count(), from as u64, self.comm.size()).end;
            assert!(
                !self.finished[from] && self.next[from] + len as u64 <= end,
                "unexpected counts from rank {from}"
            );
            let counts = std::mem::take(&mut self.buf);
            self.store(self.next[from], &counts[..len]);
            self.buf = counts;
            self.next[from] += len as u64;
            self.received += len as u64;
            if last {
                self.finished[from] = true;
                self.unfinished -= 1;
            }
        }
        any
    }

    /// Every batch known counted now: the ledger's, rank 0's stored counts and
    /// what the other ranks have sent.
    fn done_now(&self) -> Intervals {
        let own = self.work.slice(self.start[ROOT as usize]..self.own.start);
        let others = (1..self.start.len()).map(|r| self.work.slice(self.start[r]..self.next[r]));
        self.ledger
            .done
            .union_all(std::iter::once(own).chain(others))
    }

    /// The work between batches (and while waiting for the last counts):
    /// checkpoints, stops, progress.
    fn tend(&mut self, now: f64) {
        // The stop order first: a checkpoint can take seconds at 10^8 batches.
        if !self.stop_sent && (signals::received().is_some() || self.stop_requested) {
            self.comm.order_stop();
            self.stop_sent = true;
        }
        if self.ledger.checkpoints.as_ref().is_some_and(|c| c.due(now)) {
            self.store_own();
            let done = self.done_now();
            let ledger = &mut *self.ledger;
            if let Some(ck) = ledger.checkpoints.as_mut() {
                ck.save_due(self.config, &done, &ledger.store, now);
            }
        }
        let counted = self.ledger.counted_before + (self.own.end - self.start[ROOT as usize]);
        self.ledger.progress.update(counted + self.received);
    }
}

impl Flow for Collector<'_> {
    fn push(&mut self, count: u64) {
        self.pending.push(count);
        self.own.end += 1;
    }

    fn poll(&mut self, now: f64) -> bool {
        if self.pending.len() == MESSAGE_COUNTS {
            self.store_own();
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
        let own = self.own.end - self.start[ROOT as usize];
        self.ledger.counted_before += own + self.received;
        self.comm.broadcast(u8::from(self.stop_sent)) == 1
    }
}

/// The other ranks' side of one round.
pub struct Sender<'a> {
    comm: &'a Comm,
    pending: Vec<u64>,
    /// Send what is pending at least this often (seconds).
    flush_every: f64,
    flushed: f64,
    polled: f64,
    stop_asked: bool,
    stop_got: bool,
}

impl<'a> Sender<'a> {
    /// A rank's side of a round; it sends its counts at least every `flush_every`
    /// seconds (infinite: only full messages).
    pub fn new(comm: &'a Comm, flush_every: f64, now: f64) -> Sender<'a> {
        Sender {
            comm,
            pending: Vec::new(),
            flush_every,
            flushed: now,
            polled: now,
            stop_asked: false,
            stop_got: false,
        }
    }
}

impl Flow for Sender<'_> {
    fn push(&mut self, count: u64) {
        self.pending.push(count);
    }

    fn poll(&mut self, now: f64) -> bool {
        if self.pending.len() == MESSAGE_COUNTS || now - self.flushed >= self.flush_every {
            self.comm.send_counts(&self.pending, false);
            self.pending.clear();
            self.flushed = now;
        }
        if !self.stop_asked && signals::received().is_some() {
            self.comm.request_stop();
            self.stop_asked = true;
        }
        if self.stop_asked || now - self.polled >= STOP_POLL_SECONDS {
            self.polled = now;
            self.stop_got = self.comm.stop_ordered();
        }
        self.stop_got
    }

    fn finish(self) -> bool {
        self.comm.send_counts(&self.pending, true);
        // Every rank learns whether a stop was ordered; a rank that left its loop
        // before the order came still receives it.
        let stopped = self.comm.broadcast(0) == 1;
        if stopped && !self.stop_got {
            self.comm.await_stop_order();
        }
        stopped
    }
}
