//! `lossgp loss export RUN --pytorch-module FILE.py`: the hall of fame of a search as one
//! importable Python file, each loss a `torch.nn.Module` class with its formula in its
//! docstring, so that a found loss joins any PyTorch project with one import:
//!
//! ```python
//! from found_losses import FoundLoss1
//! criterion = FoundLoss1()
//! loss = criterion(logits, target)
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lossgp_core::Loss;
use lossgp_core::search::mean_sd;
use serde::Serialize;

use crate::output::emit;

/// What was written.
#[derive(Debug, Serialize)]
pub struct Exported {
    /// The Python file.
    pub file: PathBuf,
    /// The module's name (what `import` takes).
    pub module: String,
    /// One entry per class, best first.
    pub classes: Vec<ExportedLoss>,
}

/// One class of the module.
#[derive(Debug, Serialize)]
pub struct ExportedLoss {
    /// The class name.
    pub class: String,
    /// The loss, with its reduction.
    pub loss: String,
    /// Its fitness on the search's task (its own seed).
    pub fitness: f64,
    /// Its mean over the search's confirmation seeds, where it has them.
    pub confirmed_mean: Option<f64>,
}

/// A hall-of-fame loss to export.
struct Found {
    loss: Loss,
    fitness: f64,
    confirmed: Vec<f64>,
}

/// How every exported file starts: a file that does not is never overwritten.
const HEADER: &str = "\"\"\"Losses found by lossgp's search";

/// Python's keywords: a module cannot be named one.
const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Modules the exported file imports, or that a training script surely does: a file of that
/// name would be imported in their place.
const SHADOWED: [&str; 6] = ["torch", "numpy", "math", "typing", "builtins", "functools"];

/// Writes `file` from the hall of fame of the search in `dir` (its `top` best).
pub fn export(dir: &Path, file: &Path, top: Option<usize>, json: bool) -> Result<()> {
    let module = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    if file.extension().and_then(|e| e.to_str()) != Some("py") || !is_identifier(&module) {
        bail!(
            "--pytorch-module {}: give a file NAME.py whose NAME Python can import (letters, digits, _; not starting with a digit), e.g. found_losses.py",
            file.display()
        );
    }
    if PYTHON_KEYWORDS.contains(&module.as_str()) || SHADOWED.contains(&module.as_str()) {
        bail!(
            "--pytorch-module {}: `import {module}` would {}; choose another name, e.g. found_losses.py",
            file.display(),
            if SHADOWED.contains(&module.as_str()) {
                "import this file instead of the module it needs"
            } else {
                "be a Python syntax error"
            }
        );
    }
    if top == Some(0) {
        bail!("--top 0 exports nothing: give how many of the best losses to export, e.g. --top 3");
    }
    if let Ok(existing) = std::fs::read_to_string(file).or_else(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(String::new()),
    }) && !existing.starts_with(HEADER)
    {
        bail!(
            "--pytorch-module {}: the file exists and is not one lossgp exported; choose another name, or move it away",
            file.display()
        );
    }
    // `RUN#K`: the K-th best loss alone.
    let reference = crate::commands::search::reference::Reference::parse(&dir.to_string_lossy())?;
    let (dir, skip, top) = match &reference {
        Some(r) if dir.to_string_lossy().contains('#') => {
            if top.is_some() {
                bail!("{}: a run with #K exports that one loss; leave --top out", dir.display());
            }
            (r.dir.as_path(), r.rank - 1, Some(1))
        }
        _ => (dir, 0, top),
    };
    let (search, state) = crate::commands::search::run_dir::open_run(dir, "export")?;
    if state.hall_of_fame.is_empty() {
        bail!("{} has an empty hall of fame: nothing to export yet", dir.display());
    }
    if skip >= state.hall_of_fame.len() {
        bail!(
            "{} has {} loss(es) in its hall of fame: there is no #{}",
            dir.display(),
            state.hall_of_fame.len(),
            skip + 1
        );
    }
    let take = top.unwrap_or(state.hall_of_fame.len());
    let losses: Vec<Found> = state
        .hall_of_fame
        .iter()
        .skip(skip)
        .take(take)
        .map(|i| Found {
            loss: Loss::new(i.expr.clone(), search.search.reduction),
            fitness: i.fitness,
            confirmed: i.confirmed.clone(),
        })
        .collect();
    let text = module_text(&losses, &module, &dir.display().to_string(), &search.describe());
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    lossgp_core::files::write_atomic(file, &text)?;
    let classes = losses
        .iter()
        .enumerate()
        .map(|(i, f)| ExportedLoss {
            class: class_name(i),
            loss: f.loss.to_string(),
            fitness: f.fitness,
            confirmed_mean: mean_sd(&f.confirmed).map(|(m, _)| m),
        })
        .collect();
    let exported = Exported { file: file.to_owned(), module, classes };
    emit(json, &exported, |e| {
        let mut s = format!("wrote {} (import {}):\n", e.file.display(), e.module);
        for c in &e.classes {
            let _ = writeln!(s, "  {:<12} {:.4}  {}", c.class, c.fitness, c.loss);
        }
        s
    })
}

