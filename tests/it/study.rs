//! `mcpi study`: real reports grouped into strong and weak series with the right
//! numbers in every view; repeats reduced to medians; configurations never mixed;
//! foreign files and existing outputs refused with the file named.

use std::path::Path;

use serde_json::Value;

use crate::util::{json, mcpi, Run, Scratch};

/// `mcpi study ARGS` in `dir` (a plain process: study needs no MPI).
fn study(args: &[&str], dir: &Path) -> Run {
    let mut all = vec!["study"];
    all.extend_from_slice(args);
    mcpi(None, &all, dir)
}

/// Asserts one `mcpi study: error:` line naming each of `names`, exit status 2.
fn assert_refused(run: &Run, names: &[&str]) {
    assert_eq!(run.status, 2, "{run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("mcpi study: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{run:?}");
    for name in names {
        assert!(
            lines[0].contains(name),
            "'{}' does not name {name}",
            lines[0]
        );
    }
}

/// The CSV's rows as maps from column to cell.
fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            // The stream layout has no commas, so a plain split is exact here.
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), head.len(), "{l}");
            head.iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    row[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key}: {:?}", row[key]))
}

/// A real single-rank report, as JSON, to derive synthetic repeats from.
fn real_report(dir: &Path) -> Value {
    let run = mcpi(
        None,
        &["run", "-q", "--samples", "1e7", "--output", "seed-report"],
        dir,
    );
    assert_eq!(run.status, 0, "{run:?}");
    let report = json(&dir.join("seed-report.json"));
    std::fs::remove_file(dir.join("seed-report.json")).unwrap();
    std::fs::remove_file(dir.join("seed-report.h5")).unwrap();
    report
}

