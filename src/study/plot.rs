//! The plot of a study, as SVG: speedup against ranks (log–log, with the ideal
//! line) beside parallel efficiency against ranks, one colour per series;
//! oversubscribed points are hollow.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Kind, Series};

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

/// `2^v` as a rank count when `v` is (nearly) whole, else no label.
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

fn draw(series: &[Series], out: &mut String) -> Drawn {
    let root = SVGBackend::with_string(out, (1100, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = series.iter().map(|s| s.kind.name()).collect();
        k.sort();
        k.dedup();
        k
    };
    let root = root.titled(&format!("mcpi {} scaling", kinds.join(" and ")), (FONT, 22))?;
    let (left, right) = root.split_horizontally(550);
    let ranks = series.iter().flat_map(|s| s.rows.iter().map(|r| r.ranks));
    let (lo, hi) = ranks.fold((u64::MAX, 1), |(lo, hi), r| (lo.min(r), hi.max(r)));
    let x0 = (lo as f64).log2().floor() - 0.25;
    let x1 = (hi as f64).log2().ceil().max(x0 + 1.0) + 0.25;
    speedup(&left, series, x0, x1)?;
    efficiency(&right, series, x0, x1)?;
    notes(&right, series)?;
    root.present()?;
    Ok(())
}

/// A series' points: log2 ranks, `y` of the row, whether oversubscribed.
fn points(s: &Series, y: &dyn Fn(&super::Row) -> f64) -> Vec<(f64, f64, bool)> {
    s.rows
        .iter()
        .map(|r| ((r.ranks as f64).log2(), y(r), r.oversubscribed))
        .collect()
}

/// Speedup against ranks, log2 on both axes, ideal scaling the diagonal.
fn speedup(left: &Area, series: &[Series], x0: f64, x1: f64) -> Drawn {
    let top = series
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.speedup.max(r.ranks as f64)))
        .fold(1.0, f64::max)
        .log2()
        .ceil()
        + 0.25;
    let bottom = series
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.speedup.min(r.ranks as f64)))
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
        .x_desc("ranks")
        .y_desc("speedup")
        .x_label_formatter(&pow2_label)
        .y_label_formatter(&pow2_label)
        .light_line_style(WHITE)
        .x_labels(((x1 - x0).ceil() as usize + 1).max(3))
        .y_labels(((top - bottom).ceil() as usize + 1).max(3))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, x0), (x1, x1)],
            6,
            4,
            GREY.stroke_width(2),
        ))?
        .label("ideal")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREY.stroke_width(2)));
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts = points(s, &|r| r.speedup.log2());
        draw_line(&mut chart, &pts, colour, Some(s.short_name()))?;
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

/// Parallel efficiency in percent against ranks (log2).
fn efficiency(right: &Area, series: &[Series], x0: f64, x1: f64) -> Drawn {
    let e_top = series
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| 100.0 * r.efficiency))
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
        .x_desc("ranks")
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
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        draw_line(
            &mut chart,
            &points(s, &|r| 100.0 * r.efficiency),
            colour,
            None,
        )?;
    }
    Ok(())
}

/// Notes under the efficiency chart: what weak speedup means, hollow points.
fn notes(right: &Area, series: &[Series]) -> Drawn {
    let notes: Vec<&str> = [
        series
            .iter()
            .any(|s| s.kind == Kind::Weak)
            .then_some("weak: speedup = throughput gain"),
        series
            .iter()
            .any(|s| s.rows.iter().any(|r| r.oversubscribed))
            .then_some("hollow: oversubscribed (more ranks than CPUs)"),
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
