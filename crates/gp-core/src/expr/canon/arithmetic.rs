//! Ring arithmetic on normal forms: sums, scaling and products, expanded up to the limits
//! that keep them cheap, with exponentials merged in products (`exp(a)·exp(b) = exp(a + b)`).
//! Every operation returns `None` where it would fold a coefficient out of the float range or
//! reveal an absorbed term; the rules then leave the operation as written.

use std::collections::BTreeMap;

use super::coefficient::coefficient_product;
use super::interval::exp_is_normal_over;
use super::poly::{Atom, Mono, Poly};
use crate::expr::ops::{Op, Unary, Var};

/// A product whose expansion would have more terms than this keeps its sums as factors, so
/// that trees such as `square(square(square(square(a + b + c + d))))` stay cheap. Losses of
/// the sizes GP works with never come near it; above it, equal products written in different
/// orders may get different keys (a missed duplicate, never a false merge).
const MAX_EXPANDED_TERMS: usize = 1024;

/// Likewise for the size of the expansion: multiplying out copies every atom of one side into
/// each term of the other, and repeating that through nested functions would grow the normal
/// form exponentially.
const MAX_EXPANDED_SIZE: usize = 4096;

impl Mono {
    /// The product of two monomials, as a coefficient times a monomial: exponents add, `y`
    /// stays idempotent, and exponentials merge (`exp(a)·exp(b) = exp(a + b)`), which can
    /// release a constant factor. `None` where merging exponents would fold a coefficient out
    /// of range.
    fn times(&self, other: &Mono) -> Option<(f64, Mono)> {
        let mut factors: BTreeMap<Atom, u32> = BTreeMap::new();
        for (atom, k) in self.0.iter().chain(&other.0) {
            let exponent = factors.entry(atom.clone()).or_default();
            *exponent = exponent.saturating_add(*k);
        }
        if let Some(k) = factors.get_mut(&Atom::Var(Var::Y)) {
            *k = 1;
        }
        if let (Some(&c), Some(&inverse)) = (factors.get(&Atom::Classes), factors.get(&Atom::PerClass)) {
            for (atom, k) in [(Atom::Classes, c), (Atom::PerClass, inverse)] {
                match k - c.min(inverse) {
                    0 => factors.remove(&atom),
                    left => factors.insert(atom, left),
                };
            }
        }
        let exps: Vec<(Atom, u32)> =
            factors.iter().filter(|(a, _)| a.exp_argument().is_some()).map(|(a, k)| (a.clone(), *k)).collect();
        let mut coefficient = 1.0;
        if exps.len() > 1 || exps.iter().any(|&(_, k)| k > 1) {
            let mut argument = Poly::zero();
            for (atom, k) in &exps {
                factors.remove(atom);
                if let Some(arg) = atom.exp_argument() {
                    argument = argument.plus(&arg.scaled(f64::from(*k))?)?;
                }
            }
            let (factor, merged) = exp_of(argument);
            coefficient = factor;
            if let Some(atom) = merged {
                factors.insert(atom, 1);
            }
        }
        Some((coefficient, Mono(factors.into_iter().collect())))
    }
}

/// `exp(x)` as a coefficient and an atom: the constant term `k` of `x` leaves the exponent
/// (`exp(2 + p) = e²·exp(p)`), and `exp(0)` is no atom at all. The constant stays inside where
/// taking it out could under- or overflow where the original does not: where `e^k` is not a
/// normal float, or where `exp` of the rest may leave the normal range (`exp(800*p - 700)` is
/// at most `e^100`, but `exp(800*p)` overflows, and so does `exp(z)` for large logits).
pub(super) fn exp_of(mut x: Poly) -> (f64, Option<Atom>) {
    let k = x.constant_term();
    let factor = k.exp();
    let mut coefficient = 1.0;
    if k != 0.0 && factor.is_normal() {
        let constant = x.0.remove(&Mono::one());
        if x.is_zero() || x.bounds().is_some_and(exp_is_normal_over) {
            coefficient = factor;
        } else if let Some(c) = constant {
            x.0.insert(Mono::one(), c);
        }
    }
    if x.is_zero() { (coefficient, None) } else { (coefficient, Some(Atom::apply(Op::Unary(Unary::Exp), vec![x]))) }
}

