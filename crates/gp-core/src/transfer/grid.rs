//! The grid of a transfer study: losses × columns (a model on a dataset, with its training
//! settings) × seeds, each combination one training run (a *cell*).

use serde::{Deserialize, Serialize};

use crate::loss::Loss;

/// A loss in the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contender {
    /// Its name in reports: a built-in's name (`ce`, `ngl`), `RUN#k` for the k-th best loss of
    /// a search run, or the expression itself.
    pub name: String,
    /// The loss.
    pub loss: Loss,
    /// The weight decay the loss is defined with (`ce-l2`'s 5e-4), applied where the training
    /// settings give none, as `lossgp train` does.
    pub weight_decay: Option<f64>,
    /// Whether it is a baseline (cross entropy, the first contender, always is): the strongest
    /// baseline of each column is what every loss is also compared with.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
}

/// A model trained on a dataset with fixed settings: one column of the paper's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The model and its options, e.g. `resnet20` or `inception-cifar:width=0.25`.
    pub model: String,
    /// The dataset's name or folder.
    pub dataset: String,
    /// Everything that changes a result in this column (data, subset sizes, model, backend,
    /// training settings), so that results are only reused where they would be the same.
    pub fingerprint: String,
}

/// The grid: every contender on every column, on seeds `0..seeds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// The losses; the first is the reference (cross entropy).
    pub contenders: Vec<Contender>,
    /// The model × dataset columns.
    pub columns: Vec<Column>,
    /// Seeds per (contender, column).
    pub seeds: usize,
}

/// One training run of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cell {
    /// Its index in [`Grid::cells`]: the id of its evaluation job.
    pub index: usize,
    /// The column's index.
    pub column: usize,
    /// The contender's index.
    pub contender: usize,
    /// The seed, from 0: it sets the initial weights, the batch order, augmentation and
    /// dropout, the same for every contender (paired runs).
    pub seed: usize,
}

impl Grid {
    /// Every cell, seed by seed, then column by column, then contender by contender: a grid
    /// stopped early has whole paired blocks (every loss on a column with one seed).
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::with_capacity(self.len());
        for seed in 0..self.seeds {
            for column in 0..self.columns.len() {
                for contender in 0..self.contenders.len() {
                    cells.push(Cell { index: cells.len(), column, contender, seed });
                }
            }
        }
        cells
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.seeds * self.columns.len() * self.contenders.len()
    }

    /// Whether the grid has no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell at `index` of [`Grid::cells`].
    pub fn cell(&self, index: usize) -> Option<Cell> {
        let per_seed = self.columns.len() * self.contenders.len();
        (index < self.len()).then(|| {
            let (seed, rest) = (index / per_seed, index % per_seed);
            Cell { index, column: rest / self.contenders.len(), contender: rest % self.contenders.len(), seed }
        })
    }

    /// What identifies a cell's result wherever it is stored: the column's fingerprint, the
    /// loss's training key (equivalent spellings of one loss share it), its weight decay and
    /// the seed.
    pub fn cell_key(&self, cell: &Cell) -> String {
        let contender = &self.contenders[cell.contender];
        let decay = contender.weight_decay.map_or("none".to_owned(), |d| d.to_string());
        format!(
            "{} | loss {:?} | own weight decay {decay} | seed {}",
            self.columns[cell.column].fingerprint,
            contender.loss.training_key(),
            cell.seed
        )
    }
}

/// A grid for tests: `losses` by name, `columns` columns `m0`, `m1`, ... on dataset `d`
/// (fingerprints `m0 on d`, ...), and `seeds` seeds.
#[cfg(test)]
pub(crate) fn test_grid(losses: &[&str], columns: usize, seeds: usize) -> Grid {
    Grid {
        contenders: losses
            .iter()
            .map(|n| Contender {
                name: n.to_string(),
                loss: Loss::resolve(n).unwrap(),
                weight_decay: None,
                baseline: false,
            })
            .collect(),
        columns: (0..columns)
            .map(|i| Column { model: format!("m{i}"), dataset: "d".into(), fingerprint: format!("m{i} on d") })
            .collect(),
        seeds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        test_grid(&["ce", "ngl", "focal"], 2, 4)
    }

    #[test]
    fn cells_are_indexed_seed_by_seed_and_found_again_by_index() {
        let grid = grid();
        let cells = grid.cells();
        assert_eq!(cells.len(), 24);
        assert_eq!(cells[5], Cell { index: 5, column: 1, contender: 2, seed: 0 });
        assert_eq!(cells[6].seed, 1);
        for cell in &cells {
            assert_eq!(grid.cell(cell.index), Some(*cell));
        }
        assert_eq!(grid.cell(24), None);
    }

    #[test]
    fn keys_tell_apart_what_changes_a_result_and_only_that() {
        let mut grid = grid();
        let cells = grid.cells();
        let keys: std::collections::BTreeSet<String> = cells.iter().map(|c| grid.cell_key(c)).collect();
        assert_eq!(keys.len(), cells.len(), "every cell has its own key");
        let before = grid.cell_key(&cells[0]);
        grid.contenders[0].name = "cross-entropy".into();
        assert_eq!(grid.cell_key(&cells[0]), before, "a name is not a result");
        grid.contenders[0].weight_decay = Some(5e-4);
        assert_ne!(grid.cell_key(&cells[0]), before, "ce-l2 is not ce");
    }
}
