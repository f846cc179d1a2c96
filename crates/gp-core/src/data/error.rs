//! The error of everything that reads data.

use std::path::PathBuf;

/// Why data could not be read. Every variant names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An index past the end of a dataset.
    #[error("sample {index} is out of range: the dataset has {len} samples")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// A file that could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file whose content is not what its format requires (truncated, wrong magic number,
    /// label out of range, image that does not decode).
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Files a dataset needs that are not there.
    #[error("{what} not found at {}; {hint}", path.display())]
    NotFound {
        /// What is missing.
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A setting or argument that cannot work.
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DataError {
        DataError::Io { path: path.into(), source }
    }

    /// A format error in `path`.
    pub fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> DataError {
        DataError::Corrupt { path: path.into(), message: message.into() }
    }

    /// `Ok` if `index` is below `len`: the first line of every [`Dataset::sample`](crate::data::Dataset::sample).
    pub fn check_index(index: usize, len: usize) -> Result<(), DataError> {
        if index < len { Ok(()) } else { Err(DataError::IndexOutOfRange { index, len }) }
    }
}
