//! The normal form's data: a polynomial ([`Poly`]) is a sum of monomials ([`Mono`]) with
//! coefficients, a monomial a product of powers of atoms ([`Atom`]); and what the structure alone
//! tells about them (constant over the classes, non-negative, which variables occur, size).

use std::collections::BTreeMap;

use super::coefficient::Num;
use crate::expr::ops::{Binary, Op, Reduce, Unary, Var};

/// A factor of a monomial that is not itself a sum or product.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Atom {
    Var(Var),
    /// The number of classes `C`, which reductions of class-constant terms produce; it prints
    /// as `sum(1)`.
    Classes,
    /// `1/C`, which `mean(y)` and `mean(p)` are; it prints as `mean(y)`.
    PerClass,
    /// A non-polynomial operator applied to normalised arguments. `aq(a, b)` is stored as
    /// `a · aq(1, b)` and `max` with any number of arguments.
    Apply(Op, Vec<Poly>),
    /// A sum kept whole as a factor because multiplying it out would be too large, scaled so
    /// that its first coefficient is 1. Equal factors merge into a power like any atom, so
    /// nested products stay linear in size.
    Factor(Poly),
}

/// A product of atoms with positive exponents, sorted; the empty monomial is 1.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Mono(pub(super) Vec<(Atom, u32)>);

/// A sum of monomials with non-zero coefficients, in canonical order (the constant term, whose
/// monomial is empty, first).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Poly(pub(super) BTreeMap<Mono, Num>);

impl Atom {
    pub(super) fn apply(op: Op, args: Vec<Poly>) -> Atom {
        Atom::Apply(op, args)
    }

    pub(super) fn is_class_constant(&self) -> bool {
        match self {
            Atom::Var(_) => false,
            Atom::Classes | Atom::PerClass | Atom::Apply(Op::Reduce(_), _) => true,
            Atom::Apply(_, args) => args.iter().all(Poly::is_class_constant),
            Atom::Factor(p) => p.is_class_constant(),
        }
    }

    pub(super) fn is_nonneg(&self) -> bool {
        use Unary::*;
        match self {
            Atom::Var(v) => *v != Var::Z,
            Atom::Classes | Atom::PerClass => true,
            Atom::Apply(Op::Unary(Exp | Abs | Sqrt | Square | Sigmoid | Softplus), _) => true,
            Atom::Apply(Op::Binary(Binary::Pow | Binary::Aq), _) => true,
            Atom::Apply(Op::Binary(Binary::Max), args) => args.iter().any(Poly::is_nonneg),
            Atom::Apply(Op::Unary(Recip) | Op::Reduce(Reduce::Sum | Reduce::Mean | Reduce::Max), args) => {
                args.iter().all(Poly::is_nonneg)
            }
            Atom::Factor(p) => p.is_nonneg(),
            Atom::Apply(..) => false,
        }
    }

    pub(super) fn mentions(&self, var: Var) -> bool {
        match self {
            Atom::Var(v) => *v == var,
            Atom::Classes | Atom::PerClass => false,
            Atom::Apply(_, args) => args.iter().any(|a| a.mentions(var)),
            Atom::Factor(p) => p.mentions(var),
        }
    }

    pub(super) fn size(&self) -> usize {
        match self {
            Atom::Var(_) | Atom::Classes | Atom::PerClass => 1,
            Atom::Apply(_, args) => 1 + args.iter().map(Poly::size).sum::<usize>(),
            Atom::Factor(p) => 1 + p.size(),
        }
    }

    pub(super) fn exp_argument(&self) -> Option<&Poly> {
        match self {
            Atom::Apply(Op::Unary(Unary::Exp), args) => args.first(),
            _ => None,
        }
    }
}

impl Mono {
    pub(super) fn one() -> Mono {
        Mono(Vec::new())
    }

    pub(super) fn of(atom: Atom) -> Mono {
        Mono(vec![(atom, 1)])
    }

