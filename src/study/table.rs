//! The tables of a study: aligned text for stdout, Markdown for a paper or a
//! wiki, CSV for a spreadsheet. All three show the same rows and columns.

use std::fmt::Write;

use super::{sci, Kind, Row, Series};

/// Column headings, shared by the three views.
const HEADINGS: [&str; 10] = [
    "ranks",
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

/// A row's cells, formatted; ranks carry a `*` when oversubscribed.
fn cells(row: &Row) -> [String; 10] {
    let span = |s: &super::Summary| format!("{:.3} ({:.3}-{:.3})", s.median, s.min, s.max);
    [
        format!("{}{}", row.ranks, if row.oversubscribed { "*" } else { "" }),
        row.nodes.to_string(),
        row.runs.to_string(),
        sci(row.samples as f64),
        span(&row.wall),
        span(&row.compute),
        format!("{:.3e}", row.samples_per_second),
        format!("{:.2}", row.speedup),
        format!("{:.1}%", 100.0 * row.efficiency),
        row.serial_fraction
            .map_or("-".into(), |f| format!("{f:.4}")),
    ]
}

fn footnotes(series: &Series) -> Vec<String> {
    let p0 = series.rows[0].ranks;
    let base = if p0 == 1 {
        "throughput / throughput on 1 rank".to_string()
    } else {
        format!("{p0} x throughput / throughput on {p0} ranks")
    };
    let mut notes = vec![format!(
        "speedup = {base}, throughput = samples / median wall s{}",
        if series.kind == Kind::Strong {
            "; serial fraction: Karp-Flatt"
        } else {
            ""
        }
    )];
    if series.rows.iter().any(|r| r.oversubscribed) {
        notes.push("* oversubscribed: more ranks than CPUs on a host".into());
    }
    notes
}

/// Aligned columns, one block per series.
pub fn text(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let rows: Vec<[String; 10]> = s.rows.iter().map(cells).collect();
        let widths: Vec<usize> = (0..HEADINGS.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .chain([HEADINGS[c].len()])
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
        line(HEADINGS.to_vec());
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
        let _ = writeln!(out, "### {}\n", s.title());
        let _ = writeln!(out, "| {} |", HEADINGS.join(" | "));
        let _ = writeln!(out, "|{}", "---:|".repeat(HEADINGS.len()));
        for r in &s.rows {
            let _ = writeln!(out, "| {} |", cells(r).join(" | "));
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

/// One CSV row per (series, rank count), with plain numbers.
pub fn csv(series: &[Series]) -> String {
    let mut out = String::from(
        "kind,label,seed,batch_size,stream_layout,kernel,ranks,nodes,runs,samples,\
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
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                s.kind.name(),
                quote(&t.label),
                t.seed,
                t.batch_size,
                quote(&t.stream_layout),
                quote(&t.kernel),
                r.ranks,
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
