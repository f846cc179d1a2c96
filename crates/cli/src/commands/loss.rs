//! `lossgp loss`: list the built-in losses, show a loss in every form, evaluate one on numbers.

use std::fmt::Write;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use lossgp_core::expr::Var;
use lossgp_core::interp::Batch;
use lossgp_core::loss::{Analysis, BUILTINS, Builtin, Loss, Reduction, analysis, builtin};
use serde::Serialize;

use crate::commands::loss_analysis::render_analysis;
use crate::output::{emit, indent};

#[derive(Debug, Subcommand)]
pub enum LossCommand {
    /// List the built-in losses.
    List,
    /// Show a loss as text, simplified, with its keys, as LaTeX and as PyTorch code.
    Show {
        /// A built-in name (`ngl`, `ce`, ...), a found loss (`RUN#K`: the K-th best of the
        /// search in RUN) or an expression such as `square(p - y)`,
        /// optionally preceded by its reduction (`sample-mean: y*(logsumexp(z) - z)`).
        #[arg(allow_hyphen_values = true)]
        loss: String,
        /// The reduction, for an expression written without one [default: element-mean].
        #[arg(long)]
        reduction: Option<Reduction>,
    },
    /// Write a search's hall of fame as an importable Python file: each loss a
    /// `torch.nn.Module` class (`FoundLoss1`, ...) with its formula in its docstring.
    Export {
        /// The search's run directory (`RUN#K`: its K-th best loss alone).
        run: std::path::PathBuf,
        /// The Python file to write, e.g. `found_losses.py` (then `from found_losses import FoundLoss1`).
        #[arg(long, value_name = "FILE.py")]
        pytorch_module: std::path::PathBuf,
        /// Only the best N losses [default: the whole hall of fame].
        #[arg(long, value_name = "N")]
        top: Option<usize>,
    },
    /// What losses are: for one sample at each class count, the true-class probability that
    /// minimises the loss, the label smoothing with the same optimum, the gradient at uniform
    /// logits against cross entropy's, whether the loss keeps falling, and whether it behaves
    /// like label smoothing (LS-like).
    Analyze {
        /// Built-in names (`ce`, `ngl`, `ls-ce(0.3)`, ...) or expressions, as for `show`.
        #[arg(required = true, allow_hyphen_values = true)]
        losses: Vec<String>,
        /// Class counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = lossgp_core::loss::analysis::CLASS_COUNTS)]
        classes: Vec<usize>,
        /// The reduction, for expressions written without one [default: element-mean].
        #[arg(long)]
        reduction: Option<Reduction>,
    },
    /// Evaluate a loss and its gradient with respect to the logits.
    Eval {
        /// A built-in name or an expression, as for `show`.
        #[arg(allow_hyphen_values = true)]
        loss: String,
        /// Logits: rows separated by `;`, classes by `,` (`"2,0.5,-1; 0,0,0"`), or a JSON
        /// array of rows.
        #[arg(long, allow_hyphen_values = true)]
        logits: String,
        /// Target classes, one per row (`"0,2"`), or a JSON array.
        #[arg(long, allow_hyphen_values = true)]
        target: String,
        /// The reduction, for an expression written without one [default: element-mean].
        #[arg(long)]
        reduction: Option<Reduction>,
    },
}

pub fn run(command: LossCommand, json: bool) -> Result<()> {
    match command {
        LossCommand::List => list(json),
        LossCommand::Show { loss, reduction } => show(&loss, reduction, json),
        LossCommand::Export { run, pytorch_module, top } => {
            crate::commands::export::export(&run, &pytorch_module, top, json)
        }
        LossCommand::Analyze { losses, classes, reduction } => {
            // The losses take values that start with `-` (`-y*log(p)`), so a trailing `--json`
            // lands among them: it is the flag, as everywhere else.
            let json = json || losses.iter().any(|l| l == "--json");
            let losses: Vec<String> = losses.into_iter().filter(|l| l != "--json").collect();
            if let Some(option) = losses.iter().find(|l| l.starts_with("--")) {
                anyhow::bail!(
                    "`{option}` came after the losses, where it reads as one: give options first, e.g. \
                     lossgp loss analyze {option} ... ngl ce"
                );
            }
            analyze(&losses, &classes, reduction, json)
        }
        LossCommand::Eval { loss, logits, target, reduction } => eval(&loss, reduction, &logits, &target, json),
    }
}

