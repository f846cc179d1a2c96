//! The report as text: Markdown in the paper's layout with the statistics behind it, and CSV.

use std::fmt::Write;

use lossgp_core::loss::analysis::{CLASS_COUNTS, analyze};
use lossgp_core::stats::{Summary, Verdict};
use lossgp_core::transfer::{ColumnResult, Comparison, Counts, LossAnalysis, paper_margin_points};

use super::report::TransferReport;

/// The paper's mark for a verdict.
fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Better => "↑",
        Verdict::Worse => "↓",
        Verdict::Same => "=",
        Verdict::Unconfirmed => "?",
    }
}

/// `+0.53 ↑*`: the mean difference in points, the paper's mark, and `*` where the noise-aware
/// rule finds the difference too; `(n=2)` where fewer seeds than the grid's are paired, `†`
/// where a run of the loss or the reference failed (and counts as 0%).
fn delta_cell(versus: &Comparison, seeds: usize, failed: bool) -> String {
    let star = if matches!(versus.noise_aware, Verdict::Better | Verdict::Worse) { "*" } else { "" };
    let paired = if versus.seeds.len() < seeds { format!(" (n={})", versus.seeds.len()) } else { String::new() };
    let dagger = if failed { " †" } else { "" };
    format!("{:+.2} {}{star}{paired}{dagger}", 100.0 * versus.difference.mean, mark(versus.paper))
}

/// A loss's name as Markdown: as it is where it is a plain name, else as code (an expression's
/// `*` would turn into emphasis).
fn name(text: &str) -> String {
    if text.chars().all(|c| c.is_alphanumeric() || "#._-".contains(c)) { text.to_owned() } else { format!("`{text}`") }
}

fn percent(summary: &Option<Summary>) -> String {
    match summary {
        Some(s) if s.n > 1 => format!("{:.2} ± {:.2}", 100.0 * s.mean, 100.0 * s.sd),
        Some(s) => format!("{:.2}", 100.0 * s.mean),
        None => "–".to_owned(),
    }
}

fn counts(c: &Counts) -> String {
    let untested = if c.unconfirmed > 0 { format!(" ({}?)", c.unconfirmed) } else { String::new() };
    format!("{}/{}/{}{untested}", c.better, c.same, c.worse)
}

fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => format!("{p:.3}"),
        None => "–".to_owned(),
    }
}

/// The table against the strongest baseline of each column.
fn strongest_table(s: &mut String, r: &TransferReport) {
    let a = &r.analysis;
    let baselines: Vec<String> = a.losses.iter().filter(|l| l.baseline).map(|l| name(&l.name)).collect();
    let _ = writeln!(s, "\n## Against the strongest baseline\n");
    let _ = writeln!(
        s,
        "The baselines: {}. Each column's strongest is the one with the best mean top-1 over its seeds; every \
         other loss's mean paired difference to it, in points, with the paper's marks and `*` where the \
         noise-aware rule (Holm over the {} comparisons with the strongest) finds the difference. Where several \
         label-smoothing ε are baselines, the strongest is label smoothing tuned on that column's own seeds, which \
         favours the baseline.\n",
        baselines.join(", "),
        a.losses
            .iter()
            .flat_map(|l| &l.columns)
            .filter(|c| c.versus_strongest.as_ref().is_some_and(|v| v.t_test.is_some()))
            .count()
    );
    let heads: Vec<String> = a
        .columns
        .iter()
        .zip(&a.strongest)
        .map(|((model, dataset), best)| {
            format!("{dataset}<br>{model}<br>vs {}", best.as_deref().map_or("–".to_owned(), name))
        })
        .collect();
    let _ = writeln!(s, "| loss | {} | mean Δ | paper | noise-aware |", heads.join(" | "));
    let _ = writeln!(s, "|---|{}---:|:---:|:---:|", "---:|".repeat(heads.len()));
    for loss in &a.losses {
        let cells: Vec<String> = loss
            .columns
            .iter()
            .zip(&a.strongest)
            .map(|(c, best)| match &c.versus_strongest {
                Some(v) => delta_cell(v, a.seeds, c.failed > 0),
                None if best.as_deref() == Some(loss.name.as_str()) => "strongest".to_owned(),
                None => "–".to_owned(),
            })
            .collect();
        let mean = loss.mean_difference_strongest.map_or("–".to_owned(), |d| format!("{:+.2}", 100.0 * d));
        let label = if loss.baseline { format!("{} (baseline)", name(&loss.name)) } else { name(&loss.name) };
        let _ = writeln!(
            s,
            "| {label} | {} | {mean} | {} | {} |",
            cells.join(" | "),
            counts(&loss.paper_strongest),
            counts(&loss.noise_aware_strongest)
        );
    }
}

