//! The loss expression language.
//!
//! A loss is an expression tree over three `[batch, classes]` leaves, `p` (softmax
//! probabilities), `y` (one-hot target) and `z` (logits), numeric constants, element-wise
//! operators and reductions over the class axis; see [`ops`] for the operators and their exact
//! (protected) semantics. Expressions are written and read as infix text:
//!
//! ```
//! use lossgp_core::expr::Expr;
//!
//! let ngl: Expr = "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))".parse()?;
//! assert_eq!(ngl.to_string(), "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
//! assert_eq!(ngl.size(), 13);
//! # Ok::<(), lossgp_core::expr::ParseError>(())
//! ```
//!
//! Besides text, an expression prints as LaTeX ([`latex`]), as MathML for web pages
//! ([`mathml`]) and as PyTorch code ([`pytorch`]), simplifies ([`simplify`](Expr::simplify)),
//! and has a canonical form whose key identifies it up to algebra ([`canon`]).

pub mod canon;
pub mod latex;
pub mod mathml;
mod notation;
pub mod ops;
mod parse;
mod primitives;
mod print;
pub mod pytorch;
pub(crate) mod reduction;
pub(crate) mod shape;
mod simplify;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use ops::{Binary, Op, PROTECT_EPS, Real, Reduce, Unary, UnknownName, Var};
pub use parse::{MAX_HEIGHT, ParseError, ParseErrorKind};
pub use primitives::{Ephemeral, PrimitiveSet, PrimitiveSetError};

/// An expression of the loss language: a tree whose leaves are variables and constants.
///
/// The tree is a plain recursive enum so that code walking it (printers, the simplifier, the
/// genetic operators) reads as pattern matching. Subtrees are addressed by their index in
/// pre-order, which is how the genetic operators pick crossover and mutation points.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A leaf `p`, `y` or `z`.
    Var(Var),
    /// A numeric constant; always finite.
    Const(f64),
    /// An element-wise operator of one argument.
    Unary(Unary, Box<Expr>),
    /// An element-wise operator of two arguments.
    Binary(Binary, Box<Expr>, Box<Expr>),
    /// A reduction over the class axis, broadcast back.
    Reduce(Reduce, Box<Expr>),
}

impl Expr {
    /// `op(x)`
    pub fn unary(op: Unary, x: Expr) -> Expr {
        Expr::Unary(op, Box::new(x))
    }

    /// `op(a, b)`
    pub fn binary(op: Binary, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }

    /// `op(x)` for a class reduction.
    pub fn reduce(op: Reduce, x: Expr) -> Expr {
        Expr::Reduce(op, Box::new(x))
    }

    /// Applies any operator to its arguments, or returns `None` when their number is not the
    /// operator's arity.
    pub fn apply(op: Op, args: Vec<Expr>) -> Option<Expr> {
        let mut args = args.into_iter();
        let expr = match op {
            Op::Unary(u) => Expr::unary(u, args.next()?),
            Op::Reduce(r) => Expr::reduce(r, args.next()?),
            Op::Binary(b) => {
                let a = args.next()?;
                Expr::binary(b, a, args.next()?)
            }
        };
        args.next().is_none().then_some(expr)
    }

    /// The operator at the root, if the root is not a leaf.
    pub fn op(&self) -> Option<Op> {
        match self {
            Expr::Var(_) | Expr::Const(_) => None,
            Expr::Unary(u, _) => Some(Op::Unary(*u)),
            Expr::Binary(b, ..) => Some(Op::Binary(*b)),
            Expr::Reduce(r, _) => Some(Op::Reduce(*r)),
        }
    }

    /// The arguments of the root operator (none for a leaf).
    pub fn children(&self) -> impl Iterator<Item = &Expr> {
        let (a, b) = match self {
            Expr::Var(_) | Expr::Const(_) => (None, None),
            Expr::Unary(_, x) | Expr::Reduce(_, x) => (Some(&**x), None),
            Expr::Binary(_, a, b) => (Some(&**a), Some(&**b)),
        };
        a.into_iter().chain(b)
    }

    /// The arguments of the root operator, mutably.
    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Expr> {
        let (a, b) = match self {
            Expr::Var(_) | Expr::Const(_) => (None, None),
            Expr::Unary(_, x) | Expr::Reduce(_, x) => (Some(&mut **x), None),
            Expr::Binary(_, a, b) => (Some(&mut **a), Some(&mut **b)),
        };
        a.into_iter().chain(b)
    }

