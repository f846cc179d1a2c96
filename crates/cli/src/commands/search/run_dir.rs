//! A search's run directory as the commands that read one open it (`report`, `confirm`,
//! `loss export`, workers).

use std::path::Path;

use anyhow::{Result, bail};
use lossgp_core::search::{RunDir, State};

use super::config::SearchFile;

pub use super::reference::CONFIG;

/// The configuration and state of a run directory with at least one finished generation;
/// `what` names the command's purpose in the error for a run that has none yet.
pub fn open_run(dir: &Path, what: &str) -> Result<(SearchFile, State)> {
    let path = dir.join(CONFIG);
    if !path.is_file() {
        bail!("{} has no {CONFIG}: it is not a lossgp run directory", dir.display());
    }
    let file = SearchFile::read(&path)?;
    let Some(state) = RunDir::create(dir)?.load_state()? else {
        bail!("{} has no finished generation yet: nothing to {what}", dir.display());
    };
    Ok((file, state))
}
