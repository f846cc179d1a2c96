//! The normal form written back as an expression, for [`Canonical::expr`](super::Canonical::expr)
//! and the simplifier: sums with their positive terms first, common factors pulled out, powers as
//! nested `square`s, and coefficients that overflowed while folding as expressions that
//! overflow the same way.

use super::poly::{Atom, Mono, Poly};
use crate::expr::Expr;
use crate::expr::ops::{Binary, Op, Reduce, Unary, Var};

impl Poly {
    /// The normal form written back as an expression, with common factors pulled out of sums.
    pub(crate) fn to_expr(&self) -> Expr {
        let terms: Vec<(&Mono, f64)> = self.0.iter().map(|(m, c)| (m, c.0)).collect();
        render_sum(&terms)
    }
}

/// A coefficient as an expression. One that overflowed while folding (the original overflows
/// there too) is written as an expression that overflows the same way, so that the result
/// still prints as text that parses.
fn constant(c: f64) -> Expr {
    let overflow = || Expr::unary(Unary::Exp, Expr::Const(1000.0));
    match c {
        _ if c.is_finite() => Expr::Const(c),
        _ if c.is_nan() => Expr::binary(Binary::Sub, overflow(), overflow()),
        _ if c > 0.0 => overflow(),
        _ => Expr::unary(Unary::Neg, overflow()),
    }
}

fn render_sum(terms: &[(&Mono, f64)]) -> Expr {
    // A sum of negative terms reads better as the negation of a sum of positive ones.
    if terms.len() > 1 && terms.iter().all(|(_, c)| *c < 0.0) {
        let negated: Vec<(&Mono, f64)> = terms.iter().map(|&(m, c)| (m, -c)).collect();
        return Expr::unary(Unary::Neg, render_sum(&negated));
    }
    if let Some(factored) = factor_common(terms) {
        return factored;
    }
    let (positive, negative): (Vec<_>, Vec<_>) = terms.iter().partition(|(_, c)| *c > 0.0);
    let mut out: Option<Expr> = None;
    for (m, c) in positive {
        let term = render_term(c, m);
        out = Some(match out {
            None => term,
            Some(sum) => Expr::binary(Binary::Add, sum, term),
        });
    }
    for (m, c) in negative {
        out = Some(match out {
            None => render_term(c, m),
            Some(sum) => Expr::binary(Binary::Sub, sum, render_term(-c, m)),
        });
    }
    out.unwrap_or(Expr::Const(0.0))
}

/// `a*b + a*c` as `a*(b + c)` when every term shares a factor.
fn factor_common(terms: &[(&Mono, f64)]) -> Option<Expr> {
    if terms.len() < 2 {
        return None;
    }
    let mut common: Vec<(Atom, u32)> = terms[0].0.0.clone();
    for (m, _) in &terms[1..] {
        common.retain_mut(|(atom, k)| match m.0.iter().find(|(a, _)| a == atom) {
            Some((_, j)) => {
                *k = (*k).min(*j);
                true
            }
            None => false,
        });
    }
    if common.is_empty() {
        return None;
    }
    let rest: Vec<(Mono, f64)> = terms
        .iter()
        .map(|(m, c)| {
            let remaining =
                m.0.iter()
                    .filter_map(|(atom, k)| {
                        let shared = common.iter().find(|(a, _)| a == atom).map_or(0, |(_, j)| *j);
                        (*k > shared).then(|| (atom.clone(), k - shared))
                    })
                    .collect();
            (Mono(remaining), *c)
        })
        .collect();
    let rest_refs: Vec<(&Mono, f64)> = rest.iter().map(|(m, c)| (m, *c)).collect();
    Some(Expr::binary(Binary::Mul, render_monomial(&Mono(common)), render_sum(&rest_refs)))
}

fn render_term(c: f64, m: &Mono) -> Expr {
    match c {
        _ if m.is_one() => constant(c),
        1.0 => render_monomial(m),
        -1.0 => Expr::unary(Unary::Neg, render_monomial(m)),
        _ => render_product(Some(constant(c)), m),
    }
}

fn render_monomial(m: &Mono) -> Expr {
    render_product(None, m)
}

/// `first * a * b * ...` for the atoms of `m`, associated to the left as it is read.
fn render_product(first: Option<Expr>, m: &Mono) -> Expr {
    first
        .into_iter()
        .chain(m.0.iter().map(|(atom, k)| render_power(&render_atom(atom), *k)))
        .reduce(|acc, factor| Expr::binary(Binary::Mul, acc, factor))
        .unwrap_or(Expr::Const(1.0))
}

fn render_power(base: &Expr, k: u32) -> Expr {
    match k {
        0 => Expr::Const(1.0),
        1 => base.clone(),
        _ => {
            let half = Expr::unary(Unary::Square, render_power(base, k / 2));
            if k.is_multiple_of(2) { half } else { Expr::binary(Binary::Mul, half, base.clone()) }
        }
    }
}

fn render_atom(atom: &Atom) -> Expr {
    match atom {
        Atom::Var(v) => Expr::Var(*v),
        Atom::Classes => Expr::reduce(Reduce::Sum, Expr::Const(1.0)),
        Atom::PerClass => Expr::reduce(Reduce::Mean, Expr::Var(Var::Y)),
        Atom::Factor(p) => p.to_expr(),
        Atom::Apply(Op::Binary(op), args) => {
            args.iter().map(Poly::to_expr).reduce(|acc, x| Expr::binary(*op, acc, x)).unwrap_or(Expr::Const(0.0))
        }
        Atom::Apply(op, args) => {
            let arg = args.first().map_or(Expr::Const(0.0), Poly::to_expr);
            Expr::apply(*op, vec![arg]).unwrap_or(Expr::Const(0.0))
        }
    }
}
