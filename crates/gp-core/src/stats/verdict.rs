//! Verdicts: is a loss better than, the same as, or worse than a reference? Two rules, both
//! used by reports, which say which rule each word comes from.
//!
//! - The **paper's rule** ("Next Generation Loss Function for Image Classification", arXiv
//!   2404.12948, 2024): a mean accuracy difference within ±0.5 points is *same*, above
//!   *better*, below *worse*. It ignores the spread over seeds.
//! - The **noise-aware rule**: *better* or *worse* only where a paired test rejects "no
//!   difference" at level α, after Holm's correction over every comparison made together
//!   (a whole grid); otherwise *same*.

use serde::{Deserialize, Serialize};

use super::holm;

/// The level of every significance test lossgp reports on (the paired t-test of a search's
/// confirmation and the noise-aware rule of a transfer grid): 0.05.
pub const ALPHA: f64 = 0.05;

/// The paper's margin: differences within ±0.5 points of accuracy are "the same".
pub const PAPER_MARGIN: f64 = 0.005;

/// What the paired evidence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Better than the reference.
    Better,
    /// Not told apart from the reference.
    Same,
    /// Worse than the reference.
    Worse,
    /// Not testable: fewer than two paired seeds, differences that do not vary, or a value
    /// that is not finite (see [`super::Untestable`]). Never read as evidence either way.
    Unconfirmed,
}

impl Verdict {
    /// Its word in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Worse => "worse",
            Verdict::Unconfirmed => "unconfirmed",
        }
    }
}

/// The paper's verdict on a mean difference in accuracy (0.01 is one point); *unconfirmed*
/// for a difference that is not a number.
pub fn paper_verdict(mean_difference: f64) -> Verdict {
    if mean_difference.is_nan() {
        Verdict::Unconfirmed
    } else if mean_difference > PAPER_MARGIN {
        Verdict::Better
    } else if mean_difference < -PAPER_MARGIN {
        Verdict::Worse
    } else {
        Verdict::Same
    }
}

/// The noise-aware verdicts on comparisons made together, each given as its mean difference
/// and its two-sided p-value (none, or not a number, where it could not be tested, e.g. one
/// seed or differences that do not vary: then *unconfirmed*). The p-values are Holm-corrected
/// over all the comparisons that have one; where the corrected value is below `alpha` the sign
/// of the mean decides.
pub fn noise_aware_verdicts(comparisons: &[(f64, Option<f64>)], alpha: f64) -> Vec<Verdict> {
    let tested = |p: &Option<f64>| p.filter(|p| p.is_finite());
    let ps: Vec<f64> = comparisons.iter().filter_map(|(_, p)| tested(p)).collect();
    let mut adjusted = holm(&ps).into_iter();
    comparisons
        .iter()
        .map(|(mean, p)| {
            // Only tested comparisons take a corrected value, in order.
            let Some(q) = tested(p).and_then(|_| adjusted.next()) else { return Verdict::Unconfirmed };
            match q < alpha {
                true if *mean > 0.0 => Verdict::Better,
                true if *mean < 0.0 => Verdict::Worse,
                _ => Verdict::Same,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_margin_is_half_a_point() {
        assert_eq!(paper_verdict(0.0051), Verdict::Better);
        assert_eq!(paper_verdict(0.005), Verdict::Same);
        assert_eq!(paper_verdict(-0.0049), Verdict::Same);
        assert_eq!(paper_verdict(-0.006), Verdict::Worse);
        assert_eq!(paper_verdict(f64::NAN), Verdict::Unconfirmed);
    }

    #[test]
    fn a_p_value_that_is_not_a_number_is_no_evidence_and_leaves_the_family() {
        // Holm over the two finite values alone: 0.01 x 2 = 0.02, 0.02 x 1 -> 0.02.
        let comparisons = [(0.02, Some(0.01)), (0.01, Some(f64::NAN)), (-0.02, Some(0.02))];
        let verdicts = noise_aware_verdicts(&comparisons, 0.05);
        assert_eq!(verdicts, [Verdict::Better, Verdict::Unconfirmed, Verdict::Worse]);
    }

    #[test]
    fn noise_aware_verdicts_correct_for_the_whole_grid() {
        // Holm over [0.01, 0.04, 0.03, 0.005, 0.2] gives [0.04, 0.09, 0.09, 0.025, 0.2]: at
        // alpha 0.05 only the first and the fourth stand, although three are below 0.05 alone.
        let comparisons = [
            (0.02, Some(0.01)),
            (0.01, Some(0.04)),
            (-0.01, Some(0.03)),
            (-0.03, Some(0.005)),
            (0.1, None),
            (0.0, Some(0.2)),
        ];
        let verdicts = noise_aware_verdicts(&comparisons, 0.05);
        use Verdict::*;
        assert_eq!(verdicts, [Better, Same, Same, Worse, Unconfirmed, Same]);
        assert_eq!(verdicts.iter().map(|v| v.name()).collect::<Vec<_>>()[4], "unconfirmed");
    }
}
