//! The statistics of a transfer grid, as the paper reports them and with the noise taken into
//! account.
//!
//! - Per loss and column: mean ± sd and the 95% confidence interval (Student's t) of top-1
//!   accuracy over seeds, and of top-5 accuracy and mIoU where the column has them.
//! - Against the reference (cross entropy), seed by seed (paired: same initial weights and
//!   batches): the differences, their mean and 95% interval, the paired t-test, Wilcoxon's
//!   signed-rank test, the paper's verdict (±0.5 points, [`paper_verdict`]) and the
//!   noise-aware verdict ([`noise_aware_verdicts`]: the paired t-test at α after Holm's
//!   correction over every comparison of the grid).
//! - A run that diverged or could not train scores 0, the worst accuracy, as in the search: a
//!   loss that fails on some seeds pays for it in its mean.
//! - Against the **strongest baseline** of each column (the baseline contender, cross entropy
//!   included, with the best mean top-1 over the column's finished seeds), the same paired
//!   statistics, with Holm's correction over that family of comparisons: beating cross
//!   entropy is not enough where label smoothing or NGL beats it too. Where the baselines
//!   include several label-smoothing ε, the strongest is label smoothing tuned on the column's
//!   own test seeds, which favours the baseline.
//! - Per loss over the grid: the paper's mean column (the mean of its differences over the
//!   columns), its mean rank over every (column, seed) on which all losses finished, and its
//!   counts of better / same / worse by each rule.
//!
//! Every accuracy and difference is a fraction (0.01 is one point).

use serde::{Deserialize, Serialize};

use super::grid::Grid;
use super::ledger::CellRecord;
use crate::stats::{
    ALPHA, PAPER_MARGIN, PairedT, Summary, Untestable, Verdict, Wilcoxon, holm, noise_aware_verdicts, paired_t,
    paper_verdict, ranks, wilcoxon_signed_rank,
};

/// How each verdict is reached, in the words reports print.
pub const PAPER_RULE: &str = "the paper's rule: better or worse where the mean difference in top-1 accuracy over the \
                              seeds exceeds ±0.5 points, same within it (spread not considered)";
/// See [`PAPER_RULE`].
pub const NOISE_AWARE_RULE: &str = "the noise-aware rule: better or worse only where the paired t-test over the \
                                    seeds rejects 'no difference' at α = 0.05 after Holm's correction over every \
                                    comparison in the grid, same otherwise; not testable (no verdict) with one seed, with \
                                    differences equal on every seed (zero variance is no evidence) or with a value that is \
                                    not finite";

/// The whole analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The reference's name (the first contender: cross entropy).
    pub reference: String,
    /// The columns, in order: `(model, dataset)`.
    pub columns: Vec<(String, String)>,
    /// Seeds of the grid.
    pub seeds: usize,
    /// Cells finished.
    pub cells_finished: usize,
    /// Cells in the grid.
    pub cells: usize,
    /// One entry per loss, the reference first.
    pub losses: Vec<LossAnalysis>,
    /// Per column, the strongest baseline's name (none before any has finished a seed).
    #[serde(default)]
    pub strongest: Vec<Option<String>>,
    /// The paper's rule, in words.
    pub paper_rule: String,
    /// The noise-aware rule, in words.
    pub noise_aware_rule: String,
}

/// One loss over the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossAnalysis {
    /// Its name.
    pub name: String,
    /// Its expression.
    pub expr: String,
    /// One entry per column, in order.
    pub columns: Vec<ColumnResult>,
    /// The paper's mean column: the mean over columns of the mean difference to the reference
    /// (none for the reference, or before any column has a pair).
    pub mean_difference: Option<f64>,
    /// Its mean rank (1 = best) over every (column, seed) on which every loss finished.
    pub mean_rank: Option<f64>,
    /// Verdicts by the paper's rule.
    pub paper: Counts,
    /// Verdicts by the noise-aware rule.
    pub noise_aware: Counts,
    /// Whether it is a baseline.
    #[serde(default)]
    pub baseline: bool,
    /// The mean over columns of the mean difference to the column's strongest baseline (none
    /// where it is that baseline on every column).
    #[serde(default)]
    pub mean_difference_strongest: Option<f64>,
    /// Verdicts against the strongest baseline, by the paper's rule.
    #[serde(default)]
    pub paper_strongest: Counts,
    /// Verdicts against the strongest baseline, by the noise-aware rule (Holm over that family).
    #[serde(default)]
    pub noise_aware_strongest: Counts,
}

