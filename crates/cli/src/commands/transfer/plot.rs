//! The transfer plots, one panel per column (datasets down, models across), as PNG and SVG:
//!
//! - `delta`: each loss's paired difference to the reference in points, per seed as dots and
//!   as a mean with its 95% confidence interval, against 0 and the paper's ±0.5 band;
//! - `seeds`: every loss's top-1 accuracy per seed as dots, the mean as a bar.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use lossgp_core::transfer::{Analysis, paper_margin_points};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::TransferReport;
use crate::plot::palette::loss_colour;

const PANEL: (u32, u32) = (420, 300);
const TITLE: u32 = 56;

/// Draws `delta.png`, `delta.svg`, `seeds.png` and `seeds.svg` into `dir`.
pub fn draw(report: &TransferReport, dir: &Path) -> Result<()> {
    let a = &report.analysis;
    let layout = Layout::of(a.columns.len());
    // Wide enough for the caption, whatever the number of panels.
    let size = ((PANEL.0 * layout.across as u32).max(760), TITLE + PANEL.1 * layout.down as u32);
    for kind in [Kind::Delta, Kind::Seeds] {
        let svg = crate::plot::svg(size, |area| draw_on(area, a, kind, layout))
            .with_context(|| format!("drawing {}.svg", kind.name()))?;
        let pixels = crate::plot::pixels(size, |area| draw_on(area, a, kind, layout))
            .with_context(|| format!("drawing {}.png", kind.name()))?;
        crate::plot::save(dir, kind.name(), &svg, &pixels)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Delta,
    Seeds,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Delta => "delta",
            Kind::Seeds => "seeds",
        }
    }
}

/// One loss in a panel: its place on the x axis, its per-seed values, their mean and the
/// mean's 95% interval (points or %).
struct Points {
    x: f64,
    seeds: Vec<f64>,
    mean: Option<f64>,
    interval: Option<[f64; 2]>,
}

/// Panels in reading order, the grid's columns one after another, three across: a grid whose
/// datasets take different models leaves no empty panel.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    across: usize,
    down: usize,
}

impl Layout {
    const ACROSS: usize = 3;

    fn of(panels: usize) -> Layout {
        let across = panels.clamp(1, Self::ACROSS);
        Layout { across, down: panels.div_ceil(across).max(1) }
    }
}

