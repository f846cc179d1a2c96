//! Mean, spread and confidence interval of a sample; ranks and Spearman's correlation.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A sample's mean with its spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// How many values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (`n - 1` in the denominator; 0 for one value).
    pub sd: f64,
    /// The 95% confidence interval of the mean from Student's t with `n - 1` degrees of
    /// freedom, `[low, high]`; the mean itself for one value.
    pub interval: [f64; 2],
}

impl Summary {
    /// The summary of `values`; none if empty.
    pub fn new(values: &[f64]) -> Option<Summary> {
        let (mean, sd) = mean_sd(values)?;
        let n = values.len();
        let half = if n > 1 { t_975(n - 1) * sd / (n as f64).sqrt() } else { 0.0 };
        Some(Summary { n, mean, sd, interval: [mean - half, mean + half] })
    }

    /// The summary of a quantity that cannot leave `[low, high]` (an accuracy, a fraction):
    /// its interval is cut to that range. Student's interval assumes an unbounded quantity, and
    /// for accuracies near 100% over few seeds it would otherwise reach above 100%.
    pub fn bounded(values: &[f64], low: f64, high: f64) -> Option<Summary> {
        let mut summary = Summary::new(values)?;
        summary.interval = [summary.interval[0].clamp(low, high), summary.interval[1].clamp(low, high)];
        Some(summary)
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (`df` at least 1): the
/// half-width of a two-sided 95% interval in standard errors.
fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).expect("positive degrees of freedom").inverse_cdf(0.975)
}

/// The mean and the sample standard deviation (`n - 1` in the denominator; 0 for one value) of
/// `values`; none if empty.
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    Some((mean, sd))
}

/// Spearman's rank correlation of the pairs `(a, b)`: Pearson's correlation of their ranks,
/// ties sharing their mean rank. None for fewer than 3 pairs, where either side is constant
/// (SciPy: NaN with a warning), or where a value is not finite (SciPy: NaN).
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 || pairs.iter().any(|(a, b)| !a.is_finite() || !b.is_finite()) {
        return None;
    }
    let a = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// The rank of each value from 1, ties sharing their mean rank.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        order[start..end].iter().for_each(|&i| ranks[i] = rank);
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_interval_stays_in_its_range() {
        let accuracies = [0.999, 0.97, 1.0];
        let free = Summary::new(&accuracies).unwrap();
        assert!(free.interval[1] > 1.0, "Student's interval reaches past 100%: {:?}", free.interval);
        let bounded = Summary::bounded(&accuracies, 0.0, 1.0).unwrap();
        assert_eq!(bounded.interval[1], 1.0);
        assert_eq!((bounded.mean, bounded.sd, bounded.interval[0]), (free.mean, free.sd, free.interval[0]));
    }

    #[test]
    fn spearman_ranks_with_ties() {
        let same = [(1.0, 10.0), (2.0, 20.0), (3.0, 25.0), (4.0, 90.0)];
        assert!((spearman(&same).unwrap() - 1.0).abs() < 1e-12);
        let reversed = [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0), (4.0, 1.0)];
        assert!((spearman(&reversed).unwrap() + 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505138
        let ties = [(1.0, 1.0), (2.0, 3.0), (2.0, 2.0), (3.0, 4.0)];
        assert!((spearman(&ties).unwrap() - 0.948_683_298_050_513_8).abs() < 1e-12);
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 2.0)]), None);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, f64::NAN), (3.0, 3.0), (4.0, 4.0)]), None);
        assert_eq!(spearman(&[(1.0, 1.0), (f64::INFINITY, 2.0), (3.0, 3.0)]), None);
    }

    #[test]
    fn summaries_give_students_interval() {
        // scipy 1.17.1, for a = [0.812, 0.805, 0.821, 0.799, 0.815]: a.std(ddof=1) = 0.00859069263796577,
        // t.interval(0.95, 4, loc=a.mean(), scale=sem(a)) = (0.7997332462318036, 0.8210667537681962).
        let s = Summary::new(&[0.812, 0.805, 0.821, 0.799, 0.815]).unwrap();
        assert_eq!(s.n, 5);
        assert!((s.mean - 0.8104).abs() < 1e-12);
        assert!((s.sd - 0.008_590_692_637_965_77).abs() < 1e-12, "{}", s.sd);
        assert!((s.interval[0] - 0.799_733_246_231_803_6).abs() < 1e-9, "{:?}", s.interval);
        assert!((s.interval[1] - 0.821_066_753_768_196_2).abs() < 1e-9, "{:?}", s.interval);
        assert_eq!(Summary::new(&[0.5]).unwrap().interval, [0.5, 0.5]);
        assert_eq!(Summary::new(&[]), None);
    }
}
