//! `[run]`: how a command's evaluations run on this machine or cluster, the same table for
//! `lossgp search`, `lossgp transfer` and `lossgp confirm`, read once by each.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::slurm::SlurmSettings;

/// The run settings every command that evaluates shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Where evaluations run: a registered evaluator's name (`threads`, `processes`, `slurm`,
    /// or one a plugin adds; `lossgp list evaluators` names them).
    pub evaluator: String,
    /// Evaluations at once (threads or worker processes; Slurm runs as many as it schedules).
    pub workers: usize,
    /// Backend threads of each worker process (`RAYON_NUM_THREADS` for burn's CPU backends and
    /// candle, `OMP_NUM_THREADS` for libtorch and a PyTorch command); 0 leaves the backend's
    /// default (all cores).
    pub threads_per_worker: usize,
    /// A fitness cache shared with other runs on the same task.
    pub cache: Option<PathBuf>,
    /// `[run.slurm]`: job arrays, for `evaluator = "slurm"`.
    pub slurm: SlurmSettings,
    /// Plugins (shared libraries) to load before anything is opened; relative paths are taken
    /// from the configuration file's folder.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PathBuf>,
    /// `[run.options.NAME]`: the settings of an evaluator a plugin adds, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, serde_json::Value>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            evaluator: "threads".into(),
            workers: 1,
            threads_per_worker: 1,
            cache: None,
            slurm: SlurmSettings::default(),
            plugins: Vec::new(),
            options: BTreeMap::new(),
        }
    }
}

impl RunSettings {
    /// Checks what can be checked before plugins are loaded: worker counts and the Slurm
    /// settings. The evaluator's name is checked by [`crate::registry::find`], once plugins
    /// are loaded.
    pub fn validate(&self) -> Result<(), String> {
        lossgp_core::limits::check_workers(self.workers, self.threads_per_worker)?;
        self.slurm.validate()
    }

    /// The settings of evaluator `name` (`[run.options.NAME]`), read as `T` (its defaults where
    /// the table is absent).
    pub fn options<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> Result<T, String> {
        match self.options.get(name) {
            None => Ok(T::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| format!("[run.options.{name}]: {e}")),
        }
    }
}

impl RunSettings {
    /// The keys of `[run]` these settings take.
    pub const KEYS: &'static [&'static str] =
        &["evaluator", "workers", "threads_per_worker", "cache", "slurm", "plugins", "options"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_the_fields() {
        let mut settings = RunSettings { cache: Some("c".into()), plugins: vec!["p".into()], ..RunSettings::default() };
        settings.options.insert("x".into(), serde_json::json!({}));
        let value = serde_json::to_value(&settings).unwrap();
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = RunSettings::KEYS.to_vec();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
    }
}