/// A loss's name short enough for an axis: cut in the middle, so that the end that tells
/// search runs' losses apart (`#1`, `#2`) stays.
fn short(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 18 {
        return name.to_owned();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 7..].iter().collect();
    format!("{head}…{tail}")
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, a: &Analysis, kind: Kind, layout: Layout) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (title, body) = root.split_vertically(TITLE);
    let caption = match kind {
        Kind::Delta => [
            format!("top-1 accuracy minus {}'s on the same seed, in points", a.reference),
            format!("dots: seeds; disc and bar: mean and its 95% CI; grey: the paper's ±{:.1}", paper_margin_points()),
        ],
        Kind::Seeds => ["top-1 test accuracy per seed, in %".to_owned(), "dots: seeds; bar: the mean".to_owned()],
    };
    let style = TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let middle = title.dim_in_pixel().0 as i32 / 2;
    for (line, text) in caption.iter().enumerate() {
        title.draw_text(text, &style, (middle, 6 + 22 * line as i32)).map_err(err)?;
    }
    let panels = body.split_evenly((layout.down, layout.across));
    // Losses drawn: all for accuracies, all but the reference for differences.
    let first = usize::from(kind == Kind::Delta);
    let names: Vec<String> = a.losses.iter().skip(first).map(|l| short(&l.name)).collect();
    for (c, (model, dataset)) in a.columns.iter().enumerate() {
        let panel = &panels[c];
        let mut series: Vec<Points> = Vec::new();
        for (i, loss) in a.losses.iter().enumerate().skip(first) {
            let column = &loss.columns[c];
            let x = (i - first) as f64;
            let entry = match (kind, &column.versus) {
                (Kind::Delta, Some(v)) => Points {
                    x,
                    seeds: v.differences.iter().map(|d| 100.0 * d).collect(),
                    mean: Some(100.0 * v.difference.mean),
                    interval: (v.difference.n > 1)
                        .then(|| [100.0 * v.difference.interval[0], 100.0 * v.difference.interval[1]]),
                },
                (Kind::Delta, None) => Points { x, seeds: Vec::new(), mean: None, interval: None },
                (Kind::Seeds, _) => Points {
                    x,
                    seeds: column.per_seed.iter().flatten().map(|v| 100.0 * v).collect(),
                    mean: column.accuracy.as_ref().map(|s| 100.0 * s.mean),
                    interval: None,
                },
            };
            series.push(entry);
        }
        let mut values: Vec<f64> = series
            .iter()
            .flat_map(|p| p.seeds.iter().copied().chain(p.mean).chain(p.interval.iter().flatten().copied()))
            .collect();
        if kind == Kind::Delta {
            values.extend([-paper_margin_points(), paper_margin_points()]);
        }
        let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let (low, high) = if low > high { (0.0, 1.0) } else { (low, high) };
        let pad = 0.1 * (high - low).max(0.5);
        let x_range = -0.6..(names.len() as f64 - 0.4).max(0.6);
        // Names written side by side overlap once they need more room than the panel has: then
        // they stand upright, under a label area as deep as the longest.
        let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as u32;
        let upright = names.iter().map(|n| n.chars().count() as u32 + 1).sum::<u32>() * 7 > panel.dim_in_pixel().0;

        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{dataset} / {model}"), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(if upright { 12 + 7 * longest } else { 40 })
            .y_label_area_size(48)
            .build_cartesian_2d(x_range.clone(), (low - pad)..(high + pad))
            .map_err(err)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(names.len().max(1) * 4 + 1)
            .x_label_formatter(&|x| if upright { String::new() } else { label(x) })
            .x_label_style(("sans-serif", 12))
            .y_label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        if upright {
            // Each name downwards from under its tick (plotters centres rotated labels on it).
            let style = TextStyle::from(("sans-serif", 12).into_font()).transform(FontTransform::Rotate90);
            let (left, top) = panel.get_base_pixel();
            for (i, name) in names.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(i as f64, low - pad));
                panel.draw_text(name, &style, (x - left + 6, y - top + 6)).map_err(err)?;
            }
        }
        if kind == Kind::Delta {
            let m = paper_margin_points();
            let band =
                Rectangle::new([(x_range.start, -m), (x_range.end, m)], RGBColor(200, 200, 200).mix(0.35).filled());
            chart.draw_series(std::iter::once(band)).map_err(err)?;
            chart
                .draw_series(LineSeries::new([(x_range.start, 0.0), (x_range.end, 0.0)], BLACK.stroke_width(1)))
                .map_err(err)?;
        }
        for Points { x, seeds, mean, interval } in &series {
            let colour = loss_colour(&a.losses[*x as usize + first].name);
            let n = seeds.len().max(1) as f64;
            let dots = seeds.iter().enumerate().map(|(s, v)| {
                // Spread the seeds sideways so that equal values stay visible.
                let offset = if n > 1.0 { -0.18 + 0.36 * s as f64 / (n - 1.0) } else { 0.0 };
                Circle::new((x + offset, *v), 3, colour.mix(0.55).filled())
            });
            chart.draw_series(dots).map_err(err)?;
            if let Some([lo, hi]) = interval {
                let whisker = [(*x, *lo), (*x, *hi)];
                chart.draw_series(std::iter::once(PathElement::new(whisker, BLACK.stroke_width(2)))).map_err(err)?;
                for end in [*lo, *hi] {
                    let cap = [(x - 0.08, end), (x + 0.08, end)];
                    chart.draw_series(std::iter::once(PathElement::new(cap, BLACK.stroke_width(2)))).map_err(err)?;
                }
            }
            if let Some(mean) = mean {
                match kind {
                    Kind::Delta => {
                        chart
                            .draw_series(std::iter::once(Circle::new((*x, *mean), 5, colour.filled())))
                            .map_err(err)?;
                    }
                    Kind::Seeds => {
                        let bar = [(x - 0.3, *mean), (x + 0.3, *mean)];
                        chart
                            .draw_series(std::iter::once(PathElement::new(bar, colour.stroke_width(3))))
                            .map_err(err)?;
                    }
                }
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn panels_are_packed_three_across() {
        use super::Layout;
        assert_eq!(Layout::of(1), Layout { across: 1, down: 1 });
        assert_eq!(Layout::of(3), Layout { across: 3, down: 1 });
        assert_eq!(Layout::of(7), Layout { across: 3, down: 3 });
    }

    #[test]
    fn long_names_keep_both_ends() {
        assert_eq!(super::short("ngl"), "ngl");
        assert_eq!(super::short("discovery-multi#1"), "discovery-multi#1");
        assert_eq!(super::short("fashion-mnist-quick#1"), "fashion-mn…quick#1");
        assert_ne!(super::short("fashion-mnist-quick#1"), super::short("fashion-mnist-quick#2"));
    }
}
