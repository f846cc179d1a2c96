//! `[run]` as the search, transfer and confirm configurations hold it: the run settings every
//! command that evaluates shares ([`RunSettings`], read once, in `lossgp-exec`), with the keys
//! of one command beside them (a search's `baselines`, a transfer grid's `retries`), and the
//! one place that turns them into an evaluator.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lossgp_core::evaluation::{Evaluator, Fitness};
use lossgp_exec::{EvaluatorContext, RunSettings, WorkerCommand, registry};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The keys of `[run]` one command adds to the shared ones.
pub trait OwnKeys: Serialize + DeserializeOwned + Default {
    /// Their names.
    const KEYS: &'static [&'static str];
}

/// No keys of its own.
impl OwnKeys for () {
    const KEYS: &'static [&'static str] = &[];
}

/// A `[run]` table: the shared settings, and the command's own keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunTable<E> {
    /// Shared by search, transfer and confirm.
    pub settings: RunSettings,
    /// This command's own.
    pub own: E,
}

impl<E> Deref for RunTable<E> {
    type Target = RunSettings;
    fn deref(&self) -> &RunSettings {
        &self.settings
    }
}

impl<E> DerefMut for RunTable<E> {
    fn deref_mut(&mut self) -> &mut RunSettings {
        &mut self.settings
    }
}

impl<E: OwnKeys> Serialize for RunTable<E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut table = toml::Table::try_from(&self.own).map_err(S::Error::custom)?;
        table.extend(toml::Table::try_from(&self.settings).map_err(S::Error::custom)?);
        table.serialize(s)
    }
}

impl<'de, E: OwnKeys> Deserialize<'de> for RunTable<E> {
    /// The shared keys are read as [`RunSettings`], the others as `E`; a key of neither is an
    /// error naming every key `[run]` takes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        let (mut own, mut shared) = (toml::Table::new(), toml::Table::new());
        for (key, value) in table {
            if E::KEYS.contains(&key.as_str()) {
                own.insert(key, value);
            } else if RunSettings::KEYS.contains(&key.as_str()) {
                shared.insert(key, value);
            } else {
                let known: Vec<&str> = RunSettings::KEYS.iter().chain(E::KEYS).copied().collect();
                return Err(D::Error::custom(format!("unknown key `{key}` in [run]; it takes {}", known.join(", "))));
            }
        }
        Ok(RunTable {
            settings: shared.try_into().map_err(D::Error::custom)?,
            own: own.try_into().map_err(D::Error::custom)?,
        })
    }
}

impl<E> RunTable<E> {
    /// Checks the shared settings and the evaluator's name (once `[run] plugins`, which may
    /// add evaluators, are loaded).
    pub fn validate(&self) -> Result<()> {
        self.settings.validate().map_err(anyhow::Error::msg).context("[run]")?;
        crate::plugins::load(&self.settings.plugins).context("[run] plugins")?;
        registry::find(&self.settings.evaluator).map_err(anyhow::Error::msg)?;
        for name in self.settings.options.keys() {
            if ["threads", "processes", "slurm"].contains(&name.as_str()) {
                bail!(
                    "[run.options.{name}]: the evaluator `{name}` takes no options (Slurm's settings are [run.slurm])"
                );
            }
            registry::find(name)
                .map_err(|e| anyhow::anyhow!("[run.options.{name}] names no evaluator of this program ({e})"))?;
        }
        Ok(())
    }
}

/// The evaluator `settings` name, for the run in `dir` scoring with `fitness`. Workers
/// elsewhere (processes, Slurm tasks, a plugin's) run this program as `lossgp worker DIR`,
/// which builds the same fitness from the run directory's configuration.
pub fn evaluator(
    settings: &RunSettings,
    dir: &Path,
    fitness: Arc<dyn Fitness>,
    data_dir: Option<&Path>,
) -> Result<Box<dyn Evaluator>> {
    let program = std::env::current_exe().context("finding the lossgp program to start workers with")?;
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let mut args = Vec::new();
    if let Some(data) = data_dir {
        args.extend(["--data-dir".to_owned(), absolute(data).display().to_string()]);
    }
    args.extend(["worker".to_owned(), absolute(dir).display().to_string()]);
    if settings.evaluator == "slurm" {
        // Ctrl-C cancels the run's jobs before the coordinator stops; a SIGKILL leaves them
        // running, for the coordinator started again to take over.
        let run = absolute(dir);
        let handler = ctrlc::set_handler(move || {
            eprintln!("interrupted: cancelling this run's Slurm jobs");
            if let Err(e) = lossgp_exec::cancel_run(&run) {
                eprintln!("{e}");
            }
            std::process::exit(130);
        });
        if let Err(e) = handler {
            tracing::warn!("Ctrl-C will not cancel the Slurm jobs: {e}");
        }
    }
    let context = EvaluatorContext { settings, dir, fitness, worker: WorkerCommand { program, args } };
    registry::build(&context)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("[run] evaluator `{}`", settings.evaluator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Own {
        retries: u32,
    }

    impl OwnKeys for Own {
        const KEYS: &'static [&'static str] = &["retries"];
    }

    #[test]
    fn a_run_table_reads_shared_and_own_keys_and_names_every_key_when_one_is_unknown() {
        let table: RunTable<Own> =
            toml::from_str("evaluator = \"processes\"\nworkers = 3\nretries = 4\n[slurm]\npartition = \"gpu\"")
                .unwrap();
        assert_eq!((table.evaluator.as_str(), table.workers, table.own.retries), ("processes", 3, 4));
        assert_eq!(table.slurm.partition.as_deref(), Some("gpu"));
        let again: RunTable<Own> = toml::from_str(&toml::to_string(&table).unwrap()).unwrap();
        assert_eq!(again, table);
        let error = toml::from_str::<RunTable<Own>>("workerz = 3").unwrap_err().to_string();
        assert!(error.contains("`workerz`") && error.contains("workers") && error.contains("retries"), "{error}");
        let unknown: RunTable<Own> = toml::from_str("evaluator = \"slurn\"").unwrap();
        let error = unknown.validate().unwrap_err().to_string();
        assert!(error.contains("did you mean `slurm`"), "{error}");
        for (options, says) in [
            ("[options.nosuch]\nx = 1", "names no evaluator"),
            ("[options]\nfoo = 1", "names no evaluator"),
            ("[options.processes]\nx = 1", "takes no options"),
        ] {
            let table: RunTable<Own> = toml::from_str(options).unwrap();
            let error = format!("{:#}", table.validate().unwrap_err());
            assert!(error.contains(says), "{options}: {error}");
        }
    }
}
