//! Where data lives: the data directory, chosen by `--data-dir`, then the `LOSSGP_DATA_DIR`
//! environment variable, then the per-user cache directory; and system-wide copies that
//! distributions install.

use std::path::{Path, PathBuf};

use lossgp_core::data::DataError;
use serde::Serialize;

/// The environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "LOSSGP_DATA_DIR";

/// Copies of datasets that operating-system packages install, searched after the data
/// directory: Debian's `dataset-fashion-mnist` package.
pub const SYSTEM_COPIES: &[(&str, &str)] = &[
    ("fashion-mnist", "/usr/share/datasets/fashion-mnist"),
    // Debian's python3-sklearn: digits.csv.gz, the 1,797 digits of UCI's optdigits.tes.
    ("digits", "/usr/lib/python3/dist-packages/sklearn/datasets/data"),
];

/// How the data directory was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The `--data-dir` option.
    Option,
    /// The `LOSSGP_DATA_DIR` environment variable.
    Environment,
    /// The per-user cache directory.
    UserCache,
}

/// The data directory: each dataset in a folder named after it.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    origin: Origin,
}

impl DataDir {
    /// The directory given, else `LOSSGP_DATA_DIR`, else `<user cache>/lossgp` (on Linux
    /// `~/.cache/lossgp`).
    pub fn resolve(option: Option<&Path>) -> Result<DataDir, DataError> {
        if let Some(dir) = option {
            return Ok(DataDir { root: dir.to_owned(), origin: Origin::Option });
        }
        if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(DataDir { root: PathBuf::from(dir), origin: Origin::Environment });
        }
        let cache = dirs::cache_dir().ok_or_else(|| {
            DataError::Invalid(format!(
                "there is no per-user cache directory here; choose a data directory with --data-dir or {DATA_DIR_ENV}"
            ))
        })?;
        Ok(DataDir { root: cache.join("lossgp"), origin: Origin::UserCache })
    }

    /// A data directory at `root`, as if given with `--data-dir`.
    pub fn at(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into(), origin: Origin::Option }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How it was chosen.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The folder of one dataset.
    pub fn dataset(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where to look for a dataset: its folder here, then any system copy.
    pub fn candidates(&self, name: &str) -> Vec<PathBuf> {
        let system = SYSTEM_COPIES.iter().filter(|(n, _)| *n == name).map(|(_, p)| PathBuf::from(p));
        std::iter::once(self.dataset(name)).chain(system).collect()
    }
}