/// Verdicts counted over the columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Better than the reference.
    pub better: usize,
    /// Told apart from it by neither.
    pub same: usize,
    /// Worse.
    pub worse: usize,
    /// Not testable (fewer than two paired seeds, differences that do not vary, a value that
    /// is not finite; the noise-aware rule only).
    pub unconfirmed: usize,
}

impl Counts {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Better => self.better += 1,
            Verdict::Same => self.same += 1,
            Verdict::Worse => self.worse += 1,
            Verdict::Unconfirmed => self.unconfirmed += 1,
        }
    }
}

/// One loss on one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnResult {
    /// Top-1 test accuracy per seed (none where the cell has not finished).
    pub per_seed: Vec<Option<f64>>,
    /// Top-1 accuracy over the finished seeds.
    pub accuracy: Option<Summary>,
    /// Top-5 accuracy, where the column has it.
    pub top5: Option<Summary>,
    /// Mean intersection over union, for segmentation.
    pub mean_iou: Option<Summary>,
    /// Seeds on which the run diverged or could not train: scored 0, the worst accuracy (as
    /// the search scores them), never left out.
    pub failed: usize,
    /// Against the reference (none for the reference itself, or without a common seed).
    pub versus: Option<Comparison>,
    /// Against the column's strongest baseline (none for that baseline itself).
    #[serde(default)]
    pub versus_strongest: Option<Comparison>,
}

/// A loss against the reference on one column, paired by seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The seeds both finished, and the difference on each.
    pub seeds: Vec<usize>,
    /// `loss - reference` per seed.
    pub differences: Vec<f64>,
    /// Their mean, sd and 95% interval.
    pub difference: Summary,
    /// The paired t-test (none where it has no answer: see `untestable`).
    pub t_test: Option<PairedT>,
    /// Why the t-test has no answer (fewer than two seeds, differences that do not vary, a
    /// value that is not finite); the noise-aware verdict is then *unconfirmed*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<Untestable>,
    /// Wilcoxon's signed-rank test (none where every difference is 0). With 5 seeds its
    /// smallest two-sided p-value is 0.0625: it cannot reject at 0.05.
    pub wilcoxon: Option<Wilcoxon>,
    /// The t-test's p-value after Holm's correction over the grid.
    pub p_holm: Option<f64>,
    /// The paper's verdict.
    pub paper: Verdict,
    /// The noise-aware verdict.
    pub noise_aware: Verdict,
}

