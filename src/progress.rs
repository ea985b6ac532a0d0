//! Progress of the whole job on rank 0's stderr: a live bar on a terminal, plain
//! timestamped lines (every 10% or 30 s) in a batch log, nothing with `--quiet`.
//!
//! Rank 0 learns the other ranks' progress from their per-batch count messages,
//! which they send in smaller pieces while progress is on (at least every
//! [`flush_seconds`]) rather than only when a chunk is full: no other messages, no
//! barriers. Updating costs one clock read per call.
//!
//! The bar is drawn here rather than by indicatif: rank 0 redraws it between
//! its own batches from counts it already holds, with no draw thread, and its
//! line format is the one the logs and tests read.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime};

use crate::clock::iso8601;

/// How often (seconds) a rank other than 0 sends the per-batch counts it holds,
/// under `style` on `ranks` ranks: 0.5 s for a bar, 2 s for lines, and longer
/// beyond 256 ranks, so that rank 0 receives at most ~512 (bar) or ~128 (lines)
/// messages a second; never (only full chunks) without progress.
pub fn flush_seconds(style: Style, ranks: u64) -> f64 {
    let scale = (ranks as f64 / 256.0).max(1.0);
    match style {
        Style::None => f64::INFINITY,
        Style::Bar => 0.5 * scale,
        Style::Auto | Style::Lines => 2.0 * scale,
    }
}

/// In a log, a line at least this often (and at every 10%).
const LINE_EVERY: Duration = Duration::from_secs(30);

/// On a terminal, the bar is redrawn at most this often.
const BAR_EVERY: Duration = Duration::from_millis(200);

/// How progress is shown (`--progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A bar when rank 0's stderr is a terminal, else lines. Launchers (mpirun,
    /// srun) hand the ranks a pipe, so under them this means lines.
    Auto,
    /// A bar redrawn in place.
    Bar,
    /// Timestamped lines.
    Lines,
    /// Nothing (also `--quiet`).
    None,
}

impl std::str::FromStr for Style {
    type Err = String;

    /// `auto`, `bar`, `lines` or `none`.
    fn from_str(text: &str) -> Result<Style, String> {
        match text {
            "auto" => Ok(Style::Auto),
            "bar" => Ok(Style::Bar),
            "lines" => Ok(Style::Lines),
            "none" => Ok(Style::None),
            _ => Err("choose auto, bar, lines or none".into()),
        }
    }
}

impl Style {
    /// `Auto` resolved against this process's stderr.
    pub fn resolve(self) -> Style {
        match self {
            Style::Auto if std::io::stderr().is_terminal() => Style::Bar,
            Style::Auto => Style::Lines,
            other => other,
        }
    }
}

/// Rank 0's progress display for a run of `batches` batches of `batch_size`.
pub struct Progress {
    style: Style,
    batches: u64,
    samples: u64,
    batch_size: u64,
    start: Instant,
    last_shown: Instant,
    /// The last tenth (0..=10) written as a line.
    last_tenth: u64,
    shown_any: bool,
}

impl Progress {
    /// Starts the clock for a run of `samples` in `batches` batches of
    /// `batch_size`.
    pub fn new(style: Style, samples: u64, batches: u64, batch_size: u64) -> Progress {
        let now = Instant::now();
        Progress {
            style: style.resolve(),
            batches,
            samples,
            batch_size,
            start: now,
            last_shown: now.checked_sub(BAR_EVERY).unwrap_or(now), // draw at once
            last_tenth: 0,
            shown_any: false,
        }
    }

    /// Sets a new goal: `batches` in all, holding `samples` (a --target-error
    /// run learns how far it goes round by round).
    pub fn retarget(&mut self, samples: u64, batches: u64) {
        self.samples = samples;
        self.batches = batches;
        self.last_tenth = 0; // lines resume from where the run now stands
    }

