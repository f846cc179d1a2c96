//! Losses: an expression of the loss language plus the reduction that turns its `[batch,
//! classes]` values into one number, and the built-in named losses.

pub mod analysis;
mod builtin;
pub mod probe;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use analysis::{Analysis, analyze};
pub use builtin::{BUILTINS, Builtin, PARAMETRIC, Parametric, builtin, label_smoothing, parametric};

use crate::expr::Real;
use crate::expr::canon::{self, Key};
use crate::expr::ops::{quoted_list, suggest};
use crate::expr::{Expr, ParseError, latex, pytorch};
use crate::interp::{Batch, Evaluation, Program};

/// How a loss's element values become one number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// The mean over all `batch × classes` elements: NGL's form, and the default for evolved
    /// losses.
    #[default]
    ElementMean,
    /// The sum over classes, then the mean over samples: cross entropy's form.
    SampleMean,
}

impl Reduction {
    /// Both reductions.
    pub const ALL: [Reduction; 2] = [Reduction::ElementMean, Reduction::SampleMean];

    /// The name used in text and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::ElementMean => "element-mean",
            Reduction::SampleMean => "sample-mean",
        }
    }

    /// One line saying what the reduction computes.
    pub fn describe(self) -> &'static str {
        match self {
            Reduction::ElementMean => "mean over all batch x class elements",
            Reduction::SampleMean => "sum over classes, then mean over samples",
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reduction name that is neither `element-mean` nor `sample-mean`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reduction `{0}`; use `element-mean` (mean over all elements) or `sample-mean` (sum over classes, mean over samples)"
)]
pub struct UnknownReduction(String);

impl FromStr for Reduction {
    type Err = UnknownReduction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reduction::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| UnknownReduction(s.to_owned()))
    }
}

/// A loss function: `reduction(expr)`.
///
/// As text a loss is its expression, optionally preceded by its reduction and a colon
/// (`sample-mean: y*(logsumexp(z) - z)`); without one the reduction is `element-mean`.
/// In JSON it is `{"expr": "...", "reduction": "sample-mean"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loss {
    /// The element-wise expression.
    pub expr: Expr,
    /// How element values become one number.
    #[serde(default)]
    pub reduction: Reduction,
}

/// A loss given by name or text that is neither a built-in nor a valid expression.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LossError {
    /// A bare name that is no built-in loss.
    #[error("unknown loss `{name}`; the built-in losses are {}{}", quoted_list(&BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>()), did_you_mean(.suggestions))]
    UnknownName {
        /// The name as given.
        name: String,
        /// Built-in names that look similar.
        suggestions: Vec<&'static str>,
    },
    /// Text that does not parse as an expression.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A parametric built-in (`ls-ce(0.3)`) with a value it cannot take.
    #[error("{0}")]
    Parameter(String),
    /// An unknown reduction before the colon.
    #[error(transparent)]
    Reduction(#[from] UnknownReduction),
}

fn did_you_mean(suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        many => format!("; did you mean {}?", quoted_list(many)),
    }
}

impl Loss {
    /// `reduction(expr)`.
    pub fn new(expr: Expr, reduction: Reduction) -> Loss {
        Loss { expr, reduction }
    }

    /// A built-in loss by name (`ce`, `ngl`, ...), a parametric one with its value
    /// (`ls-ce(0.3)`), or a loss written as text.
    pub fn resolve(spec: &str) -> Result<Loss, LossError> {
        if let Some(b) = builtin(spec) {
            return Ok(b.loss());
        }
        if let Some(loss) = parametric(spec) {
            return loss.map_err(LossError::Parameter);
        }
        match spec.parse::<Loss>() {
            Ok(loss) => Ok(loss),
            Err(LossError::Parse(_)) if is_bare_name(spec) => {
                let names = BUILTINS.iter().flat_map(|b| std::iter::once(b.name).chain(b.aliases.iter().copied()));
                let mut suggestions: Vec<&str> = suggest(&spec.trim().to_lowercase(), names)
                    .into_iter()
                    .filter_map(|n| builtin(n).map(|b| b.name))
                    .collect();
                suggestions.dedup();
                Err(LossError::UnknownName { name: spec.trim().to_owned(), suggestions })
            }
            Err(e) => Err(e),
        }
    }

    /// The same loss with its expression simplified; see [`Expr::simplify`].
    pub fn simplify(&self) -> Loss {
        Loss::new(self.expr.simplify(), self.reduction)
    }

    /// Equal for losses equal under algebra (see [`canon`]), with both reductions compared
    /// fairly: `sample-mean: e` and `element-mean: sum(1)*e` are the same loss. A loss that is
    /// not finite somewhere on the [`probe`] batches keeps where in its key, so it never
    /// shares one with a loss that is finite there.
    pub fn key(&self) -> Key {
        self.keys().0
    }

    /// Equal for losses that train identically: equal up to terms that involve neither `p` nor
    /// `z`, whose gradient with respect to the logits is zero (`loss + 3` and `loss + y` train
    /// exactly like `loss`), as long as those terms are finite: `loss + exp(1000*y)` is
    /// infinite and diverges, so it keeps a key of its own. This is the key the search
    /// deduplicates candidates by.
    pub fn training_key(&self) -> Key {
        self.keys().1
    }

    /// Both keys (see [`key`](Self::key) and [`training_key`](Self::training_key)).
    pub fn keys(&self) -> (Key, Key) {
        let not_finite = probe::non_finite(&self.compile());
        canon::loss_keys(&self.expr, self.reduction == Reduction::SampleMean, &not_finite)
    }

    /// The loss as a LaTeX formula.
    pub fn to_latex(&self) -> String {
        latex::loss(self)
    }

