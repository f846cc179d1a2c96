//! Niching by gradient signature: what keeps a population from collapsing onto one family of
//! losses. Two losses train alike when their gradients with respect to the logits point the
//! same way (Adam, the usual optimiser, all but ignores their scale), so a loss's *signature*
//! is its gradient on fixed probe logits, normalised to unit length, and losses whose
//! signatures have a cosine similarity of at least [`Niching::similarity`] share a niche.
//! Clearing (Pétrowski 1996) then leaves the fitness of only the fittest
//! [`Niching::capacity`] of each niche for selection.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::Niching;
use crate::interp::{Batch, Program};
use crate::loss::Loss;

/// Classes and samples of the probe batch.
const CLASSES: usize = 10;
const SAMPLES: usize = 64;
/// Seeds the probe batch: fixed, so that a loss's signature never depends on the search.
const PROBE_SEED: u64 = 0x0051_C4A7;

/// Unit gradient directions of losses on one probe batch.
pub struct Signatures {
    probe: Batch<f64>,
}

impl Default for Signatures {
    fn default() -> Self {
        Signatures::new()
    }
}

impl Signatures {
    /// The probe: logits of moderate scale (uniform in [-2, 2]) and random labels.
    pub fn new() -> Signatures {
        let mut rng = ChaCha8Rng::seed_from_u64(PROBE_SEED);
        let logits = (0..SAMPLES * CLASSES).map(|_| rng.random_range(-2.0..2.0)).collect();
        let labels: Vec<usize> = (0..SAMPLES).map(|_| rng.random_range(0..CLASSES)).collect();
        Signatures { probe: Batch::from_labels(logits, CLASSES, &labels).expect("a valid probe batch") }
    }

    /// The signature of `loss`: its gradient on the probe, of unit length; none where the
    /// gradient is zero or not finite (such a loss is a niche of its own).
    pub fn of(&self, loss: &Loss) -> Option<Vec<f64>> {
        let gradient = Program::compile(loss).evaluate(&self.probe).gradient;
        let norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
        (norm.is_finite() && norm > 0.0).then(|| gradient.iter().map(|g| g / norm).collect())
    }
}

/// Clears `fitness` by niche: returns the fitness selection should see (0 for losses beaten
/// by `capacity` others of their niche) and the number of niches. Losses are taken fittest
/// first (earlier first among equals); each joins the first niche whose founder it resembles,
/// or founds one. With clearing off, the fitness is returned unchanged, and the niches are
/// still counted.
pub fn clear(fitness: &[f64], signatures: &[Option<Vec<f64>>], niching: &Niching) -> (Vec<f64>, usize) {
    let mut order: Vec<usize> = (0..fitness.len()).collect();
    order.sort_by(|&a, &b| fitness[b].total_cmp(&fitness[a]).then(a.cmp(&b)));
    let mut cleared = fitness.to_vec();
    // (founder, members kept)
    let mut niches: Vec<(usize, usize)> = Vec::new();
    for i in order {
        let niche = signatures[i].as_ref().and_then(|s| {
            niches.iter().position(|&(founder, _)| {
                signatures[founder].as_ref().is_some_and(|f| cosine(s, f) >= niching.similarity)
            })
        });
        match niche {
            Some(n) if niches[n].1 < niching.capacity => niches[n].1 += 1,
            Some(_) => {
                if niching.clearing {
                    cleared[i] = 0.0;
                }
            }
            None => niches.push((i, 1)),
        }
    }
    (cleared, niches.len())
}

/// Whether two signatures are the same direction to rounding: losses that train alike.
pub fn same_direction(a: &[f64], b: &[f64]) -> bool {
    cosine(a, b) > 1.0 - 1e-9
}

/// The cosine similarity of two unit vectors.
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(text: &str) -> Option<Vec<f64>> {
        Signatures::new().of(&text.parse().unwrap())
    }

    #[test]
    fn rescaled_and_shifted_losses_share_a_niche_and_others_do_not() {
        let ce = signature("sample-mean: y*(logsumexp(z) - z)");
        let twice = signature("sample-mean: 2*y*(logsumexp(z) - z) + 3");
        let ngl = signature("element-mean: exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
        let niching = Niching::default();
        let (cleared, niches) = clear(&[0.80, 0.85, 0.82], &[ce, twice, ngl], &niching);
        assert_eq!(niches, 2);
        // The fitter of the two cross entropies keeps its fitness; NGL is a niche of its own.
        assert_eq!(cleared, [0.0, 0.85, 0.82]);
        let off = Niching { clearing: false, ..niching };
        let sigs = [signature("element-mean: y*p"), signature("element-mean: 5*y*p")];
        assert_eq!(clear(&[0.1, 0.2], &sigs, &off), (vec![0.1, 0.2], 1));
    }

    #[test]
    fn a_loss_without_a_usable_gradient_is_a_niche_of_its_own() {
        assert_eq!(signature("element-mean: y*3"), None);
        let (cleared, niches) = clear(&[0.5, 0.5], &[None, None], &Niching::default());
        assert_eq!((cleared, niches), (vec![0.5, 0.5], 2));
    }
}
