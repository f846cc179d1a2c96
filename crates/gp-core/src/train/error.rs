//! The error of a training run.

use crate::backend::BackendError;
use crate::data::DataError;

/// Why a run could not go on (a diverging loss is not an error but a [`Status`](super::Status)).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The settings cannot work.
    #[error("{0}")]
    Config(String),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}
