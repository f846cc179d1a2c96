//! Settings written as text on the command line: `name` or `name:1:2`.

/// A setting written as text could not be read, or its values cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {what}: {expected}")]
pub struct SettingError {
    what: &'static str,
    text: String,
    expected: String,
}

impl SettingError {
    /// `text` is not a valid `what`; `expected` says what is.
    pub fn new(what: &'static str, text: impl Into<String>, expected: impl Into<String>) -> SettingError {
        SettingError { what, text: text.into(), expected: expected.into() }
    }
}

/// Splits `name:1:2` into the name and its numbers (at most `max`, each finite and not
/// negative).
pub(crate) fn split<'a>(
    what: &'static str,
    text: &'a str,
    max: usize,
    expected: &'static str,
) -> Result<(&'a str, Vec<f64>), SettingError> {
    let error = || SettingError::new(what, text, expected);
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default().trim();
    let numbers: Vec<f64> = parts.map(|p| p.trim().parse::<f64>().map_err(|_| error())).collect::<Result<_, _>>()?;
    if numbers.len() > max || numbers.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(error());
    }
    Ok((name, numbers))
}