/// The loss named or written in `spec`, with `reduction` overriding its own if given.
fn resolve(spec: &str, reduction: Option<Reduction>) -> Result<(Loss, Option<&'static Builtin>)> {
    let mut loss = crate::commands::search::reference::resolve(spec)?;
    let named = builtin(spec);
    if let Some(reduction) = reduction {
        // A built-in, or a text that names its reduction, has one of its own.
        let stated = named.is_some() || spec.contains(':') || lossgp_core::loss::parametric(spec).is_some();
        if stated && loss.reduction != reduction {
            eprintln!("note: `{spec}` has {}; using {reduction} as --reduction asks", loss.reduction);
        }
        loss.reduction = reduction;
    }
    Ok((loss, named))
}

#[derive(Serialize)]
struct ListEntry {
    name: &'static str,
    aliases: &'static [&'static str],
    title: &'static str,
    expression: &'static str,
    reduction: Reduction,
    weight_decay: Option<f64>,
    reference: &'static str,
    /// `NAME(VALUE)` asks for it at another value of this parameter (`ls-ce(0.3)`).
    parameter: Option<&'static str>,
}

fn list(json: bool) -> Result<()> {
    let entries: Vec<ListEntry> = BUILTINS
        .iter()
        .map(|b| ListEntry {
            name: b.name,
            aliases: b.aliases,
            title: b.title,
            expression: b.text,
            reduction: b.reduction,
            weight_decay: b.weight_decay,
            reference: b.reference,
            parameter: lossgp_core::loss::PARAMETRIC.iter().find(|p| p.name == b.name).map(|p| p.parameter),
        })
        .collect();
    emit(json, &entries, |entries| {
        let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for e in entries {
            let _ = writeln!(out, "{:width$}  {:12}  {}", e.name, e.reduction.name(), e.expression);
            let decay = e.weight_decay.map(|wd| format!(", trained with weight decay {wd}")).unwrap_or_default();
            let _ = writeln!(out, "{:width$}  {:12}  {}{decay}", "", "", e.title);
            if let Some(parameter) = e.parameter {
                let _ = writeln!(out, "{:width$}  {:12}  {}(VALUE) sets its {parameter}", "", "", e.name);
            }
        }
        out
    })
}

#[derive(Serialize)]
struct ShowReport {
    name: Option<&'static str>,
    title: Option<&'static str>,
    reference: Option<&'static str>,
    notes: Option<&'static str>,
    weight_decay: Option<f64>,
    expression: String,
    reduction: Reduction,
    simplified: String,
    canonical: String,
    key: String,
    training_key: String,
    size: usize,
    height: usize,
    uses: Vec<Var>,
    /// The loss at all-zero logits (uniform probabilities), for 10 and 100 classes.
    uniform_logits: Vec<UniformValue>,
    /// What the loss is ([`analysis`](lossgp_core::loss::analysis)), at 2, 10 and 100 classes.
    analysis: Analysis,
    latex: String,
    pytorch: String,
}

#[derive(Serialize)]
struct UniformValue {
    classes: usize,
    loss: Option<f64>,
}