    /// The number of nodes.
    pub fn size(&self) -> usize {
        1 + self.children().map(Expr::size).sum::<usize>()
    }

    /// The height: 0 for a leaf, else 1 + the height of the tallest argument (DEAP's
    /// convention, in which EvoMAL's "maximum height 10" is stated).
    pub fn height(&self) -> usize {
        self.children().map(|c| 1 + c.height()).max().unwrap_or(0)
    }

    /// All nodes in pre-order (a node before its arguments, arguments left to right); the
    /// position of a node in this order is its index for [`subtree`](Self::subtree).
    pub fn preorder(&self) -> impl Iterator<Item = &Expr> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            match node {
                Expr::Var(_) | Expr::Const(_) => {}
                Expr::Unary(_, x) | Expr::Reduce(_, x) => stack.push(x),
                Expr::Binary(_, a, b) => stack.extend([&**b, &**a]),
            }
            Some(node)
        })
    }

    /// The subtree rooted at pre-order index `index`.
    pub fn subtree(&self, index: usize) -> Option<&Expr> {
        self.preorder().nth(index)
    }

    /// The subtree rooted at pre-order index `index`, mutably; replacing it through this
    /// reference is subtree crossover and subtree mutation.
    pub fn subtree_mut(&mut self, mut index: usize) -> Option<&mut Expr> {
        let mut node = self;
        loop {
            if index == 0 {
                return Some(node);
            }
            index -= 1;
            let mut next = None;
            for child in node.children_mut() {
                let size = child.size();
                if index < size {
                    next = Some(child);
                    break;
                }
                index -= size;
            }
            node = next?;
        }
    }

    /// Whether the variable occurs in the expression.
    pub fn uses(&self, var: Var) -> bool {
        self.preorder().any(|e| *e == Expr::Var(var))
    }

    /// Whether the expression contains no variable, i.e. is a constant (possibly depending on
    /// the number of classes through a reduction).
    pub fn is_constant(&self) -> bool {
        !self.preorder().any(|e| matches!(e, Expr::Var(_)))
    }
}

/// In JSON an expression is its infix text: compact, readable, and exact (constants print
/// with every digit needed to read them back).
impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod strategy;

#[cfg(test)]
mod tests {
    use super::*;

    fn e(text: &str) -> Expr {
        text.parse().unwrap()
    }

    #[test]
    fn size_height_and_preorder() {
        let x = e("exp(2 - p*y) + z");
        assert_eq!(x.size(), 8);
        assert_eq!(x.height(), 4);
        let order: Vec<String> =
            x.preorder().map(|n| n.op().map_or_else(|| n.to_string(), |o| o.name().to_owned())).collect();
        assert_eq!(order, ["add", "exp", "sub", "2", "mul", "p", "y", "z"]);
        assert_eq!(x.subtree(4), Some(&e("p*y")));
        assert_eq!(x.subtree(8), None);
    }

    #[test]
    fn subtree_mut_replaces_in_place() {
        let mut x = e("exp(2 - p*y) + z");
        *x.subtree_mut(4).unwrap() = e("sin(p)");
        assert_eq!(x, e("exp(2 - sin(p)) + z"));
        *x.subtree_mut(0).unwrap() = e("y");
        assert_eq!(x, e("y"));
        assert!(x.subtree_mut(1).is_none());
    }

    #[test]
    fn apply_checks_arity() {
        assert_eq!(Expr::apply(Op::Binary(Binary::Add), vec![e("p"), e("y")]), Some(e("p + y")));
        assert_eq!(Expr::apply(Op::Binary(Binary::Add), vec![e("p")]), None);
        assert_eq!(Expr::apply(Op::Unary(Unary::Exp), vec![e("p"), e("y")]), None);
    }

    #[test]
    fn json_is_the_infix_text() {
        let x = e("logsumexp(z) - z");
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(json, "\"logsumexp(z) - z\"");
        assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), x);
        let err = serde_json::from_str::<Expr>("\"lgo(p)\"").unwrap_err().to_string();
        assert!(err.contains("did you mean `log`"), "{err}");
    }
}
