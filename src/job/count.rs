//! The count phase: every rank counts its share of the batches left — once, or
//! in `--target-error` rounds, each decided on the exact count of a prefix of
//! batches (one all-reduce per round, the same on any number of ranks) — while
//! the count protocol moves per-batch counts to rank 0 and stops every rank
//! together on a signal.

use super::team::Team;
use crate::comm::Comm;
use crate::config::Config;
use crate::intervals::Intervals;
use crate::kernel::Kernel;
use crate::plan::part;
use crate::progress::flush_seconds;
use crate::protocol::{Collector, Ledger, Sender};
use crate::rounds::{Rule, Schedule, Standing, Step, TargetOutcome};
use crate::stats::half_width;
use crate::store::Counts;
use crate::stream::Streams;

/// One thread's totals over the rounds of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Samples inside, in this thread's batches.
    pub inside: u64,
    /// Batches this thread counted.
    pub counted: u64,
    /// Samples in them.
    pub samples: u64,
    /// Seconds counting, less the time moving counts.
    pub compute: f64,
    /// CPU seconds counting (the thread's CPU time), less the time moving counts.
    pub cpu_seconds: f64,
    /// The first batch this thread counted.
    pub first_batch: Option<u64>,
    /// The CPU the thread ran on when it finished its last round.
    pub cpu: Option<u32>,
}

impl Tally {
    fn add(&mut self, r: &Tally) {
        self.inside += r.inside;
        self.counted += r.counted;
        self.samples += r.samples;
        self.compute += r.compute;
        self.cpu_seconds += r.cpu_seconds;
        self.first_batch = self.first_batch.or(r.first_batch);
        self.cpu = r.cpu.or(self.cpu);
    }
}

/// What the count phase gave this rank.
#[derive(Clone, Debug)]
pub struct Counted {
    /// Each of this rank's threads' totals, thread 0 (the main thread) first.
    pub threads: Vec<Tally>,
    /// Whether a stop was ordered (the same on every rank).
    pub stopped: bool,
    /// How a `--target-error` run went.
    pub target: Option<TargetOutcome>,
    /// The batches the run set out to count: all, or those its rounds decided on.
    pub used_batches: u64,
}

/// The batches of the first round: everything left, or the first of the
/// `--target-error` rounds.
pub fn first_round(config: &Config, done_before: &Intervals) -> Intervals {
    let plan = config.plan;
    match config.target {
        Some(t) => Intervals::range(0..Schedule::new(t.error, t.confidence, plan).first_end()),
        None => done_before.complement(plan.batches),
    }
}

impl Counted {
    /// The samples inside over this rank's threads.
    pub fn inside(&self) -> u64 {
        self.threads.iter().map(|t| t.inside).sum()
    }
}

/// Counts the batches not in `done_before` (with `--target-error`, its rounds
/// from batch 0) on `threads` threads per rank; `ledger` is rank 0's.
pub fn count(
    comm: &Comm,
    config: &Config,
    kernel: Kernel,
    threads: usize,
    streams: Streams,
    done_before: &Intervals,
    mut ledger: Option<&mut Ledger>,
) -> Counted {
    let first = first_round(config, done_before);
    let ranks = comm.size();
    let workers = ranks * threads as u64;
    if comm.is_root() && first.count() > 0 && first.count() < workers {
        let idle = workers - first.count();
        let (who, idle) = if threads == 1 {
            (format!("{ranks} ranks"), format!("{idle} ranks"))
        } else {
            (
                format!("{ranks} × {threads} threads"),
                crate::placement::counted(idle, "thread"),
            )
        };
        crate::console::eprint_line(&format!(
            "mcpi: warning: {who} for {} batches: {idle} have nothing to count \
             (use a smaller --batch-size)",
            first.count(),
        ));
    }
    let mut counter = Counter {
        comm,
        config,
        kernel,
        threads,
        streams,
    };
    let counted = match config.target {
        None => {
            let (threads, stopped) = counter.round(&first, ledger.as_deref_mut());
            Counted {
                threads,
                stopped,
                target: None,
                used_batches: config.plan.batches,
            }
        }
        Some(t) => {
            let schedule = Schedule::new(t.error, t.confidence, config.plan);
            counter.rounds(&schedule, done_before, ledger.as_deref_mut())
        }
    };
    if let Some(l) = ledger {
        l.progress.finish(l.counted_before);
    }
    counted
}

/// What every round needs.
struct Counter<'a> {
    comm: &'a Comm,
    config: &'a Config,
    kernel: Kernel,
    threads: usize,
    streams: Streams,
}