/// Analyses the finished cells of `grid` (`results` in [`Grid::cells`] order, as
/// [`Ledger::results`](super::Ledger::results) gives them); a grid still running is analysed
/// on what it has.
pub fn analyse(grid: &Grid, results: &[Option<CellRecord>]) -> Analysis {
    let (losses, columns, seeds) = (grid.contenders.len(), grid.columns.len(), grid.seeds);
    // value[loss][column][seed]
    let mut value = vec![vec![vec![None::<&CellRecord>; seeds]; columns]; losses];
    for (cell, result) in grid.cells().iter().zip(results) {
        value[cell.contender][cell.column][cell.seed] = result.as_ref();
    }
    let metric = |records: &[Option<&CellRecord>], name: &str| -> Option<Summary> {
        let values: Vec<f64> = records.iter().flatten().filter_map(|r| r.scored.metrics.get(name).copied()).collect();
        // Top-5 accuracy and mean IoU are fractions: their intervals stay within [0, 1].
        Summary::bounded(&values, 0.0, 1.0)
    };
    let mut analysis: Vec<LossAnalysis> = grid
        .contenders
        .iter()
        .enumerate()
        .map(|(l, contender)| {
            let columns = (0..columns)
                .map(|c| {
                    let records = &value[l][c];
                    let per_seed: Vec<Option<f64>> = records.iter().map(|r| r.map(|r| r.scored.fitness)).collect();
                    let finished: Vec<f64> = per_seed.iter().flatten().copied().collect();
                    let reference: Vec<Option<f64>> = value[0][c].iter().map(|r| r.map(|r| r.scored.fitness)).collect();
                    let versus = (l > 0).then(|| compare(&per_seed, &reference)).flatten();
                    ColumnResult {
                        accuracy: Summary::bounded(&finished, 0.0, 1.0),
                        top5: metric(records, "top5"),
                        mean_iou: metric(records, "mean_iou"),
                        failed: records
                            .iter()
                            .flatten()
                            .filter(|r| matches!(r.scored.status.as_str(), "diverged" | "untrainable"))
                            .count(),
                        per_seed,
                        versus,
                        versus_strongest: None,
                    }
                })
                .collect();
            LossAnalysis {
                name: contender.name.clone(),
                expr: contender.loss.to_string(),
                columns,
                mean_difference: None,
                mean_rank: None,
                paper: Counts::default(),
                noise_aware: Counts::default(),
                baseline: l == 0 || contender.baseline,
                mean_difference_strongest: None,
                paper_strongest: Counts::default(),
                noise_aware_strongest: Counts::default(),
            }
        })
        .collect();

    // The strongest baseline of each column, and every other loss against it.
    let strongest: Vec<Option<usize>> = (0..columns)
        .map(|c| {
            let mean = |l: usize| analysis[l].columns[c].accuracy.as_ref().map(|a| a.mean);
            (0..losses).filter(|&l| analysis[l].baseline && mean(l).is_some()).fold(None, |best, l| match best {
                Some(b) if mean(b) >= mean(l) => Some(b),
                _ => Some(l),
            })
        })
        .collect();
    for (c, best) in strongest.iter().enumerate() {
        let Some(best) = *best else { continue };
        let reference = analysis[best].columns[c].per_seed.clone();
        for (_, loss) in analysis.iter_mut().enumerate().filter(|(l, _)| *l != best) {
            loss.columns[c].versus_strongest = compare(&loss.columns[c].per_seed, &reference);
        }
    }

    // The noise-aware rule over every comparison of each family at once.
    decide(&mut analysis, |c| c.versus.as_mut());
    decide(&mut analysis, |c| c.versus_strongest.as_mut());

    // Mean ranks over the complete (column, seed) blocks.
    let mut rank_sums = vec![(0.0, 0usize); losses];
    let blocks = (0..columns).flat_map(|c| (0..seeds).map(move |s| (c, s)));
    for (c, s) in blocks {
        let block: Option<Vec<f64>> = value.iter().map(|loss| loss[c][s].map(|r| r.scored.fitness)).collect();
        if let Some(block) = block {
            // Rank 1 is the highest accuracy.
            let negated: Vec<f64> = block.iter().map(|a| -a).collect();
            for (sums, rank) in rank_sums.iter_mut().zip(ranks(&negated)) {
                sums.0 += rank;
                sums.1 += 1;
            }
        }
    }
    for (loss, (sum, n)) in analysis.iter_mut().zip(rank_sums) {
        loss.mean_rank = (n > 0).then(|| sum / n as f64);
        let differences: Vec<f64> =
            loss.columns.iter().filter_map(|c| c.versus.as_ref()).map(|v| v.difference.mean).collect();
        loss.mean_difference =
            (!differences.is_empty()).then(|| differences.iter().sum::<f64>() / differences.len() as f64);
        for versus in loss.columns.iter().filter_map(|c| c.versus.as_ref()) {
            loss.paper.add(versus.paper);
            loss.noise_aware.add(versus.noise_aware);
        }
        let differences: Vec<f64> =
            loss.columns.iter().filter_map(|c| c.versus_strongest.as_ref()).map(|v| v.difference.mean).collect();
        loss.mean_difference_strongest =
            (!differences.is_empty()).then(|| differences.iter().sum::<f64>() / differences.len() as f64);
        for versus in loss.columns.iter().filter_map(|c| c.versus_strongest.as_ref()) {
            loss.paper_strongest.add(versus.paper);
            loss.noise_aware_strongest.add(versus.noise_aware);
        }
    }
    let strongest = strongest.iter().map(|best| best.map(|l| analysis[l].name.clone())).collect();
    Analysis {
        reference: grid.contenders.first().map(|c| c.name.clone()).unwrap_or_default(),
        columns: grid.columns.iter().map(|c| (c.model.clone(), c.dataset.clone())).collect(),
        seeds,
        cells_finished: results.iter().flatten().count(),
        cells: grid.len(),
        losses: analysis,
        strongest,
        paper_rule: PAPER_RULE.to_owned(),
        noise_aware_rule: NOISE_AWARE_RULE.to_owned(),
    }
}

