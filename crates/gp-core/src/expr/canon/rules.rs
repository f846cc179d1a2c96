//! The rules: each operator of the language applied to normal forms. Ring operators become
//! polynomial arithmetic; operators on constants fold as the interpreter evaluates them;
//! `exp`, `abs`, `max`, `min`, `pow`, `aq`, the odd and even functions and the class
//! reductions apply their identities; anything else stays an opaque atom over normalised
//! arguments. The list, with the conditions each rule keeps, is in [`canon`](super).

use super::arithmetic::exp_of;
use super::poly::{Atom, Mono, Poly};
use crate::expr::Expr;
use crate::expr::ops::{Binary, Op, PROTECT_EPS, Reduce, Unary, Var};

/// Squaring doubles exponents, so a few dozen nested `square`s would overflow them; beyond this
/// exponent a `square` stays an opaque function instead.
const MAX_EXPONENT: u32 = 1 << 16;

/// Normalises an operator applied to normalised arguments. The simplifier calls this node by
/// node; [`normalize`] calls it for a whole tree.
pub(crate) fn apply(op: Op, args: Vec<Poly>) -> Poly {
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or_default();
    match op {
        Op::Unary(u) => unary(u, next()),
        Op::Binary(b) => {
            let a = next();
            binary(b, a, next())
        }
        Op::Reduce(r) => reduce(r, next()),
    }
}

/// The normal form of a whole expression.
pub(crate) fn normalize(e: &Expr) -> Poly {
    match e {
        Expr::Var(v) => Poly::atom(Atom::Var(*v)),
        Expr::Const(c) => Poly::constant(*c),
        Expr::Unary(op, x) => unary(*op, normalize(x)),
        Expr::Binary(op, a, b) => binary(*op, normalize(a), normalize(b)),
        Expr::Reduce(op, x) => reduce(*op, normalize(x)),
    }
}

/// `op(x)` left unevaluated, as a polynomial with one atom.
fn opaque(op: Op, args: Vec<Poly>) -> Poly {
    Poly::atom(Atom::apply(op, args))
}

/// An operator applied to constants, evaluated as the interpreter evaluates it (so `1e-300 *
/// 1e-300` is 0 here as there), unless the result is not finite.
fn fold(value: f64, otherwise: impl FnOnce() -> Poly) -> Poly {
    if value.is_finite() { Poly::constant(value) } else { otherwise() }
}

fn unary(op: Unary, x: Poly) -> Poly {
    if let Some(c) = x.as_constant() {
        return fold(op.eval(c), || opaque(Op::Unary(op), vec![x]));
    }
    if op == Unary::Neg {
        return x.neg();
    }
    if op == Unary::Square
        && x.max_exponent() <= MAX_EXPONENT / 2
        && let Some(square) = x.times(&x)
    {
        return square;
    }
    let f = |arg: Poly| opaque(Op::Unary(op), vec![arg]);
    match op {
        Unary::Exp => {
            let (coefficient, atom) = exp_of(x);
            atom.map_or_else(|| Poly::constant(coefficient), |a| Poly::term(coefficient, Mono::of(a)))
        }
        Unary::Abs => abs(x),
        Unary::Sigmoid if x.leads_negative() => Poly::constant(1.0).minus(&f(x.neg())).unwrap_or_else(|| f(x)),
        Unary::Softplus if x.leads_negative() => f(x.neg()).plus(&x).unwrap_or_else(|| f(x)),
        _ if op.is_even() && x.leads_negative() => f(x.neg()),
        _ if op.is_odd() && x.leads_negative() => f(x.neg()).neg(),
        _ => f(x),
    }
}

