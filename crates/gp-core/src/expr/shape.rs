//! How an expression's value spreads over the `[batch, classes]` grid: [`Shape`], re-exported
//! as `interp::Shape`. The interpreter keeps one per instruction; the PyTorch printer reads it
//! to decide how the generated code reduces.

use super::Expr;

/// How a value spreads over the `[batch, classes]` grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// One number for every element.
    Scalar,
    /// One number per sample, the same for every class (`[batch, 1]`).
    Column,
    /// One number per element (`[batch, classes]`).
    Full,
}

impl Shape {
    /// The shape of an expression's value.
    pub fn of(e: &Expr) -> Shape {
        match e {
            Expr::Var(_) => Shape::Full,
            Expr::Const(_) => Shape::Scalar,
            Expr::Unary(_, x) => Shape::of(x),
            Expr::Binary(_, a, b) => Shape::of(a).max(Shape::of(b)),
            Expr::Reduce(_, x) => Shape::of(x).reduced(),
        }
    }

    /// The shape of a class reduction of a value of this shape: a full value reduces to one
    /// number per sample; a value already constant over the classes keeps its shape.
    pub(crate) fn reduced(self) -> Shape {
        match self {
            Shape::Full => Shape::Column,
            other => other,
        }
    }

    /// The number of values a value of this shape holds for `batch` samples of `classes`
    /// classes.
    pub(crate) fn len(self, batch: usize, classes: usize) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Column => batch,
            Shape::Full => batch * classes,
        }
    }
}
