//! The genetic programming search over loss expressions.
//!
//! A search breeds populations of expression trees ([`variation`]), screens every new loss with
//! cheap checks before it is trained ([`screen`]), never scores the same loss twice (its
//! training key is looked up in everything scored so far), scores the rest through an
//! [`Evaluator`] with successive halving, and writes every result to a run directory
//! ([`store`]) as it arrives, so that [`run`] resumes a search killed at any moment.
//!
//! ```
//! use std::sync::Arc;
//! use lossgp_core::Loss;
//! use lossgp_core::search::{GradientMatch, RunOptions, LocalEvaluator, RunDir, SearchConfig, run};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fitness = Arc::new(GradientMatch::new(Loss::resolve("ce")?));
//! let task = lossgp_core::search::Fitness::task(fitness.as_ref());
//! let mut evaluator = LocalEvaluator::new(fitness, 2);
//! let config = SearchConfig { population: 20, generations: 5, ..SearchConfig::default() };
//! let dir = RunDir::create(&std::env::temp_dir().join(format!("lossgp-doc-{}", std::process::id())))?;
//! let state = run(&config, &dir, &task, &mut evaluator, &[], RunOptions::default(), &mut |_| {})?;
//! println!("best: {} ({:.3})", state.hall_of_fame[0].expr, state.hall_of_fame[0].fitness);
//! # std::fs::remove_dir_all(dir.path())?;
//! # Ok(())
//! # }
//! ```

mod config;
mod evaluate;
mod run;
pub mod screen;
pub mod store;
mod synthetic;
mod training;
pub mod variation;

pub use config::{Fidelity, Islands, Mutations, Screening, SearchConfig, Selection};
pub use evaluate::{Evaluator, Fitness, Job, LocalEvaluator, Scored};
pub use run::{
    Baseline, GenerationStats, Individual, Outcome, Record, RunOptions, SearchError, SearchEvent, State, run,
};
pub use screen::{Rejected, Stage};
pub use store::{RunDir, SharedCache, StoreError};
pub use synthetic::GradientMatch;
pub use training::TrainingFitness;

#[cfg(test)]
mod tests;