    pub(super) fn is_one(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn is_nonneg(&self) -> bool {
        self.0.iter().all(|(atom, k)| k % 2 == 0 || atom.is_nonneg())
    }

    pub(super) fn mentions(&self, var: Var) -> bool {
        self.0.iter().any(|(atom, _)| atom.mentions(var))
    }

    /// Splits into the factors constant over the classes and the rest.
    pub(super) fn split_class_constant(&self) -> (Mono, Mono) {
        let (constant, varying) = self.0.iter().cloned().partition(|(atom, _)| atom.is_class_constant());
        (Mono(constant), Mono(varying))
    }
}

impl Poly {
    pub(super) fn zero() -> Poly {
        Poly::default()
    }

    pub(super) fn constant(c: f64) -> Poly {
        Poly::term(c, Mono::one())
    }

    pub(super) fn atom(atom: Atom) -> Poly {
        Poly::term(1.0, Mono::of(atom))
    }

    pub(super) fn term(c: f64, m: Mono) -> Poly {
        let mut p = Poly::zero();
        if c != 0.0 {
            p.0.insert(m, Num(c));
        }
        p
    }

    pub(super) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn as_constant(&self) -> Option<f64> {
        match self.0.len() {
            0 => Some(0.0),
            1 => self.0.get(&Mono::one()).map(|c| c.0),
            _ => None,
        }
    }

    pub(super) fn constant_term(&self) -> f64 {
        self.0.get(&Mono::one()).map_or(0.0, |c| c.0)
    }

    pub(super) fn neg(&self) -> Poly {
        Poly(self.0.iter().map(|(m, c)| (m.clone(), Num(-c.0))).collect())
    }

    /// The number of nodes, counting every copy of a repeated atom: what expanding costs.
    pub(super) fn size(&self) -> usize {
        self.0.keys().map(|m| 1 + m.0.iter().map(|(atom, _)| atom.size()).sum::<usize>()).sum()
    }

    /// Whether the first non-constant term has a negative coefficient; odd and even functions
    /// normalise their argument so that it does not.
    pub(super) fn leads_negative(&self) -> bool {
        self.0.iter().find(|(m, _)| !m.is_one()).is_some_and(|(_, c)| c.0 < 0.0)
    }

    pub(super) fn max_exponent(&self) -> u32 {
        self.0.keys().flat_map(|m| m.0.iter().map(|(_, k)| *k)).max().unwrap_or(0)
    }

    pub(super) fn is_class_constant(&self) -> bool {
        self.0.keys().all(|m| m.0.iter().all(|(atom, _)| atom.is_class_constant()))
    }

    pub(super) fn is_nonneg(&self) -> bool {
        self.0.iter().all(|(m, c)| c.0 > 0.0 && m.is_nonneg())
    }

    pub(super) fn mentions(&self, var: Var) -> bool {
        self.0.keys().any(|m| m.mentions(var))
    }

    /// The single term `c·m`, if the polynomial has exactly one.
    pub(super) fn single_term(&self) -> Option<(&Mono, f64)> {
        match self.0.len() {
            1 => self.0.iter().next().map(|(m, c)| (m, c.0)),
            _ => None,
        }
    }

    /// The terms constant over the classes, and the rest.
    pub(super) fn split_class_constant(&self) -> (Poly, Poly) {
        let (constant, varying) = self
            .0
            .iter()
            .map(|(m, c)| (m.clone(), *c))
            .partition(|(m, _)| m.0.iter().all(|(a, _)| a.is_class_constant()));
        (Poly(constant), Poly(varying))
    }

    pub(super) fn has_factor(&self) -> bool {
        self.0.keys().any(|m| {
            m.0.iter().any(|(atom, _)| match atom {
                Atom::Factor(_) | Atom::Apply(Op::Unary(Unary::Square), _) => true,
                // Kept as written because folding would have left the float range.
                Atom::Apply(Op::Binary(Binary::Add | Binary::Sub | Binary::Mul | Binary::Div), _) => true,
                Atom::Apply(_, args) => args.iter().any(Poly::has_factor),
                Atom::Var(_) | Atom::Classes | Atom::PerClass => false,
            })
        })
    }
}
