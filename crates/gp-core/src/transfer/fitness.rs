//! Training a cell: the [`Fitness`] of a transfer grid, so that the grid's cells run on any
//! [`Evaluator`](crate::search::Evaluator) the search runs on (threads, worker processes, a
//! cluster).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::grid::{Cell, Grid};
use crate::backend::DynBackend;
use crate::data::Dataset;
use crate::evaluation::{EvalError, Fitness, Job, Scored};
use crate::model::{ModelSpec, build_model};
use crate::train::{Status, TrainConfig, TrainData, TrainReport, train};

/// What a column trains: a model of the zoo on a dataset, tested on its test split.
pub struct ColumnTraining {
    /// The backend.
    pub backend: DynBackend,
    /// The model's name in the zoo.
    pub model: String,
    /// Its input, classes, options, and the seed of seed 0's weights.
    pub spec: ModelSpec,
    /// The training samples.
    pub train: Arc<dyn Dataset>,
    /// The test samples, evaluated once at the end of each run: the cell's result.
    pub test: Arc<dyn Dataset>,
    /// The training settings; `seed` is seed 0's.
    pub config: TrainConfig,
}

/// The fitness of a grid's cells. A job is a cell: its [`id`](Job::id) is the cell's index in
/// [`Grid::cells`], and its loss must be the cell's (a worker that rebuilt another grid fails
/// the job rather than train the wrong cell). The result's fitness is the top-1 test accuracy
/// of the trained model (0 for a run that diverged); its metrics add `top5` (more than five
/// classes) and `mean_iou` (segmentation), `validation_accuracy` where the settings hold data out, `steps` and
/// `seconds`.
///
/// Seed `s` trains with `[train] seed + s` and builds the model with the spec's seed `+ s`:
/// every contender of a (column, seed) starts from the same weights and sees the same
/// batches, so that only the loss differs.
pub struct GridFitness {
    grid: Grid,
    columns: Vec<ColumnTraining>,
}

impl GridFitness {
    /// The fitness of `grid`, one [`ColumnTraining`] per column, in order.
    pub fn new(grid: Grid, columns: Vec<ColumnTraining>) -> Result<GridFitness, String> {
        if columns.len() != grid.columns.len() {
            return Err(format!("{} columns to train for a grid of {}", columns.len(), grid.columns.len()));
        }
        for (column, training) in grid.columns.iter().zip(&columns) {
            let has_validation = training.config.validation_fraction > 0.0;
            training
                .config
                .validate(has_validation)
                .map_err(|e| format!("{} on {}: {e}", column.model, column.dataset))?;
        }
        Ok(GridFitness { grid, columns })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The settings a cell trains with: its column's, its seed, and its loss's own weight
    /// decay where the column's settings give none.
    pub fn cell_config(&self, cell: &Cell) -> TrainConfig {
        let base = &self.columns[cell.column].config;
        let mut config = TrainConfig { seed: base.seed.wrapping_add(cell.seed as u64), ..base.clone() };
        if let Some(decay) = self.grid.contenders[cell.contender].weight_decay
            && config.optimizer.weight_decay() == 0.0
        {
            config.optimizer = config.optimizer.with_weight_decay(decay as f32);
        }
        config
    }

    /// Trains one cell.
    pub fn train_cell(&self, cell: &Cell) -> Result<TrainReport, String> {
        let column = &self.columns[cell.column];
        let spec = ModelSpec { seed: column.spec.seed.wrapping_add(cell.seed as u64), ..column.spec.clone() };
        let mut model = build_model(&column.model, &column.backend, &spec).map_err(|e| e.to_string())?;
        let data =
            TrainData { train: Arc::clone(&column.train), validation: None, test: Some(Arc::clone(&column.test)) };
        let loss = &self.grid.contenders[cell.contender].loss;
        train(&column.backend, model.as_mut(), loss, &data, &self.cell_config(cell), &mut |_| {})
            .map_err(|e| e.to_string())
    }
}

impl Fitness for GridFitness {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let cell = self
            .grid
            .cell(job.id)
            .ok_or_else(|| EvalError::permanent(format!("job {} is not a cell of this grid", job.id)))?;
        if job.loss != self.grid.contenders[cell.contender].loss {
            return Err(EvalError::permanent(format!(
                "job {} trains {} where this grid's cell has {}: the worker read another grid",
                job.id, job.loss, self.grid.contenders[cell.contender].loss
            )));
        }
        let report = self.train_cell(&cell).map_err(EvalError::transient)?;
        if let Some(e) = &report.test_error {
            return Err(EvalError::transient(format!("the test split could not be evaluated: {e}")));
        }
        Ok(scored(&report, self.columns[cell.column].spec.classes))
    }

    fn task(&self) -> String {
        let columns: Vec<&str> = self.grid.columns.iter().map(|c| c.fingerprint.as_str()).collect();
        format!("transfer grid: {}", columns.join(" ; "))
    }
}

/// A run's result as a cell's: the test metrics, how it ended, and what it cost. Top-5
/// accuracy only where there are more than five classes (else it is 1 whatever the model).
fn scored(report: &TrainReport, classes: usize) -> Scored {
    let failed = matches!(report.status, Status::Diverged { .. } | Status::Untrainable { .. });
    let status = report.status.name();
    let mut metrics = BTreeMap::new();
    // A run that diverged scores the worst on every measure its column has.
    let worst = |value: f64| if failed { 0.0 } else { value };
    if let Some(test) = &report.test {
        if let Some(top5) = test.top5.filter(|_| classes > 5) {
            metrics.insert("top5".to_owned(), worst(top5));
        }
        if let Some(iou) = test.mean_iou {
            metrics.insert("mean_iou".to_owned(), worst(iou));
        }
        if !failed {
            metrics.insert("test_loss".to_owned(), test.loss);
        }
    }
    if let Some((_, validation)) = &report.best_validation {
        metrics.insert("validation_accuracy".to_owned(), validation.accuracy);
    }
    metrics.insert("steps".to_owned(), report.steps as f64);
    metrics.insert("seconds".to_owned(), report.seconds);
    Scored { fitness: report.test.as_ref().map_or(0.0, |t| worst(t.accuracy)), metrics, status: status.to_owned() }
}
