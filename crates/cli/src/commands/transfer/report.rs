//! The report of a transfer grid.

use std::path::PathBuf;

use lossgp_core::transfer::{Analysis, Grid};
use serde::{Deserialize, Serialize};

/// What `lossgp transfer` and `lossgp report` print for a transfer run (and `report.json`
/// holds).
#[derive(Debug, Serialize, Deserialize)]
pub struct TransferReport {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Whether every cell has finished.
    pub finished: bool,
    /// Seconds of training over the finished cells.
    pub training_seconds: f64,
    /// The grid's losses, with expressions and weight decay.
    pub grid: Grid,
    /// The statistics.
    pub analysis: Analysis,
    /// The files written.
    pub files: Vec<PathBuf>,
}
