//! The tables of a study: aligned text for stdout, Markdown for a paper or a
//! wiki, CSV for a spreadsheet. All three show the same rows; the text and
//! Markdown tables of a hybrid series show its relative speed in place of
//! speedup, efficiency and serial fraction.

use std::fmt::Write;

use super::{sci, Kind, Row, Series, Summary, Sweep};

/// Column headings of a scaling series.
const SCALING: [&str; 12] = [
    "ranks",
    "threads",
    "cores",
    "nodes",
    "runs",
    "samples",
    "wall s (min-max)",
    "compute s (min-max)",
    "samples/s",
    "speedup",
    "efficiency",
    "serial fraction",
];

/// Column headings of a hybrid series (its samples are in its title).
const HYBRID: [&str; 9] = [
    "ranks",
    "threads",
    "cores",
    "nodes",
    "runs",
    "wall s (min-max)",
    "compute s (min-max)",
    "samples/s",
    "relative speed",
];

/// The column headings of `series`.
fn headings(series: &Series) -> &'static [&'static str] {
    match series.sweep {
        Sweep::Scaling { .. } => &SCALING,
        Sweep::Hybrid { .. } => &HYBRID,
    }
}

/// A row's cells under [`headings`], formatted; ranks carry a `*` when
/// oversubscribed.
fn cells(series: &Series, row: &Row) -> Vec<String> {
    let span = |s: &Summary| format!("{:.3} ({:.3}-{:.3})", s.median, s.min, s.max);
    let mut cells = vec![
        format!("{}{}", row.ranks, if row.oversubscribed { "*" } else { "" }),
        row.threads.to_string(),
        row.cores.to_string(),
        row.nodes.to_string(),
        row.runs.to_string(),
    ];
    match series.sweep {
        Sweep::Scaling { .. } => {
            cells.extend([
                sci(row.samples as f64),
                span(&row.wall),
                span(&row.compute),
                format!("{:.3e}", row.samples_per_second),
                format!("{:.2}", row.speedup),
                format!("{:.1}%", 100.0 * row.efficiency),
                row.serial_fraction
                    .map_or("-".into(), |f| format!("{f:.4}")),
            ]);
        }
        Sweep::Hybrid { .. } => {
            cells.extend([
                span(&row.wall),
                span(&row.compute),
                format!("{:.3e}", row.samples_per_second),
                format!("{:.3}", row.speedup),
            ]);
        }
    }
    cells
}

/// `1 core`, `4 cores`.
fn cores_text(cores: u64) -> String {
    format!("{cores} core{}", if cores == 1 { "" } else { "s" })
}

/// What the figures mean, against which row, and what `*` marks.
fn footnotes(series: &Series) -> Vec<String> {
    let base = &series.rows[0];
    let c0 = base.cores;
    let throughput = "throughput = samples / median wall s";
    let first = match series.sweep {
        Sweep::Scaling { kind, .. } => {
            let (per, karp_flatt) = if c0 == 1 {
                ("cores".to_string(), "Karp-Flatt".to_string())
            } else {
                (
                    format!("(cores / {c0})"),
                    format!("Karp-Flatt, p = cores / {c0}"),
                )
            };
            format!(
                "speedup = throughput / throughput on {}, efficiency = speedup / {per}, \
                 {throughput}{}",
                cores_text(c0),
                if kind == Kind::Strong {
                    format!("; serial fraction: {karp_flatt}")
                } else {
                    String::new()
                }
            )
        }
        Sweep::Hybrid { .. } => format!(
            "relative speed = throughput / throughput of {} x {} (ranks x threads), {throughput}",
            base.ranks, base.threads
        ),
    };
    let mut notes = vec![first];
    if series.rows.iter().any(|r| r.oversubscribed) {
        notes.push("* oversubscribed: more ranks × threads than CPUs on a host".into());
    }
    notes
}

/// Aligned columns, one block per series.
pub fn text(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let head = headings(s);
        let rows: Vec<Vec<String>> = s.rows.iter().map(|r| cells(s, r)).collect();
        let widths: Vec<usize> = (0..head.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .chain([head[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(out, "{}", s.title());
        let mut line = |cols: Vec<&str>| {
            let text: Vec<String> = cols
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            let _ = writeln!(out, "  {}", text.join("  "));
        };
        line(head.to_vec());
        for r in &rows {
            line(r.iter().map(String::as_str).collect());
        }
        for note in footnotes(s) {
            let _ = writeln!(out, "  {note}");
        }
        out.push('\n');
    }
    out
}

/// One Markdown table per series, under a heading.
pub fn markdown(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let head = headings(s);
        let _ = writeln!(out, "### {}\n", s.title());
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---:|".repeat(head.len()));
        for r in &s.rows {
            let _ = writeln!(out, "| {} |", cells(s, r).join(" | "));
        }
        out.push('\n');
        for note in footnotes(s) {
            // A leading `*` would start a Markdown list.
            let note = note
                .strip_prefix('*')
                .map_or(note.clone(), |n| format!("\\*{n}"));
            let _ = writeln!(out, "{note}  ");
        }
        out.push('\n');
    }
    out
}

/// One CSV row per (series, row), with plain numbers. `kind` is `strong`,
/// `weak` or `hybrid`; a hybrid row's `speedup` is its relative speed (and its
/// `efficiency` the same, its cores being the first row's).
pub fn csv(series: &[Series]) -> String {
    let mut out = String::from(
        "kind,label,seed,batch_size,stream_layout,kernel,ranks,threads,cores,nodes,runs,samples,\
         wall_median,wall_min,wall_max,compute_median,compute_min,compute_max,\
         samples_per_second,speedup,efficiency,serial_fraction,oversubscribed\n",
    );
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for s in series {
        let t = &s.setting;
        for r in &s.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                s.sweep.name(),
                quote(&t.label),
                t.seed,
                t.batch_size,
                quote(&t.stream_layout),
                quote(&t.kernel),
                r.ranks,
                r.threads,
                r.cores,
                r.nodes,
                r.runs,
                r.samples,
                r.wall.median,
                r.wall.min,
                r.wall.max,
                r.compute.median,
                r.compute.min,
                r.compute.max,
                r.samples_per_second,
                r.speedup,
                r.efficiency,
                r.serial_fraction.map_or(String::new(), |f| f.to_string()),
                r.oversubscribed
            );
        }
    }
    out
}
