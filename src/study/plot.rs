//! The plot of a study, as SVG: speedup against cores (log–log, with the ideal
//! line from each series' first row) beside parallel efficiency against cores,
//! and, when there are hybrid series, a third panel: their relative speed against
//! threads per rank at fixed cores. One colour per series; oversubscribed points
//! are hollow.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Kind, Row, Series, Sweep};

/// Distinct colours (Tableau 10).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

const FONT: &str = "sans-serif";

/// The SVG document.
pub fn svg(series: &[Series]) -> String {
    let mut out = String::new();
    draw(series, &mut out).expect("drawing into a string cannot fail");
    out
}

/// `2^v` as a count when `v` is (nearly) whole, else no label.
fn pow2_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", 2f64.powi(v.round() as i32))
    } else {
        String::new()
    }
}

/// A drawing area of the SVG.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What drawing returns.
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// The colour of the ideal lines and the notes.
const GREY: RGBColor = RGBColor(120, 120, 120);

/// A series and its place in the list, which picks its colour.
type Numbered<'a> = (usize, &'a Series);

/// The colour of the `i`th series.
fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// Log2 axis limits around `values` (not empty), at least one doubling wide.
fn log2_range(values: impl Iterator<Item = u64>) -> (f64, f64) {
    let (lo, hi) = values.fold((u64::MAX, 1), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let x0 = (lo as f64).log2().floor() - 0.25;
    let x1 = (hi as f64).log2().ceil().max(x0 + 1.0) + 0.25;
    (x0, x1)
}

fn draw(series: &[Series], out: &mut String) -> Drawn {
    let (scaling, hybrid): (Vec<Numbered>, Vec<Numbered>) = series
        .iter()
        .enumerate()
        .partition(|(_, s)| matches!(s.sweep, Sweep::Scaling { .. }));
    let panels = if hybrid.is_empty() { 2 } else { 3 };
    let root = SVGBackend::with_string(out, (550 * panels, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = scaling.iter().map(|(_, s)| s.sweep.name()).collect();
        k.sort();
        k.dedup();
        k
    };
    let mut title = format!("mcpi {} scaling", kinds.join(" and "));
    if !hybrid.is_empty() {
        title.push_str(", hybrid ranks x threads");
    }
    let root = root.titled(&title, (FONT, 22))?;
    let areas = root.split_evenly((1, panels as usize));
    let cores = scaling
        .iter()
        .flat_map(|(_, s)| s.rows.iter().map(|r| r.cores));
    let (x0, x1) = log2_range(cores);
    speedup(&areas[0], &scaling, x0, x1)?;
    efficiency(&areas[1], &scaling, x0, x1)?;
    notes(&areas[1], series)?;
    if let Some(area) = areas.get(2) {
        shapes(area, &hybrid)?;
    }
    root.present()?;
    Ok(())
}

/// A series' points: log2 of `x` of the row, `y` of the row, whether
/// oversubscribed.
fn points(s: &Series, x: fn(&Row) -> u64, y: &dyn Fn(&Row) -> f64) -> Vec<(f64, f64, bool)> {
    s.rows
        .iter()
        .map(|r| ((x(r) as f64).log2(), y(r), r.oversubscribed))
        .collect()
}

/// Ideal speedup of a row: its cores over those of its series' first row.
fn ideal(s: &Series, r: &Row) -> f64 {
    r.cores as f64 / s.rows[0].cores as f64
}

/// Speedup against cores, log2 on both axes; ideal scaling a diagonal through
/// each series' first row (one line per distinct first-row cores).
fn speedup(left: &Area, series: &[Numbered], x0: f64, x1: f64) -> Drawn {
    let all = || {
        series
            .iter()
            .flat_map(|(_, s)| s.rows.iter().map(move |r| (r.speedup, ideal(s, r))))
    };
    let top = all()
        .map(|(s, i)| s.max(i))
        .fold(1.0, f64::max)
        .log2()
        .ceil()
        + 0.25;
    let bottom = all()
        .map(|(s, i)| s.min(i))
        .fold(f64::INFINITY, f64::min)
        .max(1e-3)
        .log2()
        .floor()
        - 0.25;
    let mut chart = ChartBuilder::on(left)
        .caption("speedup (log-log)", (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, bottom..top)?;
    chart
        .configure_mesh()
        .x_desc("cores (ranks x threads)")
        .y_desc("speedup")
        .x_label_formatter(&pow2_label)
        .y_label_formatter(&pow2_label)
        .light_line_style(WHITE)
        .x_labels(((x1 - x0).ceil() as usize + 1).max(3))
        .y_labels(((top - bottom).ceil() as usize + 1).max(3))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    let mut bases: Vec<u64> = series.iter().map(|(_, s)| s.rows[0].cores).collect();
    bases.sort_unstable();
    bases.dedup();
    for (i, c0) in bases.into_iter().enumerate() {
        // y = x - log2 c0, inside the chart.
        let l0 = (c0 as f64).log2();
        let (xa, xb) = (x0.max(bottom + l0), x1.min(top + l0));
        let line = chart.draw_series(DashedLineSeries::new(
            [(xa, xa - l0), (xb, xb - l0)],
            6,
            4,
            GREY.stroke_width(2),
        ))?;
        if i == 0 {
            line.label("ideal").legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], GREY.stroke_width(2))
            });
        }
    }
    for &(i, s) in series {
        let pts = points(s, |r| r.cores, &|r| r.speedup.log2());
        draw_line(&mut chart, &pts, colour(i), Some(s.short_name()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;

    Ok(())
}

/// Parallel efficiency in percent against cores (log2).
fn efficiency(right: &Area, series: &[Numbered], x0: f64, x1: f64) -> Drawn {
    let e_top = series
        .iter()
        .flat_map(|(_, s)| s.rows.iter().map(|r| 100.0 * r.efficiency))
        .fold(100.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(right)
        .caption("parallel efficiency", (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, 0f64..e_top)?;
    chart
        .configure_mesh()
        .x_desc("cores (ranks x threads)")
        .y_desc("efficiency %")
        .x_label_formatter(&pow2_label)
        .x_labels(((x1 - x0).ceil() as usize + 1).max(3))
        .light_line_style(WHITE)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        [(x0, 100.0), (x1, 100.0)],
        6,
        4,
        GREY.stroke_width(2),
    ))?;
    for &(i, s) in series {
        let pts = points(s, |r| r.cores, &|r| 100.0 * r.efficiency);
        draw_line(&mut chart, &pts, colour(i), None)?;
    }
    Ok(())
}

/// Hybrid series: relative speed against threads per rank (log2), the cores
/// fixed along each line; 1 is the speed of its first row.
fn shapes(area: &Area, series: &[Numbered]) -> Drawn {
    let threads = series
        .iter()
        .flat_map(|(_, s)| s.rows.iter().map(|r| r.threads));
    let (x0, x1) = log2_range(threads);
    let top = series
        .iter()
        .flat_map(|(_, s)| s.rows.iter().map(|r| r.speedup))
        .fold(1.0, f64::max)
        * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption("hybrid: fixed cores, ranks x threads", (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("threads per rank (ranks = cores / threads)")
        .y_desc("relative speed")
        .x_label_formatter(&pow2_label)
        .x_labels(((x1 - x0).ceil() as usize + 1).max(3))
        .light_line_style(WHITE)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        [(x0, 1.0), (x1, 1.0)],
        6,
        4,
        GREY.stroke_width(2),
    ))?;
    for &(i, s) in series {
        let pts = points(s, |r| r.threads, &|r| r.speedup);
        draw_line(&mut chart, &pts, colour(i), Some(s.short_name()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Notes under the efficiency chart: what weak speedup means, hollow points.
fn notes(right: &Area, series: &[Series]) -> Drawn {
    let notes: Vec<&str> = [
        series
            .iter()
            .any(|s| {
                matches!(
                    s.sweep,
                    Sweep::Scaling {
                        kind: Kind::Weak,
                        ..
                    }
                )
            })
            .then_some("weak: speedup = throughput gain"),
        series
            .iter()
            .any(|s| s.rows.iter().any(|r| r.oversubscribed))
            .then_some("hollow: oversubscribed (more ranks × threads than CPUs)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (i, note) in notes.iter().enumerate() {
        right.draw(&Text::new(
            note.to_string(),
            (80, 350 - 20 * i as i32),
            (FONT, 14).into_font().color(&GREY),
        ))?;
    }
    Ok(())
}

fn draw_line<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    pts: &[(f64, f64, bool)],
    colour: RGBColor,
    label: Option<String>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let line = chart.draw_series(LineSeries::new(
        pts.iter().map(|&(x, y, _)| (x, y)),
        colour.stroke_width(2),
    ))?;
    if let Some(label) = label {
        line.label(label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
        });
    }
    chart.draw_series(pts.iter().map(|&(x, y, over)| {
        let style = if over {
            colour.stroke_width(2)
        } else {
            colour.filled()
        };
        Circle::new((x, y), 5, style)
    }))?;
    Ok(())
}