/// Writes `base` with `changes` applied as `dir/name`.
fn write_variant(dir: &Path, name: &str, base: &Value, changes: &[(&str, Value)]) {
    let mut v = base.clone();
    for (k, x) in changes {
        v[*k] = x.clone();
    }
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn strong_and_weak_series_from_real_runs() {
    let dir = Scratch::new("study-real");
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    for ranks in [1usize, 2, 3] {
        let weak_total = (ranks * 200_000_000).to_string();
        for (label, samples) in [("s", "6e8"), ("w", weak_total.as_str())] {
            let out = format!("reports/{label}-n{ranks}");
            let run = mcpi(
                Some(ranks),
                &[
                    "run",
                    "-q",
                    "--samples",
                    samples,
                    "--label",
                    label,
                    "--output",
                    &out,
                ],
                dir.path(),
            );
            assert_eq!(run.status, 0, "{run:?}");
        }
    }
    let run = study(
        &[
            "reports",
            "--csv",
            "t.csv",
            "--markdown",
            "t.md",
            "--plot",
            "t.svg",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.contains("s: strong scaling, 6e8 samples"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("w: weak scaling, 2e8 samples per rank"),
        "{}",
        run.stdout
    );

    // Every CSV row agrees with figures computed here from the reports themselves.
    let rows = csv_rows(&dir.path().join("t.csv"));
    assert_eq!(rows.len(), 6);
    for label in ["s", "w"] {
        let report = |n: u64| json(&reports.join(format!("{label}-n{n}.json")));
        let rate = |r: &Value| r["samples"].as_f64().unwrap() / r["wall_seconds"].as_f64().unwrap();
        let base = rate(&report(1));
        for row in rows.iter().filter(|r| r["label"] == label) {
            let p = num(row, "ranks");
            let r = report(p as u64);
            let speedup = rate(&r) / base;
            let want_kind = if label == "s" { "strong" } else { "weak" };
            assert_eq!(row["kind"], want_kind);
            assert_eq!(num(row, "runs"), 1.0);
            assert_eq!(num(row, "nodes"), 1.0);
            assert_eq!(num(row, "samples"), r["samples"].as_f64().unwrap());
            assert_eq!(num(row, "wall_median"), r["wall_seconds"].as_f64().unwrap());
            assert_eq!(
                num(row, "compute_median"),
                r["compute_seconds"]["max"].as_f64().unwrap()
            );
            assert!(
                (num(row, "speedup") - speedup).abs() < 1e-9 * speedup,
                "{row:?}"
            );
            assert!(
                (num(row, "efficiency") - speedup / p).abs() < 1e-9,
                "{row:?}"
            );
            let karp_flatt = row["serial_fraction"].parse::<f64>().ok();
            if label == "s" && p > 1.0 {
                let want = (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p);
                assert!((karp_flatt.unwrap() - want).abs() < 1e-9, "{row:?}");
            } else {
                assert_eq!(karp_flatt, None, "{row:?}");
            }
            assert_eq!(row["oversubscribed"], r["oversubscribed"].to_string());
        }
    }
    // The reports say whether a host ran more ranks than it has CPUs.
    let cpus = mcpi::host::host_cpus();
    for n in [1u64, 2, 3] {
        let r = json(&reports.join(format!("s-n{n}.json")));
        assert_eq!(r["oversubscribed"], n > cpus, "{n} ranks on {cpus} CPUs");
        assert_eq!(r["label"], "s");
    }

    let md = std::fs::read_to_string(dir.path().join("t.md")).unwrap();
    assert_eq!(
        md.matches("\n### ").count() + usize::from(md.starts_with("### ")),
        2,
        "{md}"
    );
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        2 + 6,
        "{md}"
    );

    let svg = std::fs::read_to_string(dir.path().join("t.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "not an SVG"
    );
    for text in [
        "s (6e8)",
        "w (2e8/rank)",
        "ideal",
        "ranks",
        "speedup",
        "efficiency",
    ] {
        assert!(svg.contains(text), "the plot lacks '{text}'");
    }
    // A marker per row in each of the two panels.
    assert_eq!(svg.matches("<circle").count(), 2 * 6, "markers");
}

#[test]
fn repeats_become_median_and_range() {
    let dir = Scratch::new("study-median");
    let base = real_report(dir.path());
    for (i, (ranks, wall)) in [(1, 3.0), (1, 1.0), (1, 2.0), (4, 0.5), (4, 0.7)]
        .into_iter()
        .enumerate()
    {
        write_variant(
            dir.path(),
            &format!("r{i}.json"),
            &base,
            &[("ranks", ranks.into()), ("wall_seconds", wall.into())],
        );
    }
    // A file named twice (here: in the directory, and by name) is one run.
    let run = study(&[".", "r0.json", "./r1.json", "--csv", "t.csv"], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    let rows = csv_rows(&dir.path().join("t.csv"));
    assert_eq!(rows.len(), 2);
    let (one, four) = (&rows[0], &rows[1]);
    assert_eq!(
        (
            num(one, "runs"),
            num(one, "wall_median"),
            num(one, "wall_min"),
            num(one, "wall_max")
        ),
        (3.0, 2.0, 1.0, 3.0)
    );
    assert_eq!((num(four, "runs"), num(four, "wall_median")), (2.0, 0.6));
    // Same total samples: strong scaling, speedup 2 / 0.6 on 4 ranks.
    assert_eq!(four["kind"], "strong");
    assert!((num(four, "speedup") - 2.0 / 0.6).abs() < 1e-12);
    assert!(run.stdout.contains(" 3.33 "), "{}", run.stdout);
}

#[test]
fn different_configurations_are_never_mixed() {
    let dir = Scratch::new("study-mixed");
    let base = real_report(dir.path());
    let samples = base["samples"].as_u64().unwrap();
    // Totals that are neither the same nor the same per rank: refused, unless the
    // kind is given, which splits them by total.
    write_variant(dir.path(), "a.json", &base, &[]);
    write_variant(
        dir.path(),
        "b.json",
        &base,
        &[("ranks", 2.into()), ("samples", (3 * samples).into())],
    );
    assert_refused(&study(&["."], dir.path()), &["--kind", "a.json"]);
    let split = study(&[".", "--kind", "strong"], dir.path());
    assert_eq!(split.status, 0, "{split:?}");
    assert_eq!(
        split.stdout.matches("strong scaling").count(),
        2,
        "{}",
        split.stdout
    );

    // Another seed or batch size is another series, never a row of this one.
    std::fs::remove_file(dir.path().join("b.json")).unwrap();
    write_variant(
        dir.path(),
        "c.json",
        &base,
        &[("seed", 7.into()), ("ranks", 2.into())],
    );
    write_variant(dir.path(), "d.json", &base, &[("batch_size", 1000.into())]);
    let run = study(&["."], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout.matches("scaling,").count(), 3, "{}", run.stdout);

    // An incomplete run is left out, with a warning naming it.
    write_variant(
        dir.path(),
        "e.json",
        &base,
        &[("complete", false.into()), ("ranks", 8.into())],
    );
    let run = study(&["."], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stderr.contains("e.json: incomplete run left out"),
        "{run:?}"
    );
    assert!(
        !run.stdout.lines().any(|l| l.trim_start().starts_with("8 ")),
        "{}",
        run.stdout
    );
}

#[test]
fn foreign_files_and_existing_outputs_are_refused() {
    let dir = Scratch::new("study-bad");
    let base = real_report(dir.path());
    write_variant(dir.path(), "good.json", &base, &[]);
    let good = std::fs::read_to_string(dir.path().join("good.json")).unwrap();
    std::fs::write(dir.path().join("cut.json"), &good[..good.len() / 2]).unwrap();
    std::fs::write(dir.path().join("other.json"), r#"{"name": "not a report"}"#).unwrap();
    std::fs::write(dir.path().join("text.json"), "hello").unwrap();
    for bad in ["cut.json", "other.json", "text.json", "missing.json"] {
        assert_refused(&study(&["good.json", bad], dir.path()), &[bad]);
    }
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    assert_refused(&study(&["empty"], dir.path()), &["empty", "no .json"]);
    assert_refused(&study(&[], dir.path()), &["PATH"]);

    // Outputs that collide with each other or with an input are refused.
    assert_refused(
        &study(
            &["good.json", "--csv", "x", "--markdown", "./x"],
            dir.path(),
        ),
        &["--markdown", "another output"],
    );
    assert_refused(
        &study(&["good.json", "--csv", "good.json", "--force"], dir.path()),
        &["--csv", "good.json", "being read"],
    );
    assert!(!dir.path().join("x").exists());

    // An existing output is kept without --force, and nothing else is written.
    std::fs::write(dir.path().join("old.svg"), "keep me").unwrap();
    let run = study(
        &["good.json", "--csv", "t.csv", "--plot", "old.svg"],
        dir.path(),
    );
    assert_refused(&run, &["--plot", "old.svg", "--force"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("old.svg")).unwrap(),
        "keep me"
    );
    assert!(!dir.path().join("t.csv").exists());
    let run = study(&["good.json", "--plot", "old.svg", "--force"], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    assert!(std::fs::read_to_string(dir.path().join("old.svg"))
        .unwrap()
        .starts_with("<svg"));
    assert!(
        !dir.files().iter().any(|f| f.contains(".tmp-")),
        "temporary files left: {:?}",
        dir.files()
    );
}
