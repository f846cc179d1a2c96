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
//! An evaluator in a shared library (`lossgp-plugin-abi`'s evaluator ABI) is registered when
//! its library is loaded ([`register_loaded`]). The settings of an evaluator a plugin adds
//! are its `[run.options.NAME]` table
//! ([`RunSettings::options`](crate::settings::RunSettings::options)).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// How a registered evaluator is built.
type Build = Arc<dyn Fn(&EvaluatorContext) -> Result<Box<dyn Evaluator>, String> + Send + Sync>;

/// An evaluator the program knows: linked in ([`EvaluatorEntry`]) or loaded from a plugin
/// library ([`register_loaded`]).
#[derive(Clone)]
pub struct Registered {
    /// The name `[run] evaluator` takes.
    pub name: String,
    /// One line for `lossgp list evaluators`.
    pub summary: String,
    /// The plugin library it came from; `None` for one linked into the program.
    pub plugin: Option<PathBuf>,
    build: Build,
}

impl Registered {
    /// Builds it for a run.
    pub fn build(&self, context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
        (self.build)(context)
    }
}

/// Evaluators of plugin libraries, in the order they were loaded.
static LOADED: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// Registers an evaluator loaded from the plugin library `plugin`. A name already taken (by a
/// linked evaluator or another library) is refused, naming both.
pub fn register_loaded(name: &str, summary: &str, plugin: &Path, build: Build) -> Result<(), String> {
    if let Ok(taken) = find(name) {
        let by = taken.plugin.map_or("this program".to_owned(), |p| p.display().to_string());
        return Err(format!("{}: its evaluator `{name}` is already registered by {by}", plugin.display()));
    }
    let entry =
        Registered { name: name.to_owned(), summary: summary.to_owned(), plugin: Some(plugin.to_owned()), build };
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    Ok(())
}

/// Every evaluator the program knows, by name: those linked in, then those of plugins.
pub fn all() -> Vec<Registered> {
    let mut linked: Vec<&'static EvaluatorEntry> = inventory::iter::<EvaluatorEntry>.into_iter().collect();
    linked.sort_by_key(|e| e.name);
    let mut all: Vec<Registered> = linked
        .into_iter()
        .map(|e| Registered {
            name: e.name.to_owned(),
            summary: e.summary.to_owned(),
            plugin: None,
            build: Arc::new(e.build),
        })
        .collect();
    all.extend(LOADED.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
    all
}

/// The evaluator called `name`; an unknown name is an error listing the known ones.
pub fn find(name: &str) -> Result<Registered, String> {
    let all = all();
    if let Some(entry) = all.iter().find(|e| e.name == name) {
        return Ok(entry.clone());
    }
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    let close = names.iter().find(|n| strsim::levenshtein(n, name) <= 2);
    let hint = close.map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
    Err(format!(
        "[run] evaluator: `{name}` is not an evaluator of this program; {hint}known: {} \
         (a plugin adds others: link its crate, or load its library with [run] plugins or --plugin)",
        names.join(", ")
    ))
}

/// Builds the evaluator `context.settings` names.
pub fn build(context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    find(&context.settings.evaluator)?.build(context)
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
