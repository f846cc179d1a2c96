//! Noise-aware fitness. A training run's accuracy varies by a point or more with its seed, and
//! selection favours losses that were lucky on the search's seed, so their fitness there is
//! biased upwards (the winner's curse). Every loss entering the hall of fame is therefore
//! trained on [`confirm_seeds`](super::SearchConfig::confirm_seeds) further seeds (the
//! baselines on the same ones), and the hall of fame is ranked by the mean over those seeds
//! alone, which selection never saw.
//!
//! A loss enters when, at the full budget, its fitness on the search's seed is at least the
//! `hall_of_fame`-th best this run reached in earlier generations (in the first generation:
//! the `hall_of_fame` best); at most `hall_of_fame` losses are confirmed per generation, the
//! best first.

use std::collections::HashSet;

use super::record::{GenerationStats, Individual, State};
use super::run::{Driver, Pending, SearchError};

impl Driver<'_, '_> {
    /// Trains the losses of generation `g` that enter the hall of fame on the confirmation
    /// seeds, and gives every member of the populations what is known of its confirmation.
    pub(super) fn confirm(
        &mut self,
        state: &mut State,
        g: usize,
        stats: &mut GenerationStats,
    ) -> Result<(), SearchError> {
        let seeds = self.config.confirm_seeds;
        if seeds == 0 {
            return Ok(());
        }
        let last = self.config.fidelity.rungs.len() - 1;
        let size = self.config.hall_of_fame;
        let mut earlier: Vec<f64> = self
            .known
            .values()
            .filter(|k| k.generation.is_some_and(|x| x < g))
            .filter_map(|k| k.rungs.get(&last).copied())
            .collect();
        earlier.sort_by(|a, b| b.total_cmp(a));
        let bar = earlier.get(size - 1).copied();
        let mut entering: Vec<&Individual> = state
            .islands
            .iter()
            .flatten()
            .filter(|i| i.generation == g && i.rung == last && i.fitness > 0.0)
            .filter(|i| bar.is_none_or(|bar| i.fitness >= bar))
            .collect();
        entering.sort_by(|a, b| ranking(a.fitness, b.fitness, a, b));
        let mut seen = HashSet::new();
        entering.retain(|i| seen.insert(i.key));
        entering.truncate(size);
        stats.confirmations = entering.len() * seeds * self.tasks_len();
        let pending: Vec<Pending> = entering
            .iter()
            .flat_map(|i| (1..=seeds).map(move |replicate| (i, replicate)))
            .filter(|(i, r)| !self.known.get(&i.key).is_some_and(|k| k.confirmed.contains_key(r)))
            .map(|(i, replicate)| Pending { key: i.key, loss: self.loss(&i.expr), replicate })
            .collect();
        self.evaluate(Some(g), pending, last)?;
        for member in state.islands.iter_mut().flatten() {
            if let Some(confirmed) = self.known.get(&member.key).and_then(|k| k.confirmation(seeds)) {
                member.confirmed = confirmed;
                member.per_task = self.per_task(self.known.get(&member.key), Some(member.rung));
            }
        }
        Ok(())
    }

    /// The best distinct losses of the populations and the previous hall of fame, by
    /// [`Individual::score`], then smaller first. Only losses scored by a full run (the last
    /// rung) and, where confirmation is on, confirmed on every seed enter, so that all are
    /// compared alike, and never with fitness 0. Distinct means another training key and
    /// another gradient on the probe logits: `max(exp(p), 1)` and `exp(p)` have different
    /// keys (telling them apart needs the range of `exp`) but train alike, and only the first
    /// keeps its place.
    pub(super) fn update_hall_of_fame(&mut self, state: &mut State) {
        let last = self.config.fidelity.rungs.len() - 1;
        let seeds = self.config.confirm_seeds;
        let mut all: Vec<Individual> = state
            .hall_of_fame
            .iter()
            .chain(state.islands.iter().flatten())
            .filter(|i| i.fitness > 0.0 && i.rung == last && i.confirmed.len() == seeds)
            .cloned()
            .collect();
        all.sort_by(|a, b| ranking(a.score(), b.score(), a, b));
        let mut seen = HashSet::new();
        all.retain(|i| seen.insert(i.key));
        let mut kept: Vec<(Individual, Option<Vec<f64>>)> = Vec::new();
        for individual in all {
            if kept.len() == self.config.hall_of_fame {
                break;
            }
            let signature = self.signature(individual.key, &individual.expr);
            let twin = signature.as_ref().is_some_and(|s| {
                kept.iter().any(|(_, other)| other.as_ref().is_some_and(|o| super::niche::same_direction(s, o)))
            });
            if !twin {
                kept.push((individual, signature));
            }
        }
        state.hall_of_fame = kept.into_iter().map(|(i, _)| i).collect();
    }
}

/// Higher `fa`/`fb` first, then the smaller tree, then by text: a total order, so that the
/// same search always keeps the same losses.
fn ranking(fa: f64, fb: f64, a: &Individual, b: &Individual) -> std::cmp::Ordering {
    fb.total_cmp(&fa).then(a.size.cmp(&b.size)).then_with(|| a.expr.to_string().cmp(&b.expr.to_string()))
}
