//! Backend plugins in shared libraries (`lossgp-plugin-abi`), found through `--plugin FILE`
//! (repeatable), `LOSSGP_PLUGIN_PATH` (files or folders, separated as `PATH` is) and
//! `[run] plugins` in search and transfer configurations. Each library is loaded once; its
//! backend is then listed and opened by name like a linked one.
//!
//! `LOSSGP_PLUGIN_PATH` is loaded first and leniently: an entry that cannot be loaded is a
//! warning, so that a stale library in the environment does not stop every command (the
//! backend it would have registered is then unknown, after the warning that says why).
//! `--plugin` and `[run] plugins` are strict: the command fails, naming the file. Two
//! libraries may not register the same backend name; the first loaded keeps it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use lossgp_plugin_abi::host;

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
            if let Err(e) = host::load(&file) {
                tracing::warn!("{PLUGIN_PATH}: {e}; skipped");
            }
        }
    }
    load(given)
}

/// Loads plugin libraries (those loaded before are not loaded again).
pub fn load(files: &[PathBuf]) -> Result<()> {
    for file in files {
        host::load(file)?;
    }
    Ok(())
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
    for plugin in host::loaded() {
        if !files.iter().any(|f| same(f, &plugin.file)) {
            files.push(plugin.file.clone());
        }
    }
}
