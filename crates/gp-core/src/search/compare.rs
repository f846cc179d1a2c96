//! Paired comparisons of a found loss with a baseline over the confirmation seeds: on each seed
//! both were trained from the same initial weights on the same batches, so the difference of
//! their fitness on that seed is free of the seed's own luck.
//!
//! The rule, stated once: a loss is **better** (or **worse**) than a baseline when the paired
//! t-test over the seeds rejects "no difference" at α = 0.05 (two-sided; equivalently, the 95%
//! confidence interval of the mean paired difference, from Student's t with `n - 1` degrees of
//! freedom, lies wholly above (below) 0); otherwise the evidence cannot tell them apart and the
//! verdict is **same**. Where the test has no answer there is no verdict (*unconfirmed*): fewer
//! than two seeds, differences equal on every seed (a fitness that does not depend on the seed,
//! or a gain of the same test images each time: zero variance is no evidence), or a value that
//! is not finite. The same test decides transfer grids (`stats::paired_t`).

use serde::{Deserialize, Serialize};

use crate::stats::{ALPHA, Summary, Untestable, Verdict, paired_t};

/// The rule in one sentence, for reports.
pub const RULE: &str = "paired over the confirmation seeds (same initial weights and batches per seed): better or worse \
                        when the 95% confidence interval of the mean difference (Student's t, n - 1 degrees of freedom) \
                        excludes 0, i.e. a two-sided paired t-test at alpha = 0.05; same otherwise";

/// The paired difference `candidate - baseline` over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The difference on each seed, in fitness units (accuracy: 0.01 is one point).
    pub differences: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 for one seed).
    pub sd: f64,
    /// The 95% confidence interval of the mean, `[low, high]` (the mean itself for one seed).
    pub interval: [f64; 2],
    /// The verdict of the rule in the module documentation.
    pub verdict: Verdict,
    /// Why there is no verdict, where the test has no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<Untestable>,
}

impl Paired {
    /// Compares `candidate` with `baseline`, seed by seed (the shorter length counts); none
    /// if there is no seed in common.
    pub fn new(candidate: &[f64], baseline: &[f64]) -> Option<Paired> {
        let differences: Vec<f64> = candidate.iter().zip(baseline).map(|(a, b)| a - b).collect();
        let Summary { mean, sd, interval, .. } = Summary::new(&differences)?;
        let (verdict, untestable) = match paired_t(candidate, baseline) {
            Ok(t) if t.p < ALPHA && t.t > 0.0 => (Verdict::Better, None),
            Ok(t) if t.p < ALPHA && t.t < 0.0 => (Verdict::Worse, None),
            Ok(_) => (Verdict::Same, None),
            Err(why) => (Verdict::Unconfirmed, Some(why)),
        };
        Some(Paired { differences, mean, sd, interval, verdict, untestable })
    }

    /// The verdict's word for reports, with the reason where the test had no answer
    /// (`unconfirmed (zero variance)`).
    pub fn verdict_text(&self) -> String {
        match self.untestable {
            Some(why) => format!("{} ({})", self.verdict.name(), why.short()),
            None => self.verdict.name().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_students_and_decides_the_verdict() {
        // Differences 0.02, 0.03, 0.04: mean 0.03, sd 0.01, t(0.975, 2) = 4.3027.
        let p = Paired::new(&[0.86, 0.85, 0.84], &[0.84, 0.82, 0.80]).unwrap();
        assert!((p.mean - 0.03).abs() < 1e-12 && (p.sd - 0.01).abs() < 1e-12);
        let half = 4.302_652_729_911_275 * 0.01 / 3f64.sqrt();
        assert!((p.interval[0] - (0.03 - half)).abs() < 1e-9, "{:?}", p.interval);
        assert_eq!(p.verdict, Verdict::Better);
        // A one-point lead on average that flips sign on one seed is not evidence.
        let noisy = Paired::new(&[0.86, 0.83, 0.86], &[0.84, 0.84, 0.84]).unwrap();
        assert_eq!(noisy.verdict, Verdict::Same);
        assert_eq!(Paired::new(&[0.80, 0.80, 0.81], &[0.84, 0.85, 0.85]).unwrap().verdict, Verdict::Worse);
        // Two seeds leave 1 degree of freedom (t = 12.7): the same gap is not yet evidence.
        assert_eq!(Paired::new(&[0.80, 0.80], &[0.84, 0.85]).unwrap().verdict, Verdict::Same);
        assert_eq!(Paired::new(&[0.9], &[0.8]).unwrap().verdict, Verdict::Unconfirmed);
        // Equal differences on every seed: zero variance, no verdict (a CI of zero width used
        // to call these better or worse).
        for (a, b) in [
            (vec![0.81, 0.82, 0.83], vec![0.80, 0.81, 0.82]),
            (vec![0.5, 0.5, 0.5], vec![0.5442, 0.5442, 0.5442]),
            (vec![0.9, 0.8], vec![0.9, 0.8]),
        ] {
            let p = Paired::new(&a, &b).unwrap();
            assert_eq!((p.verdict, p.untestable), (Verdict::Unconfirmed, Some(Untestable::NoVariance)), "{a:?} {b:?}");
        }
        let nan = Paired::new(&[0.8, f64::NAN, 0.9], &[0.7, 0.7, 0.7]).unwrap();
        assert_eq!((nan.verdict, nan.untestable), (Verdict::Unconfirmed, Some(Untestable::NotFinite)));
        assert_eq!(Paired::new(&[], &[0.8]), None);
    }
}
