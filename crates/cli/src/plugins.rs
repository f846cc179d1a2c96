//! Plugins in shared libraries (`lossgp-plugin-abi`), found through `--plugin FILE`
//! (repeatable), `LOSSGP_PLUGIN_PATH` (files or folders, separated as `PATH` is) and
//! `[run] plugins` in search and transfer configurations. Each library is loaded once; its
//! backend, or its evaluator, is then listed and used by name like a linked one.
//!
//! `LOSSGP_PLUGIN_PATH` is loaded first and leniently: an entry that cannot be loaded is a
//! warning, so that a stale library in the environment does not stop every command (the
//! backend it would have registered is then unknown, after the warning that says why).
//! `--plugin` and `[run] plugins` are strict: the command fails, naming the file. Two
//! libraries may not register the same backend name; the first loaded keeps it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use lossgp_core::evaluation::Evaluator;
use lossgp_plugin_abi::{PluginContext, host, host_evaluator};

/// The environment variable of plugin files and folders.
pub const PLUGIN_PATH: &str = "LOSSGP_PLUGIN_PATH";

/// Loads the plugins `LOSSGP_PLUGIN_PATH` names, then those given with `--plugin`.
pub fn load_at_start(given: &[PathBuf]) -> Result<()> {
    if let Some(value) = std::env::var_os(PLUGIN_PATH) {
        let files = host::search_path(&value).unwrap_or_else(|e| {
            tracing::warn!("{PLUGIN_PATH}: {e}; its plugins are not loaded");
            Vec::new()
        });
        for file in files {
            if let Err(e) = load_one(&file) {
                tracing::warn!("{PLUGIN_PATH}: {e:#}; skipped");
            }
        }
    }
    load(given)
}

/// Loads plugin libraries (those loaded before are not loaded again).
pub fn load(files: &[PathBuf]) -> Result<()> {
    for file in files {
        load_one(file)?;
    }
    Ok(())
}

/// Loads one library: its backend, its evaluator, or both, as it exports them.
fn load_one(file: &Path) -> Result<()> {
    let evaluator = host_evaluator::exports_evaluator(file)?;
    if !evaluator || host::exports_backend(file)? {
        host::load(file)?;
    }
    if evaluator {
        register_evaluator(file)?;
    }
    Ok(())
}

/// Loads the evaluator of a library and registers it by name.
fn register_evaluator(file: &Path) -> Result<()> {
    let loaded = host_evaluator::load_evaluator(file)?;
    if lossgp_exec::registry::find(&loaded.name).is_ok_and(|r| r.plugin.as_deref() == Some(loaded.file.as_path())) {
        return Ok(());
    }
    let build = move |context: &lossgp_exec::EvaluatorContext| -> Result<Box<dyn Evaluator>, String> {
        let settings = context.settings;
        let plugin_context = PluginContext {
            evaluator: settings.evaluator.clone(),
            settings: serde_json::to_value(settings).map_err(|e| e.to_string())?,
            options: settings.options.get(&settings.evaluator).cloned().unwrap_or(serde_json::Value::Null),
            workers: settings.workers,
            threads_per_worker: settings.threads_per_worker,
            dir: context.dir.to_owned(),
            program: context.worker.program.clone(),
            args: context.worker.args.clone(),
        };
        Ok(Box::new(loaded.start(&plugin_context)?))
    };
    lossgp_exec::registry::register_loaded(&loaded.name, &loaded.summary, &loaded.file, std::sync::Arc::new(build))
        .map_err(anyhow::Error::msg)
}

/// Plugin paths of a configuration file, relative ones taken from the file's folder and made
/// absolute (so the run directory's copy names the same files).
pub fn resolve(files: &mut [PathBuf], config: &Path) {
    let base = config.parent().unwrap_or(Path::new("."));
    for file in files.iter_mut().filter(|f| f.is_relative()) {
        let joined = base.join(&*file);
        *file = std::path::absolute(&joined).unwrap_or(joined);
    }
}

/// Adds the plugins loaded so far (from `--plugin` and `LOSSGP_PLUGIN_PATH`) to a run's
/// `[run] plugins`, so that `--resume`, worker processes and Slurm tasks, which all read the
/// run directory's configuration, load the same backends without being told again.
pub fn record(files: &mut Vec<PathBuf>) {
    let same = |a: &Path, b: &Path| std::fs::canonicalize(a).is_ok_and(|a| a == b);
    let backends = host::loaded().into_iter().map(|p| p.file.clone());
    let evaluators = host_evaluator::loaded_evaluators().into_iter().map(|p| p.file.clone());
    for file in backends.chain(evaluators) {
        if !files.iter().any(|f| same(f, &file)) {
            files.push(file);
        }
    }
}
