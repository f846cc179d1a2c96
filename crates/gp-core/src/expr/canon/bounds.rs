//! Bounds on values over every input, from the structure of the normal form: `p`, `y` and
//! `1/C` lie in `[0, 1]`, `sin` in `[-1, 1]`, and so on, while the logits and the class count
//! are unbounded. They decide whether a constant may leave an exponent, whether `pow` may
//! become `exp`, and how large a term is where absorption is checked.

use super::interval::{finite, interval_abs, interval_power, interval_product, interval_scaled};
use super::poly::{Atom, Mono, Poly};
use crate::expr::ops::{Binary, Op, PROTECT_EPS, Reduce, Unary, Var};

impl Atom {
    /// The largest magnitude of the atom over all inputs, or 1 where it has no bound (the
    /// logits, the class count): what decides whether adding it to another term absorbs it.
    fn scale(&self) -> f64 {
        self.bounds().map_or(1.0, |(lo, hi)| lo.abs().max(hi.abs()))
    }

    /// Finite bounds on the atom's values over all inputs, where its structure gives them:
    /// `p`, `y` and `1/C` lie in `[0, 1]`, `sin` in `[-1, 1]`, and so on; the logits and the
    /// class count are unbounded.
    fn bounds(&self) -> Option<(f64, f64)> {
        use Unary::*;
        let arg = |args: &[Poly], i: usize| args.get(i).and_then(Poly::bounds);
        let bounds = match self {
            Atom::Var(Var::P | Var::Y) | Atom::PerClass => (0.0, 1.0),
            Atom::Var(Var::Z) | Atom::Classes => return None,
            Atom::Factor(p) => p.bounds()?,
            Atom::Apply(Op::Unary(Sin | Cos | Tanh), _) => (-1.0, 1.0),
            Atom::Apply(Op::Unary(Sigmoid), _) => (0.0, 1.0),
            Atom::Apply(Op::Unary(Recip), _) => (-1.0 / PROTECT_EPS, 1.0 / PROTECT_EPS),
            Atom::Apply(Op::Unary(op), args) => {
                let (lo, hi) = arg(args, 0)?;
                match op {
                    Neg => (-hi, -lo),
                    Exp | Softplus => (op.eval(lo), op.eval(hi)),
                    Abs => interval_abs((lo, hi)),
                    Square => interval_power((lo, hi), 2),
                    Log | Sqrt => {
                        let (small, large) = interval_abs((lo, hi));
                        (op.eval(small), op.eval(large))
                    }
                    Sin | Cos | Tanh | Sigmoid | Recip => return None,
                }
            }
            Atom::Apply(Op::Binary(op), args) => match op {
                Binary::Add => {
                    let ((a, b), (c, d)) = (arg(args, 0)?, arg(args, 1)?);
                    (a + c, b + d)
                }
                Binary::Sub => {
                    let ((a, b), (c, d)) = (arg(args, 0)?, arg(args, 1)?);
                    (a - d, b - c)
                }
                Binary::Mul => interval_product(arg(args, 0)?, arg(args, 1)?),
                // |aq(a, b)| <= |a|
                Binary::Aq => {
                    let (_, m) = interval_abs(arg(args, 0)?);
                    (-m, m)
                }
                Binary::Max => {
                    let all = args.iter().map(Poly::bounds).collect::<Option<Vec<_>>>()?;
                    all.into_iter().fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b), (c, d)| (a.max(c), b.max(d)))
                }
                Binary::Min => {
                    let all = args.iter().map(Poly::bounds).collect::<Option<Vec<_>>>()?;
                    all.into_iter().fold((f64::INFINITY, f64::INFINITY), |(a, b), (c, d)| (a.min(c), b.min(d)))
                }
                Binary::Div | Binary::Pow => return None,
            },
            Atom::Apply(Op::Reduce(Reduce::Mean | Reduce::Max), args) => arg(args, 0)?,
            Atom::Apply(Op::Reduce(Reduce::Sum | Reduce::LogSumExp), _) => return None,
        };
        finite(bounds)
    }
}

impl Mono {
    /// The largest magnitude of the monomial, with [`Atom::scale`] for each atom.
    pub(super) fn scale(&self) -> f64 {
        self.0.iter().map(|(atom, k)| atom.scale().powi(i32::try_from(*k).unwrap_or(i32::MAX))).product()
    }

    /// Finite bounds on the monomial's values, where its atoms have them.
    pub(super) fn bounds(&self) -> Option<(f64, f64)> {
        self.0
            .iter()
            .try_fold((1.0, 1.0), |acc, (atom, k)| finite(interval_product(acc, interval_power(atom.bounds()?, *k))))
    }
}

impl Poly {
    /// Finite bounds on the polynomial's values, where its atoms have them.
    pub(super) fn bounds(&self) -> Option<(f64, f64)> {
        self.0.iter().try_fold((0.0, 0.0), |(lo, hi), (m, c)| {
            let (a, b) = interval_scaled(m.bounds()?, c.0);
            finite((lo + a, hi + b))
        })
    }
}
