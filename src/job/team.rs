//! A rank's threads in one round. Thread 0 is the main thread, the only one
//! that calls MPI: it counts its part and, between its batches, tends the count
//! protocol ([`Flow`]). Threads 1.. count theirs and hand their counts to it
//! through a channel; a stop the protocol orders reaches them through a flag, at
//! their next batch boundary. Each thread walks its own clone of the streams, so
//! a batch's count is the same whichever thread counts it.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::count::Tally;
use crate::comm::Comm;
use crate::host::{current_cpu, thread_cpu_seconds};
use crate::intervals::Intervals;
use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::protocol::Flow;
use crate::stream::Streams;

/// A thread hands its counts over after at most this many (512 KiB)…
const HANDOFF_COUNTS: usize = 1 << 16;
/// …or this many seconds (often enough for progress and checkpoints), looked
/// at every [`CLOCK_SAMPLES`] samples.
const HANDOFF_SECONDS: f64 = 0.1;
const CLOCK_SAMPLES: u64 = 1 << 20;
/// How long the main thread waits for a handoff before tending the protocol.
const WAIT: Duration = Duration::from_millis(1);

/// Some counts of thread `thread`, in order.
struct Handoff {
    thread: usize,
    counts: Vec<u64>,
}

/// Raises the stop flag if its thread unwinds, so a panic on one thread (or a
/// thread that cannot be started) stops the others at their next batch rather
/// than after their whole part; the panic then ends the job (`MPI_Abort`).
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What a round's threads share.
pub struct Team<'a> {
    /// The kernel every thread runs.
    pub kernel: Kernel,
    /// The batches' sizes.
    pub plan: &'a Plan,
    /// The streams, cloned for each thread but the main one.
    pub streams: &'a mut Streams,
}

impl Team<'_> {
    /// Counts `parts` (thread `t` counts `parts[t]`) while `flow` moves the
    /// counts; returns each thread's tally and whether a stop was ordered.
    pub fn count(self, parts: &[Intervals], mut flow: impl Flow) -> (Vec<Tally>, bool) {
        if parts.len() == 1 {
            // One thread: no channel, no flag, the loop as it always was.
            let mine = main_loop(self, &parts[0], &mut flow, None);
            return (vec![mine], flow.finish());
        }
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel();
        let (kernel, plan) = (self.kernel, self.plan);
        let tallies = std::thread::scope(|s| {
            let _guard = StopOnPanic(&stop);
            let workers: Vec<_> = (1..parts.len())
                .map(|t| {
                    let (tx, part, stop) = (tx.clone(), &parts[t], &stop);
                    let mut streams = self.streams.clone();
                    std::thread::Builder::new()
                        .name(format!("mcpi-count-{t}"))
                        .spawn_scoped(s, move || {
                            let _guard = StopOnPanic(stop);
                            worker(t, kernel, plan, &mut streams, part, tx, stop)
                        })
                        .unwrap_or_else(|e| panic!("cannot start counting thread {t}: {e}"))
                })
                .collect();
            drop(tx);
            let main = main_loop(self, &parts[0], &mut flow, Some((&rx, &stop)));
            // The other threads' last counts: the protocol is tended meanwhile,
            // so a stop ordered now still reaches them.
            loop {
                match rx.recv_timeout(WAIT) {
                    Ok(h) => flow.push_from(h.thread, &h.counts),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break, // all done
                }
                if flow.poll(Comm::time()) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            std::iter::once(main)
                .chain(workers.into_iter().map(|w| match w.join() {
                    Ok(tally) => tally,
                    Err(panic) => std::panic::resume_unwind(panic),
                }))
                .collect()
        });
        (tallies, flow.finish())
    }
}

/// The main thread's loop over `mine`: the kernel on each batch, the protocol
/// between batches (with the other threads' handoffs, if any). Time spent
/// moving counts is not compute time.
fn main_loop(
    team: Team,
    mine: &Intervals,
    flow: &mut impl Flow,
    others: Option<(&mpsc::Receiver<Handoff>, &AtomicBool)>,
) -> Tally {
    let mut tally = Tally::default();
    let mut moving = 0.0;
    let t0 = Comm::time();
    let c0 = thread_cpu_seconds();
    let kernel = team.kernel;
    team.streams.walk(team.plan, mine, |batch, lanes, len| {
        let c = kernel.count_inside(lanes, len);
        tally.inside += c;
        tally.counted += 1;
        tally.samples += len;
        tally.first_batch.get_or_insert(batch);
        let t = Comm::time();
        flow.push(c);
        if let Some((rx, _)) = others {
            while let Ok(h) = rx.try_recv() {
                flow.push_from(h.thread, &h.counts);
            }
        }
        let stop = flow.poll(t);
        moving += Comm::time() - t;
        if stop {
            if let Some((_, flag)) = others {
                flag.store(true, Ordering::Relaxed);
            }
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let total = Comm::time() - t0;
    tally.compute = total - moving;
    // CPU time less what the protocol's clocked steps took, then the rest
    // shared pro rata between counting and the unclocked part of moving (the
    // probes between batches): the thread's CPU share is taken to be the same
    // in both. (`moving` is wall time, which includes waiting.)
    let busy = flow.busy();
    let rest = total - busy.wall;
    let share = if rest > 0.0 {
        (tally.compute / rest).min(1.0)
    } else {
        1.0
    };
    tally.cpu_seconds = ((thread_cpu_seconds() - c0 - busy.cpu) * share).max(0.0);
    tally.cpu = current_cpu();
    tally
}

/// Thread `thread`'s loop over `part`, handing its counts to the main thread.
fn worker(
    thread: usize,
    kernel: Kernel,
    plan: &Plan,
    streams: &mut Streams,
    part: &Intervals,
    tx: mpsc::Sender<Handoff>,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let mut counts = Vec::with_capacity(64);
    let mut since_clock = 0;
    let start = Instant::now();
    let c0 = thread_cpu_seconds();
    let mut handed = start;
    let hand = |counts: &mut Vec<u64>| {
        // The next handoff is likely as long as this one.
        let next = Vec::with_capacity(counts.len().max(64));
        let full = std::mem::replace(counts, next);
        // The main thread only stops receiving when the job is ending anyway.
        let _ = tx.send(Handoff {
            thread,
            counts: full,
        });
    };
    streams.walk(plan, part, |batch, lanes, len| {
        let c = kernel.count_inside(lanes, len);
        tally.inside += c;
        tally.counted += 1;
        tally.samples += len;
        tally.first_batch.get_or_insert(batch);
        counts.push(c);
        since_clock += len;
        let due = counts.len() == HANDOFF_COUNTS
            || (since_clock >= CLOCK_SAMPLES && {
                since_clock = 0;
                handed.elapsed().as_secs_f64() >= HANDOFF_SECONDS
            });
        if due {
            hand(&mut counts);
            handed = Instant::now();
        }
        if stop.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    tally.compute = start.elapsed().as_secs_f64();
    tally.cpu_seconds = thread_cpu_seconds() - c0;
    if !counts.is_empty() {
        hand(&mut counts);
    }
    tally.cpu = current_cpu();
    tally
}
