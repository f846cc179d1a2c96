//! Evaluators by name. Each is an [`EvaluatorEntry`] submitted with [`inventory`]; lossgp's
//! own (`threads`, `processes`, `slurm`) are registered here, and a plugin crate linked into
//! the program adds its own the same way:
//!
//! ```
//! use lossgp_exec::registry::{EvaluatorContext, EvaluatorEntry};
//! use lossgp_core::evaluation::{Evaluator, LocalEvaluator};
//!
//! fn build(context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
//!     Ok(Box::new(LocalEvaluator::new(context.fitness.clone(), 1)))
//! }
//!
//! lossgp_exec::inventory::submit! {
//!     EvaluatorEntry { name: "one-thread", summary: "one thread of this process", build }
//! }
//! # fn main() { assert!(lossgp_exec::registry::find("one-thread").is_ok()); }
//! ```
//!
//! The settings of an evaluator a plugin adds are its `[run.options.NAME]` table
//! ([`RunSettings::options`]).

use std::sync::Arc;

use lossgp_core::evaluation::{Evaluator, LocalEvaluator};

pub use crate::context::{EvaluatorContext, WorkerCommand};

/// An evaluator linked into the program, registered by name with [`inventory`].
pub struct EvaluatorEntry {
    /// The name `[run] evaluator` and `--evaluator` take.
    pub name: &'static str,
    /// One line for `lossgp list evaluators`.
    pub summary: &'static str,
    /// Builds it; an `Err` names what is wrong with the settings.
    pub build: fn(&EvaluatorContext) -> Result<Box<dyn Evaluator>, String>,
}

inventory::collect!(EvaluatorEntry);

/// Every evaluator linked into the program, by name.
pub fn all() -> Vec<&'static EvaluatorEntry> {
    let mut all: Vec<&'static EvaluatorEntry> = inventory::iter::<EvaluatorEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    all
}

/// The evaluator called `name`; an unknown name is an error listing the known ones.
pub fn find(name: &str) -> Result<&'static EvaluatorEntry, String> {
    let all = all();
    if let Some(entry) = all.iter().find(|e| e.name == name) {
        return Ok(entry);
    }
    let names: Vec<&str> = all.iter().map(|e| e.name).collect();
    let close = names.iter().find(|n| strsim::levenshtein(n, name) <= 2);
    let hint = close.map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
    Err(format!(
        "[run] evaluator: `{name}` is not an evaluator of this program; {hint}known: {} \
         (a plugin adds others: link its crate, or load its library with [run] plugins)",
        names.join(", ")
    ))
}

/// Builds the evaluator `context.settings` names.
pub fn build(context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    let entry = find(&context.settings.evaluator)?;
    (entry.build)(context)
}

fn threads(context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    Ok(Box::new(LocalEvaluator::new(Arc::clone(&context.fitness), context.settings.workers)))
}

inventory::submit! {
    EvaluatorEntry { name: "threads", summary: "threads of this process ([run] workers of them)", build: threads }
}

inventory::submit! {
    EvaluatorEntry {
        name: "processes",
        summary: "`lossgp worker` processes on this machine, fed through files in the run directory",
        build: crate::process::from_context,
    }
}

inventory::submit! {
    EvaluatorEntry {
        name: "slurm",
        summary: "Slurm job arrays whose tasks run `lossgp worker` on the nodes ([run.slurm]; a shared filesystem)",
        build: crate::slurm::from_context,
    }
}
