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

/// Writes `base` as a run of `ranks` × `threads` (no `threads` key when
/// `threads` is `None`, as in reports written before `--threads`) with `wall`
/// seconds (compute half of it) and `samples` in all, labelled `mix`.
fn write_shape(
    dir: &Path,
    name: &str,
    base: &Value,
    (ranks, threads): (u64, Option<u64>),
    samples: u64,
    wall: f64,
) {
    let mut v = base.clone();
    let fields = v.as_object_mut().unwrap();
    fields.remove("threads");
    if let Some(t) = threads {
        fields.insert("threads".into(), t.into());
    }
    let half = wall / 2.0;
    for (k, x) in [
        ("ranks", ranks.into()),
        ("samples", samples.into()),
        ("wall_seconds", wall.into()),
        (
            "compute_seconds",
            serde_json::json!({"min": half, "mean": half, "max": half}),
        ),
        ("oversubscribed", false.into()),
        ("label", "mix".into()),
    ] {
        fields.insert(k.into(), x);
    }
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The CSV rows' (kind, ranks, threads, cores, runs, speedup, efficiency,
/// serial fraction), in order.
type Figures = (String, u64, u64, u64, u64, f64, f64, Option<f64>);

fn figures(path: &Path) -> Vec<Figures> {
    csv_rows(path)
        .iter()
        .map(|r| {
            let int = |k: &str| num(r, k) as u64;
            (
                r["kind"].clone(),
                int("ranks"),
                int("threads"),
                int("cores"),
                int("runs"),
                num(r, "speedup"),
                num(r, "efficiency"),
                r["serial_fraction"].parse().ok(),
            )
        })
        .collect()
}

/// Asserts `got` equals `want`, the floats to 1e-12.
fn assert_figures(got: &[Figures], want: &[Figures]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    for (g, w) in got.iter().zip(want) {
        let same = (&g.0, g.1, g.2, g.3, g.4) == (&w.0, w.1, w.2, w.3, w.4)
            && close(g.5, w.5)
            && close(g.6, w.6)
            && match (g.7, w.7) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a == b,
            };
        assert!(same, "row {g:?}, want {w:?}");
    }
}

fn row(kind: &str, shape: (u64, u64), runs: u64, s: f64, e: f64, kf: Option<f64>) -> Figures {
    let (r, t) = shape;
    (kind.into(), r, t, r * t, runs, s, e, kf)
}

