//! Progress on rank 0's stderr: timestamped lines in a log that cover the whole
//! job, a bar redrawn in place on a terminal, silence with --quiet.

use std::process::Command;

use crate::util::{mcpi, Scratch};

/// The percentages of the bars drawn in `text` (bars are `\r`-separated).
fn bar_percents(text: &str) -> Vec<u64> {
    text.split('\r')
        .filter_map(|s| s.strip_prefix("\x1b[2Kmcpi ["))
        .map(|s| {
            let after = &s[s.find(']').unwrap() + 1..];
            after
                .trim_start()
                .split('%')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn rank_0_shows_the_other_ranks_batches() {
    let dir = Scratch::new("progress-ranks");
    // Two ranks with half the batches each: a bar above 50% before the end means
    // rank 0 counted rank 1's batches as they were reported, mid-run (every 0.5 s
    // for a bar; the run takes a few seconds).
    let run = mcpi(
        Some(2),
        &[
            "run",
            "--samples",
            "1e10",
            "--progress",
            "bar",
            "--output",
            "p",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    let percents = bar_percents(&run.stderr);
    assert!(
        percents.iter().any(|&p| p > 50 && p < 100),
        "no bar past rank 0's own half: {percents:?}"
    );
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
}

#[test]
fn lines_in_a_log() {
    let dir = Scratch::new("progress-lines");
    let run = mcpi(
        Some(2),
        &["run", "--samples", "2e9", "--output", "p"],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" mcpi: "))
        .collect();
    assert!(!lines.is_empty(), "no progress lines: {run:?}");
    let mut last = 0u64;
    for line in &lines {
        // 2026-11-21T01:43:27Z mcpi:  10% (20 of 200 batches), 2.512e9 samples/s, 7 s left
        let (stamp, rest) = line.split_once(" mcpi: ").unwrap();
        assert!(
            stamp.len() == 20 && stamp.ends_with('Z') && &stamp[10..11] == "T",
            "{line}"
        );
        let pct: u64 = rest
            .trim_start()
            .split('%')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let done: u64 = rest
            .split('(')
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            rest.contains(" of 200 batches), ") && rest.contains("samples/s"),
            "{line}"
        );
        assert!((pct as f64 - done as f64 / 2.0).abs() <= 0.5, "{line}");
        assert!(done >= last, "progress went back: {lines:?}");
        last = done;
    }
    assert!(
        lines.last().unwrap().contains("100% (200 of 200 batches)"),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().contains("done in"), "{lines:?}");
    // No more than a line per 10% (plus the closing one) on a short run.
    assert!(lines.len() <= 11, "{lines:?}");
}

#[test]
fn quiet_is_silent() {
    let dir = Scratch::new("progress-quiet");
    for (i, flag) in [["--quiet", ""], ["--progress", "none"]].iter().enumerate() {
        let out = format!("q{i}");
        let mut args = vec!["run", "--samples", "4e8", "--output", &out];
        args.extend(flag.iter().filter(|f| !f.is_empty()));
        let run = mcpi(Some(2), &args, dir.path());
        assert_eq!(run.status, 0, "{run:?}");
        assert!(
            !run.stderr.contains(" mcpi: ") && !run.stderr.contains("mcpi ["),
            "{flag:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn bar_on_a_terminal() {
    let dir = Scratch::new("progress-bar");
    let log = dir.path().join("typescript");
    // `script` gives mcpi a pseudo-terminal as stderr, as a user's shell would.
    let cmd = format!(
        "{} run --samples 3e9 --output b",
        env!("CARGO_BIN_EXE_mcpi")
    );
    let status = Command::new("script")
        .args(["-qfec", &cmd])
        .arg(&log)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) from util-linux");
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let bars: Vec<&str> = text
        .split('\r')
        .filter(|s| s.starts_with("\x1b[2Kmcpi ["))
        .collect();
    assert!(!bars.is_empty(), "no bar drawn: {text:?}");
    assert_eq!(bar_percents(&text).len(), bars.len());
    for bar in &bars {
        let inner = &bar["\x1b[2Kmcpi [".len()..];
        let body = &inner[..inner.find(']').unwrap()];
        assert!(
            body.len() == 30 && body.chars().all(|c| c == '#' || c == '-'),
            "{bar:?}"
        );
        assert!(
            bar.contains("% ") && bar.contains("/s") && bar.contains(" left"),
            "{bar:?}"
        );
    }
    // Cleared before the report, and no log lines on a terminal.
    assert!(
        text.contains("\r\x1b[2Kmcpi 0."),
        "bar not cleared before the report: {text:?}"
    );
    assert!(!text.contains(" mcpi:  "), "{text:?}");
}
