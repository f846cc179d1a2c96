//! The mean the hall of fame and the baselines rank by.

/// The mean of `values`, none if empty.
pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