fn show(spec: &str, reduction: Option<Reduction>, json: bool) -> Result<()> {
    let (loss, named) = resolve(spec, reduction)?;
    let program = loss.compile();
    let uniform_logits = [10, 100]
        .into_iter()
        .map(|classes| {
            let batch = Batch::<f64>::from_labels(vec![0.0; classes], classes, &[0])?;
            let value = program.forward(&batch).loss();
            Ok(UniformValue { classes, loss: value.is_finite().then_some(value) })
        })
        .collect::<Result<_>>()?;
    let canonical = loss.expr.canonical();
    let keys = loss.keys();
    let report = ShowReport {
        name: named.map(|b| b.name),
        title: named.map(|b| b.title),
        reference: named.map(|b| b.reference),
        notes: named.map(|b| b.notes).filter(|n| !n.is_empty()),
        weight_decay: named.and_then(|b| b.weight_decay),
        expression: loss.expr.to_string(),
        reduction: loss.reduction,
        simplified: loss.expr.simplify().to_string(),
        canonical: canonical.expr().to_string(),
        key: keys.0.to_string(),
        training_key: keys.1.to_string(),
        size: loss.expr.size(),
        height: loss.expr.height(),
        uses: Var::ALL.iter().copied().filter(|&v| canonical.depends_on(v)).collect(),
        uniform_logits,
        analysis: analysis::analyze(&loss, &analysis::CLASS_COUNTS)?,
        latex: loss.to_latex(),
        pytorch: loss.to_pytorch(named.map_or("lossgp_loss", |b| b.name)),
    };
    emit(json, &report, render_show)
}

fn render_show(r: &ShowReport) -> String {
    let mut out = String::new();
    match (r.name, r.title) {
        (Some(name), Some(title)) => {
            let _ = writeln!(out, "{name}: {title}");
        }
        _ => out.push_str("loss\n"),
    }
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "  {label:<16}{value}");
    };
    field("expression", &r.expression);
    field("reduction", &format!("{} ({})", r.reduction, r.reduction.describe()));
    field("simplified", &r.simplified);
    field("canonical", &r.canonical);
    field("key", &r.key);
    field("training key", &r.training_key);
    field("size", &format!("{} nodes, height {}", r.size, r.height));
    let uses: Vec<&str> = r.uses.iter().map(|v| v.name()).collect();
    field("depends on", &if uses.is_empty() { "nothing (a constant)".to_owned() } else { uses.join(", ") });
    let uniform: Vec<String> = r
        .uniform_logits
        .iter()
        .map(|u| format!("{} at C = {}", u.loss.map_or("not finite".to_owned(), |l| format!("{l:.5}")), u.classes))
        .collect();
    field("uniform logits", &uniform.join(", "));
    if let Some(wd) = r.weight_decay {
        field("weight decay", &wd.to_string());
    }
    if let Some(reference) = r.reference {
        field("reference", reference);
    }
    if let Some(notes) = r.notes {
        field("notes", notes);
    }
    let _ = write!(out, "\n{}", render_analysis(&r.analysis));
    let _ = write!(out, "\nLaTeX\n{}\nPyTorch\n{}", indent(&r.latex, 2), indent(&r.pytorch, 2));
    out
}

#[derive(Serialize)]
struct Analyzed {
    name: String,
    loss: String,
    analysis: Analysis,
}

fn analyze(specs: &[String], classes: &[usize], reduction: Option<Reduction>, json: bool) -> Result<()> {
    let analyzed = specs
        .iter()
        .map(|spec| {
            let (loss, _) = resolve(spec, reduction)?;
            let analysis = analysis::analyze(&loss, classes).with_context(|| format!("--classes {classes:?}"))?;
            Ok(Analyzed { name: spec.clone(), loss: loss.to_string(), analysis })
        })
        .collect::<Result<Vec<_>>>()?;
    emit(json, &analyzed, |all| {
        let mut out = String::new();
        for a in all {
            let _ = writeln!(out, "{}  ({})", a.name, a.loss);
            out.push_str(&render_analysis(&a.analysis));
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "for one sample whose other classes are equal; optimum: the true-class probability that minimises the \
             loss; LS ε: the label smoothing with the same optimum, (1 - optimum) C / (C - 1); gradient: its size at \
             uniform logits over cross entropy's, and its cosine with cross entropy's; LS-like: label smoothing at one \
             ε (at least {}) has its optimum within {} at every C and its gradient's mean cosine on probe logits is at \
             least {}",
            analysis::MIN_EPSILON,
            analysis::OPTIMUM_TOLERANCE,
            analysis::COSINE_TOLERANCE
        );
        out
    })
}