fn abs(x: Poly) -> Poly {
    if x.is_nonneg() {
        return x;
    }
    let negated = x.neg();
    if negated.is_nonneg() {
        return negated;
    }
    if let Some((m, c)) = x.single_term() {
        let magnitude = if m.is_nonneg() {
            Mono::clone(m)
        } else {
            Mono::of(Atom::apply(Op::Unary(Unary::Abs), vec![Poly::term(1.0, m.clone())]))
        };
        return Poly::term(c.abs(), magnitude);
    }
    opaque(Op::Unary(Unary::Abs), vec![if x.leads_negative() { negated } else { x }])
}

/// A binary operator on normal forms. Where the rules would fold a coefficient out of the float
/// range, the operator stays as written, an opaque function of its two normalised arguments
/// (`1e-200*(1e-200*p)` is not `0*p`), so that the normal form evaluates as the original does.
pub(super) fn binary(op: Binary, a: Poly, b: Poly) -> Poly {
    if let (Some(x), Some(y)) = (a.as_constant(), b.as_constant()) {
        return fold(op.eval(x, y), || opaque(Op::Binary(op), vec![a, b]));
    }
    let normal = match op {
        Binary::Add => a.clone().plus(&b),
        Binary::Sub => a.clone().minus(&b),
        Binary::Mul => a.times(&b),
        Binary::Div => a.times(&unary(Unary::Recip, b.clone())),
        Binary::Aq => match b.as_constant() {
            Some(c) => a.scaled(1.0 / 1f64.hypot(c)),
            None => {
                let b = if b.leads_negative() { b.neg() } else { b.clone() };
                a.times(&opaque(Op::Binary(Binary::Aq), vec![Poly::constant(1.0), b]))
            }
        },
        Binary::Pow => match (a.as_constant(), b.as_constant()) {
            (_, Some(0.0)) => Some(Poly::constant(1.0)),
            (Some(x), _) => power_as_exp(x, &b),
            (None, _) => {
                let a = if a.leads_negative() { a.neg() } else { a.clone() };
                Some(opaque(Op::Binary(op), vec![a, b.clone()]))
            }
        },
        Binary::Min => Some(max(vec![a.neg(), b.neg()]).neg()),
        Binary::Max => Some(max(vec![a.clone(), b.clone()])),
    };
    normal.unwrap_or_else(|| opaque(Op::Binary(op), vec![a, b]))
}

/// `pow(c, x)` as `exp(ln(c)·x)` for a constant base, where that cannot overflow: `pow`
/// saturates at the largest float where `exp` would be infinite, so `pow(10, 400*p)` and
/// `pow(2, z)` stay powers.
fn power_as_exp(base: f64, exponent: &Poly) -> Option<Poly> {
    let argument = exponent.scaled(base.abs().max(PROTECT_EPS).ln())?;
    let (_, hi) = argument.bounds()?;
    (hi <= f64::MAX.ln()).then(|| unary(Unary::Exp, argument))
}

/// `max` of any number of arguments: nested maxima flattened, constants reduced to the
/// largest (dropped if a non-negative argument dominates it), duplicates removed, sorted.
fn max(args: Vec<Poly>) -> Poly {
    let mut flat: Vec<Poly> = Vec::new();
    let mut constant: Option<f64> = None;
    for arg in args {
        if let Some(c) = arg.as_constant() {
            constant = Some(constant.map_or(c, |k| k.max(c)));
            continue;
        }
        match arg.single_term() {
            Some((Mono(atoms), 1.0)) if matches!(atoms.as_slice(), [(Atom::Apply(Op::Binary(Binary::Max), _), 1)]) => {
                if let [(Atom::Apply(_, inner), 1)] = atoms.as_slice() {
                    for p in inner {
                        match p.as_constant() {
                            Some(c) => constant = Some(constant.map_or(c, |k| k.max(c))),
                            None => flat.push(p.clone()),
                        }
                    }
                }
            }
            _ => flat.push(arg),
        }
    }
    let dominated = |c: f64| c <= 0.0 && flat.iter().any(Poly::is_nonneg);
    if let Some(c) = constant.filter(|&c| !dominated(c)) {
        flat.push(Poly::constant(c));
    }
    flat.sort();
    flat.dedup();
    match flat.len() {
        0 => Poly::zero(),
        1 => flat.pop().unwrap_or_default(),
        _ => opaque(Op::Binary(Binary::Max), flat),
    }
}

