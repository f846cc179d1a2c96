//! Losses: an expression of the loss language plus the reduction that turns its `[batch,
//! classes]` values into one number, and the built-in named losses.

pub mod analysis;
mod builtin;
pub mod probe;
mod resolve;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use analysis::{Analysis, analyze};
pub use builtin::{BUILTINS, Builtin, PARAMETRIC, Parametric, builtin, label_smoothing, parametric};
pub use resolve::LossError;

pub use crate::expr::reduction::{Reduction, UnknownReduction};

use crate::expr::Real;
use crate::expr::canon::{self, Key};
use crate::expr::{Expr, latex, mathml, pytorch};
use crate::interp::{Batch, Evaluation, Program};

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

impl Loss {
    /// `reduction(expr)`.
    pub fn new(expr: Expr, reduction: Reduction) -> Loss {
        Loss { expr, reduction }
    }

    /// The same loss with its expression simplified; see [`Expr::simplify`].
    pub fn simplify(&self) -> Loss {
        Loss::new(self.expr.simplify(), self.reduction)
    }

    /// The form to show people: the simplified loss where it trains as this one does (the same
    /// [`training_key`](Self::training_key)), else this one unchanged.
    pub fn shown(&self) -> Loss {
        let simplified = self.simplify();
        if simplified.training_key() == self.training_key() { simplified } else { self.clone() }
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
        latex::loss(&self.expr, self.reduction)
    }

    /// The loss as a `<math display="block">` element that browsers render natively (MathML
    /// Core), the same formula as [`to_latex`](Self::to_latex); see [`mathml`].
    pub fn to_mathml(&self) -> String {
        mathml::loss(&self.expr, self.reduction)
    }

    /// A PyTorch function `function_name(logits, target)` computing this loss, ready to paste.
    pub fn to_pytorch(&self, function_name: &str) -> String {
        pytorch::loss_function(&self.expr, self.reduction, function_name)
    }

    /// Compiles the loss for the reference interpreter.
    pub fn compile(&self) -> Program {
        Program::compile_expr(&self.expr, self.reduction)
    }

    /// Evaluates the loss and its gradient with the reference interpreter; to evaluate one
    /// loss on many batches, [`compile`](Self::compile) it once instead.
    pub fn evaluate<T: Real>(&self, batch: &Batch<T>) -> Evaluation<T> {
        self.compile().evaluate(batch)
    }
}

impl Program {
    /// Compiles a loss, merging repeated subexpressions (the same as [`Loss::compile`]).
    pub fn compile(loss: &Loss) -> Program {
        Program::compile_expr(&loss.expr, loss.reduction)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reduction, self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
