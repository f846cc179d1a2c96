//! Backend plugins in shared libraries (`lossgp-plugin-abi`), found through `--plugin FILE`
//! (repeatable), `LOSSGP_PLUGIN_PATH` (files or folders, separated as `PATH` is) and
//! `[run] plugins` in search and transfer configurations. Each library is loaded once; its
//! backend is then listed and opened by name like a linked one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use lossgp_plugin_abi::host;

/// The environment variable of plugin files and folders.
pub const PLUGIN_PATH: &str = "LOSSGP_PLUGIN_PATH";

/// Loads the plugins `LOSSGP_PLUGIN_PATH` names, then those given with `--plugin`.
pub fn load_at_start(given: &[PathBuf]) -> Result<()> {
    if let Some(value) = std::env::var_os(PLUGIN_PATH) {
        for file in host::search_path(&value)? {
            host::load(&file).map_err(|e| anyhow::anyhow!("{e} (from {PLUGIN_PATH})"))?;
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

/// `--plugin FILE` for each plugin loaded so far: what a worker process or Slurm task is
/// started with, so that it has the coordinator's backends.
pub fn worker_args() -> Vec<OsString> {
    host::loaded().iter().flat_map(|p| [OsString::from("--plugin"), p.file.clone().into_os_string()]).collect()
}

/// Plugin paths of a configuration file, relative ones taken from the file's folder (the run
/// directory keeps them absolute).
pub fn resolve(files: &mut [PathBuf], config: &Path) {
    let base = config.parent().unwrap_or(Path::new("."));
    for file in files.iter_mut().filter(|f| f.is_relative()) {
        let joined = base.join(&*file);
        *file = std::fs::canonicalize(&joined).unwrap_or(joined);
    }
}
