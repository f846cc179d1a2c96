//! Holm's step-down correction (Holm 1979) for testing many hypotheses at once.

/// Holm-adjusted p-values, in the order given: the `k`-th smallest p-value (from 0) is
/// multiplied by `m - k`, capped at 1, and made non-decreasing in that order (as
/// `statsmodels.stats.multitest.multipletests(p, method="holm")`). Rejecting where the adjusted
/// value is below α keeps the chance of any false rejection among the `m` tests below α. A
/// p-value that is not a number stays NaN and still counts in `m` (as statsmodels: the
/// correction never gets weaker for a test that could not be read); it never moves the others.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![f64::NAN; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).clamp(0.0, 1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_down_with_monotone_adjustment() {
        // Sorted: 0.005 x 5 = 0.025, 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 -> 0.09
        // (non-decreasing), 0.2 x 1 = 0.2.
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005, 0.2]);
        let expected = [0.04, 0.09, 0.09, 0.025, 0.2];
        assert!(adjusted.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-12), "{adjusted:?}");
        assert_eq!(holm(&[0.6, 0.9]), [1.0, 1.0]);
        assert_eq!(holm(&[0.03]), [0.03]);
        assert!(holm(&[]).is_empty());
        // NaN of either sign (x86's 0/0 is -NaN, which total_cmp puts first) stays NaN and
        // counts in m: the finite ones are 0.001 x 3 and 0.002 x 2.
        for nan in [f64::NAN, -f64::NAN] {
            let adjusted = holm(&[0.001, nan, 0.002]);
            assert!((adjusted[0] - 0.003).abs() < 1e-15 && (adjusted[2] - 0.004).abs() < 1e-15, "{adjusted:?}");
            assert!(adjusted[1].is_nan());
        }
    }
}
