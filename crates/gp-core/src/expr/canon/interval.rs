//! Interval arithmetic on `(lo, hi)` pairs, for the bounds of values over every input
//! ([`bounds`](super::bounds)).

/// Whether `exp` of every value in the interval is a normal float.
pub(super) fn exp_is_normal_over((lo, hi): (f64, f64)) -> bool {
    lo >= f64::MIN_POSITIVE.ln() && hi <= f64::MAX.ln()
}

/// The interval `[lo, hi]` scaled by `k`.
pub(super) fn interval_scaled((lo, hi): (f64, f64), k: f64) -> (f64, f64) {
    if k >= 0.0 { (lo * k, hi * k) } else { (hi * k, lo * k) }
}

pub(super) fn interval_product((a, b): (f64, f64), (c, d): (f64, f64)) -> (f64, f64) {
    let products = [a * c, a * d, b * c, b * d];
    (products.iter().copied().fold(f64::INFINITY, f64::min), products.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

pub(super) fn interval_power((lo, hi): (f64, f64), k: u32) -> (f64, f64) {
    let k = i32::try_from(k).unwrap_or(i32::MAX);
    if k % 2 == 1 || lo >= 0.0 {
        (lo.powi(k), hi.powi(k))
    } else if hi <= 0.0 {
        (hi.powi(k), lo.powi(k))
    } else {
        (0.0, lo.abs().max(hi.abs()).powi(k))
    }
}

pub(super) fn interval_abs((lo, hi): (f64, f64)) -> (f64, f64) {
    if lo >= 0.0 {
        (lo, hi)
    } else if hi <= 0.0 {
        (-hi, -lo)
    } else {
        (0.0, lo.abs().max(hi.abs()))
    }
}

/// The interval, if both ends are finite.
pub(super) fn finite((lo, hi): (f64, f64)) -> Option<(f64, f64)> {
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}