    /// A PyTorch function `function_name(logits, target)` computing this loss, ready to paste.
    pub fn to_pytorch(&self, function_name: &str) -> String {
        pytorch::loss_function(self, function_name)
    }

    /// Compiles the loss for the reference interpreter.
    pub fn compile(&self) -> Program {
        Program::compile(self)
    }

    /// Evaluates the loss and its gradient with the reference interpreter; to evaluate one
    /// loss on many batches, [`compile`](Self::compile) it once instead.
    pub fn evaluate<T: Real>(&self, batch: &Batch<T>) -> Evaluation<T> {
        self.compile().evaluate(batch)
    }
}

fn is_bare_name(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+')
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reduction, self.expr)
    }
}

impl FromStr for Loss {
    type Err = LossError;

    /// `[REDUCTION:] EXPR`
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some((reduction, expr)) => {
                let reduction = reduction.trim().parse()?;
                // Parse the expression in place so that error columns point into `text`.
                let padded = format!("{}{expr}", " ".repeat(text.len() - expr.len()));
                Ok(Loss::new(padded.parse().map_err(|e: ParseError| e.with_source(text))?, reduction))
            }
            None => Ok(Loss::new(text.parse()?, Reduction::ElementMean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let loss: Loss = "sample-mean: y*(logsumexp(z) - z)".parse().unwrap();
        assert_eq!(loss.reduction, Reduction::SampleMean);
        assert_eq!(loss.to_string().parse::<Loss>().unwrap(), loss);
        let loss: Loss = "square(p - y)".parse().unwrap();
        assert_eq!(loss.reduction, Reduction::ElementMean);
        assert_eq!(loss.to_string(), "element-mean: square(p - y)");
    }

    #[test]
    fn errors_after_a_reduction_point_into_the_whole_text() {
        let err = "sample-mean: lgo(p)".parse::<Loss>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown function `lgo` at column 14\n  sample-mean: lgo(p)\n               ^^^"),
            "{err}"
        );
        let err = "mean: p".parse::<Loss>().unwrap_err().to_string();
        assert!(err.contains("unknown reduction `mean`"), "{err}");
    }

    #[test]
    fn resolve_takes_names_and_expressions() {
        assert_eq!(Loss::resolve("NGL").unwrap(), builtin("ngl").unwrap().loss());
        assert_eq!(Loss::resolve("cross_entropy").unwrap(), builtin("ce").unwrap().loss());
        assert_eq!(Loss::resolve("p*y").unwrap().expr.to_string(), "p*y");
        let err = Loss::resolve("focl").unwrap_err().to_string();
        assert!(err.starts_with("unknown loss `focl`; the built-in losses are `ce`, `ngl`"), "{err}");
        assert!(err.ends_with("did you mean `focal`?"), "{err}");
        let err = Loss::resolve("p +").unwrap_err().to_string();
        assert!(err.contains("expected an operand"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn resolving_never_panics(text in "\\PC{0,40}|(element-mean|sample-mean|mean)?:[pyz0-9()+*: -]{0,20}") {
            if let Err(e) = Loss::resolve(&text) {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn json_form() {
        let loss = builtin("ce").unwrap().loss();
        let json = serde_json::to_string(&loss).unwrap();
        assert_eq!(json, r#"{"expr":"y*(logsumexp(z) - z)","reduction":"sample-mean"}"#);
        assert_eq!(serde_json::from_str::<Loss>(&json).unwrap(), loss);
        let loss: Loss = serde_json::from_str(r#"{"expr": "p"}"#).unwrap();
        assert_eq!(loss.reduction, Reduction::ElementMean);
        assert!(serde_json::from_str::<Loss>(r#"{"expr": "p", "reduction": "mean"}"#).is_err());
    }

    #[test]
    fn keys_compare_reductions_fairly() {
        let sample: Loss = "sample-mean: y*(logsumexp(z) - z)".parse().unwrap();
        let element: Loss = "element-mean: sum(1)*y*(logsumexp(z) - z)".parse().unwrap();
        assert_eq!(sample.key(), element.key());
        let shifted: Loss = "sample-mean: y*(logsumexp(z) - z) + 3 + y".parse().unwrap();
        assert_ne!(sample.key(), shifted.key());
        assert_eq!(sample.training_key(), shifted.training_key());
        let scaled: Loss = "sample-mean: 2*y*(logsumexp(z) - z)".parse().unwrap();
        assert_ne!(sample.training_key(), scaled.training_key());
    }

    #[test]
    fn a_term_that_is_not_finite_keeps_the_keys_apart() {
        let ce: Loss = "sample-mean: y*(logsumexp(z) - z)".parse().unwrap();
        // Infinite where y = 1, in f64 and f32 alike: the loss diverges, CE does not.
        let twin: Loss = "sample-mean: y*(logsumexp(z) - z) + exp(1000*y)".parse().unwrap();
        assert_ne!(ce.training_key(), twin.training_key());
        assert_ne!(ce.key(), twin.key());
        // Finite in f64 but not in the f32 that training uses.
        let single: Loss = "sample-mean: y*(logsumexp(z) - z) + exp(100*y)".parse().unwrap();
        assert_ne!(ce.training_key(), single.training_key());
        // A finite term without the prediction still trains alike, and finite keys are as before.
        let finite: Loss = "sample-mean: y*(logsumexp(z) - z) + exp(10*y)".parse().unwrap();
        assert_eq!(ce.training_key(), finite.training_key());
        assert_eq!(ce.training_key().to_string(), "408268e78377ff270eb022c6daf5da06");
        assert!(probe::non_finite(&twin.compile()).iter().any(|w| w.contains("loss not finite")));
    }
}
