//! The search's picture (`progress.png` and `progress.svg`), three panels over the generations
//! with their legends beside them:
//!
//! - **fitness**, zoomed to where the contest is: the best of each generation on the search's
//!   seed, the hall of fame's leader (its mean over the confirmation seeds), and each baseline's
//!   confirmed mean with its 95% confidence interval as a band;
//! - **the population's median**, on a scale of its own (it swings far below the leaders);
//! - **candidates per generation**, stacked: new ones trained, and the draws redrawn because
//!   their loss was known or screening rejected it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use lossgp_core::search::{Baseline, GenerationStats, State};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::legend::{self, Entry, Mark};
use crate::plot::palette::{self, loss_colour};

pub const WIDTH: u32 = 1040;
pub const HEIGHT: u32 = 860;
/// The legends' column, right of the panels.
const LEGEND: u32 = 300;

/// A panel as drawn: its legend and its plotting area in pixels (x and y ranges).
#[derive(Debug, Clone)]
pub struct Drawn {
    pub legend: Vec<Entry>,
    pub area: (Range<i32>, Range<i32>),
}

/// Draws `progress.png` and `progress.svg` into `dir`.
pub fn draw(state: &State, dir: &Path) -> Result<[PathBuf; 2]> {
    let svg = crate::plot::svg((WIDTH, HEIGHT), |area| draw_on(area, state).map(|_| ()))?;
    let pixels = crate::plot::pixels((WIDTH, HEIGHT), |area| draw_on(area, state).map(|_| ()))?;
    crate::plot::save(dir, "progress", &svg, &pixels)
}

/// A baseline's confirmed mean and the 95% interval of it (Student's t), or its fitness on
/// the search's seed without one.
fn level(baseline: &Baseline) -> (f64, Option<[f64; 2]>) {
    match lossgp_core::stats::Summary::new(&baseline.confirmed) {
        Some(s) if baseline.confirmed.len() >= 2 => (s.mean, Some(s.interval)),
        Some(s) => (s.mean, None),
        None => (baseline.fitness, None),
    }
}

/// `[low, high]` of `values` with a margin, or `fallback` where there are none.
fn span(values: impl Iterator<Item = f64>, margin: f64, fallback: (f64, f64)) -> (f64, f64) {
    let (low, high) = values.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
    if low > high {
        return fallback;
    }
    let pad = margin * (high - low).max(0.002);
    (low - pad, high + pad)
}

