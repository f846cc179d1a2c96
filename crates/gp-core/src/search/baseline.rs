//! The reference losses a search is judged against. Beating plain cross entropy is a low bar:
//! NGL's optimum is what label smoothing at ε ≈ 0.68 gives, fast-training recipes already
//! train with label smoothing, and learned losses often rediscover it. So besides fixed losses
//! (`ce`, `poly1`, `ngl`), a baseline may be a **tuned family**: label-smoothed cross entropy
//! trained at every ε of a small grid on the search's own task, on the search's seed and every
//! confirmation seed, of which the ε with the best mean over the confirmation seeds (the
//! search's seed where there are none; the smaller ε among equals) becomes the baseline. Its
//! choice and every ε's scores are recorded ([`Tuning`]).
//!
//! Tuning on the confirmation seeds, on which the hall of fame is compared with it, gives the
//! baseline the best of several tries on those seeds: a found loss must beat label smoothing
//! at its best ε there, which favours the baseline. `lossgp confirm` then compares both on
//! seeds that chose neither.

use serde::{Deserialize, Serialize};

use crate::loss::{Loss, LossError, Parametric, builtin, label_smoothing};

/// The name that asks for label smoothing tuned on the task.
pub const TUNED_LABEL_SMOOTHING: &str = "ls-tuned";

/// The ε grid tuned label smoothing tries by default: from barely smoothed to NGL's optimum.
pub const LABEL_SMOOTHING_GRID: [f64; 6] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7];

/// A baseline as the search is asked for it.
#[derive(Clone, Debug, PartialEq)]
pub enum BaselineSpec {
    /// One loss.
    Fixed {
        /// Its name in reports (`ce`, `ngl`, an expression).
        name: String,
        /// The loss.
        loss: Loss,
    },
    /// A parametric family, tuned on the task: every value trained, the best kept.
    Tuned {
        /// Its name in reports (`ls-tuned`).
        name: String,
        /// What the value sets (`smoothing ε`).
        parameter: String,
        /// The values tried, each with its loss.
        grid: Vec<(f64, Loss)>,
    },
}

impl BaselineSpec {
    /// The baseline `name` asks for: [`TUNED_LABEL_SMOOTHING`] (over `grid`), a built-in
    /// (`ce`, `ls-ce(0.3)`) or an expression.
    pub fn parse(name: &str, grid: &[f64]) -> Result<BaselineSpec, LossError> {
        if name.trim() == TUNED_LABEL_SMOOTHING {
            if grid.is_empty() || grid.iter().any(|e| !(0.0..=1.0).contains(e)) {
                return Err(LossError::Parameter(format!(
                    "`{TUNED_LABEL_SMOOTHING}` needs a grid of ε in [0, 1], e.g. {LABEL_SMOOTHING_GRID:?}, not {grid:?}"
                )));
            }
            let family: &Parametric = &crate::loss::PARAMETRIC[0];
            return Ok(BaselineSpec::Tuned {
                name: TUNED_LABEL_SMOOTHING.into(),
                parameter: family.parameter.into(),
                grid: grid.iter().map(|&e| (e, label_smoothing(e))).collect(),
            });
        }
        let loss = Loss::resolve(name)?;
        let name = builtin(name).map_or_else(|| name.trim().to_owned(), |b| b.name.to_owned());
        Ok(BaselineSpec::Fixed { name, loss })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            BaselineSpec::Fixed { name, .. } | BaselineSpec::Tuned { name, .. } => name,
        }
    }

    /// Every loss it trains.
    pub fn losses(&self) -> Vec<&Loss> {
        match self {
            BaselineSpec::Fixed { loss, .. } => vec![loss],
            BaselineSpec::Tuned { grid, .. } => grid.iter().map(|(_, loss)| loss).collect(),
        }
    }
}

impl From<(String, Loss)> for BaselineSpec {
    fn from((name, loss): (String, Loss)) -> Self {
        BaselineSpec::Fixed { name, loss }
    }
}

/// How a tuned baseline was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// What the value sets.
    pub parameter: String,
    /// The value chosen.
    pub chosen: f64,
    /// What it was chosen on: `confirmation seeds` or `search seed`.
    pub chosen_on: String,
    /// Every value tried, in grid order.
    pub tried: Vec<Tried>,
}

/// One value of a tuned baseline's grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    /// The value.
    pub value: f64,
    /// Its fitness on the search's seed.
    pub fitness: f64,
    /// Its fitness on each confirmation seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<f64>,
}

impl Tried {
    /// What the choice ranks by: the mean over the confirmation seeds, else the search seed's.
    pub fn score(&self) -> f64 {
        super::mean::mean(&self.confirmed).unwrap_or(self.fitness)
    }
}

/// The index of the value to keep: the best [`Tried::score`], the earliest (the grid is
/// ascending: the least smoothing) among equals. None for an empty grid.
pub fn choose(tried: &[Tried]) -> Option<usize> {
    tried.iter().enumerate().fold(None, |best: Option<usize>, (i, t)| match best {
        Some(b) if tried[b].score() >= t.score() => Some(b),
        _ => Some(i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(value: f64, fitness: f64, confirmed: &[f64]) -> Tried {
        Tried { value, fitness, confirmed: confirmed.to_vec() }
    }

    #[test]
    fn the_best_mean_over_the_confirmation_seeds_is_chosen_the_least_smoothing_among_equals() {
        let grid = [tried(0.1, 0.90, &[0.80, 0.80]), tried(0.3, 0.70, &[0.82, 0.84]), tried(0.5, 0.99, &[0.83, 0.83])];
        assert_eq!(choose(&grid), Some(1), "the search seed's 0.99 does not count where seeds confirm");
        let tie = [tried(0.1, 0.8, &[]), tried(0.3, 0.8, &[])];
        assert_eq!(choose(&tie), Some(0));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn names_become_specs() {
        let tuned = BaselineSpec::parse("ls-tuned", &[0.1, 0.3]).unwrap();
        assert_eq!(tuned.losses(), vec![&label_smoothing(0.1), &label_smoothing(0.3)]);
        assert_eq!(tuned.name(), "ls-tuned");
        assert!(BaselineSpec::parse("ls-tuned", &[]).unwrap_err().to_string().contains("grid of ε"));
        assert!(BaselineSpec::parse("ls-tuned", &[1.2]).is_err());
        assert_eq!(BaselineSpec::parse("cross-entropy", &[]).unwrap().name(), "ce");
        assert_eq!(BaselineSpec::parse("ls-ce(0.3)", &[]).unwrap().losses(), vec![&label_smoothing(0.3)]);
        assert!(BaselineSpec::parse("ls-ce(3)", &[]).is_err());
    }
}
