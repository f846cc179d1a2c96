//! Statistics for comparing losses over seeds: summaries with confidence intervals, paired
//! tests (Student's t, Wilcoxon's signed rank), Holm's correction for testing many at once, and
//! the verdict rules reports use. Distributions come from `statrs`. The tests check every function against values SciPy
//! 1.17 gives on fixed numbers, kept as literals, and Holm's correction against a computation by
//! hand. The search's paired comparisons (`search::Paired`) build on them, and so will the
//! transfer reports.

mod holm;
mod summary;
mod ttest;
mod verdict;
mod wilcoxon;

pub use holm::holm;
pub use summary::{Summary, mean_sd, ranks, spearman};
pub use ttest::{PairedT, Untestable, paired_t};
pub use verdict::{ALPHA, PAPER_MARGIN, Verdict, noise_aware_verdicts, paper_verdict};
pub use wilcoxon::{Wilcoxon, wilcoxon_signed_rank};
