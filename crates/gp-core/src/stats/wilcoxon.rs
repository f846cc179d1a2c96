//! Wilcoxon's signed-rank test of paired differences.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use super::ranks;

/// Samples up to this size get the exact distribution; larger ones the normal approximation.
const EXACT_UP_TO: usize = 50;

/// The result of a two-sided signed-rank test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// The smaller of the rank sums of the positive and of the negative differences.
    pub statistic: f64,
    /// Non-zero differences the test used.
    pub n: usize,
    /// The two-sided p-value.
    pub p: f64,
    /// Whether `p` comes from the exact distribution (else from the normal approximation).
    pub exact: bool,
}

/// The two-sided Wilcoxon signed-rank test of `a - b`, value by value (the shorter length
/// counts), as `scipy.stats.wilcoxon(a, b)` in SciPy 1.17: zero differences are dropped
/// (`zero_method="wilcox"`), tied magnitudes share their mean rank; up to 50 differences the
/// p-value is exact, from the distribution of the positive rank sum over all 2^n sign
/// patterns of these ranks (ties included), beyond that it is the normal approximation with
/// the tie correction and no continuity correction. None when every difference is 0 (SciPy:
/// NaN) or a value is not finite (SciPy: NaN).
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> Option<Wilcoxon> {
    if a.iter().zip(b).any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).filter(|d| *d != 0.0).collect();
    let n = differences.len();
    if n == 0 {
        return None;
    }
    let rank = ranks(&differences.iter().map(|d| d.abs()).collect::<Vec<_>>());
    let positive: f64 = rank.iter().zip(&differences).filter(|(_, d)| **d > 0.0).map(|(r, _)| r).sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    let statistic = positive.min(total - positive);
    let (p, exact) =
        if n <= EXACT_UP_TO { (exact_p(&rank, positive), true) } else { (normal_p(&rank, positive), false) };
    Some(Wilcoxon { statistic, n, p, exact })
}

/// Two-sided p of the positive rank sum `positive` under the exact null distribution: each
/// rank's sign is + or - with probability 1/2. Ranks are whole or halves, so the sums are
/// counted over doubled ranks, which are whole.
fn exact_p(rank: &[f64], positive: f64) -> f64 {
    let doubled: Vec<usize> = rank.iter().map(|r| (2.0 * r).round() as usize).collect();
    let most: usize = doubled.iter().sum();
    // counts[s]: sign patterns whose doubled positive sum is s (at most 2^50: exact in f64).
    let mut counts = vec![0.0f64; most + 1];
    counts[0] = 1.0;
    let mut reach = 0;
    for &r in &doubled {
        for s in (0..=reach).rev() {
            counts[s + r] += counts[s];
        }
        reach += r;
    }
    let observed = (2.0 * positive).round() as usize;
    let patterns = 2f64.powi(rank.len() as i32);
    let below: f64 = counts[..=observed].iter().sum();
    let above: f64 = counts[observed..].iter().sum();
    (2.0 * below.min(above) / patterns).min(1.0)
}

/// Two-sided p from the normal approximation, with the variance reduced for ties.
fn normal_p(rank: &[f64], positive: f64) -> f64 {
    let n = rank.len() as f64;
    let mean = n * (n + 1.0) / 4.0;
    let mut sorted = rank.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted
        .chunk_by(|x, y| x == y)
        .map(|group| {
            let t = group.len() as f64;
            t * t * t - t
        })
        .sum();
    let variance = n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - ties / 48.0;
    let z = (positive - mean) / variance.sqrt();
    2.0 * Normal::standard().cdf(-z.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.stats.wilcoxon(d)` for differences `d`, SciPy 1.17.1.
    fn check(d: &[f64], statistic: f64, p: f64, exact: bool) {
        let r = wilcoxon_signed_rank(d, &vec![0.0; d.len()]).unwrap();
        assert_eq!((r.statistic, r.exact), (statistic, exact), "{d:?}");
        assert!((r.p - p).abs() < 1e-12 * p.max(1e-3), "{d:?}: {} vs {p}", r.p);
    }

    #[test]
    fn equals_scipy_wilcoxon() {
        check(&[1.5, -0.5, 2.0, 3.0, 0.25, 1.0, -1.25, 2.5], 6.0, 0.109375, true);
        // Tied magnitudes: the exact distribution over the tied ranks.
        check(&[1.0, 1.0, -1.0, 2.0, 2.0, 3.0], 2.0, 0.125, true);
        // A zero difference is dropped.
        check(&[0.0, 1.0, 2.0, -0.5, 3.0, 1.5], 1.0, 0.125, true);
        // 60 differences: the normal approximation.
        let many: Vec<f64> = (0..60).map(|i| -1.0 + 4.0 * i as f64 / 59.0).collect();
        check(&many, 240.0, 6.727_061_036_745_202e-7, false);
    }

    #[test]
    fn paired_samples_as_scipy_takes_them() {
        // wilcoxon([0.812, 0.805, 0.821, 0.799, 0.815], [0.801, 0.809, 0.811, 0.790, 0.806])
        // = WilcoxonResult(statistic=1.0, pvalue=0.125)
        let r =
            wilcoxon_signed_rank(&[0.812, 0.805, 0.821, 0.799, 0.815], &[0.801, 0.809, 0.811, 0.790, 0.806]).unwrap();
        assert_eq!((r.statistic, r.n), (1.0, 5));
        assert!((r.p - 0.125).abs() < 1e-12);
        // All of one sign over 5 pairs: the smallest two-sided p there is, 2/32.
        assert!((wilcoxon_signed_rank(&[2.0; 5], &[1.0; 5]).unwrap().p - 0.0625).abs() < 1e-12);
        assert_eq!(wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]), None);
        // A NaN would rank as the largest difference of one sign: no answer instead.
        assert_eq!(wilcoxon_signed_rank(&[0.8, f64::NAN, 0.9], &[0.7; 3]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.8, 0.85, 0.9], &[0.7, f64::INFINITY, 0.7]), None);
    }
}
