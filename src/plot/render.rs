//! Draws a [`Figure`] with plotters, once into an SVG string and once into an RGB buffer, and
//! writes `<stem>.png`, `<stem>.svg` and `<stem>.csv` atomically. One drawing routine per plot
//! kind (lines, bars, heatmap), generic over the backend, so both files show the same thing.
//!
//! Text is set in DejaVu Sans, embedded in the binary (`assets/fonts/`), so figures look the
//! same on machines without system fonts.

use super::figure::{Bars, Figure, Heatmap, Marker, Panel, Plot, Series, Validity};
use crate::store;
use anyhow::{anyhow, Context, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/README.md`).
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every text style asks for; the embedded font is registered under it.
const FONT: &str = "sans-serif";

/// Width of every figure, in pixels.
const WIDTH: u32 = 960;
/// Height of one panel, in pixels.
const PANEL_HEIGHT: u32 = 480;
/// Height of the figure title band, in pixels.
const TITLE_HEIGHT: u32 = 48;
/// Width of a heatmap's colour bar with its labels, in pixels.
const COLOUR_BAR_WIDTH: u32 = 130;

/// Tableau 10: distinct colours in a fixed order, so series i has the same colour everywhere.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Viridis at five stops, interpolated linearly: a perceptually ordered colour scale.
const VIRIDIS: [(f64, f64, f64); 5] = [
    (68.0, 1.0, 84.0),
    (59.0, 82.0, 139.0),
    (33.0, 145.0, 140.0),
    (94.0, 201.0, 98.0),
    (253.0, 231.0, 37.0),
];

/// Margin around every chart, in pixels.
const CHART_MARGIN: u32 = 14;
/// Style of vertical markers.
const MARKER_STYLE: ShapeStyle = ShapeStyle {
    color: RGBAColor(60, 60, 60, 1.0),
    filled: false,
    stroke_width: 1,
};

/// Most tick labels on an axis.
const MAX_TICKS: usize = 12;

/// Font size of legend labels.
const LEGEND_FONT_SIZE: u32 = 14;

/// Colour of cells without data.
const NO_DATA: RGBColor = RGBColor(225, 225, 225);

/// Opacity of the white veil that greys out heatmap rows that are not valid.
const VEIL_OPACITY: f64 = 0.55;
/// Colour of hatch lines.
const HATCH_COLOUR: RGBColor = RGBColor(70, 70, 70);
/// Distance between hatch lines, in pixels.
const HATCH_SPACING: f64 = 9.0;
/// Height of one line of a heatmap's hatching key, in pixels.
const KEY_LINE_HEIGHT: u32 = 22;

/// Colour of series `i`.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded font with plotters (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font cannot be parsed"))
    }
}

/// `stem` with `.ext` appended (a stem may itself contain dots).
fn with_extension(stem: &Path, ext: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(".");
    path.push(ext);
    path.into()
}

/// Writes `figure` to `<out_stem>.png`, `<out_stem>.svg` and its numbers to `<out_stem>.csv`,
/// each atomically; returns the three paths.
pub fn render(figure: &Figure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let size = (
        WIDTH,
        TITLE_HEIGHT + PANEL_HEIGHT * figure.panels.len().max(1) as u32,
    );
    let context = || format!("{}: cannot draw figure {}", out_stem.display(), figure.stem);

    let mut svg = String::new();
    draw(
        figure,
        &SVGBackend::with_string(&mut svg, size).into_drawing_area(),
    )
    .with_context(context)?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    draw(
        figure,
        &BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area(),
    )
    .with_context(context)?;

    let (png_path, svg_path, csv_path) = (
        with_extension(out_stem, "png"),
        with_extension(out_stem, "svg"),
        with_extension(out_stem, "csv"),
    );
    store::write_atomic_with(&png_path, |tmp| {
        image::save_buffer_with_format(
            tmp,
            &pixels,
            size.0,
            size.1,
            image::ColorType::Rgb8,
            image::ImageFormat::Png,
        )
        .with_context(|| format!("{}: cannot write PNG", png_path.display()))
    })?;
    store::write_atomic(&svg_path, svg.as_bytes())?;
    store::write_atomic(&csv_path, figure.to_csv().as_bytes())?;
    Ok(vec![png_path, svg_path, csv_path])
}

/// Draws the title and every panel of `figure` on `root`.
fn draw<DB: DrawingBackend>(figure: &Figure, root: &DrawingArea<DB, Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let body = root.titled(&figure.title, (FONT, 24))?;
    let areas = body.split_evenly((figure.panels.len().max(1), 1));
    // One legend width for the whole figure, so stacked panels share their x axis extent.
    let legends: Vec<Vec<(&str, Swatch)>> = figure.panels.iter().map(legend_entries).collect();
    let mut legend_width = 0;
    for (label, _) in legends.iter().flatten() {
        legend_width = legend_width.max(root.estimate_text_size(label, &legend_style())?.0 + 50);
    }
    for ((panel, area), legend) in figure.panels.iter().zip(&areas).zip(&legends) {
        let area = if panel.title.is_empty() {
            area.clone()
        } else {
            area.titled(&panel.title, (FONT, 16))?
        };
        let area = if legend.is_empty() {
            area
        } else {
            draw_legend(&area, legend, legend_width)?
        };
        match &panel.plot {
            Plot::Lines { series, markers } => draw_lines(&area, panel, series, markers)?,
            Plot::Bars(bars) => draw_bars(&area, panel, bars)?,
            Plot::Heatmap(map) => draw_heatmap(&area, panel, map)?,
        }
    }
    root.present()?;
    Ok(())
}

/// Smallest and largest of `values`, widened by `pad` of the span on each side (by 1 when all
/// values are equal); (0, 1) without values.
fn padded_bounds(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        let margin = pad * (hi - lo);
        (lo - margin, hi + margin)
    }
}

/// A tick label: integers without a decimal point, others with up to three decimals.
fn tick(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A chart builder with the shared margins and label areas.
fn chart_on<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(CHART_MARGIN)
        .x_label_area_size(50)
        .y_label_area_size(70);
    builder
}

/// How a legend entry shows its series.
enum Swatch {
    /// A line in this colour.
    Line(RGBColor),
    /// A filled box in this colour.
    Box(RGBColor),
    /// A dashed black line (a marker).
    Dashed,
}

/// The legend of a panel: its series and markers with their swatches (none for a heatmap,
/// whose colour bar explains it).
fn legend_entries(panel: &Panel) -> Vec<(&str, Swatch)> {
    match &panel.plot {
        Plot::Lines { series, markers } => series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.label.as_str(), Swatch::Line(colour(i))))
            .chain(markers.iter().map(|m| (m.label.as_str(), Swatch::Dashed)))
            .collect(),
        Plot::Bars(bars) => bars
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.label.as_str(), Swatch::Box(colour(i))))
            .collect(),
        Plot::Heatmap(_) => vec![],
    }
}

/// Style of legend labels.
fn legend_style() -> TextStyle<'static> {
    TextStyle::from((FONT, LEGEND_FONT_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center))
}

/// Draws `entries` in the right `width` pixels of `area` (outside the plot, so the legend never
/// hides data) and returns the rest, for the chart.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, Swatch)],
    width: u32,
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let (chart, legend) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(width));
    for (i, (label, swatch)) in entries.iter().enumerate() {
        let y = CHART_MARGIN as i32 + 8 + 22 * i as i32;
        match swatch {
            Swatch::Line(colour) => legend.draw(&PathElement::new(
                vec![(0, y), (24, y)],
                colour.stroke_width(2),
            ))?,
            Swatch::Box(colour) => {
                legend.draw(&Rectangle::new([(5, y - 7), (19, y + 7)], colour.filled()))?
            }
            Swatch::Dashed => {
                for x in [0, 10, 20] {
                    legend.draw(&PathElement::new(vec![(x, y), (x + 5, y)], MARKER_STYLE))?;
                }
            }
        }
        legend.draw(&Text::new(label.to_string(), (32, y), legend_style()))?;
    }
    Ok(chart)
}

/// Lines with interval bands (or whiskers on a lone point), point markers and dashed vertical
/// markers.
fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    series: &[Series],
    markers: &[Marker],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let points = || series.iter().flat_map(|s| &s.points);
    let x = padded_bounds(
        points().map(|p| p.x).chain(markers.iter().map(|m| m.x)),
        0.03,
    );
    let y = panel.y_range.unwrap_or_else(|| {
        padded_bounds(
            points().flat_map(|p| [Some(p.y), p.lo, p.hi]).flatten(),
            0.08,
        )
    });
    // Integer x values (steps, layers) get no ticks between integers.
    let x_ticks = if points().all(|p| p.x.fract() == 0.0) {
        ((x.1 - x.0).floor() as usize + 1).clamp(2, MAX_TICKS)
    } else {
        MAX_TICKS
    };
    let mut chart = chart_on(area).build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = colour(i);
        let intervals: Vec<(f64, f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| Some((p.x, p.lo?, p.hi?)))
            .collect();
        if intervals.len() > 1 {
            let band: Vec<(f64, f64)> = intervals
                .iter()
                .map(|&(x, lo, _)| (x, lo))
                .chain(intervals.iter().rev().map(|&(x, _, hi)| (x, hi)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(
                band,
                colour.mix(0.15).filled(),
            )))?;
        } else {
            chart.draw_series(intervals.iter().map(|&(x, lo, hi)| {
                PathElement::new(vec![(x, lo), (x, hi)], colour.stroke_width(2))
            }))?;
        }
        chart.draw_series(LineSeries::new(
            s.points.iter().map(|p| (p.x, p.y)),
            colour.stroke_width(2),
        ))?;
        chart.draw_series(
            s.points
                .iter()
                .map(|p| Circle::new((p.x, p.y), 3, colour.filled())),
        )?;
    }
    for marker in markers {
        chart.draw_series(DashedLineSeries::new(
            vec![(marker.x, y.0), (marker.x, y.1)],
            6,
            4,
            MARKER_STYLE,
        ))?;
    }
    Ok(())
}

/// An axis over `0..cells` (a cell per bar group or heatmap column/row) with ticks at cell
/// centres, at most `most` of them, always the first: plotters' own numeric axes place ticks
/// at round numbers, and its key-point wrapper loses the formatter the mesh needs.
struct CellAxis {
    cells: usize,
    ticks: Vec<f64>,
}

impl CellAxis {
    fn new(cells: usize, most: usize) -> Self {
        let stride = cells.div_ceil(most.max(1)).max(1);
        CellAxis {
            cells,
            ticks: (0..cells).step_by(stride).map(|i| i as f64 + 0.5).collect(),
        }
    }
}

impl Ranged for CellAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = value / self.cells.max(1) as f64;
        limit.0 + (fraction * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        0.0..self.cells as f64
    }
}

/// The label of the cell a tick at `v` stands in.
fn cell_label<T: ToString>(labels: &[T], v: f64) -> String {
    labels
        .get(v.floor().max(0.0) as usize)
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Font size of the group names under grouped bars: 13, scaled down (to at least 8) so that the
/// longest name fits its group's `group_px` pixels and neighbouring names do not overlap.
fn group_label_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    groups: &[String],
    group_px: f64,
) -> Result<f64>
where
    DB::ErrorType: 'static,
{
    const SIZE: f64 = 13.0;
    let mut widest = 0;
    for group in groups {
        widest = widest.max(
            area.estimate_text_size(group, &(FONT, SIZE).into_text_style(area))?
                .0,
        );
    }
    let fit = if widest == 0 {
        1.0
    } else {
        0.95 * group_px / widest as f64
    };
    Ok((SIZE * fit.min(1.0)).max(8.0))
}

/// Grouped bars with 95% interval whiskers; groups are named on the x axis, series in the legend.
fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    bars: &Bars,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let groups = bars.groups.len().max(1);
    let all_bars = || bars.series.iter().flat_map(|s| s.bars.iter().flatten());
    let y = panel.y_range.unwrap_or_else(|| {
        let top = all_bars().map(|b| b.hi.max(b.value)).fold(0.0, f64::max);
        (0.0, if top > 0.0 { 1.1 * top } else { 1.0 })
    });
    let mut chart = chart_on(area).build_cartesian_2d(CellAxis::new(groups, groups), y.0..y.1)?;
    let group_px = chart.plotting_area().dim_in_pixel().0 as f64 / groups as f64;
    let x_label_size = group_label_size(area, &bars.groups, group_px)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .x_label_style((FONT, x_label_size))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| cell_label(&bars.groups, *v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    // Bars take 80% of a group's width, split evenly between series.
    let slot = 0.8 / bars.series.len().max(1) as f64;
    for (i, s) in bars.series.iter().enumerate() {
        let colour = colour(i);
        let placed: Vec<(f64, f64, f64, f64)> = s
            .bars
            .iter()
            .enumerate()
            .filter_map(|(g, bar)| {
                bar.map(|b| {
                    (
                        g as f64 + 0.1 + (i as f64 + 0.5) * slot,
                        b.value,
                        b.lo,
                        b.hi,
                    )
                })
            })
            .collect();
        let half = 0.45 * slot;
        chart.draw_series(placed.iter().map(|&(c, value, _, _)| {
            Rectangle::new([(c - half, 0.0), (c + half, value)], colour.filled())
        }))?;
        let cap = 0.25 * slot;
        chart.draw_series(placed.iter().map(|&(c, _, lo, hi)| {
            PathElement::new(
                vec![
                    (c - cap, lo),
                    (c + cap, lo),
                    (c, lo),
                    (c, hi),
                    (c - cap, hi),
                    (c + cap, hi),
                ],
                BLACK.stroke_width(1),
            )
        }))?;
    }
    Ok(())
}

/// The viridis colour of `t` in [0, 1] (clamped).
fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let scaled = t * (VIRIDIS.len() - 1) as f64;
    let i = (scaled.floor() as usize).min(VIRIDIS.len() - 2);
    let f = scaled - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + f * (y - x)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Hatch segments over a `width` x `height` pixel box, as pairs of points in pixels from its
/// lower-left corner: `/` lines `HATCH_SPACING` apart, and `\\` lines too when `cross`.
fn hatch_segments(width: f64, height: f64, cross: bool) -> Vec<[(f64, f64); 2]> {
    let mut out = vec![];
    let mut t = -height;
    while t < width {
        // The line x = t + s (s = height above the bottom), clipped to 0 <= x <= width.
        let (s0, s1) = ((-t).max(0.0), height.min(width - t));
        if s1 > s0 {
            out.push([(t + s0, s0), (t + s1, s1)]);
            if cross {
                out.push([(width - t - s0, s0), (width - t - s1, s1)]);
            }
        }
        t += HATCH_SPACING;
    }
    out
}

/// Draws the key of a heatmap's hatching, one line per entry: a hatched swatch and its text.
fn draw_hatch_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    key: &[(Validity, String)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    for (i, (validity, text)) in key.iter().enumerate() {
        let y = KEY_LINE_HEIGHT as i32 * i as i32 + KEY_LINE_HEIGHT as i32 / 2;
        // Swatches line up with the chart's left edge (margin + y label area).
        let (x0, size) = (CHART_MARGIN as i32 + 70, 14);
        area.draw(&Rectangle::new(
            [(x0, y - size / 2), (x0 + size, y + size / 2)],
            NO_DATA.filled(),
        ))?;
        let cross = *validity == Validity::Unknown;
        for [(ax, ay), (bx, by)] in hatch_segments(size as f64, size as f64, cross) {
            let point = |x: f64, h: f64| (x0 + x.round() as i32, y + size / 2 - h.round() as i32);
            area.draw(&PathElement::new(
                vec![point(ax, ay), point(bx, by)],
                HATCH_COLOUR.stroke_width(1),
            ))?;
        }
        area.draw(&Text::new(text.clone(), (x0 + size + 8, y), legend_style()))?;
    }
    Ok(())
}

/// A grid of coloured cells (grey where there is no data) with a colour bar on the right; rows
/// that are not valid are veiled and hatched, with a key above the grid.
fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    map: &Heatmap,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let area = if map.key.is_empty() {
        area.clone()
    } else {
        let (key, rest) = area.split_vertically(KEY_LINE_HEIGHT * map.key.len() as u32);
        draw_hatch_key(&key, &map.key)?;
        rest
    };
    let width = area.dim_in_pixel().0;
    let (grid, scale) = area.split_horizontally(width.saturating_sub(COLOUR_BAR_WIDTH));
    let (columns, rows) = (map.xs.len().max(1), map.ys.len().max(1));
    let mut chart = chart_on(&grid).build_cartesian_2d(
        CellAxis::new(columns, MAX_TICKS),
        CellAxis::new(rows, MAX_TICKS),
    )?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .x_label_formatter(&|v| cell_label(&map.xs, *v))
        .y_label_formatter(&|v| cell_label(&map.ys, *v))
        .draw()?;
    let (lo, hi) = map.value_range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    chart.draw_series(map.cells.iter().enumerate().flat_map(|(row, cells)| {
        cells.iter().enumerate().map(move |(column, cell)| {
            let colour = cell.map_or(NO_DATA, |(v, _)| viridis((v - lo) / span));
            let (x, y) = (column as f64, row as f64);
            Rectangle::new([(x, y), (x + 1.0, y + 1.0)], colour.filled())
        })
    }))?;
    // Hatching in pixels (so lines keep their slope and spacing whatever the cell shape),
    // mapped back to cell units.
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let (x_per_px, y_per_px) = (
        columns as f64 / w.max(1) as f64,
        rows as f64 / h.max(1) as f64,
    );
    for (row, validity) in map.validity.iter().enumerate() {
        if *validity == Validity::Valid {
            continue;
        }
        let y = row as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y), (columns as f64, y + 1.0)],
            WHITE.mix(VEIL_OPACITY).filled(),
        )))?;
        let segments = hatch_segments(w as f64, 1.0 / y_per_px, *validity == Validity::Unknown);
        chart.draw_series(segments.into_iter().map(|[(ax, ay), (bx, by)]| {
            PathElement::new(
                vec![
                    (ax * x_per_px, y + ay * y_per_px),
                    (bx * x_per_px, y + by * y_per_px),
                ],
                HATCH_COLOUR.stroke_width(1),
            )
        }))?;
    }

    let mut bar = ChartBuilder::on(&scale)
        .margin_top(14)
        .margin_bottom(14)
        .margin_right(14)
        .x_label_area_size(50)
        .set_label_area_size(LabelAreaPosition::Right, 70)
        .build_cartesian_2d(0.0..1.0, lo..lo + span)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(map.value_label.as_str())
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 13))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    const STEPS: usize = 100;
    bar.draw_series((0..STEPS).map(|i| {
        let (a, b) = (i as f64 / STEPS as f64, (i + 1) as f64 / STEPS as f64);
        Rectangle::new(
            [(0.0, lo + a * span), (1.0, lo + b * span)],
            viridis((a + b) / 2.0).filled(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::figure::{Bar, BarSeries, Point};

    #[test]
    fn helpers() {
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(1.0 / 3.0), "0.333");
        assert_eq!(padded_bounds([2.0, 4.0].into_iter(), 0.5), (1.0, 5.0));
        assert_eq!(padded_bounds([3.0].into_iter(), 0.5), (2.0, 4.0));
        assert_eq!(padded_bounds(std::iter::empty(), 0.5), (0.0, 1.0));
        assert_eq!(CellAxis::new(5, 16).ticks, [0.5, 1.5, 2.5, 3.5, 4.5]);
        let ticks: Vec<f64> = (0..14).map(|i| 3.0 * i as f64 + 0.5).collect();
        assert_eq!(CellAxis::new(40, 16).ticks, ticks);
        assert_eq!(CellAxis::new(4, 16).map(&1.0, (100, 0)), 75);
        assert_eq!(cell_label(&[7, 9], 1.5), "9");
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(0.5), RGBColor(33, 145, 140));
        // A 20 x 9 box: `/` lines every 9 px, clipped to the box; `\\` lines mirror them.
        assert_eq!(
            hatch_segments(20.0, 9.0, false),
            [
                [(0.0, 0.0), (9.0, 9.0)],
                [(9.0, 0.0), (18.0, 9.0)],
                [(18.0, 0.0), (20.0, 2.0)]
            ]
        );
        for [(ax, ay), (bx, by)] in hatch_segments(20.0, 9.0, true) {
            for (x, y) in [(ax, ay), (bx, by)] {
                assert!(
                    (0.0..=20.0).contains(&x) && (0.0..=9.0).contains(&y),
                    "{x} {y}"
                );
            }
            assert!(((bx - ax).abs() - (by - ay)).abs() < 1e-9, "45 degrees");
        }
    }

    #[test]
    fn writes_png_svg_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let point = |x, y| Point {
            x,
            y,
            lo: Some(y - 5.0),
            hi: Some(y + 5.0),
            n: 10,
        };
        let figure = Figure {
            stem: "t".into(),
            title: "A title".into(),
            panels: vec![
                Panel {
                    title: "lines".into(),
                    x_label: "training step".into(),
                    y_label: "belief rate (%)".into(),
                    y_range: Some((0.0, 100.0)),
                    plot: Plot::Lines {
                        series: vec![Series {
                            label: "negated".into(),
                            points: vec![point(0.0, 10.0), point(5.0, 60.0)],
                        }],
                        markers: vec![Marker {
                            label: "boundary".into(),
                            x: 3.0,
                        }],
                    },
                },
                Panel {
                    title: String::new(),
                    x_label: "claim".into(),
                    y_label: "rate".into(),
                    y_range: None,
                    plot: Plot::Bars(Bars {
                        groups: vec!["all claims".into()],
                        series: vec![BarSeries {
                            label: "base".into(),
                            bars: vec![Some(Bar {
                                value: 2.0,
                                lo: 1.0,
                                hi: 4.0,
                                n: 3,
                            })],
                        }],
                    }),
                },
                Panel {
                    title: "map".into(),
                    x_label: "training step".into(),
                    y_label: "layer".into(),
                    y_range: None,
                    plot: Plot::Heatmap(Heatmap {
                        xs: vec![0, 10],
                        ys: vec![0, 1, 2],
                        cells: vec![vec![Some((0.1, 1)), None]; 3],
                        value_label: "mean P(true)".into(),
                        value_range: (0.0, 1.0),
                        validity: vec![Validity::Valid, Validity::Invalid, Validity::Unknown],
                        key: vec![
                            (Validity::Invalid, "hatched: at chance".into()),
                            (Validity::Unknown, "cross-hatched: unknown".into()),
                        ],
                    }),
                },
            ],
        };
        let written = render(&figure, &dir.path().join("fig.v1")).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["fig.v1.png", "fig.v1.svg", "fig.v1.csv"]);
        let png = std::fs::read(&written[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
        let svg = std::fs::read_to_string(&written[1]).unwrap();
        for text in [
            "A title",
            "training step",
            "belief rate (%)",
            "negated",
            "boundary",
            "all claims",
            "mean P(true)",
            "hatched: at chance",
            "cross-hatched: unknown",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        assert_eq!(
            std::fs::read_to_string(&written[2]).unwrap(),
            figure.to_csv()
        );
    }
}