#[test]
fn threads_give_a_strong_series_per_threads_and_a_hybrid_series_per_cores() {
    let dir = Scratch::new("study-threads");
    let base = real_report(dir.path());
    assert_eq!(base["threads"], 1, "a report records its threads per rank");
    // 1x1 as written before --threads (no key), 2x1 with the key; 2x2 three times.
    for (name, shape, wall) in [
        ("a-1x1", (1, None), 8.0),
        ("a-2x1", (2, Some(1)), 5.0),
        ("a-1x2", (1, Some(2)), 4.0),
        ("a-2x2-r1", (2, Some(2)), 3.5),
        ("a-2x2-r2", (2, Some(2)), 3.0),
        ("a-2x2-r3", (2, Some(2)), 3.2),
    ] {
        write_shape(
            dir.path(),
            &format!("{name}.json"),
            &base,
            shape,
            10_000_000,
            wall,
        );
    }
    let run = study(
        &[
            ".",
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

    // Same total: strong. One series per threads per rank, speedup and
    // efficiency against its fewest cores; a hybrid series at 2 cores, the
    // only cores with two shapes (2x1 and 1x2), against its 1-thread row.
    assert_figures(
        &figures(&dir.path().join("t.csv")),
        &[
            row("strong", (1, 1), 1, 1.0, 1.0, None),
            row("strong", (2, 1), 1, 1.6, 0.8, Some(0.25)),
            row("strong", (1, 2), 1, 1.0, 1.0, None),
            row("strong", (2, 2), 3, 1.25, 0.625, Some(0.6)),
            row("hybrid", (2, 1), 1, 1.0, 1.0, None),
            row("hybrid", (1, 2), 1, 1.25, 1.25, None),
        ],
    );
    // In order: the scaling series by threads, then the hybrid one; the setting
    // after the comma before `batch` is the same in all three.
    let titles: Vec<(&str, &str)> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("mix: "))
        .map(|l| l.split_once(", batch ").unwrap())
        .collect();
    assert_eq!(
        titles.iter().map(|t| t.0).collect::<Vec<_>>(),
        [
            "mix: strong scaling, 1e7 samples, 1 thread per rank",
            "mix: strong scaling, 1e7 samples, 2 threads per rank",
            "mix: hybrid ranks x threads, 2 cores, 1e7 samples",
        ],
        "{}",
        run.stdout
    );
    let setting = format!(
        "seed {}, kernel {}",
        base["seed"],
        base["kernel"].as_str().unwrap()
    );
    assert!(
        titles.iter().all(|t| t.1.ends_with(&setting)),
        "{}",
        run.stdout
    );

    // The Markdown rows, cell by cell.
    let md = std::fs::read_to_string(dir.path().join("t.md")).unwrap();
    let lines: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    let scaling_head = "| ranks | threads | cores | nodes | runs | samples | wall s (min-max) | \
                        compute s (min-max) | samples/s | speedup | efficiency | serial fraction |";
    let hybrid_head = "| ranks | threads | cores | nodes | runs | wall s (min-max) | \
                       compute s (min-max) | samples/s | relative speed |";
    assert_eq!(
        lines,
        [
            scaling_head,
            "| 1 | 1 | 1 | 1 | 1 | 1e7 | 8.000 (8.000-8.000) | 4.000 (4.000-4.000) | 1.250e6 | 1.00 | 100.0% | - |",
            "| 2 | 1 | 2 | 1 | 1 | 1e7 | 5.000 (5.000-5.000) | 2.500 (2.500-2.500) | 2.000e6 | 1.60 | 80.0% | 0.2500 |",
            scaling_head,
            "| 1 | 2 | 2 | 1 | 1 | 1e7 | 4.000 (4.000-4.000) | 2.000 (2.000-2.000) | 2.500e6 | 1.00 | 100.0% | - |",
            "| 2 | 2 | 4 | 1 | 3 | 1e7 | 3.200 (3.000-3.500) | 1.600 (1.500-1.750) | 3.125e6 | 1.25 | 62.5% | 0.6000 |",
            hybrid_head,
            "| 2 | 1 | 2 | 1 | 1 | 5.000 (5.000-5.000) | 2.500 (2.500-2.500) | 2.000e6 | 1.000 |",
            "| 1 | 2 | 2 | 1 | 1 | 4.000 (4.000-4.000) | 2.000 (2.000-2.000) | 2.500e6 | 1.250 |",
        ],
        "{md}"
    );
    for note in [
        "speedup = throughput / throughput on 1 core, efficiency = speedup / cores,",
        "speedup = throughput / throughput on 2 cores, efficiency = speedup / (cores / 2),",
        "serial fraction: Karp-Flatt, p = cores / 2",
        "relative speed = throughput / throughput of 2 x 1 (ranks x threads)",
    ] {
        assert!(md.contains(note), "no '{note}':\n{md}");
    }

    // The plot: the scaling lines in two panels, the hybrid line in a third.
    let svg = std::fs::read_to_string(dir.path().join("t.svg")).unwrap();
    for text in [
        "mix (1e7)",
        "mix (1e7, 2 threads)",
        "mix (2 cores, 1e7)",
        "cores (ranks x threads)",
        "threads per rank",
        "relative speed",
        "hybrid ranks x threads",
    ] {
        assert!(svg.contains(text), "the plot lacks '{text}'");
    }
    assert_eq!(svg.matches("<circle").count(), 2 * 4 + 2, "markers");

    // No threads is not a report.
    write_shape(
        dir.path(),
        "zero.json",
        &base,
        (1, Some(0)),
        10_000_000,
        1.0,
    );
    assert_refused(
        &study(&["zero.json"], dir.path()),
        &["zero.json", "threads"],
    );
}

#[test]
fn weak_scaling_with_threads_keeps_the_samples_per_core() {
    let dir = Scratch::new("study-threads-weak");
    let base = real_report(dir.path());
    // 1e7 samples per core on 1, 2 and 4 cores, as 1x1, 2x1, 1x2 and 2x2.
    for (name, (r, t), wall) in [
        ("1x1", (1, 1), 4.0),
        ("2x1", (2, 1), 5.0),
        ("1x2", (1, 2), 4.0),
        ("2x2", (2, 2), 4.0),
    ] {
        let samples = 10_000_000 * r * t;
        write_shape(
            dir.path(),
            &format!("{name}.json"),
            &base,
            (r, Some(t)),
            samples,
            wall,
        );
    }
    let run = study(&[".", "--csv", "t.csv"], dir.path());
    assert_eq!(run.status, 0, "{run:?}");
    for title in [
        "mix: weak scaling, 1e7 samples per rank, 1 thread per rank, ",
        "mix: weak scaling, 1e7 samples per core, 2 threads per rank, ",
        "mix: hybrid ranks x threads, 2 cores, 2e7 samples, ",
    ] {
        assert_eq!(run.stdout.matches(title).count(), 1, "{}", run.stdout);
    }
    // Weak speedup is the throughput gain; efficiency divides by the cores' gain.
    assert_figures(
        &figures(&dir.path().join("t.csv")),
        &[
            row("weak", (1, 1), 1, 1.0, 1.0, None),
            row("weak", (2, 1), 1, 1.6, 0.8, None),
            row("weak", (1, 2), 1, 1.0, 1.0, None),
            row("weak", (2, 2), 1, 2.0, 1.0, None),
            row("hybrid", (2, 1), 1, 1.0, 1.0, None),
            row("hybrid", (1, 2), 1, 1.25, 1.25, None),
        ],
    );
}
