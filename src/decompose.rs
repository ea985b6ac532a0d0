//! `mcpi plan`'s answer: a run's decomposition — samples into batches, batches
//! into one contiguous share per rank — as text for shell scripts and as JSON,
//! computed without running anything.

use serde::Serialize;

use crate::plan::{share, Plan};

/// How a run of `samples` in batches of `batch_size` is shared over `ranks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decomposition {
    /// Total samples, exactly.
    pub samples: u64,
    /// Samples per batch; the last batch may be shorter.
    pub batch_size: u64,
    /// Number of batches.
    pub batches: u64,
    /// Number of ranks.
    pub ranks: u64,
    /// One share per rank, in rank order.
    pub shares: Vec<Share>,
}

/// One rank's part of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Share {
    /// The rank.
    pub rank: u64,
    /// Its first batch (where its empty range sits, when it has none).
    pub first_batch: u64,
    /// How many batches it counts, from `first_batch` on.
    pub batches: u64,
    /// How many samples those batches hold.
    pub samples: u64,
}

impl Decomposition {
    /// The decomposition of `plan` over `ranks` (at least 1) ranks: the ranges
    /// [`share`] gives, which are the ones a run uses.
    pub fn new(plan: Plan, ranks: u64) -> Decomposition {
        assert!(ranks >= 1);
        let shares = (0..ranks)
            .map(|rank| {
                let range = share(plan.batches, rank, ranks);
                Share {
                    rank,
                    first_batch: range.start,
                    batches: range.end - range.start,
                    samples: plan.samples_in(range),
                }
            })
            .collect();
        Decomposition {
            samples: plan.samples,
            batch_size: plan.batch_size,
            batches: plan.batches,
            ranks,
            shares,
        }
    }

    /// One `key value` line per figure, then one line per rank,
    /// `rank R first_batch B batches N samples S`: every line starts with its
    /// key, so `awk '$1 == "batches" { print $2 }'` reads one value.
    pub fn text(&self) -> String {
        let mut text = format!(
            "samples {}\nbatch_size {}\nbatches {}\nranks {}\n",
            self.samples, self.batch_size, self.batches, self.ranks
        );
        for s in &self.shares {
            text += &format!(
                "rank {} first_batch {} batches {} samples {}\n",
                s.rank, s.first_batch, s.batches, s.samples
            );
        }
        text
    }

    /// The same as a JSON document (pretty, newline-terminated), with the
    /// fields' names.
    pub fn json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("plain integers serialize");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_an_uneven_split() {
        // 101 batches, the last of 5 samples, on 4 ranks: 25, 25, 25 and 26.
        let d = Decomposition::new(Plan::new(1_000_000_005, 10_000_000), 4);
        assert_eq!(
            d.text(),
            "samples 1000000005\n\
             batch_size 10000000\n\
             batches 101\n\
             ranks 4\n\
             rank 0 first_batch 0 batches 25 samples 250000000\n\
             rank 1 first_batch 25 batches 25 samples 250000000\n\
             rank 2 first_batch 50 batches 25 samples 250000000\n\
             rank 3 first_batch 75 batches 26 samples 250000005\n"
        );
    }

    #[test]
    fn json_with_idle_ranks() {
        // 3 batches on 5 ranks: the first two ranks have none.
        let d = Decomposition::new(Plan::new(30, 10), 5);
        let value: serde_json::Value = serde_json::from_slice(&d.json()).unwrap();
        let share = |rank: u64, first: u64, batches: u64, samples: u64| serde_json::json!({"rank": rank, "first_batch": first, "batches": batches, "samples": samples});
        assert_eq!(
            value,
            serde_json::json!({
                "samples": 30,
                "batch_size": 10,
                "batches": 3,
                "ranks": 5,
                "shares": [
                    share(0, 0, 0, 0),
                    share(1, 0, 0, 0),
                    share(2, 0, 1, 10),
                    share(3, 1, 1, 10),
                    share(4, 2, 1, 10),
                ],
            })
        );
        assert!(d.json().ends_with(b"}\n"));
    }
}
