//! The search's picture: best and median fitness per generation next to the baselines, and
//! what happened to each generation's offspring, as PNG and SVG.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use lossgp_core::search::{Stage, State};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The font every label is drawn with, embedded so that no system font library is needed
/// (DejaVu Sans Mono; its licence is in `assets/`).
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSansMono.ttf");

const WIDTH: u32 = 960;
const HEIGHT: u32 = 720;

/// Draws `progress.png` and `progress.svg` into `dir`.
pub fn draw(state: &State, dir: &Path) -> Result<()> {
    register_font()?;
    let svg = dir.join("progress.svg");
    draw_on(SVGBackend::new(&svg, (WIDTH, HEIGHT)).into_drawing_area(), state)
        .with_context(|| format!("drawing {}", svg.display()))?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw_on(BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area(), state)
        .context("drawing the PNG")?;
    let png = dir.join("progress.png");
    write_png(&png, &pixels, (WIDTH, HEIGHT)).with_context(|| format!("writing {}", png.display()))
}

pub(crate) fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(anyhow!("the embedded font could not be loaded")) }
}

/// Writes `rgb` pixels (`width` x `height`, 3 bytes each) as a PNG file.
pub(crate) fn write_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(())
}

type Area<DB> = DrawingArea<DB, Shift>;

/// Distinct line colours (Tableau 10).
pub(crate) const COLOURS: [RGBColor; 10] = [
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

/// A baseline's level: its mean and standard deviation over the confirmation seeds, or its
/// fitness on the search's seed without spread.
fn level(baseline: &lossgp_core::search::Baseline) -> (f64, f64) {
    lossgp_core::search::mean_sd(&baseline.confirmed).unwrap_or((baseline.fitness, 0.0))
}

fn draw_on<DB: DrawingBackend>(root: Area<DB>, state: &State) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(HEIGHT / 2);
    let generations = state.history.len().max(1) as f64;

    // Fitness. The axis spans the band where the population lives: the best, the medians above
    // 0 (a median of 0 means half the population has no fitness yet, and would flatten the
    // rest into a line), and the baselines' confirmed levels with their spread.
    let levels: Vec<(f64, f64)> = state.baselines.iter().map(level).collect();
    let mut values: Vec<f64> = state.history.iter().map(|g| g.best).collect();
    values.extend(state.history.iter().map(|g| g.leader).filter(|l| *l > 0.0));
    values.extend(state.history.iter().map(|g| g.median).filter(|m| *m > 0.0));
    values.extend(levels.iter().flat_map(|(m, sd)| [m - sd, m + sd]));
    let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let (low, high) = if low > high {
        (0.0, 1.0)
    } else {
        let pad = 0.08 * (high - low).max(0.01);
        ((low - pad).max(0.0), high + pad)
    };
    let mut chart = ChartBuilder::on(&top)
        .caption("fitness per generation", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..(generations - 1.0).max(1.0), low..high)
        .map_err(err)?;
    let whole = |x: &f64| format!("{x:.0}");
    let labels = (generations as usize).clamp(2, 12);
    chart
        .configure_mesh()
        .x_desc("generation")
        .y_desc("fitness")
        .x_labels(labels)
        .x_label_formatter(&whole)
        .draw()
        .map_err(err)?;
    let series = |f: fn(&lossgp_core::search::GenerationStats) -> f64| {
        state.history.iter().map(move |g| (g.generation as f64, f(g))).collect::<Vec<_>>()
    };
    let colours = COLOURS;
    chart
        .draw_series(LineSeries::new(series(|g| g.best), RED.stroke_width(2)))
        .map_err(err)?
        .label("best")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RED));
    chart
        .draw_series(LineSeries::new(series(|g| g.median), BLUE.stroke_width(2)))
        .map_err(err)?
        .label("median")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE));
    let confirmed: Vec<(f64, f64)> =
        state.history.iter().filter(|g| g.leader > 0.0).map(|g| (g.generation as f64, g.leader)).collect();
    if !confirmed.is_empty() {
        chart
            .draw_series(LineSeries::new(confirmed, BLACK.stroke_width(2)))
            .map_err(err)?
            .label("leader, confirmed mean")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK));
    }
    let right = (generations - 1.0).max(1.0);
    for (i, (baseline, (mean, sd))) in state.baselines.iter().zip(levels).enumerate() {
        let colour = colours[(2 * i + 2) % colours.len()];
        if sd > 0.0 {
            let band = Rectangle::new([(0.0, mean - sd), (right, mean + sd)], colour.mix(0.12).filled());
            chart.draw_series(std::iter::once(band)).map_err(err)?;
        }
        let label = if baseline.confirmed.len() >= 2 {
            format!("{} ({:.4} ± {:.4}, {} seeds)", baseline.name, mean, sd, baseline.confirmed.len())
        } else {
            baseline.name.clone()
        };
        chart
            .draw_series(LineSeries::new(vec![(0.0, mean), (right, mean)], colour.stroke_width(1)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;

    // What happened to the offspring.
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = vec![
        ("new".into(), state.history.iter().map(|g| (g.generation as f64, g.new as f64)).collect()),
        ("trainings".into(), state.history.iter().map(|g| (g.generation as f64, g.evaluations as f64)).collect()),
        ("redrawn: known".into(), state.history.iter().map(|g| (g.generation as f64, g.cache_hits as f64)).collect()),
        ("niches".into(), state.history.iter().map(|g| (g.generation as f64, g.niches as f64)).collect()),
    ];
    if state.history.iter().any(|g| g.confirmations > 0) {
        let points = state.history.iter().map(|g| (g.generation as f64, g.confirmations as f64)).collect();
        lines.push(("confirmations".into(), points));
    }
    for stage in Stage::ALL {
        let counts: Vec<(f64, f64)> = state
            .history
            .iter()
            .map(|g| (g.generation as f64, g.screened.get(&stage).copied().unwrap_or(0) as f64))
            .collect();
        if counts.iter().any(|(_, c)| *c > 0.0) {
            lines.push((format!("redrawn: screened {}", stage.name()), counts));
        }
    }
    // Random trees are mostly screened out: the first generation's redraws can dwarf the rest,
    // so the scale follows the later generations and says what it leaves off.
    let peak = |from: usize| lines.iter().flat_map(|(_, l)| l.iter().skip(from).map(|(_, c)| *c)).fold(1.0, f64::max);
    let (most, caption) = if state.history.len() >= 2 && peak(0) > 3.0 * peak(1) {
        (peak(1), format!("offspring per generation (generation 0 up to {:.0}, off the scale)", peak(0)))
    } else {
        (peak(0), "offspring per generation".to_owned())
    };
    let mut chart = ChartBuilder::on(&bottom)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..(generations - 1.0).max(1.0), 0.0..most * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("generation")
        .y_desc("candidates")
        .x_labels(labels)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in lines.into_iter().enumerate() {
        let colour = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
