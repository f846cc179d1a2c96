//! Filling a generation with new candidates. Every slot of a population that is not an elite
//! takes a loss never scored before (in this run, the run it resumes, or the shared cache)
//! that passes screening: an offspring whose training key is known, or that screening
//! rejects, is drawn again, and counted. Drawing is bounded: after
//! [`redraw_limit`](super::SearchConfig::redraw_limit) draws for a slot, random trees
//! (immigrants) are drawn instead, as many times again; only then does a known loss take the
//! slot. Parents are chosen on fitness cleared by niche ([`niche`](super::niche)), so that
//! one family of losses cannot take over the population.

use std::collections::HashSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::genealogy::Origin;
use super::niche::clear;
use super::record::{GenerationStats, Individual};
use super::run::{Brood, Driver, SearchError};
use super::variation::{crossover_fitting, mutate_by, ramped_tree, select};
use crate::expr::Expr;
use crate::expr::canon::Key;

impl Driver<'_, '_> {
    /// The first generation of one island: the `start_from` losses, then random trees
    /// (ramped half-and-half), each new and past screening.
    pub(super) fn first_generation(
        &mut self,
        rng: &mut ChaCha8Rng,
        fresh: &mut HashSet<Key>,
        stats: &mut GenerationStats,
    ) -> Result<Vec<Brood>, SearchError> {
        let n = self.config.population;
        let mut brood = Vec::with_capacity(n);
        let starts = self.config.start_trees().map_err(SearchError::Config)?;
        // A start that another island took already, or that screening rejects, leaves its slot
        // to a random tree.
        for expr in starts.into_iter().take(n) {
            if self.draw(0, &expr, fresh, stats)? {
                stats.offspring += 1;
                stats.new += 1;
                brood.push(Brood::New(expr, Origin::Start));
            }
        }
        let mut draws = 0;
        while brood.len() < n {
            stats.offspring += 1;
            // Random trees over few leaves are mostly target-free, constant or alike: the first
            // generation may draw five times as long as later ones (EvoMAL redraws 100 times).
            let limit = 5 * self.config.redraw_limit;
            let slot = self.fill(0, limit, rng, fresh, stats, &mut |config, rng| {
                draws += 1;
                (ramped_tree(config, rng, draws - 1), Origin::Random)
            })?;
            brood.push(slot);
        }
        Ok(brood)
    }

    /// The next generation of one island: its elites unchanged, the rest new offspring of
    /// parents chosen on cleared fitness.
    pub(super) fn breed(
        &mut self,
        g: usize,
        population: &[Individual],
        rng: &mut ChaCha8Rng,
        fresh: &mut HashSet<Key>,
        stats: &mut GenerationStats,
    ) -> Result<Vec<Brood>, SearchError> {
        let c = self.config;
        let n = c.population;
        let raw: Vec<f64> = population.iter().map(|i| i.fitness).collect();
        let signatures: Vec<_> = population.iter().map(|i| self.signature(i.key, &i.expr)).collect();
        let (fitness, _) = clear(&raw, &signatures, &c.niching);
        let sizes: Vec<usize> = population.iter().map(|i| i.size).collect();

        let elites = if c.elitism > 0.0 { ((c.elitism * n as f64).ceil() as usize).min(n) } else { 0 };
        let mut ranked: Vec<usize> = (0..population.len()).collect();
        ranked.sort_by(|&a, &b| fitness[b].total_cmp(&fitness[a]).then(sizes[a].cmp(&sizes[b])));
        let mut brood: Vec<Brood> = ranked.iter().take(elites).map(|&i| Brood::Elite(population[i].clone())).collect();
        while brood.len() < n {
            stats.offspring += 1;
            let limit = self.config.redraw_limit;
            let slot = self.fill(g, limit, rng, fresh, stats, &mut |config, rng| {
                let parent = &population[select(config.selection, &fitness, &sizes, rng)];
                let mut parents = vec![parent.key];
                let mut child = parent.expr.clone();
                let mut crossed = false;
                if rng.random_bool(config.crossover) {
                    let other = &population[select(config.selection, &fitness, &sizes, rng)];
                    if let Some(offspring) = crossover_fitting(config, &parent.expr, &other.expr, rng) {
                        child = offspring;
                        crossed = true;
                        parents.push(other.key);
                    }
                }
                let mut mutation = None;
                if rng.random_bool(config.mutation) {
                    (child, mutation) = mutate_by(config, &child, rng);
                }
                (child, Origin::Offspring { parents, crossover: crossed, mutation })
            })?;
            brood.push(slot);
        }
        Ok(brood)
    }

    /// One slot of generation `g`: up to `limit` offspring of `make` until one is new, then as
    /// many immigrants, then the last tree drawn, whatever it is.
    fn fill(
        &mut self,
        g: usize,
        limit: usize,
        rng: &mut ChaCha8Rng,
        fresh: &mut HashSet<Key>,
        stats: &mut GenerationStats,
        make: &mut dyn FnMut(&super::SearchConfig, &mut ChaCha8Rng) -> (Expr, Origin),
    ) -> Result<Brood, SearchError> {
        let mut last = None;
        for attempt in 0..2 * limit {
            let immigrant = attempt >= limit;
            let (expr, origin) = if immigrant {
                let ramp = rng.random_range(0..usize::MAX);
                (ramped_tree(self.config, rng, ramp), if g == 0 { Origin::Random } else { Origin::Immigrant })
            } else {
                make(self.config, rng)
            };
            if self.draw(g, &expr, fresh, stats)? {
                stats.new += 1;
                stats.immigrants += usize::from(immigrant);
                return Ok(Brood::New(expr, origin));
            }
            last = Some(expr);
        }
        Ok(Brood::Known(last.expect("at least one draw")))
    }

    /// Whether a drawn tree is a new loss that passes screening (it then joins `fresh`);
    /// counts a known loss as a cache hit, and a rejection by its stage.
    fn draw(
        &mut self,
        g: usize,
        expr: &Expr,
        fresh: &mut HashSet<Key>,
        stats: &mut GenerationStats,
    ) -> Result<bool, SearchError> {
        let loss = self.loss(expr);
        let key = loss.training_key();
        if fresh.contains(&key) || self.known_before(&key, g) {
            stats.cache_hits += 1;
            return Ok(false);
        }
        if !self.screen(g, key, &loss, stats)? {
            return Ok(false);
        }
        fresh.insert(key);
        Ok(true)
    }
}
