//! Student's paired t-test.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A paired t-test of `a - b` against a mean difference of 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedT {
    /// The t statistic: the mean difference over its standard error.
    pub t: f64,
    /// Degrees of freedom, `n - 1`.
    pub df: usize,
    /// The two-sided p-value.
    pub p: f64,
}

/// The paired t-test of `a` against `b`, value by value (the shorter length counts), as
/// `scipy.stats.ttest_rel(a, b)`. None for fewer than two pairs. Where every difference is the
/// same the standard error is 0: then `p` is 1 if they are all 0 (no difference) and 0
/// otherwise (SciPy gives NaN for the first and an infinite `t` for the second).
pub fn paired_t(a: &[f64], b: &[f64]) -> Option<PairedT> {
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = differences.len();
    if n < 2 {
        return None;
    }
    let (mean, sd) = super::mean_sd(&differences)?;
    let df = n - 1;
    if sd == 0.0 {
        let (t, p) = if mean == 0.0 { (0.0, 1.0) } else { (mean.signum() * f64::INFINITY, 0.0) };
        return Some(PairedT { t, df, p });
    }
    let t = mean / (sd / (n as f64).sqrt());
    let student = StudentsT::new(0.0, 1.0, df as f64).expect("positive degrees of freedom");
    let p = (2.0 * student.cdf(-t.abs())).min(1.0);
    Some(PairedT { t, df, p })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_scipy_ttest_rel() {
        // scipy 1.17.1: ttest_rel([0.812, 0.805, 0.821, 0.799, 0.815], [0.801, 0.809, 0.811, 0.790, 0.806])
        // = TtestResult(statistic=2.5226248955475583, pvalue=0.06517428284354863, df=4)
        let r = paired_t(&[0.812, 0.805, 0.821, 0.799, 0.815], &[0.801, 0.809, 0.811, 0.790, 0.806]).unwrap();
        assert!((r.t - 2.522_624_895_547_558_3).abs() < 1e-9, "{}", r.t);
        assert!((r.p - 0.065_174_282_843_548_63).abs() < 1e-9, "{}", r.p);
        assert_eq!(r.df, 4);
        // ttest_1samp([1.5, -0.5, 2.0, 3.0, 0.25, 1.0, -1.25, 2.5], 0): t 2.029818448233788, p 0.08193472326193728
        let d = [1.5, -0.5, 2.0, 3.0, 0.25, 1.0, -1.25, 2.5];
        let r = paired_t(&d, &[0.0; 8]).unwrap();
        assert!((r.t - 2.029_818_448_233_788).abs() < 1e-9 && (r.p - 0.081_934_723_261_937_28).abs() < 1e-9);
        // The sign follows a - b; p does not.
        let swapped = paired_t(&[0.0; 8], &d).unwrap();
        assert!((swapped.t + r.t).abs() < 1e-12 && (swapped.p - r.p).abs() < 1e-12);
    }

    #[test]
    fn degenerate_samples() {
        assert_eq!(paired_t(&[0.8], &[0.7]), None);
        assert_eq!(paired_t(&[0.8, 0.9], &[0.8, 0.9]).unwrap().p, 1.0);
        let constant = paired_t(&[3.0, 4.0], &[1.0, 2.0]).unwrap();
        assert_eq!((constant.p, constant.t), (0.0, f64::INFINITY));
    }
}
