//! Held-out transfer as the last step of a search (`[transfer]` in its configuration): the
//! search's best losses and its baselines trained on tasks the search never saw, through the
//! same evaluator, in a transfer run directory inside the search's
//! (`RUN/heldout-grid-gN`, N the generations done, so that a search extended later gets a grid
//! of its own; finished cells are shared between them through `RUN/heldout-cells.jsonl`). The
//! summary then sets each loss's search fitness beside its held-out Δ, with Spearman's rank
//! correlation between the two: whether what the search rewards is what transfers.

use std::path::{Path, PathBuf};

use anyhow::Result;
use lossgp_core::search::{State, spearman};
use serde::Serialize;

use super::SearchFile;
use crate::commands::transfer::{self, TransferReport};

/// The prefix of the held-out grids' folders.
const PREFIX: &str = "heldout-grid-g";

/// The folder of the held-out grid after `generations` generations.
fn folder(dir: &Path, generations: usize) -> PathBuf {
    dir.join(format!("{PREFIX}{generations}"))
}

/// Trains (or resumes) the held-out grid of the search in `dir`, if its configuration has one.
pub fn run(dir: &Path, file: &SearchFile, state: &State, data_dir: Option<&Path>) -> Result<Option<TransferReport>> {
    let Some(grid) = file.heldout_file(dir) else { return Ok(None) };
    if state.hall_of_fame.is_empty() {
        eprintln!("no held-out grid: the hall of fame is empty");
        return Ok(None);
    }
    let out = folder(dir, state.generation);
    std::fs::create_dir_all(&out)?;
    eprintln!("held-out grid of the best {} losses and the baselines in {}", grid.grid.top, out.display());
    transfer::run_file(&out, grid, data_dir).map(Some)
}

/// What the summary says of the held-out grid.
#[derive(Debug, Serialize)]
pub struct HeldOut {
    /// The grid's run directory.
    pub dir: PathBuf,
    /// Whether every cell has finished.
    pub finished: bool,
    /// The columns, `model / dataset`.
    pub columns: Vec<String>,
    /// Each loss in both: the search's fitness and the held-out figures.
    pub losses: Vec<SideBySide>,
    /// Spearman's rank correlation of the search's score with the held-out mean Δ vs cross
    /// entropy, over the losses in both.
    pub spearman: Option<f64>,
}

/// One loss in the search and on the held-out grid.
#[derive(Debug, Serialize)]
pub struct SideBySide {
    /// `best-k` or the baseline's name.
    pub name: String,
    /// What the search ranks by (the mean over its confirmation seeds).
    pub search: f64,
    /// The held-out grid's mean Δ vs cross entropy over its columns (0 for cross entropy).
    pub heldout_delta: Option<f64>,
    /// The mean Δ vs each column's strongest baseline.
    pub heldout_delta_strongest: Option<f64>,
    /// Its mean rank on the grid (1 the best).
    pub mean_rank: Option<f64>,
}

/// The latest held-out grid of the search in `dir` that has a report, beside the search's own
/// figures; none without one.
pub fn summary(dir: &Path, state: &State) -> Result<Option<HeldOut>> {
    let mut grids: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix(PREFIX)?.parse().ok()?;
            Some((n, e.path()))
        })
        .filter(|(_, p)| p.join("report.json").is_file())
        .collect();
    grids.sort();
    let Some((_, grid)) = grids.pop() else { return Ok(None) };
    let report: TransferReport = lossgp_core::json::from_str(&std::fs::read_to_string(grid.join("report.json"))?)?;
    let run = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let analysis = &report.analysis;
    let mut losses = Vec::new();
    for loss in &analysis.losses {
        let search = match loss.name.strip_prefix(&format!("{run}#")).and_then(|k| k.parse::<usize>().ok()) {
            Some(k) => state.hall_of_fame.get(k - 1).map(|i| (format!("best-{k}"), i.score())),
            None => state.baselines.iter().find(|b| b.name == loss.name).map(|b| (b.name.clone(), b.score())),
        };
        if let Some((name, search)) = search {
            let reference = loss.name == analysis.reference;
            losses.push(SideBySide {
                name,
                search,
                heldout_delta: if reference { Some(0.0) } else { loss.mean_difference },
                heldout_delta_strongest: loss.mean_difference_strongest,
                mean_rank: loss.mean_rank,
            });
        }
    }
    let pairs: Vec<(f64, f64)> = losses.iter().filter_map(|l| Some((l.search, l.heldout_delta?))).collect();
    Ok(Some(HeldOut {
        dir: grid,
        finished: report.finished,
        columns: analysis.columns.iter().map(|(model, dataset)| format!("{model} / {dataset}")).collect(),
        spearman: spearman(&pairs),
        losses,
    }))
}

/// The side-by-side table, as text.
pub fn render(out: &mut String, h: &HeldOut) {
    use std::fmt::Write;
    let state = if h.finished { "" } else { " (not finished: partial)" };
    let _ = writeln!(out, "\nheld-out grid{state}: {} ({})", h.dir.display(), h.columns.join(", "));
    let _ = writeln!(
        out,
        "{:>9} {:>9} {:>16} {:>20} {:>9}",
        "", "search", "held-out Δ vs ce", "Δ vs the strongest", "mean rank"
    );
    let points = |d: Option<f64>| d.map_or("–".to_owned(), |d| format!("{:+.2}", 100.0 * d));
    for l in &h.losses {
        let rank = l.mean_rank.map_or("–".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "{:>9} {:>9.4} {:>16} {:>20} {:>9}",
            l.name,
            l.search,
            points(l.heldout_delta),
            points(l.heldout_delta_strongest),
            rank
        );
    }
    let rho = h.spearman.map_or("n/a".to_owned(), |r| format!("{r:.2}"));
    let _ = writeln!(out, "Spearman's rank correlation of the search's score with the held-out Δ: {rho}");
}
