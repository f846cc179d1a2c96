//! Checkpoints of a training run, so that a run killed at any moment continues exactly where
//! its last checkpoint left it: a run resumed from one ends with the same weights, bit for bit
//! on a CPU backend, and the same history as an uninterrupted run.
//!
//! A checkpoint is a folder `step-NNNNNNNNNN` (the optimiser steps taken) in the checkpoint
//! directory:
//!
//! | file | what |
//! |---|---|
//! | `model.safetensors` | the weights and buffers under torchvision's names (PyTorch reads it) |
//! | `optimizer.safetensors` | the optimiser's state, under PyTorch's names (`NAME.exp_avg`, ...) |
//! | `progress.json` | where the run stands ([`Progress`]): epoch, batch within it, steps, the schedule's state, the epoch's running metrics and the history |
//!
//! The random state needs no file: the batch order and augmentation are functions of the seed,
//! the epoch and the sample, and the backend's generator (dropout masks) is seeded again at
//! every step from the seed and the step. A checkpoint is written into a hidden folder and
//! renamed into place, so that a crash leaves the previous ones whole; the last `keep` are kept,
//! and the one with the best validation accuracy, named in the file `best`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::metrics::Tally;
use super::optim::Optimizer;
use super::report::TrainReport;
use super::schedule::Scheduler;
use crate::backend::{Backend, Params};

/// The version of [`Progress`]'s format.
pub const FORMAT: u32 = 1;

/// Where and how often a run writes checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpointing {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Also every this many optimiser steps (besides each epoch's end).
    pub every_steps: Option<u64>,
    /// How many of the latest to keep (at least 1), besides the best.
    pub keep: usize,
}

/// Where a run stands at a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// [`FORMAT`].
    pub format: u32,
    /// The epoch to continue (from 0).
    pub epoch: usize,
    /// Batches of it already trained.
    pub batch: usize,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Seconds the run had taken.
    pub seconds: f64,
    /// Seconds the epoch had taken.
    pub epoch_seconds: f64,
    /// Images of the epoch trained.
    pub images: usize,
    /// The epoch's running training metrics.
    pub tally: Tally,
    /// The learning-rate schedule's state.
    pub scheduler: Scheduler,
    /// The run's history so far.
    pub report: TrainReport,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |e| TrainError::Checkpoint(format!("{}: {e}", path.display()))
}

impl Checkpointing {
    /// Writes a checkpoint of `params`, `optimizer` and `progress`; `best` marks it as the best
    /// so far. Older checkpoints beyond the last `keep` (and the best) are removed.
    pub fn save<B: Backend>(
        &self,
        b: &B,
        params: &Params<B>,
        optimizer: &Optimizer<B>,
        progress: &Progress,
        best: bool,
    ) -> Result<PathBuf, TrainError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let name = format!("step-{:010}", progress.steps);
        let (partial, done) = (self.dir.join(format!(".{name}.partial")), self.dir.join(&name));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        let store = |e: crate::backend::StoreError| TrainError::Checkpoint(e.to_string());
        params.save(b, &partial.join("model.safetensors")).map_err(store)?;
        optimizer.save(b, params, &partial.join("optimizer.safetensors")).map_err(store)?;
        let json = crate::json::to_string_pretty(progress).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        std::fs::write(partial.join("progress.json"), json).map_err(io(&partial))?;
        if done.exists() {
            std::fs::remove_dir_all(&done).map_err(io(&done))?;
        }
        std::fs::rename(&partial, &done).map_err(io(&done))?;
        if best {
            crate::files::write_atomic(&self.dir.join("best"), &name)
                .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        }
        self.prune()?;
        Ok(done)
    }

    /// The checkpoints, oldest first.
    pub fn list(&self) -> Result<Vec<PathBuf>, TrainError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-")))
            .filter(|p| p.join("progress.json").is_file())
            .collect();
        found.sort();
        Ok(found)
    }

    /// The latest checkpoint, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>, TrainError> {
        Ok(self.list()?.pop())
    }

    /// Removes the checkpoints beyond the last `keep` (and the best), and what a run killed while
    /// writing or removing one left behind. A checkpoint is first renamed to a hidden name, in one
    /// step, then removed: a kill during the removal leaves a hidden folder, swept next time, never a
    /// half-removed `step-` folder that looks like neither a checkpoint nor a leftover.
    fn prune(&self) -> Result<(), TrainError> {
        let best = std::fs::read_to_string(self.dir.join("best")).unwrap_or_default();
        let all = self.list()?;
        let keep_from = all.len().saturating_sub(self.keep.max(1));
        for old in &all[..keep_from] {
            let name = old.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name != best.trim() {
                let removing = self.dir.join(format!(".{name}.removing"));
                std::fs::rename(old, &removing).map_err(io(old))?;
            }
        }
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))?.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover = (name.starts_with(".step-") && name.ends_with(".removing"))
                || (name.starts_with("step-") && !path.join("progress.json").is_file());
            if leftover && path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

/// Reads the checkpoint at `path` into `params` and `optimizer`, and returns its progress.
pub fn load<B: Backend>(
    path: &Path,
    b: &B,
    params: &mut Params<B>,
    optimizer: &mut Optimizer<B>,
) -> Result<Progress, TrainError> {
    let file = path.join("progress.json");
    let text = std::fs::read_to_string(&file).map_err(io(&file))?;
    let progress: Progress = crate::json::from_str(&text)
        .map_err(|e| TrainError::Checkpoint(format!("{}: not a lossgp checkpoint: {e}", file.display())))?;
    if progress.format != FORMAT {
        return Err(TrainError::Checkpoint(format!(
            "{}: checkpoint format {} where this lossgp reads {FORMAT}",
            file.display(),
            progress.format
        )));
    }
    let store = |e: crate::backend::StoreError| TrainError::Checkpoint(e.to_string());
    params.load(b, &path.join("model.safetensors")).map_err(store)?;
    optimizer.load(b, params, &path.join("optimizer.safetensors")).map_err(store)?;
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(dir: &Path, step: u64) {
        let path = dir.join(format!("step-{step:010}"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("progress.json"), "{}").unwrap();
        std::fs::write(path.join("model.safetensors"), "").unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn pruning_keeps_the_latest_and_the_best_and_sweeps_what_a_kill_left() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_path_buf();
        let checkpointing = Checkpointing { dir: dir.clone(), every_steps: Some(5), keep: 2 };
        for step in [5, 10, 15, 20, 25] {
            checkpoint(&dir, step);
        }
        std::fs::write(dir.join("best"), "step-0000000010").unwrap();
        // A run killed while removing step 3 (its progress.json already gone) and while
        // removing one renamed for removal.
        std::fs::create_dir_all(dir.join("step-0000000003")).unwrap();
        std::fs::write(dir.join("step-0000000003/model.safetensors"), "").unwrap();
        checkpoint(&dir, 1);
        std::fs::rename(dir.join("step-0000000001"), dir.join(".step-0000000001.removing")).unwrap();
        checkpointing.prune().unwrap();
        assert_eq!(names(&dir), ["best", "step-0000000010", "step-0000000020", "step-0000000025"]);
        let latest = checkpointing.latest().unwrap().unwrap();
        assert_eq!(latest.file_name().unwrap(), "step-0000000025");
    }
}
