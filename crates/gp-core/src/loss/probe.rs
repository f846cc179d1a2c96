//! The probe batches lossgp checks losses on: random logits at several scales and logits that
//! classify every sample right, with random labels. Screening rejects a loss whose value or
//! gradient is not finite on them, and a loss's keys keep where it is not finite, so that a
//! loss that diverges never shares a key with one that trains.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::expr::Real;
use crate::interp::{Batch, Program};

/// Classes of the probe batches.
pub const CLASSES: usize = 10;
/// Samples of the probe batches.
pub const SAMPLES: usize = 100;
/// Seeds the probes: the same for every search, so that a verdict never depends on a seed.
const SEED: u64 = 0x5EED_1055;
/// The scales of the random logits: calm, ordinary, confident and extreme.
const SCALES: [f64; 4] = [0.0, 1.0, 5.0, 30.0];

/// The labels of the probe batches, and noise in [-1, 1) for `SAMPLES x CLASSES` logits.
pub fn labels_and_noise() -> (Vec<usize>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let labels: Vec<usize> = (0..SAMPLES).map(|_| rng.random_range(0..CLASSES)).collect();
    let noise: Vec<f64> = (0..SAMPLES * CLASSES).map(|_| rng.random_range(-1.0..1.0)).collect();
    (labels, noise)
}

/// Where the loss's value or gradient is not finite on the probes, in probe order (empty for
/// a loss finite everywhere), e.g. `gradient not finite at logits scale 30`.
pub fn non_finite(program: &Program) -> Vec<String> {
    let (labels, noise) = labels_and_noise();
    let mut found = Vec::new();
    for scale in SCALES {
        let logits: Vec<f64> = noise.iter().map(|x| x * scale).collect();
        if let Some(why) = check(program, logits, &labels) {
            found.push(format!("{why} at logits scale {scale}"));
        }
    }
    let mut right = vec![0.0; SAMPLES * CLASSES];
    labels.iter().enumerate().for_each(|(i, &l)| right[i * CLASSES + l] = 8.0);
    if let Some(why) = check(program, right, &labels) {
        found.push(format!("{why} on confident, correct logits"));
    }
    found
}

/// What is not finite about the loss on these logits, if anything, in `f64` or in the `f32`
/// that networks train in (`exp(100*y)` is finite in one, not in the other).
fn check(program: &Program, logits: Vec<f64>, labels: &[usize]) -> Option<&'static str> {
    fn at<T: Real>(program: &Program, logits: Vec<T>, labels: &[usize]) -> Option<&'static str> {
        let batch = Batch::from_labels(logits, CLASSES, labels).expect("a valid probe batch");
        let out = program.evaluate(&batch);
        if !out.loss.is_finite() || out.per_sample.iter().any(|v| !v.is_finite()) {
            Some("loss not finite")
        } else if out.gradient.iter().any(|g| !g.is_finite()) {
            Some("gradient not finite")
        } else {
            None
        }
    }
    let single: Vec<f32> = logits.iter().map(|&x| x as f32).collect();
    at(program, logits, labels).or_else(|| {
        at(program, single, labels).map(|why| match why {
            "loss not finite" => "loss not finite in f32",
            _ => "gradient not finite in f32",
        })
    })
}