#[derive(Serialize)]
struct EvalReport {
    expression: String,
    reduction: Reduction,
    samples: usize,
    classes: usize,
    loss: Option<f64>,
    per_sample: Vec<Option<f64>>,
    /// d loss / d logits, one row per sample.
    gradient: Vec<Vec<Option<f64>>>,
}

fn eval(spec: &str, reduction: Option<Reduction>, logits: &str, target: &str, json: bool) -> Result<()> {
    let (loss, _) = resolve(spec, reduction)?;
    let rows = parse_rows(logits).context("could not read --logits")?;
    let labels = parse_labels(target).context("could not read --target")?;
    let classes = rows.first().map_or(0, Vec::len);
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != classes) {
        bail!("--logits row {i} has {} values but row 0 has {classes}; every row needs one logit per class", row.len());
    }
    let batch =
        Batch::from_labels(rows.concat(), classes, &labels).context("--logits and --target do not form a batch")?;
    let program = loss.compile();
    let trace = program.forward(&batch);
    let finite = |x: f64| x.is_finite().then_some(x);
    let report = EvalReport {
        expression: loss.expr.to_string(),
        reduction: loss.reduction,
        samples: batch.batch_size(),
        classes,
        loss: finite(trace.loss()),
        per_sample: trace.per_sample().iter().map(|&x| finite(x)).collect(),
        gradient: trace.gradient().chunks(classes).map(|row| row.iter().map(|&g| finite(g)).collect()).collect(),
    };
    emit(json, &report, render_eval)
}

fn render_eval(r: &EvalReport) -> String {
    let number = |x: &Option<f64>| x.map_or("not finite".to_owned(), |x| format!("{x:.6}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "loss          {}  ({}, {} samples x {} classes)",
        number(&r.loss),
        r.reduction,
        r.samples,
        r.classes
    );
    let per_sample: Vec<String> = r.per_sample.iter().map(number).collect();
    let _ = writeln!(out, "per sample    {}", per_sample.join("  "));
    out.push_str("d loss / d logits\n");
    for (i, row) in r.gradient.iter().enumerate() {
        let cells: Vec<String> =
            row.iter().map(|g| g.map_or("not finite".to_owned(), |g| format!("{g:>10.6}"))).collect();
        let _ = writeln!(out, "  sample {i:<4} {}", cells.join(" "));
    }
    out
}

/// Rows of numbers, as `1,2;3,4` or as the JSON `[[1,2],[3,4]]`.
fn parse_rows(text: &str) -> Result<Vec<Vec<f64>>> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text)
            .context("expected a JSON array of rows of numbers, e.g. [[2, 0.5, -1], [0, 0, 0]]");
    }
    text.split(';')
        .enumerate()
        .map(|(i, row)| {
            row.split(',')
                .map(|cell| {
                    cell.trim().parse::<f64>().with_context(|| format!("row {i}: `{}` is not a number", cell.trim()))
                })
                .collect()
        })
        .collect()
}

/// Class indices, as `0,2,1` or as the JSON `[0, 2, 1]`.
fn parse_labels(text: &str) -> Result<Vec<usize>> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).context("expected a JSON array of class indices, e.g. [0, 2]");
    }
    text.split(',')
        .map(|cell| {
            cell.trim()
                .parse::<usize>()
                .with_context(|| format!("`{}` is not a class index (0, 1, 2, ...)", cell.trim()))
        })
        .collect()
}
