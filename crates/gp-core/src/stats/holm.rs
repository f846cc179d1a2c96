//! Holm's step-down correction (Holm 1979) for testing many hypotheses at once.

/// Holm-adjusted p-values, in the order given: the `k`-th smallest p-value (from 0) is
/// multiplied by `m - k`, capped at 1, and made non-decreasing in that order (as
/// `statsmodels.stats.multitest.multipletests(p, method="holm")`). Rejecting where the adjusted
/// value is below α keeps the chance of any false rejection among the `m` tests below α.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
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
    }
}