/// The noise-aware verdicts and Holm-adjusted p-values of one family of comparisons (those
/// `pick` finds in every column of every loss), decided together.
fn decide(analysis: &mut [LossAnalysis], pick: impl Fn(&mut ColumnResult) -> Option<&mut Comparison>) {
    let mut family: Vec<&mut Comparison> =
        analysis.iter_mut().flat_map(|loss| loss.columns.iter_mut()).filter_map(pick).collect();
    let comparisons: Vec<(f64, Option<f64>)> =
        family.iter().map(|v| (v.difference.mean, v.t_test.as_ref().map(|t| t.p))).collect();
    let verdicts = noise_aware_verdicts(&comparisons, ALPHA);
    let mut adjusted = holm(&comparisons.iter().filter_map(|c| c.1).collect::<Vec<_>>()).into_iter();
    for ((versus, verdict), (_, p)) in family.iter_mut().zip(verdicts).zip(&comparisons) {
        versus.noise_aware = verdict;
        versus.p_holm = p.and_then(|_| adjusted.next());
    }
}

/// One loss against a reference on one column, over the seeds both finished.
fn compare(loss: &[Option<f64>], reference: &[Option<f64>]) -> Option<Comparison> {
    let pairs: Vec<(usize, f64, f64)> =
        loss.iter().zip(reference).enumerate().filter_map(|(s, (a, b))| Some((s, (*a)?, (*b)?))).collect();
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().map(|&(_, a, b)| (a, b)).unzip();
    let differences: Vec<f64> = pairs.iter().map(|&(_, a, b)| a - b).collect();
    let difference = Summary::new(&differences)?;
    let (t_test, untestable) = match paired_t(&a, &b) {
        Ok(t) => (Some(t), None),
        Err(why) => (None, Some(why)),
    };
    Some(Comparison {
        seeds: pairs.iter().map(|p| p.0).collect(),
        paper: paper_verdict(difference.mean),
        // Decided over the whole grid, once every comparison is known.
        noise_aware: Verdict::Unconfirmed,
        wilcoxon: wilcoxon_signed_rank(&a, &b),
        t_test,
        untestable,
        p_holm: None,
        differences,
        difference,
    })
}