pub fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, state: &State) -> Result<Vec<Drawn>>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (plots, legends) = root.split_horizontally(WIDTH - LEGEND);
    let (fitness_area, rest) = plots.split_vertically(400);
    let (median_area, offspring_area) = rest.split_vertically(200);
    let history = &state.history;
    let n = history.len().max(1);
    let x_range = -0.5..(n as f64 - 0.5);
    let whole = |x: &f64| if (x - x.round()).abs() < 1e-9 && *x >= 0.0 { format!("{x:.0}") } else { String::new() };
    let ticks = n.min(12) + 1;
    let mut drawn = Vec::new();

    // Fitness, zoomed to the best, the leader and the baselines' intervals.
    let levels: Vec<(f64, Option<[f64; 2]>)> = state.baselines.iter().map(level).collect();
    let leader: Vec<(f64, f64)> =
        history.iter().filter(|g| g.leader > 0.0).map(|g| (g.generation as f64, g.leader)).collect();
    let best: Vec<(f64, f64)> = history.iter().map(|g| (g.generation as f64, g.best)).collect();
    let values = best.iter().chain(&leader).map(|p| p.1).chain(
        levels.iter().flat_map(|(mean, interval)| std::iter::once(*mean).chain(interval.iter().flatten().copied())),
    );
    let (low, high) = span(values, 0.08, (0.0, 1.0));
    let mut chart = ChartBuilder::on(&fitness_area)
        .caption("fitness: best, confirmed leader and baselines", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), low..high)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(ticks)
        .x_label_formatter(&whole)
        .y_desc("fitness")
        .y_label_formatter(&|y| format!("{y:.3}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    let mut entries = Vec::new();
    for (baseline, (mean, interval)) in state.baselines.iter().zip(&levels) {
        let colour = loss_colour(&baseline.name);
        if let Some([lo, hi]) = interval {
            let band = Rectangle::new([(x_range.start, *lo), (x_range.end, *hi)], colour.mix(0.13).filled());
            chart.draw_series(std::iter::once(band)).map_err(err)?;
        }
        let line = [(x_range.start, *mean), (x_range.end, *mean)];
        chart.draw_series(LineSeries::new(line, colour.stroke_width(2))).map_err(err)?;
        let label = match interval {
            Some([lo, hi]) => format!("{} {mean:.4} [{lo:.3}, {hi:.3}]", baseline.name),
            None => format!("{} {mean:.4}", baseline.name),
        };
        entries.push(Entry::new(label, colour, Mark::Line));
    }
    chart.draw_series(LineSeries::new(best.clone(), palette::BEST.stroke_width(4))).map_err(err)?;
    chart.draw_series(best.iter().map(|p| Circle::new(*p, 4, palette::BEST.filled()))).map_err(err)?;
    entries.insert(0, Entry::new("best of the generation (search seed)", palette::BEST, Mark::Line));
    if !leader.is_empty() {
        chart.draw_series(LineSeries::new(leader.clone(), palette::LEADER.stroke_width(2))).map_err(err)?;
        chart.draw_series(leader.iter().map(|p| Circle::new(*p, 3, palette::LEADER.filled()))).map_err(err)?;
        entries.insert(1, Entry::new("leader (confirmed mean)", palette::LEADER, Mark::Line));
    }
    drawn.push(Drawn { legend: entries, area: chart.plotting_area().get_pixel_range() });

    // The median, on its own scale.
    let median: Vec<(f64, f64)> = history.iter().map(|g| (g.generation as f64, g.median)).collect();
    let (low, high) = span(median.iter().map(|p| p.1), 0.1, (0.0, 1.0));
    let mut chart = ChartBuilder::on(&median_area)
        .caption("the population's median fitness", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), low..high)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(ticks)
        .x_label_formatter(&whole)
        .y_labels(4)
        .y_label_formatter(&|y| format!("{y:.3}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(median.clone(), palette::MEDIAN.stroke_width(2))).map_err(err)?;
    chart.draw_series(median.iter().map(|p| Circle::new(*p, 3, palette::MEDIAN.filled()))).map_err(err)?;
    drawn.push(Drawn {
        legend: vec![Entry::new("median of the populations", palette::MEDIAN, Mark::Line)],
        area: chart.plotting_area().get_pixel_range(),
    });

    // Candidates per generation, stacked.
    let stacks: Vec<[usize; 3]> = history.iter().map(|g| [g.new, g.cache_hits, screened(g)]).collect();
    let totals: Vec<usize> = stacks.iter().map(|s| s.iter().sum()).collect();
    // The first generation's random trees are mostly screened out and can dwarf the rest:
    // then the scale follows the later generations, and the clipped bar says its total.
    let later = totals.iter().skip(1).copied().max().unwrap_or(0);
    let top = if totals.len() >= 2 && totals[0] > 3 * later.max(1) {
        later
    } else {
        totals.iter().copied().max().unwrap_or(0)
    };
    let top = (top.max(1) as f64) * 1.15;
    let mut chart = ChartBuilder::on(&offspring_area)
        .caption("candidates per generation", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(ticks)
        .x_label_formatter(&whole)
        .x_desc("generation")
        .y_labels(5)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    let colours = [palette::NEW, palette::KNOWN, palette::SCREENED];
    for (g, stack) in stacks.iter().enumerate() {
        let mut floor = 0.0;
        for (part, colour) in stack.iter().zip(colours) {
            let ceiling = (floor + *part as f64).min(top);
            if ceiling > floor {
                let bar = Rectangle::new([(g as f64 - 0.35, floor), (g as f64 + 0.35, ceiling)], colour.filled());
                chart.draw_series(std::iter::once(bar)).map_err(err)?;
            }
            floor = ceiling;
        }
        if totals[g] as f64 > top {
            let label = EmptyElement::at((g as f64, top))
                + Text::new(format!("{} ▲", totals[g]), (-14, 2), ("sans-serif", 12).into_font());
            chart.draw_series(std::iter::once(label)).map_err(err)?;
        }
    }
    drawn.push(Drawn {
        legend: vec![
            Entry::new("new: trained", palette::NEW, Mark::Bar),
            Entry::new("known: drawn again", palette::KNOWN, Mark::Bar),
            Entry::new("screened out: drawn again", palette::SCREENED, Mark::Bar),
        ],
        area: chart.plotting_area().get_pixel_range(),
    });

    // The legends, each level with its panel.
    for panel in &drawn {
        legend::draw(&legends, panel.area.1.start, None, &panel.legend)?;
    }
    root.present().map_err(err)?;
    Ok(drawn)
}

/// Draws the generation drew again because screening rejected them.
fn screened(g: &GenerationStats) -> usize {
    g.screened.values().sum()
}

#[cfg(test)]
mod tests {
    use lossgp_core::search::{Baseline, GenerationStats, Stage, State};

    use super::*;

    fn state() -> State {
        let ce = lossgp_core::Loss::resolve("ce").unwrap();
        let ngl = lossgp_core::Loss::resolve("ngl").unwrap();
        let baseline = |name: &str, loss, confirmed: &[f64]| Baseline {
            name: name.into(),
            loss,
            fitness: confirmed[0],
            confirmed: confirmed.to_vec(),
            per_task: Vec::new(),
            tuning: None,
        };
        let history = (0..8)
            .map(|g| GenerationStats {
                generation: g,
                best: 0.826 + 0.002 * g as f64,
                median: 0.60 + 0.02 * g as f64,
                leader: if g == 0 { 0.0 } else { 0.830 + 0.001 * g as f64 },
                new: 15,
                offspring: 15,
                cache_hits: 20 + g,
                screened: [(Stage::Independent, if g == 0 { 470 } else { 30 })].into_iter().collect(),
                ..GenerationStats::default()
            })
            .collect();
        State {
            history,
            baselines: vec![baseline("ce", ce, &[0.80, 0.82, 0.79]), baseline("ngl", ngl, &[0.83, 0.84, 0.82])],
            format: lossgp_core::search::record::FORMAT,
            task: "t".into(),
            settings: String::new(),
            generation: 8,
            islands: Vec::new(),
            hall_of_fame: Vec::new(),
        }
    }

    #[test]
    fn every_legend_swatch_colour_appears_in_its_panel() {
        let state = state();
        let mut panels = Vec::new();
        let pixels = crate::plot::pixels((WIDTH, HEIGHT), |area| {
            panels = draw_on(area, &state)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(panels.len(), 3);
        for panel in &panels {
            let (x, y) = &panel.area;
            for entry in &panel.legend {
                assert!(
                    pixels.contains(entry.colour, (x.start as u32, y.start as u32), (x.end as u32, y.end as u32)),
                    "`{}` is in the legend, but its colour {:?} is nowhere in its panel",
                    entry.label,
                    entry.colour
                );
            }
            // And the legend lies beside the data, never over it.
            assert!(x.end <= (WIDTH - LEGEND) as i32);
        }
        // The fitness panel is zoomed to the contest: the median (0.60 to 0.74) is not in it.
        let svg = crate::plot::svg((WIDTH, HEIGHT), |area| draw_on(area, &state).map(|_| ())).unwrap();
        assert!(
            svg.contains("leader (confirmed mean)") && svg.contains("505 ▲"),
            "the clipped first bar says its total"
        );
    }

    #[test]
    fn a_search_with_no_generation_yet_still_draws() {
        let state = State { history: Vec::new(), ..state() };
        let dir = tempfile::tempdir().unwrap();
        let [png, svg] = draw(&state, dir.path()).unwrap();
        assert!(std::fs::metadata(png).unwrap().len() > 1000 && std::fs::metadata(svg).unwrap().len() > 1000);
    }
}