pub(super) fn classes() -> Poly {
    Poly::atom(Atom::Classes)
}

/// A class reduction of a normal form; like [`binary`], it stays as written where the rules
/// would fold a coefficient out of range.
fn reduce(op: Reduce, x: Poly) -> Poly {
    reduce_normal(op, &x).unwrap_or_else(|| opaque(Op::Reduce(op), vec![x]))
}

fn reduce_normal(op: Reduce, x: &Poly) -> Option<Poly> {
    let (constant, varying) = x.split_class_constant();
    match op {
        Reduce::Sum | Reduce::Mean => {
            let mut out = if op == Reduce::Sum { constant.times(&classes())? } else { constant };
            for (m, c) in &varying.0 {
                let (outside, inside) = m.split_class_constant();
                let reduced = reduce_monomial(op, inside).times(&Poly::term(c.0, outside))?;
                out = out.plus(&reduced)?;
            }
            Some(out)
        }
        Reduce::Max => {
            if varying.is_zero() {
                return Some(constant);
            }
            let pulled = match varying.single_term() {
                Some((m, c)) => {
                    let (outside, inside) = m.split_class_constant();
                    if c > 0.0 && outside.is_nonneg() {
                        Some(reduce_monomial(op, inside).times(&Poly::term(c, outside))?)
                    } else {
                        None
                    }
                }
                None => None,
            };
            constant.plus(&pulled.unwrap_or_else(|| opaque(Op::Reduce(op), vec![varying])))
        }
        Reduce::LogSumExp => {
            let reduced =
                if varying.is_zero() { unary(Unary::Log, classes()) } else { opaque(Op::Reduce(op), vec![varying]) };
            constant.plus(&reduced)
        }
    }
}

