//! The picture of a search over several tasks (`tasks.png` and `tasks.svg`): for each task and
//! for their weighted mean, every loss of the hall of fame and every baseline as its paired
//! difference to cross entropy on the confirmation seeds, one dot per seed and a bar at the mean.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::palette::loss_colour;

/// One panel: a task, or the tasks' weighted mean.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub rows: Vec<Row>,
}

/// One loss in a panel: its difference to cross entropy on each confirmation seed, in points
/// (100 × the difference in fitness), paired by seed.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub deltas: Vec<f64>,
}

impl Row {
    fn mean(&self) -> Option<f64> {
        (!self.deltas.is_empty()).then(|| self.deltas.iter().sum::<f64>() / self.deltas.len() as f64)
    }
}

const PANEL_WIDTH: u32 = 360;
const ROW_HEIGHT: u32 = 30;
const CHROME: u32 = 110;

/// Draws `tasks.png` and `tasks.svg` into `dir`; the file names, or none where no panel has a
/// loss with confirmation seeds (nothing to draw yet).
pub fn draw(dir: &Path, panels: &[Panel]) -> Result<Option<[std::path::PathBuf; 2]>> {
    let rows = panels.iter().map(|p| p.rows.len()).max().unwrap_or(0);
    if rows == 0 || panels.iter().all(|p| p.rows.iter().all(|r| r.deltas.is_empty())) {
        return Ok(None);
    }
    let size = (PANEL_WIDTH * panels.len() as u32 + 210, CHROME + ROW_HEIGHT * rows as u32);
    let svg = crate::plot::svg(size, |area| draw_on(area, panels)).context("drawing tasks.svg")?;
    let pixels = crate::plot::pixels(size, |area| draw_on(area, panels)).context("drawing tasks.png")?;
    crate::plot::save(dir, "tasks", &svg, &pixels).map(Some)
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, panels: &[Panel]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            "paired difference to cross entropy on the confirmation seeds (points; dots: seeds, bar: mean)",
            ("sans-serif", 16),
        )
        .map_err(err)?;
    // One scale for every panel, so that a task's gains and losses compare across panels.
    let all = panels.iter().flat_map(|p| p.rows.iter().flat_map(|r| r.deltas.iter().copied()));
    let (low, high) = all.filter(|d| d.is_finite()).fold((0.0f64, 0.0f64), |(l, h), d| (l.min(d), h.max(d)));
    // Room for the values written beside the dots.
    let pad = 0.2 * (high - low).max(0.5);
    let (low, high) = (low - pad, high + pad);
    let labels_width = 210;
    let (labels, plots) = root.split_horizontally(labels_width);
    let areas = plots.split_evenly((1, panels.len()));
    let rows = panels.iter().map(|p| p.rows.len()).max().unwrap_or(0) as i32;
    for (index, (panel, area)) in panels.iter().zip(&areas).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(0)
            .build_cartesian_2d(low..high, (0..rows - 1).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("Δ vs cross entropy (points)")
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:+.1}"))
            .draw()
            .map_err(err)?;
        let y = |i: usize| SegmentValue::CenterOf(rows - 1 - i as i32);
        let zero = vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Last)];
        chart.draw_series(LineSeries::new(zero, BLACK.stroke_width(1))).map_err(err)?;
        for (i, row) in panel.rows.iter().enumerate() {
            let colour = loss_colour(&row.label);
            let dots = row.deltas.iter().map(|&d| Circle::new((d, y(i)), 3, colour.mix(0.45).filled()));
            chart.draw_series(dots).map_err(err)?;
            if let Some(mean) = row.mean() {
                let bar = Rectangle::new([(0.0, y(i)), (mean, y(i))], colour.stroke_width(6));
                chart.draw_series(std::iter::once(bar)).map_err(err)?;
                // The value right of the bar, or left of it where it points left.
                let font = ("sans-serif", 12).into_font();
                let text = format!("{mean:+.2}");
                let (x, offset) = if mean >= 0.0 {
                    (row.deltas.iter().fold(mean, |a, &b| a.max(b)), 6)
                } else {
                    (row.deltas.iter().fold(mean, |a, &b| a.min(b)), -6 - 8 * text.len() as i32)
                };
                let label = EmptyElement::at((x, y(i))) + Text::new(text, (offset, -1), font);
                chart.draw_series(std::iter::once(label)).map_err(err)?;
            }
        }
        // The row names, once, left of the first panel, at the rows' heights.
        if index == 0 {
            for (i, row) in panel.rows.iter().enumerate() {
                let (_, pixel) = chart.backend_coord(&(low, y(i)));
                let (_, top) = labels.get_base_pixel();
                let colour = loss_colour(&row.label);
                let style = ("sans-serif", 14).into_font().color(&colour);
                labels.draw_text(&row.label, &style, (6, pixel - top - 6)).map_err(err)?;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, deltas: &[f64]) -> Row {
        Row { label: label.into(), deltas: deltas.to_vec() }
    }

    #[test]
    fn draws_a_panel_per_task_and_skips_an_empty_search() {
        let dir = tempfile::tempdir().unwrap();
        let panels = vec![
            Panel {
                title: "fashion-plain".into(),
                rows: vec![row("best-1", &[2.0, 1.5, 2.5]), row("ngl", &[2.4, 2.6, 2.5])],
            },
            Panel {
                title: "mnist-bn".into(),
                rows: vec![row("best-1", &[-0.8, -0.7, -0.9]), row("ngl", &[-10.0, -11.0, -10.8])],
            },
        ];
        let files = draw(dir.path(), &panels).unwrap().expect("drawn");
        for file in &files {
            assert!(std::fs::metadata(file).unwrap().len() > 1000, "{} is empty", file.display());
        }
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.contains("mnist-bn") && svg.contains("best-1") && svg.contains("-10.60"), "{svg}");
        let empty = vec![Panel { title: "t".into(), rows: vec![row("best-1", &[])] }];
        assert!(draw(dir.path(), &empty).unwrap().is_none());
    }
}
