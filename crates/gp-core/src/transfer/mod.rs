//! Transfer: the paper's second half. The losses a search found are trained again, next to
//! cross entropy and other references, on other models and datasets and over several seeds,
//! and compared with cross entropy cell by cell.
//!
//! A [`Grid`] is losses × columns (a model on a dataset with its training settings) × seeds;
//! each cell is one training run ([`GridFitness`]), handed to any
//! [`Evaluator`](crate::search::Evaluator) the search uses, and recorded in a crash-safe
//! [`Ledger`] as it finishes, so that a killed grid resumes without training a cell twice.
//! [`analyse`] turns the cells into the paper's table with its statistics.

mod analysis;
mod fitness;
mod grid;
mod ledger;
mod run;

pub use crate::stats::ALPHA;
pub use analysis::{
    Analysis, ColumnResult, Comparison, Counts, LossAnalysis, NOISE_AWARE_RULE, PAPER_RULE, analyse,
    paper_margin_points,
};
pub use fitness::{ColumnTraining, GridFitness};
pub use grid::{Cell, Column, Contender, Grid};
pub use ledger::{CELLS, CellRecord, FAILURES, Failure, Ledger};
pub use run::{GridEvent, TransferError, run_grid};
