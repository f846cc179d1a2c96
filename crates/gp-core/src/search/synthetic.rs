//! A fitness without training: how closely a candidate's gradients point where a target
//! loss's do. Cheap enough to run whole searches in tests, and a check that the engine can
//! find a known loss.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::evaluate::{Fitness, Job, Scored};
use crate::interp::{Batch, Program};
use crate::loss::Loss;

/// Fitness = the mean cosine similarity between the candidate's and the target's gradients
/// with respect to the logits, over a few probe batches; negative similarity scores 0.
pub struct GradientMatch {
    target: Loss,
    probes: Vec<Batch<f64>>,
    targets: Vec<Vec<f64>>,
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
        GradientMatch { target, probes, targets }
    }
}

impl Fitness for GradientMatch {
    fn evaluate(&self, job: &Job) -> Result<Scored, String> {
        let program = Program::compile(&job.loss);
        let mut total = 0.0;
        for (probe, target) in self.probes.iter().zip(&self.targets) {
            let g = program.evaluate(probe).gradient;
            let dot: f64 = g.iter().zip(target).map(|(a, b)| a * b).sum();
            let norms = g.iter().map(|a| a * a).sum::<f64>().sqrt() * target.iter().map(|b| b * b).sum::<f64>().sqrt();
            let cosine = if norms > 0.0 { dot / norms } else { 0.0 };
            total += if cosine.is_finite() { cosine.max(0.0) } else { 0.0 };
        }
        let fitness = total / self.probes.len() as f64;
        Ok(Scored { fitness, metrics: [("cosine".to_owned(), fitness)].into(), status: "completed".into() })
    }

    fn task(&self) -> String {
        format!("gradient-match: {}", self.target)
    }
}