/// The paper's margin in points, for reports.
pub fn paper_margin_points() -> f64 {
    100.0 * PAPER_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Scored;

    fn grid(seeds: usize) -> Grid {
        crate::transfer::grid::test_grid(&["ce", "ngl", "focal"], 2, seeds)
    }

    /// Results from a table `accuracy[loss][column][seed]`.
    fn results(grid: &Grid, accuracy: &[[[f64; 5]; 2]; 3]) -> Vec<Option<CellRecord>> {
        grid.cells()
            .iter()
            .map(|cell| {
                let fitness = accuracy[cell.contender][cell.column][cell.seed];
                let scored = Scored { fitness, metrics: Default::default(), status: "completed".into() };
                Some(CellRecord::new(grid, cell, scored, 1))
            })
            .collect()
    }

    #[test]
    fn statistics_follow_the_paired_differences_and_both_rules() {
        let grid = grid(5);
        let table = [
            [[0.80, 0.81, 0.82, 0.79, 0.80], [0.70, 0.72, 0.71, 0.69, 0.70]],
            // +1 point on average with little spread: better by both rules on column 0; on
            // column 1, +0.8 on average but one seed below: better by the paper only.
            [[0.811, 0.819, 0.831, 0.799, 0.81], [0.75, 0.70, 0.72, 0.70, 0.69]],
            // Within half a point: the same by both.
            [[0.80, 0.81, 0.82, 0.79, 0.803], [0.70, 0.72, 0.71, 0.69, 0.70]],
        ];
        let a = analyse(&grid, &results(&grid, &table));
        assert_eq!((a.cells_finished, a.cells), (30, 30));
        let ngl = &a.losses[1];
        let first = ngl.columns[0].versus.as_ref().unwrap();
        assert!((first.difference.mean - 0.01).abs() < 1e-12);
        assert!(first.t_test.as_ref().unwrap().p < 1e-4, "a steady gain");
        assert_eq!((first.paper, first.noise_aware), (Verdict::Better, Verdict::Better));
        let second = ngl.columns[1].versus.as_ref().unwrap();
        assert!((second.difference.mean - 0.008).abs() < 1e-12);
        assert_eq!((second.paper, second.noise_aware), (Verdict::Better, Verdict::Same));
        assert_eq!(ngl.paper, Counts { better: 2, ..Counts::default() });
        assert_eq!(ngl.noise_aware, Counts { better: 1, same: 1, ..Counts::default() });
        assert!((ngl.mean_difference.unwrap() - 0.009).abs() < 1e-12);
        let focal = &a.losses[2];
        assert_eq!(focal.paper, Counts { same: 2, ..Counts::default() });
        let unchanged = focal.columns[1].versus.as_ref().unwrap();
        assert!(unchanged.wilcoxon.is_none(), "all differences 0");
        assert_eq!(unchanged.untestable, Some(crate::stats::Untestable::NoVariance));
        assert_eq!(focal.noise_aware, Counts { same: 1, unconfirmed: 1, ..Counts::default() });
        assert!(a.losses[0].columns.iter().all(|c| c.versus.is_none()), "the reference is not compared with itself");
        // Ranks per (column, seed): ngl first on 8 of 10 blocks (1.4), focal 2.25, ce 2.35.
        let ranks: Vec<f64> = a.losses.iter().map(|l| l.mean_rank.unwrap()).collect();
        assert!(ranks[1] < ranks[2] && ranks[2] < ranks[0] + 1e-9, "{ranks:?}");
        assert!((ranks.iter().sum::<f64>() - 6.0).abs() < 1e-9, "ranks of three losses sum to 6");
        let summary = a.losses[0].columns[0].accuracy.as_ref().unwrap();
        assert!((summary.mean - 0.804).abs() < 1e-12 && summary.n == 5);
        // Only cross entropy is a baseline here: it is the strongest, and the comparisons with
        // it are those with the reference.
        assert_eq!(a.strongest, [Some("ce".to_owned()), Some("ce".to_owned())]);
        assert_eq!(ngl.columns[0].versus_strongest, ngl.columns[0].versus);
        assert_eq!(ngl.noise_aware_strongest, ngl.noise_aware);
    }

    #[test]
    fn every_loss_is_compared_with_the_strongest_baseline_of_each_column() {
        let mut grid = grid(5);
        grid.contenders[1].baseline = true; // ngl
        let table = [
            [[0.80, 0.81, 0.82, 0.79, 0.80], [0.70, 0.72, 0.71, 0.69, 0.70]],
            // ngl: above ce on column 0, below on column 1.
            [[0.83, 0.84, 0.85, 0.82, 0.83], [0.68, 0.70, 0.69, 0.67, 0.68]],
            // focal: about +1 over ce everywhere, so about -2 against ngl on column 0.
            [[0.81, 0.825, 0.83, 0.80, 0.812], [0.71, 0.732, 0.72, 0.70, 0.713]],
        ];
        let a = analyse(&grid, &results(&grid, &table));
        assert_eq!(a.strongest, [Some("ngl".to_owned()), Some("ce".to_owned())]);
        let focal = &a.losses[2];
        let against_ngl = focal.columns[0].versus_strongest.as_ref().unwrap();
        assert!((against_ngl.difference.mean + 0.0186).abs() < 1e-12);
        assert_eq!(against_ngl.noise_aware, Verdict::Worse);
        assert_eq!(focal.noise_aware, Counts { better: 2, ..Counts::default() }, "better than ce everywhere");
        assert_eq!(focal.noise_aware_strongest, Counts { better: 1, worse: 1, ..Counts::default() });
        assert!((focal.mean_difference_strongest.unwrap() - (-0.0186 + 0.011) / 2.0).abs() < 1e-12);
        assert!(a.losses[1].columns[0].versus_strongest.is_none(), "ngl is column 0's strongest");
        assert!(a.losses[0].columns[1].versus_strongest.is_none(), "ce is column 1's strongest");
        assert!(a.losses[1].baseline && a.losses[0].baseline && !focal.baseline);
    }

    #[test]
    fn a_grid_still_running_is_analysed_on_what_it_has() {
        let grid = grid(5);
        let mut partial = results(&grid, &[[[0.8; 5]; 2]; 3]);
        for (cell, slot) in grid.cells().iter().zip(partial.iter_mut()) {
            if cell.seed >= 2 || (cell.seed == 1 && cell.contender == 0) {
                *slot = None;
            }
        }
        let a = analyse(&grid, &partial);
        assert_eq!((a.cells_finished, a.cells), (2 * 3 + 2 * 2, 30), "seed 0 whole, seed 1 without ce");
        let versus = a.losses[1].columns[0].versus.as_ref().unwrap();
        assert_eq!(versus.seeds, [0], "only seed 0 has both");
        assert_eq!(versus.noise_aware, Verdict::Unconfirmed);
        assert_eq!(a.losses[1].noise_aware, Counts { unconfirmed: 2, ..Counts::default() });
        assert_eq!(a.losses[1].mean_rank, Some(2.0), "one complete block per column, all tied");
    }
}