    /// Reports that `done` batches are counted on all ranks together.
    pub fn update(&mut self, done: u64) {
        if self.style == Style::None || done >= self.batches {
            return;
        }
        let now = Instant::now();
        let since = now - self.last_shown;
        let line = match self.style {
            Style::Bar if since >= BAR_EVERY => self.bar(done),
            Style::Lines => {
                let tenth = done * 10 / self.batches;
                if tenth > self.last_tenth || since >= LINE_EVERY {
                    self.last_tenth = tenth;
                    self.line(done)
                } else {
                    return;
                }
            }
            _ => return,
        };
        self.last_shown = now;
        self.shown_any = true;
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    /// Ends the display after `done` batches (all, unless a run stops early):
    /// clears the bar, or writes the closing line.
    pub fn finish(&mut self, done: u64) {
        let text = match self.style {
            Style::Bar if self.shown_any => "\r\x1b[2K".to_string(),
            Style::Lines => self.line_at(done, true),
            _ => return,
        };
        let _ = std::io::stderr().write_all(text.as_bytes());
    }

    /// Samples in `done` batches (all full but the run's last).
    fn samples_in(&self, done: u64) -> u64 {
        done.saturating_mul(self.batch_size).min(self.samples)
    }

    /// (fraction done, samples per second, seconds left) after `done` batches.
    fn figures(&self, done: u64) -> (f64, f64, f64) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let counted = self.samples_in(done) as f64;
        let rate = counted / secs;
        let left = if rate > 0.0 {
            (self.samples as f64 - counted) / rate
        } else {
            f64::NAN
        };
        (done as f64 / self.batches as f64, rate, left)
    }

    fn line(&self, done: u64) -> String {
        self.line_at(done, false)
    }

    /// A line after `done` batches; `closing`: the run has ended (done, or
    /// stopped early).
    fn line_at(&self, done: u64, closing: bool) -> String {
        let (frac, rate, left) = self.figures(done);
        let took = duration(self.start.elapsed().as_secs_f64());
        let tail = if done >= self.batches {
            format!("done in {took}")
        } else if closing {
            format!("stopped after {took}")
        } else {
            format!("{} left", duration(left))
        };
        format!(
            "{} mcpi: {:3}% ({done} of {} batches), {:.3e} samples/s, {tail}\n",
            iso8601(SystemTime::now()),
            percent(frac),
            self.batches,
            rate,
        )
    }

    fn bar(&self, done: u64) -> String {
        const WIDTH: usize = 30;
        let (frac, rate, left) = self.figures(done);
        let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
        format!(
            "\r\x1b[2Kmcpi [{}{}] {:3}%  {:.3e}/s  {} left",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            percent(frac),
            rate,
            duration(left)
        )
    }
}

/// Whole percent done, rounded down: 100 only when everything is.
fn percent(frac: f64) -> u64 {
    (100.0 * frac).floor() as u64
}

/// Seconds as `42 s`, `12 min 05 s` or `3 h 02 min`: the rounded, fixed-width
/// form of mcpi's progress lines (humantime's `12m 5s` drops the padding that
/// keeps a log's columns aligned).
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{secs:.0} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(4.4), "4 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3.0 * 3600.0 + 120.0), "3 h 02 min");
        assert_eq!(duration(f64::NAN), "?");
    }

    #[test]
    fn lines_name_the_batches_and_the_end() {
        let p = Progress::new(Style::Lines, 1000, 10, 100);
        let mid = p.line(4);
        assert!(
            mid.contains(" 40% (4 of 10 batches)") && mid.contains("left"),
            "{mid}"
        );
        assert!(
            p.line(9).contains(" 90% ")
                && Progress::new(Style::Lines, 200, 200, 1)
                    .line(199)
                    .contains(" 99% ")
        );
        assert!(p.line_at(3, true).contains("stopped after"));
        let end = p.line(10);
        assert!(
            end.contains("100% (10 of 10 batches)") && end.contains("done in"),
            "{end}"
        );
        let bar = p.bar(5);
        assert!(
            bar.contains(&format!("[{}{}]", "#".repeat(15), "-".repeat(15))),
            "{bar}"
        );
    }
}
