//! The real fitness: the validation accuracy of a network trained with the candidate loss.

use std::sync::Arc;

use crate::backend::DynBackend;
use crate::data::{Dataset, holdout};
use crate::evaluation::{EvalError, Fitness, Job, Scored};
use crate::model::{ModelSpec, build_model};
use crate::train::{TrainConfig, TrainData, train};

/// Trains `model` with the candidate on `train` (validating on the part the training settings
/// hold out, or on `validation`) and scores it by its best validation accuracy. Every candidate
/// starts from the same weights and sees the same batches: only the loss differs.
///
/// A job's [`replicate`](Job::replicate) `r` trains with seed `seed + r` (`[train] seed`):
/// other initial weights, dropout masks and batch order, on the same training and validation
/// images (the held-out part is drawn once, with the task's own seed).
pub struct TrainingFitness {
    backend: DynBackend,
    model: String,
    spec: ModelSpec,
    data: TrainData,
    config: TrainConfig,
    task: String,
}

impl TrainingFitness {
    /// A fitness on `data`; `task` names it (dataset, model, settings) for the cache.
    pub fn new(
        backend: DynBackend,
        (model, spec): (String, ModelSpec),
        train: Arc<dyn Dataset>,
        validation: Option<Arc<dyn Dataset>>,
        config: TrainConfig,
        task: String,
    ) -> Result<TrainingFitness, String> {
        config.validate(validation.is_some() || config.validation_fraction > 0.0).map_err(|e| e.to_string())?;
        let (train, validation) = match validation {
            Some(validation) => (train, Some(validation)),
            None if config.validation_fraction > 0.0 => {
                let (train, validation) =
                    holdout(train, config.validation_fraction, config.seed).map_err(|e| e.to_string())?;
                (Arc::new(train) as Arc<dyn Dataset>, Some(Arc::new(validation) as Arc<dyn Dataset>))
            }
            None => (train, None),
        };
        let data = TrainData { train, validation, test: None };
        Ok(TrainingFitness { backend, model, spec, data, config, task })
    }

    /// Steps of the full training run.
    fn full_steps(&self) -> u64 {
        let samples = self.data.train.len() as u64;
        let per_epoch = samples.div_ceil(self.config.batch_size.max(1) as u64).max(1);
        let steps = per_epoch * self.config.epochs as u64;
        self.config.max_steps.map_or(steps, |m| m.min(steps))
    }
}

impl Fitness for TrainingFitness {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let seed = self.config.seed.wrapping_add(job.replicate as u64);
        let spec = ModelSpec { seed: self.spec.seed.wrapping_add(job.replicate as u64), ..self.spec.clone() };
        // A model this backend cannot build fails the same way on every attempt.
        let mut model =
            build_model(&self.model, &self.backend, &spec).map_err(|e| EvalError::permanent(e.to_string()))?;
        let mut config = TrainConfig { seed, ..self.config.clone() };
        if job.budget < 1.0 {
            config.max_steps = Some(((self.full_steps() as f64 * job.budget).ceil() as u64).max(1));
        }
        let report = train(&self.backend, model.as_mut(), &job.loss, &self.data, &config, &mut |_| {})
            .map_err(|e| EvalError::transient(e.to_string()))?;
        let status = report.status.name();
        let mut metrics = std::collections::BTreeMap::new();
        metrics.insert("steps".to_owned(), report.steps as f64);
        metrics.insert("seconds".to_owned(), report.seconds);
        if let Some((epoch, best)) = &report.best_validation {
            metrics.insert("best_epoch".to_owned(), *epoch as f64);
            metrics.insert("validation_loss".to_owned(), best.loss);
        }
        Ok(Scored { fitness: report.fitness(), metrics, status: status.to_owned() })
    }

    fn task(&self) -> String {
        self.task.clone()
    }
}