/// The Markdown report.
pub fn markdown(r: &TransferReport) -> String {
    let a = &r.analysis;
    let mut s = String::new();
    let models: std::collections::BTreeSet<&str> = a.columns.iter().map(|c| c.0.as_str()).collect();
    let datasets: std::collections::BTreeSet<&str> = a.columns.iter().map(|c| c.1.as_str()).collect();
    let _ = writeln!(
        s,
        "# Transfer: {} losses × {} models × {} datasets × {} seeds\n",
        a.losses.len(),
        models.len(),
        datasets.len(),
        a.seeds
    );
    let state = if r.finished { "all finished".to_owned() } else { "the grid is not finished: partial results".into() };
    let _ = writeln!(
        s,
        "{} of {} cells ({state}); {:.0} minutes of training (summed over workers).\n",
        a.cells_finished,
        a.cells,
        r.training_seconds / 60.0
    );
    let _ = writeln!(
        s,
        "Top-1 test accuracy. The {} row: mean ± sd over the seeds, in %. Every other row: the mean paired \
         difference to {0} in points (same seed: same initial weights and batches), marked by **the paper's \
         rule**: ↑ better, ↓ worse beyond ±{:.1} points, = same within; and `*` where **the noise-aware rule** \
         (paired t-test over the seeds, Holm-corrected over the {} comparisons of the grid, α = 0.05) also finds \
         the difference. `(n=k)`: only k seeds paired so far; `†`: a run of this loss or of the reference \
         diverged or could not train on some seed, and counts as 0% accuracy (the worst), never as missing. Mean \
         Δ: the mean of a row's differences (the paper's mean column); mean rank: 1 is the best, over every \
         (model, dataset, seed) on which all losses finished; counts: better/same/worse (`?`: not testable: one \
         seed, or differences equal on every seed).\n",
        a.reference,
        paper_margin_points(),
        a.losses
            .iter()
            .flat_map(|l| &l.columns)
            .filter(|c| c.versus.as_ref().is_some_and(|v| v.t_test.is_some()))
            .count()
    );
    let heads: Vec<String> = a.columns.iter().map(|(model, dataset)| format!("{dataset}<br>{model}")).collect();
    let _ = writeln!(s, "| loss | {} | mean Δ | mean rank | paper | noise-aware |", heads.join(" | "));
    let _ = writeln!(s, "|---|{}---:|---:|:---:|:---:|", "---:|".repeat(heads.len()));
    let reference = &a.losses[0];
    for (i, loss) in a.losses.iter().enumerate() {
        let cells: Vec<String> = loss
            .columns
            .iter()
            .zip(&reference.columns)
            .map(|(c, r)| match (&c.versus, i) {
                (_, 0) => format!("{}{}", percent(&c.accuracy), if c.failed > 0 { " †" } else { "" }),
                (Some(v), _) => delta_cell(v, a.seeds, c.failed + r.failed > 0),
                (None, _) => "–".to_owned(),
            })
            .collect();
        let mean = loss.mean_difference.map_or("–".to_owned(), |d| format!("{:+.2}", 100.0 * d));
        let rank = loss.mean_rank.map_or("–".to_owned(), |r| format!("{r:.2}"));
        let (paper, noise) =
            if i == 0 { (String::new(), String::new()) } else { (counts(&loss.paper), counts(&loss.noise_aware)) };
        let _ = writeln!(s, "| {} | {} | {mean} | {rank} | {paper} | {noise} |", name(&loss.name), cells.join(" | "));
    }

    strongest_table(&mut s, r);

    let _ = writeln!(s, "\n## What each loss is\n");
    let _ = writeln!(
        s,
        "`lossgp loss analyze`, for one sample whose other classes are equal: the true-class probability that \
         minimises the loss at C classes (cross entropy: 1; label smoothing at ε: 1 − ε + ε/C), the label \
         smoothing with the same optimum, the gradient at uniform logits against cross entropy's, and LS-like where \
         label smoothing at one ε matches the optimum at every C and the gradient's direction.\n"
    );
    for loss in &a.losses {
        let analysis = loss.expr.parse::<lossgp_core::Loss>().ok().and_then(|l| analyze(&l, &CLASS_COUNTS).ok());
        if let Some(analysis) = analysis {
            let _ = writeln!(s, "- {}: {}", name(&loss.name), crate::commands::loss_analysis::analysis_line(&analysis));
        }
    }

    let _ = writeln!(s, "\n## Each column\n");
    let _ = writeln!(
        s,
        "Accuracy: mean ± sd over the seeds [95% confidence interval, Student's t], in %. Δ: the mean paired \
         difference to {} in points [its 95% interval]. p: paired t-test, Wilcoxon signed-rank (exact; with {} \
         seeds it cannot go below {}), and the t-test's p after Holm's correction over the grid. Verdicts: the \
         paper's rule, then the noise-aware rule.\n",
        a.reference,
        a.seeds,
        // Every difference of one sign: the exact two-sided p is 2 / 2^n.
        2f64.powi(1 - a.seeds as i32)
    );
    for (c, (model, dataset)) in a.columns.iter().enumerate() {
        let _ = writeln!(s, "### {dataset} / {model}\n");
        let top5 = a.losses.iter().any(|l| l.columns[c].top5.is_some());
        let iou = a.losses.iter().any(|l| l.columns[c].mean_iou.is_some());
        let extra = match (top5, iou) {
            (true, _) => " top-5 |",
            (_, true) => " mIoU |",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| loss | accuracy [95% CI] |{extra} Δ [95% CI] | p (t) | p (Wilcoxon) | p (Holm) | paper | noise-aware | per seed |"
        );
        let _ = writeln!(
            s,
            "|---|---:|{}---:|---:|---:|---:|:---:|:---:|---|",
            if extra.is_empty() { "" } else { "---:|" }
        );
        for loss in &a.losses {
            let reference = loss.name == a.reference;
            let _ = writeln!(s, "{}", column_row(loss, &loss.columns[c], top5, iou, reference));
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## The losses\n");
    for (loss, contender) in a.losses.iter().zip(&r.grid.contenders) {
        let decay = contender.weight_decay.map(|d| format!(" (trained with weight decay {d})")).unwrap_or_default();
        let _ = writeln!(s, "- **{}**: `{}`{decay}", name(&loss.name).trim_matches('`'), loss.expr);
    }
    let _ = writeln!(s, "\nRules: {}; {}.", a.paper_rule, a.noise_aware_rule);
    s
}

fn column_row(loss: &LossAnalysis, c: &ColumnResult, top5: bool, iou: bool, reference: bool) -> String {
    let accuracy = match &c.accuracy {
        Some(acc) if acc.n > 1 => format!(
            "{:.2} ± {:.2} [{:.2}, {:.2}]",
            100.0 * acc.mean,
            100.0 * acc.sd,
            100.0 * acc.interval[0],
            100.0 * acc.interval[1]
        ),
        other => percent(other),
    };
    let extra = if top5 {
        format!(" {} |", percent(&c.top5))
    } else if iou {
        format!(" {} |", percent(&c.mean_iou))
    } else {
        String::new()
    };
    let (delta, pt, pw, ph, paper, noise) = match &c.versus {
        Some(v) => (
            if v.difference.n > 1 {
                format!(
                    "{:+.2} [{:+.2}, {:+.2}]",
                    100.0 * v.difference.mean,
                    100.0 * v.difference.interval[0],
                    100.0 * v.difference.interval[1]
                )
            } else {
                format!("{:+.2} (one seed)", 100.0 * v.difference.mean)
            },
            v.untestable.map_or_else(|| p_value(v.t_test.as_ref().map(|t| t.p)), |why| why.short().to_owned()),
            p_value(v.wilcoxon.as_ref().map(|w| w.p)),
            p_value(v.p_holm),
            v.paper.name().to_owned(),
            v.noise_aware.name().to_owned(),
        ),
        None => (
            // A loss with no seed finished beside the reference's has no difference to show.
            if reference { "(reference)" } else { "no finished pair" }.into(),
            "–".into(),
            "–".into(),
            "–".into(),
            String::new(),
            String::new(),
        ),
    };
    let seeds: Vec<String> =
        c.per_seed.iter().map(|a| a.map_or("·".to_owned(), |a| format!("{:.2}", 100.0 * a))).collect();
    let failed = if c.failed > 0 { format!(" ({} failed: 0%)", c.failed) } else { String::new() };
    format!(
        "| {} | {accuracy} |{extra} {delta} | {pt} | {pw} | {ph} | {paper} | {noise} | {}{failed} |",
        name(&loss.name),
        seeds.join(", ")
    )
}

/// One row per (loss, column), every figure as a number (accuracies and differences as
/// fractions).
pub fn csv(r: &TransferReport) -> String {
    let mut s = String::from(
        "loss,expression,model,dataset,seeds,accuracy_mean,accuracy_sd,accuracy_ci_low,accuracy_ci_high,top5_mean,\
         mean_iou_mean,delta_mean,delta_sd,delta_ci_low,delta_ci_high,t,p_t,p_wilcoxon,p_holm,paper_verdict,\
         noise_aware_verdict,failed,per_seed\n",
    );
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    for loss in &r.analysis.losses {
        for (c, (model, dataset)) in loss.columns.iter().zip(&r.analysis.columns) {
            let acc = c.accuracy.as_ref();
            let v = c.versus.as_ref();
            let fields = [
                quote(&loss.name),
                quote(&loss.expr),
                quote(model),
                quote(dataset),
                acc.map_or(0, |a| a.n).to_string(),
                num(acc.map(|a| a.mean)),
                num(acc.map(|a| a.sd)),
                num(acc.map(|a| a.interval[0])),
                num(acc.map(|a| a.interval[1])),
                num(c.top5.as_ref().map(|t| t.mean)),
                num(c.mean_iou.as_ref().map(|t| t.mean)),
                num(v.map(|v| v.difference.mean)),
                num(v.map(|v| v.difference.sd)),
                num(v.map(|v| v.difference.interval[0])),
                num(v.map(|v| v.difference.interval[1])),
                num(v.and_then(|v| v.t_test.as_ref()).map(|t| t.t)),
                num(v.and_then(|v| v.t_test.as_ref()).map(|t| t.p)),
                num(v.and_then(|v| v.wilcoxon.as_ref()).map(|w| w.p)),
                num(v.and_then(|v| v.p_holm)),
                v.map(|v| v.paper.name()).unwrap_or_default().to_owned(),
                v.map(|v| v.noise_aware.name()).unwrap_or_default().to_owned(),
                c.failed.to_string(),
                quote(&c.per_seed.iter().map(|a| num(*a)).collect::<Vec<_>>().join(";")),
            ];
            let _ = writeln!(s, "{}", fields.join(","));
        }
    }
    s
}

/// What the command prints without `--json`.
/// The report for a terminal: the main table as aligned plain text (no Markdown), and where
/// the whole report is.
pub fn render(r: &TransferReport) -> String {
    let a = &r.analysis;
    let mut s = String::new();
    let state = if r.finished { "all finished".to_owned() } else { "not finished: partial results".into() };
    let _ = writeln!(
        s,
        "transfer: {} losses, {} columns, {} seeds; {} of {} cells ({state}); {:.0} minutes of training",
        a.losses.len(),
        a.columns.len(),
        a.seeds,
        a.cells_finished,
        a.cells,
        r.training_seconds / 60.0
    );
    let _ = writeln!(
        s,
        "top-1 test accuracy: {} as mean ± sd in %, every other loss as its mean paired Δ to it in points; \
         ↑ ↓ = the paper's rule (±{:.1} points), * the noise-aware rule agrees, † a failed run counted as 0%\n",
        a.reference,
        paper_margin_points()
    );
    let mut heads = vec!["loss".to_owned()];
    heads.extend(a.columns.iter().map(|(model, dataset)| format!("{dataset} / {model}")));
    heads.extend(["mean Δ".to_owned(), "paper".to_owned(), "noise-aware".to_owned()]);
    let reference = &a.losses[0];
    let rows: Vec<Vec<String>> = a
        .losses
        .iter()
        .enumerate()
        .map(|(i, loss)| {
            let mut row = vec![loss.name.clone()];
            row.extend(loss.columns.iter().zip(&reference.columns).map(|(c, r)| match (&c.versus, i) {
                (_, 0) => format!("{}{}", percent(&c.accuracy), if c.failed > 0 { " †" } else { "" }),
                (Some(v), _) => delta_cell(v, a.seeds, c.failed + r.failed > 0),
                (None, _) => "–".to_owned(),
            }));
            row.push(loss.mean_difference.map_or("–".to_owned(), |d| format!("{:+.2}", 100.0 * d)));
            if i == 0 {
                row.extend([String::new(), String::new()]);
            } else {
                row.extend([counts(&loss.paper), counts(&loss.noise_aware)]);
            }
            row
        })
        .collect();
    s.push_str(&text_table(&heads, &rows));
    let report = r.files.iter().find(|f| f.extension().is_some_and(|e| e == "md"));
    if let Some(report) = report {
        let _ = writeln!(
            s,
            "\nthe whole report (against the strongest baseline, each column's tests, what each loss is): {}",
            report.display()
        );
    }
    let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
    let _ = writeln!(s, "files: {}", files.join(", "));
    s
}

/// Columns aligned by their widest cell (in characters), the first left and the rest right.
fn text_table(heads: &[String], rows: &[Vec<String>]) -> String {
    let width = |text: &str| text.chars().count();
    let widths: Vec<usize> = (0..heads.len())
        .map(|c| {
            std::iter::once(&heads[c]).chain(rows.iter().filter_map(|r| r.get(c))).map(|t| width(t)).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, text)| {
                let pad = " ".repeat(widths[c].saturating_sub(width(text)));
                if c == 0 { format!("{text}{pad}") } else { format!("{pad}{text}") }
            })
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(heads);
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}
