//! A fitness without training: how closely a candidate's gradients point where a target
//! loss's do. Cheap enough to run whole searches in tests, and a check that the engine can
//! find a known loss.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::evaluation::{EvalError, Fitness, Job, Scored};
use crate::interp::{Batch, Program};
use crate::loss::Loss;

/// Fitness = the mean cosine similarity between the candidate's and the target's gradients
/// with respect to the logits, over a few probe batches; negative similarity scores 0.
pub struct GradientMatch {
    target: Loss,
    probes: Vec<Batch<f64>>,
    targets: Vec<Vec<f64>>,
    noise: f64,
}

impl GradientMatch {
    /// Matches `target`, probed on 4 batches of 32 samples of 10 classes.
    pub fn new(target: Loss) -> GradientMatch {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let probes: Vec<Batch<f64>> = (0..4)
            .map(|b| {
                let scale = [0.5, 1.0, 2.0, 4.0][b];
                let logits = (0..320).map(|_| scale * rng.random_range(-1.0..1.0)).collect();
                let labels: Vec<usize> = (0..32).map(|_| rng.random_range(0..10)).collect();
                Batch::from_labels(logits, 10, &labels).expect("valid probes")
            })
            .collect();
        let program = Program::compile(&target);
        let targets = probes.iter().map(|p| program.evaluate(p).gradient).collect();
        GradientMatch { target, probes, targets, noise: 0.0 }
    }

    /// The same fitness plus seed noise, as a training run has: on each seed
    /// ([`Job::replicate`]) every loss gets its own fixed offset, uniform in `[-noise,
    /// noise]`. For testing what the search does with noisy fitness in milliseconds.
    pub fn with_noise(self, noise: f64) -> GradientMatch {
        GradientMatch { noise, ..self }
    }

    /// The offset of `loss` on seed `replicate`.
    fn offset(&self, loss: &Loss, replicate: usize) -> f64 {
        if self.noise == 0.0 {
            return 0.0;
        }
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (loss.training_key(), replicate).hash(&mut hasher);
        self.noise * ChaCha8Rng::seed_from_u64(hasher.finish()).random_range(-1.0..=1.0)
    }
}

impl Fitness for GradientMatch {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let program = Program::compile(&job.loss);
        let mut total = 0.0;
        for (probe, target) in self.probes.iter().zip(&self.targets) {
            let g = program.evaluate(probe).gradient;
            let dot: f64 = g.iter().zip(target).map(|(a, b)| a * b).sum();
            let norms = g.iter().map(|a| a * a).sum::<f64>().sqrt() * target.iter().map(|b| b * b).sum::<f64>().sqrt();
            let cosine = if norms > 0.0 { dot / norms } else { 0.0 };
            total += if cosine.is_finite() { cosine.max(0.0) } else { 0.0 };
        }
        let fitness = (total / self.probes.len() as f64 + self.offset(&job.loss, job.replicate)).max(0.0);
        Ok(Scored { fitness, metrics: [("cosine".to_owned(), fitness)].into(), status: "completed".into() })
    }

    fn task(&self) -> String {
        match self.noise {
            0.0 => format!("gradient-match: {}", self.target),
            noise => format!("gradient-match: {} (noise {noise})", self.target),
        }
    }
}
