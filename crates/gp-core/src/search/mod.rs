//! The genetic programming search over loss expressions.
//!
//! A search breeds populations of expression trees ([`variation`]) whose new members are all
//! losses never scored before that pass cheap checks ([`screen`]): an offspring whose training
//! key is known, or that screening rejects, is drawn again. Parents are chosen on fitness
//! cleared by niche ([`niche`]), so that one family of losses cannot take the population over.
//! Candidates are scored through an [`Evaluator`](crate::evaluation) with successive halving; those entering the
//! hall of fame are confirmed on further seeds, next to the baselines ([`compare`]). Every
//! result is written to a run directory ([`store`], [`record`]) as it arrives, so that [`run`]
//! resumes a search killed at any moment.
//!
//! ```
//! use std::sync::Arc;
//! use lossgp_core::Loss;
//! use lossgp_core::search::{GradientMatch, RunOptions, LocalEvaluator, RunDir, SearchConfig, run};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fitness = Arc::new(GradientMatch::new(Loss::resolve("ce")?));
//! let tasks = lossgp_core::search::Fitness::tasks(fitness.as_ref());
//! let mut evaluator = LocalEvaluator::new(fitness, 2);
//! let config = SearchConfig { population: 20, generations: 5, ..SearchConfig::default() };
//! let dir = RunDir::create(&std::env::temp_dir().join(format!("lossgp-doc-{}", std::process::id())))?;
//! let state = run(&config, &dir, &tasks, &mut evaluator, &[], RunOptions::default(), &mut |_| {})?;
//! println!("best: {} ({:.3})", state.hall_of_fame[0].expr, state.hall_of_fame[0].fitness);
//! # std::fs::remove_dir_all(dir.path())?;
//! # Ok(())
//! # }
//! ```

pub mod baseline;
mod breed;
pub mod compare;
mod config;
mod confirm;
pub mod genealogy;
mod mean;
pub mod niche;
pub mod record;
mod run;
pub mod screen;
pub mod store;
mod synthetic;
mod training;
pub mod variation;

pub use crate::evaluation::MultiTask;
pub use crate::evaluation::task::{self, TaskInfo, TaskSet};
pub use crate::evaluation::{EvalError, Evaluator, Fitness, Job, LocalEvaluator, Scored};
pub use crate::stats::{Verdict, mean_sd, spearman};
pub use baseline::{BaselineSpec, LABEL_SMOOTHING_GRID, TUNED_LABEL_SMOOTHING, Tuning};
pub use compare::Paired;
pub use config::{Fidelity, Islands, Mutations, Niching, Screening, SearchConfig, Selection};
pub use genealogy::{Birth, GENEALOGY, Origin, lineage};
pub use record::{Baseline, GenerationStats, Individual, Outcome, Record, State, TaskScore, strongest};
pub use run::{RunOptions, SearchError, SearchEvent, run};
pub use screen::{Rejected, Stage};
pub use store::{CacheEntry, RunDir, RunLock, SharedCache, StoreError};
pub use synthetic::GradientMatch;
pub use training::TrainingFitness;

#[cfg(test)]
mod tests;