impl Counter<'_> {
    /// `--target-error`'s rounds, until the target, the maximum or a stop. A
    /// resumed run first replays the rounds over the batches counted before
    /// (rank 0, from its store; every rank learns where it stands), so it goes
    /// on with the same rounds an uninterrupted run counts.
    fn rounds(
        &mut self,
        s: &Schedule,
        done_before: &Intervals,
        mut ledger: Option<&mut Ledger>,
    ) -> Counted {
        let plan = self.config.plan;
        let at = self.standing(s, ledger.as_deref());
        let (mut end, mut next, mut inside, mut rounds) = (at.end, at.next, at.inside, at.rounds);
        let mut tally = vec![Tally::default(); self.threads];
        if let Some(l) = ledger.as_deref_mut() {
            // Progress counts toward `next`, resumed batches included.
            l.counted_before = l.done.count();
        }
        let (rule, half_width, stopped) = match at.stopped {
            Some((rule, h)) => (Some(rule), h, false),
            None => loop {
                if let Some(l) = ledger.as_deref_mut() {
                    l.progress.retarget(plan.samples_in(0..next), next);
                }
                // The round's batches not counted before (all, but when resuming).
                let work = done_before
                    .union(&Intervals::range(0..end))
                    .complement(next);
                let (r, stopped) = self.round(&work, ledger.as_deref_mut());
                tally.iter_mut().zip(&r).for_each(|(sum, t)| sum.add(t));
                rounds += 1;
                inside += self.comm.all_sum(r.iter().map(|t| t.inside).sum());
                end = next;
                if stopped {
                    // The half-width of what rank 0 holds (the other ranks do not report).
                    let done = ledger
                        .as_deref()
                        .map_or(0, |l| plan.samples_in_all(&l.done));
                    break (None, half_width(s.z, inside, done), true);
                }
                match s.after(end, inside) {
                    Step::Stop(rule, h) => break (Some(rule), h, false),
                    Step::Continue(n) => next = n,
                }
            },
        };
        if self.comm.is_root() && rule == Some(Rule::Maximum) {
            crate::console::eprint_line(&format!(
                "mcpi: warning: --target-error {:e} not reached: half-width {half_width:.6e} \
                 at the maximum --samples {}",
                s.error, plan.samples
            ));
        }
        Counted {
            threads: tally,
            stopped,
            target: Some(TargetOutcome {
                error: s.error,
                confidence: s.confidence,
                max_samples: plan.samples,
                stop_rule: rule,
                half_width,
                rounds,
            }),
            used_batches: end,
        }
    }

    /// Where the rounds stand over the batches counted before this run: rank 0
    /// replays them from its store and tells every rank.
    fn standing(&self, s: &Schedule, ledger: Option<&Ledger>) -> Standing {
        let mine = ledger.map(|l| {
            s.replay(&l.done, |r| {
                let mut sum = 0;
                // A store that fails here fails the report too (exit 1).
                let _ = l.store.for_each_chunk(&Intervals::range(r), |_, c| {
                    sum += c.iter().sum::<u64>();
                    Ok(())
                });
                sum
            })
        });
        let flat = mine.map_or(Vec::new(), |a| {
            let (rule, h) = match a.stopped {
                None => (0, 0.0),
                Some((Rule::TargetError, h)) => (1, h),
                Some((Rule::Maximum, h)) => (2, h),
            };
            vec![a.rounds, a.end, a.next, a.inside, rule, f64::to_bits(h)]
        });
        let v = self.comm.broadcast_u64s(flat);
        Standing {
            rounds: v[0],
            end: v[1],
            next: v[2],
            inside: v[3],
            stopped: match v[4] {
                1 => Some((Rule::TargetError, f64::from_bits(v[5]))),
                2 => Some((Rule::Maximum, f64::from_bits(v[5]))),
                _ => None,
            },
        }
    }

    /// Counts this rank's share of `work` (shared out by position over the
    /// ranks, then over each rank's threads), rank 0 as the collector, the
    /// others as senders. Returns each thread's tally and whether a stop was
    /// ordered.
    fn round(&mut self, work: &Intervals, ledger: Option<&mut Ledger>) -> (Vec<Tally>, bool) {
        let (comm, config) = (self.comm, self.config);
        let threads = self.threads as u64;
        let parts: Vec<Intervals> = (0..threads)
            .map(|t| work.slice(part(work.count(), comm.rank(), comm.size(), t, threads)))
            .collect();
        let team = Team {
            kernel: self.kernel,
            plan: &config.plan,
            streams: &mut self.streams,
        };
        match ledger {
            Some(ledger) => team.count(&parts, Collector::new(comm, work, self.threads, ledger)),
            None => {
                let ck = config
                    .checkpoint
                    .as_ref()
                    .map_or(f64::INFINITY, |_| config.checkpoint_interval / 4.0);
                let every = flush_seconds(config.progress, comm.size()).min(ck);
                team.count(&parts, Sender::new(comm, self.threads, every, Comm::time()))
            }
        }
    }
}
