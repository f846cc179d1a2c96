//! Why an evaluation failed, typed by what to do about it (Optuna's view: a failure is a
//! value, and whether to try again is part of it).

use serde::{Deserialize, Serialize};

/// Why an evaluation failed. A loss that diverges is not a failure: its evaluation succeeds
/// with fitness 0. A failure is an evaluation that produced no score.
///
/// On disk (a worker's result in the queue) it is `{"transient": "TEXT"}` or
/// `{"permanent": "TEXT"}`; a plain string, as results were written before failures had a
/// kind, reads as transient, which is how they were treated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum EvalError {
    /// The engine or the machine failed (a worker killed, a node lost, a task preempted, a
    /// file unreadable for a moment): another attempt may succeed, so the job is retried up
    /// to the run's `retries`.
    #[error("{0}")]
    Transient(String),
    /// The evaluation itself cannot succeed (a configuration the fitness refuses, a command
    /// that is not found, a result that is not a number, a run past its time limit): another
    /// attempt would repeat it, so the candidate is recorded as failed at once.
    #[error("{0}")]
    Permanent(String),
}

impl EvalError {
    /// A failure worth another attempt.
    pub fn transient(message: impl Into<String>) -> EvalError {
        EvalError::Transient(message.into())
    }

    /// A failure another attempt would repeat.
    pub fn permanent(message: impl Into<String>) -> EvalError {
        EvalError::Permanent(message.into())
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EvalError::Transient(_))
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        match self {
            EvalError::Transient(m) | EvalError::Permanent(m) => m,
        }
    }

    /// The same failure with `context` before its message (`context: message`).
    pub fn context(self, context: &str) -> EvalError {
        match self {
            EvalError::Transient(m) => EvalError::Transient(format!("{context}: {m}")),
            EvalError::Permanent(m) => EvalError::Permanent(format!("{context}: {m}")),
        }
    }
}

/// Untyped failures (`Err(String)`, the form before failures had a kind) are transient: they
/// were all retried.
impl From<String> for EvalError {
    fn from(message: String) -> EvalError {
        EvalError::Transient(message)
    }
}

impl From<&str> for EvalError {
    fn from(message: &str) -> EvalError {
        EvalError::Transient(message.to_owned())
    }
}

impl<'de> Deserialize<'de> for EvalError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Typed {
            Transient(String),
            Permanent(String),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Untyped(String),
            Typed(Typed),
        }
        Ok(match Either::deserialize(d)? {
            Either::Untyped(m) | Either::Typed(Typed::Transient(m)) => EvalError::Transient(m),
            Either::Typed(Typed::Permanent(m)) => EvalError::Permanent(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_round_trip_with_their_kind_and_old_plain_strings_read_as_transient() {
        for error in [EvalError::transient("node lost"), EvalError::permanent("python3: not found")] {
            let text = crate::json::to_string(&error).unwrap();
            assert_eq!(crate::json::from_str::<EvalError>(&text).unwrap(), error, "{text}");
        }
        assert_eq!(crate::json::to_string(&EvalError::permanent("x")).unwrap(), r#"{"permanent":"x"}"#);
        // A queue result written before failures had a kind.
        let old: Result<u32, EvalError> = crate::json::from_str(r#"{"Err":"worker lost"}"#).unwrap();
        assert_eq!(old, Err(EvalError::transient("worker lost")));
        assert!(old.unwrap_err().is_retryable());
        assert!(!EvalError::permanent("bad config").is_retryable());
    }
}
