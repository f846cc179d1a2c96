//! Screening: the checks a candidate passes before any network is trained with it, cheapest
//! first. Each costs microseconds to milliseconds on the reference interpreter; training costs
//! seconds to hours, so every rejection here is a training run saved.

use serde::{Deserialize, Serialize};

use super::config::Screening;
use crate::expr::Var;
use crate::interp::{Batch, Program};
use crate::loss::Loss;
use crate::loss::probe::{self, CLASSES, SAMPLES};

/// Why a candidate was not trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// It does not depend on both the prediction (`p` or `z`) and the target `y`.
    Independent,
    /// NaN or infinite values or gradients on probe inputs.
    NonFinite,
    /// On average it rises, rather than falls, as the true class's probability rises.
    Direction,
    /// Descending it does not make random logits classify better.
    Rejection,
}

impl Stage {
    /// Every stage, in the order they run.
    pub const ALL: [Stage; 4] = [Stage::Independent, Stage::NonFinite, Stage::Direction, Stage::Rejection];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Independent => "independent",
            Stage::NonFinite => "non-finite",
            Stage::Direction => "direction",
            Stage::Rejection => "rejection",
        }
    }
}

/// A rejection: the stage and what it found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The stage.
    pub stage: Stage,
    /// What it found, e.g. `gradient NaN at logits scale 30`.
    pub reason: String,
}

/// Step size of the rejection run's normalised gradient descent.
const REJECTION_RATE: f64 = 0.1;

/// Runs the screening stages. (Duplicates never get here: the search looks every loss up by its
/// training key first.)
pub fn screen(loss: &Loss, settings: &Screening) -> Result<(), Rejected> {
    let reject = |stage, reason: String| Err(Rejected { stage, reason });
    let canonical = loss.expr.canonical();
    let predicts = canonical.depends_on(Var::P) || canonical.depends_on(Var::Z);
    if !predicts || !canonical.depends_on(Var::Y) {
        let missing = if predicts { "the target y" } else { "the prediction (p or z)" };
        return reject(Stage::Independent, format!("does not depend on {missing}"));
    }
    let program = Program::compile(loss);
    let (labels, noise) = probe::labels_and_noise();
    if settings.finite
        && let Some(why) = probe::non_finite(&program).into_iter().next()
    {
        return reject(Stage::NonFinite, why);
    }
    if settings.direction {
        let batch = Batch::from_labels(noise.clone(), CLASSES, &labels).expect("a valid probe batch");
        let gradient = program.evaluate(&batch).gradient;
        // d loss along y - p, the direction in which every true-class probability rises.
        let (p, y) = (batch.var(Var::P), batch.var(Var::Y));
        let slope: f64 = gradient.iter().zip(y.iter().zip(p)).map(|(g, (y, p))| g * (y - p)).sum();
        if slope.is_nan() || slope >= 0.0 {
            return reject(Stage::Direction, format!("rises along the true class ({slope:.3e})"));
        }
    }
    if settings.rejection_steps > 0 {
        let mut logits: Vec<f64> = noise.iter().map(|x| 0.1 * x).collect();
        for step in 0..settings.rejection_steps {
            let batch = Batch::from_labels(logits.clone(), CLASSES, &labels).expect("finite logits");
            let gradient = program.evaluate(&batch).gradient;
            let rms = (gradient.iter().map(|g| g * g).sum::<f64>() / gradient.len() as f64).sqrt();
            if !rms.is_finite() {
                return reject(Stage::Rejection, format!("the gradient became non-finite at step {step}"));
            }
            if rms == 0.0 {
                break;
            }
            logits.iter_mut().zip(&gradient).for_each(|(z, g)| *z -= REJECTION_RATE * g / rms);
            if logits.iter().any(|z| !z.is_finite()) {
                return reject(Stage::Rejection, format!("the logits diverged at step {step}"));
            }
        }
        let correct = logits
            .chunks(CLASSES)
            .zip(&labels)
            .filter(|(row, label)| row.iter().enumerate().all(|(k, &v)| k == **label || v < row[**label]))
            .count();
        let accuracy = correct as f64 / SAMPLES as f64;
        if accuracy < settings.rejection_accuracy {
            return reject(
                Stage::Rejection,
                format!(
                    "{} steps reach {:.0}% accuracy on random labels, below {:.0}%",
                    settings.rejection_steps,
                    100.0 * accuracy,
                    100.0 * settings.rejection_accuracy
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(text: &str) -> Result<(), Stage> {
        screen(&text.parse().unwrap(), &Screening::default()).map_err(|r| r.stage)
    }

    #[test]
    fn good_losses_pass() {
        for loss in crate::loss::BUILTINS {
            assert_eq!(screen(&loss.loss(), &Screening::default()), Ok(()), "{}", loss.name);
        }
    }

    #[test]
    fn each_stage_catches_its_kind() {
        assert_eq!(verdict("element-mean: exp(p)"), Err(Stage::Independent));
        assert_eq!(verdict("element-mean: y*3"), Err(Stage::Independent));
        // Rewards the wrong class: the direction check catches it.
        assert_eq!(verdict("sample-mean: y*log(p)"), Err(Stage::Direction));
        // Unbounded growth of the logits makes exp overflow.
        assert_eq!(verdict("element-mean: exp(exp(exp(z*y)))"), Err(Stage::NonFinite));
        // With the direction check off, the rejection run catches a loss that pushes the
        // true class down: descending it makes the logits classify worse than chance.
        let no_direction = Screening { direction: false, ..Screening::default() };
        let rejected = screen(&"element-mean: y*p".parse().unwrap(), &no_direction).unwrap_err();
        assert_eq!(rejected.stage, Stage::Rejection);
        assert!(rejected.reason.contains("below 50%"), "{}", rejected.reason);
    }
}