fn class_name(i: usize) -> String {
    format!("FoundLoss{}", i + 1)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The module's text: a docstring, `import torch`, the helpers the losses share (once), then
/// for each loss its function (lossgp's PyTorch export) and a `torch.nn.Module` class calling
/// it.
fn module_text(losses: &[Found], module: &str, run: &str, task: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{HEADER} in {run}, best first.\n");
    let _ = writeln!(s, "Task: {task}.\nGenerated by lossgp {}.\n", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        s,
        "    from {module} import FoundLoss1\n    criterion = FoundLoss1()\n    loss = criterion(logits, target)  # logits [N, C, ...], target [N, ...] class indices\n\"\"\""
    );
    let _ = writeln!(s, "import torch");
    let mut helpers: Vec<String> = Vec::new();
    let mut bodies = String::new();
    for (i, found) in losses.iter().enumerate() {
        let function = format!("found_loss_{}", i + 1);
        let code = found.loss.to_pytorch(&function);
        for block in top_level_blocks(code.trim_start_matches("import torch")) {
            if block.starts_with(&format!("def {function}(")) {
                let _ = write!(bodies, "\n\n{}\n", block.trim_end());
            } else if !helpers.contains(&block) {
                helpers.push(block);
            }
        }
        let latex = found.loss.to_latex().replace('\\', "\\\\");
        let confirmed = match mean_sd(&found.confirmed) {
            Some((mean, _)) => format!("; mean {mean:.4} over its {} confirmation seed(s)", found.confirmed.len()),
            None => String::new(),
        };
        let _ = write!(
            bodies,
            r#"

class {class}(torch.nn.Module):
    """{loss}

    Rank {rank} of the hall of fame: fitness {fitness:.4} on the search's task{confirmed}.
    LaTeX: {latex}
    """

    def __init__(self, ignore_index: int = 255):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return {function}(logits, target, self.ignore_index)
"#,
            class = class_name(i),
            rank = i + 1,
            loss = found.loss,
            fitness = found.fitness,
        );
    }
    if !helpers.is_empty() {
        let _ = write!(s, "\n\n{}\n", helpers.iter().map(|h| h.trim_end()).collect::<Vec<_>>().join("\n\n\n"));
    }
    s.push_str(&bodies);
    let names: Vec<String> = (0..losses.len()).map(|i| format!("\"{}\"", class_name(i))).collect();
    let _ = writeln!(s, "\n\n__all__ = [{}]", names.join(", "));
    s
}

/// The top-level statements of Python source: each line at column 0 starts one, and the
/// indented (or blank) lines after it belong to it.
fn top_level_blocks(code: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in code.lines() {
        let starts = !line.is_empty() && !line.starts_with([' ', '\t']);
        match blocks.last_mut() {
            Some(block) if !starts => {
                block.push_str(line);
                block.push('\n');
            }
            _ if line.trim().is_empty() => {}
            _ => blocks.push(format!("{line}\n")),
        }
    }
    blocks.into_iter().map(|b| b.trim_end().to_owned() + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_has_a_class_and_a_function_per_loss() {
        let found = |name: &str, fitness: f64, confirmed: Vec<f64>| Found {
            loss: Loss::resolve(name).unwrap(),
            fitness,
            confirmed,
        };
        let losses = [
            found("ngl", 0.87, vec![0.86, 0.88]),
            found("ce", 0.85, vec![]),
            found("softplus(log(abs(y)/max(p, 0.1)))", 0.8, vec![]),
        ];
        let text = module_text(&losses, "found", "runs/x", "fashion-mnist/small-cnn");
        assert_eq!(text.matches("import torch\n").count(), 1, "{text}");
        for needle in [
            "class FoundLoss1(torch.nn.Module)",
            "class FoundLoss2",
            "def found_loss_1(",
            "def found_loss_2(",
            "__all__ = [\"FoundLoss1\", \"FoundLoss2\", \"FoundLoss3\"]",
            "fitness 0.8700 on the search's task; mean 0.8700 over its 2 confirmation seed(s)",
            "from found import FoundLoss1",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(is_identifier("found_losses") && !is_identifier("found-losses") && !is_identifier("1x"));
        // Shared helpers come once, before the losses.
        assert_eq!(text.matches("def _lossgp_log(").count(), 1, "{text}");
        assert!(text.find("def _lossgp_log(").unwrap() < text.find("def found_loss_1(").unwrap());
    }
}