/// A reduction of a bare monomial (coefficient 1, no class-constant factors), with the facts
/// about one-hot targets and probabilities.
fn reduce_monomial(op: Reduce, m: Mono) -> Poly {
    let y = Mono::of(Atom::Var(Var::Y));
    let p = Mono::of(Atom::Var(Var::P));
    match op {
        Reduce::Sum | Reduce::Max if m == y => Poly::constant(1.0),
        Reduce::Sum if m == p => Poly::constant(1.0),
        Reduce::Mean if m == p || m == y => Poly::atom(Atom::PerClass),
        _ => opaque(Op::Reduce(op), vec![Poly::term(1.0, m)]),
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use crate::expr::canon::testing::{canon, different, same};

    #[test]
    fn ring_arithmetic() {
        same("p*(1 + y)", "p + y*p");
        same("p*(1 + y)", "(y + 1)*p - 0");
        same("p - p", "0");
        same("square(p - y)", "p*p - 2*p*y + y");
        same("(p + z)*(p - z)", "square(p) - square(z)");
        same("p/2", "0.5*p");
        same("-(-(p))", "p");
        same("(p + y) + z", "p + (y + z)");
        same("0.1*p + 0.2*p", "0.3*p");
        different("p*(1 + y)", "p*(1 - y)");
        different("p", "2*p");
    }

    #[test]
    fn one_hot_targets_and_probabilities() {
        same("y*y", "y");
        same("y*(1 - y)", "0");
        same("sum(p)", "1");
        same("sum(y*3)", "3");
        same("amax(y)", "1");
        same("mean(p)", "mean(y)");
        same("sum(1)*mean(p)", "1");
        different("p*p", "p");
    }

    #[test]
    fn reductions_are_linear_and_shift_invariant() {
        same("sum(2*p*z + mean(z)*z)", "2*sum(p*z) + mean(z)*sum(z)");
        same("logsumexp(z + amax(z))", "logsumexp(z) + amax(z)");
        same("logsumexp(z - logsumexp(z))", "0");
        same("amax(3*z + 1)", "3*amax(z) + 1");
        same("mean(mean(z))", "mean(z)");
        same("sum(1)", "sum(y)*sum(2) - sum(1)");
        different("amax(-z)", "-amax(z)");
    }

    #[test]
    fn function_symmetries() {
        same("cos(p - y)", "cos(y - p)");
        same("sin(p - y)", "-sin(y - p)");
        same("log(-p)", "log(p)");
        same("abs(y - p)", "abs(p - y)");
        same("abs(-3*exp(z))", "3*exp(z)");
        same("sigmoid(-z)", "1 - sigmoid(z)");
        same("softplus(-z)", "softplus(z) - z");
        same("min(p, z)", "-max(-z, -p)");
        same("max(max(p, z), p)", "max(z, p)");
        same("max(p, 0)", "p");
        different("max(z, 0)", "z");
    }

    #[test]
    fn exponentials() {
        same("exp(p)*exp(y)", "exp(p + y)");
        same("exp(2.4092 - p*(1 + y))", "exp(2.4092)*exp(-p)*exp(-p*y)");
        same("exp(z)*exp(-z)", "1");
        same("square(exp(z))", "exp(2*z)");
        same("pow(2, p*y)", "exp(p*y*log(2))");
        same("exp(0)", "1");
    }

    #[test]
    fn division_and_quotients() {
        same("p/y", "p*recip(y)");
        same("p/(-y)", "-(p/y)");
        same("aq(2*p, z)", "2*aq(p, -z)");
        same("aq(p, 0)", "p");
    }

    #[test]
    fn folding_stops_at_non_finite_results() {
        let e: Expr = "exp(1000) - exp(1000)".parse().unwrap();
        assert_eq!(e.canonical().expr().to_string(), "0");
        let e: Expr = "exp(1000)*p".parse().unwrap();
        assert_eq!(e.canonical().expr().to_string(), "p*exp(1000)");
        assert!(e.canonical().is_fully_expanded());
    }

    /// `exp(k + x) = e^k·exp(x)` only where `exp(x)` stays a normal float over every input.
    #[test]
    fn exp_constants_stay_inside_where_pulling_them_out_leaves_the_range() {
        assert_eq!(canon("exp(800*p - 700)"), "exp(800*p - 700)");
        assert_eq!(canon("exp(z - 3)"), "exp(z - 3)");
        assert_eq!(canon("exp(z + 400)*exp(z + 400)"), "exp(800 + 2*z)");
        assert_eq!(canon("exp(sin(z) - 700)"), format!("{}*exp(sin(z))", crate::expr::print::number((-700f64).exp())));
        same("exp(2 + p)", "exp(2)*exp(p)");
        same("exp(2.4092 - p*(1 + y))", "exp(2.4092)*exp(-p)*exp(-p*y)");
        different("exp(800*p - 700)", "exp(-700)*exp(800*p)");
        // `pow` saturates where `exp` overflows, so only bounded exponents become `exp`.
        assert_eq!(canon("pow(10, 400*p)"), "pow(10, 400*p)");
        assert_eq!(canon("pow(2, z)"), "pow(2, z)");
        same("pow(2, p*y)", "exp(p*y*log(2))");
    }

    #[test]
    fn deeply_nested_squares_do_not_overflow_exponents() {
        let text = format!("{}p{}", "square(".repeat(60), ")".repeat(60));
        let e: Expr = text.parse().unwrap();
        assert_eq!(e.canonical().key(), e.canonical().expr().canonical().key());
        let twice = format!("{}p*p{}", "square(".repeat(59), ")".repeat(59));
        assert!(twice.parse::<Expr>().unwrap().simplify().size() <= twice.parse::<Expr>().unwrap().size());
    }
}
