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

/// Why a paired t-test has no answer. Each is a case where SciPy's `ttest_rel` gives NaN (or,
/// for constant non-zero differences, `t = ±inf, p = 0`) and R's `t.test` refuses; lossgp
/// reports the comparison as not testable rather than as evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Untestable {
    /// Fewer than two pairs: no spread to test against.
    TooFewPairs,
    /// A value is NaN or infinite.
    NotFinite,
    /// The differences do not vary (equal on every pair, up to the rounding of the inputs):
    /// the standard error is 0 and the t statistic is undefined, whatever the mean. Two seeds
    /// that both gained one test image are no evidence of a difference.
    NoVariance,
}

impl Untestable {
    /// Why, in words for reports.
    pub fn reason(self) -> &'static str {
        match self {
            Untestable::TooFewPairs => "fewer than two paired seeds",
            Untestable::NotFinite => "a value is not finite",
            Untestable::NoVariance => "the differences do not vary (zero variance)",
        }
    }

    /// Why, in two words for table cells.
    pub fn short(self) -> &'static str {
        match self {
            Untestable::TooFewPairs => "one seed",
            Untestable::NotFinite => "not finite",
            Untestable::NoVariance => "zero variance",
        }
    }
}

/// How far below the inputs' magnitude a spread counts as rounding noise: a difference of two
/// values near `x` carries up to about `ε·|x|` of rounding, so differences that "agree" to
/// within a few dozen ε of the inputs are equal for any test.
const ROUNDING: f64 = 64.0 * f64::EPSILON;

/// The paired t-test of `a` against `b`, value by value (the shorter length counts), as
/// `scipy.stats.ttest_rel(a, b)` where that has a finite answer. Not testable (see
/// [`Untestable`]) for fewer than two pairs, a non-finite value, or differences that do not
/// vary: their standard deviation at most `64 ε` times the largest input (R's `t.test` uses
/// `10 ε` times the mean difference; the inputs' scale also catches differences such as
/// `0.801 - 0.800` and `0.811 - 0.810`, which differ only by rounding and would otherwise give
/// p ≈ 1e-28).
pub fn paired_t(a: &[f64], b: &[f64]) -> Result<PairedT, Untestable> {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 2 {
        return Err(Untestable::TooFewPairs);
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(Untestable::NotFinite);
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (mean, sd) = super::mean_sd(&differences).ok_or(Untestable::TooFewPairs)?;
    let scale = a.iter().chain(b).fold(mean.abs(), |m, v| m.max(v.abs()));
    if sd <= ROUNDING * scale {
        return Err(Untestable::NoVariance);
    }
    let df = n - 1;
    let t = mean / (sd / (n as f64).sqrt());
    let student = StudentsT::new(0.0, 1.0, df as f64).map_err(|_| Untestable::TooFewPairs)?;
    let p = (2.0 * student.cdf(-t.abs())).min(1.0);
    Ok(PairedT { t, df, p })
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
    fn degenerate_samples_are_not_testable() {
        use Untestable::*;
        assert_eq!(paired_t(&[0.8], &[0.7]), Err(TooFewPairs));
        assert_eq!(paired_t(&[], &[]), Err(TooFewPairs));
        // SciPy: all-zero differences give NaN; equal non-zero ones t = inf, p = 0. Neither is
        // evidence.
        assert_eq!(paired_t(&[0.8, 0.9], &[0.8, 0.9]), Err(NoVariance));
        assert_eq!(paired_t(&[3.0, 4.0], &[1.0, 2.0]), Err(NoVariance));
        // Equal up to the rounding of the inputs (the field case: +0.1 point on each seed).
        assert_eq!(paired_t(&[0.801, 0.811], &[0.800, 0.810]), Err(NoVariance));
        assert_eq!(paired_t(&[0.801, 0.811, 0.821], &[0.80, 0.81, 0.82]), Err(NoVariance));
        assert_eq!(paired_t(&[0.9, 0.9, 0.9, 0.9, 0.9], &[0.89, 0.89, 0.89, 0.89, 0.89]), Err(NoVariance));
        // Large values, equal differences: the scale is the inputs'.
        assert_eq!(paired_t(&[1e6 + 1.0, 2e6 + 1.0], &[1e6, 2e6]), Err(NoVariance));
        // A NaN or an infinity (which statrs cannot take) is named, never a panic.
        assert_eq!(paired_t(&[0.8, f64::NAN], &[0.7, 0.7]), Err(NotFinite));
        assert_eq!(paired_t(&[0.8, 0.9], &[f64::NEG_INFINITY, 0.7]), Err(NotFinite));
        // One test image in a thousand of spread is a real spread, however small the p.
        let r = paired_t(&[0.801, 0.812], &[0.800, 0.810]).unwrap();
        assert!(r.p > 0.0 && r.p < 1.0 && r.t.is_finite(), "{r:?}");
        assert!(NoVariance.reason().contains("zero variance"));
    }
}
