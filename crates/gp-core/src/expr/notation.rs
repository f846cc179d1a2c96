//! Rules the formula renderers share ([`latex`](super::latex) and [`mathml`](super::mathml)),
//! so that both write the same formula: where a protected operator's argument needs `|x|`, and
//! where a power needs parentheses around its base.

use super::Expr;
use super::ops::{Binary, Reduce, Unary, Var};

/// Whether `e` is non-negative for every input, judged from its structure.
pub(super) fn nonneg(e: &Expr) -> bool {
    use Unary::*;
    match e {
        Expr::Var(v) => *v != Var::Z,
        Expr::Const(c) => *c >= 0.0,
        Expr::Unary(Exp | Abs | Sqrt | Square | Sigmoid | Softplus, _) | Expr::Binary(Binary::Pow, ..) => true,
        Expr::Binary(Binary::Aq, a, _) | Expr::Unary(Recip, a) => nonneg(a),
        Expr::Reduce(Reduce::Sum | Reduce::Mean | Reduce::Max, x) => nonneg(x),
        Expr::Binary(Binary::Add | Binary::Mul | Binary::Div | Binary::Min, a, b) => nonneg(a) && nonneg(b),
        Expr::Binary(Binary::Max, a, b) => nonneg(a) || nonneg(b),
        _ => false,
    }
}

/// Whether `e` already ends in a superscript, so that raising it to a power needs parentheses.
pub(super) fn has_superscript(e: &Expr) -> bool {
    matches!(e, Expr::Unary(Unary::Exp | Unary::Square, _) | Expr::Binary(Binary::Pow, ..) | Expr::Const(_))
}
