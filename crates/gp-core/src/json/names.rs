//! The names non-finite numbers are written as.

/// The text written for NaN.
pub const NAN: &str = "NaN";
/// The text written for positive infinity.
pub const INFINITY: &str = "Infinity";
/// The text written for negative infinity.
pub const NEG_INFINITY: &str = "-Infinity";

/// The number a string stands for, if it is one of the names of a non-finite number.
pub(super) fn non_finite(text: &str) -> Option<f64> {
    match text {
        NAN => Some(f64::NAN),
        INFINITY => Some(f64::INFINITY),
        NEG_INFINITY => Some(f64::NEG_INFINITY),
        _ => None,
    }
}