impl Poly {
    /// The sum; `None` where a coefficient would overflow, or where the sum would reveal
    /// absorbed terms ([`Poly::reveals_absorbed`]).
    pub(super) fn plus(mut self, other: &Poly) -> Option<Poly> {
        let mut cancelled = Vec::new();
        for (m, c) in &other.0 {
            self.collect_term(m, c.0, &mut cancelled)?;
        }
        (!self.reveals_absorbed(&cancelled)).then_some(self)
    }

    /// The polynomial times `k`; `None` where a coefficient would leave the float range.
    pub(super) fn scaled(&self, k: f64) -> Option<Poly> {
        let mut out = Poly::zero();
        for (m, c) in &self.0 {
            out.add_term(m.clone(), coefficient_product(c.0, k)?)?;
        }
        Some(out)
    }

    pub(super) fn minus(self, other: &Poly) -> Option<Poly> {
        self.plus(&other.neg())
    }

    /// The product, expanded unless the expansion would exceed [`MAX_EXPANDED_TERMS`] terms
    /// or [`MAX_EXPANDED_SIZE`] nodes; then each multi-term side becomes one [`Atom::Factor`].
    /// `None` where a coefficient would leave the float range, or where collecting the
    /// expansion would reveal absorbed terms (`(1e20 + p)*(1e20 - p)`: each factor is `1e20`
    /// in floats).
    pub(super) fn times(&self, other: &Poly) -> Option<Poly> {
        let terms = self.0.len() * other.0.len();
        if terms > MAX_EXPANDED_TERMS || other.0.len() * self.size() + self.0.len() * other.size() > MAX_EXPANDED_SIZE {
            return self.as_factor()?.times_expanded(&other.as_factor()?);
        }
        self.times_expanded(other)
    }

    fn times_expanded(&self, other: &Poly) -> Option<Poly> {
        let mut out = Poly::zero();
        let mut cancelled = Vec::new();
        for (ma, ca) in &self.0 {
            for (mb, cb) in &other.0 {
                let (k, m) = ma.times(mb)?;
                out.collect_term(&m, coefficient_product(coefficient_product(ca.0, cb.0)?, k)?, &mut cancelled)?;
            }
        }
        (!out.reveals_absorbed(&cancelled)).then_some(out)
    }

    /// The polynomial as a single term: itself if it has one term, else its first coefficient
    /// times the rest as a [`Atom::Factor`].
    fn as_factor(&self) -> Option<Poly> {
        match self.0.iter().next() {
            Some((_, lead)) if self.0.len() > 1 => {
                let inverse = 1.0 / lead.0;
                if !inverse.is_normal() {
                    return None;
                }
                Poly::atom(Atom::Factor(self.scaled(inverse)?)).scaled(lead.0)
            }
            _ => Some(self.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use crate::expr::canon::testing::same;

    #[test]
    fn huge_products_stay_unexpanded_and_cheap() {
        // Multiplied out, the product would have hundreds of terms; what comes out (752 nodes)
        // bounds the work done (a benchmark, not a test, measures time).
        let e: Expr = "square(square(square(square(p + y + z + 1))))".parse().unwrap();
        let c = e.canonical();
        assert!(!c.is_fully_expanded());
        assert!(c.expr().size() < 100 * e.size(), "{} nodes from {}", c.expr().size(), e.size());
        same(
            "(p + y + z + 1)*(p + y + z + 2)*(p + y + z + 3)*(p + z + 4)",
            "(p + z + 4)*(p + y + z + 3)*(p + y + z + 2)*(p + y + z + 1)",
        );
    }

    #[test]
    fn nested_expansions_stay_linear_in_size() {
        // Each level would copy the previous one into seven terms if multiplied out.
        let mut text = "p".to_owned();
        for _ in 0..12 {
            text = format!("sin(square({text} + (y + z + p*z + p*y + y*z + z*z)))");
        }
        let e: Expr = text.parse().unwrap();
        let c = e.canonical();
        assert!(c.expr().size() < 50 * e.size(), "{} nodes from {}", c.expr().size(), e.size());
        assert!(e.simplify().size() <= e.size());
    }
}
