//! [`Expr`] to infix text, the exact inverse of the parser: `parse(print(e)) == e`.
//!
//! `+`, `-`, `*`, `/` print as infix operators with the fewest parentheses that keep the tree's
//! shape (so `a + (b + c)` keeps its parentheses), negation as a prefix `-`, and every other
//! operator, `pow` included, as a function call. Constants print with the shortest digits
//! that read back to the same `f64`.

use std::fmt;

use super::Expr;
use super::ops::{Binary, Unary};

/// Binding strength, loosest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Prec {
    Sum,
    Product,
    Prefix,
    Atom,
}

impl Prec {
    pub(super) fn of(e: &Expr) -> Prec {
        match e {
            Expr::Binary(Binary::Add | Binary::Sub, ..) => Prec::Sum,
            Expr::Binary(Binary::Mul | Binary::Div, ..) => Prec::Product,
            Expr::Unary(Unary::Neg, _) => Prec::Prefix,
            Expr::Const(c) if c.is_sign_negative() => Prec::Prefix,
            _ => Prec::Atom,
        }
    }
}

/// The infix symbol of `op`, if it prints as one.
pub(super) fn infix(op: Binary) -> Option<&'static str> {
    match op {
        Binary::Add => Some(" + "),
        Binary::Sub => Some(" - "),
        Binary::Mul => Some("*"),
        Binary::Div => Some("/"),
        _ => None,
    }
}

/// The shortest digits that parse back to exactly `x`, positional unless that is long and
/// exponent notation shorter (`2.4092`, `0.0001`, `1000`, but `1e-7`, `1e20`).
pub(crate) fn number(x: f64) -> String {
    let plain = format!("{x}");
    let exp = format!("{x:e}");
    if plain.len() > 8 && exp.len() < plain.len() { exp } else { plain }
}

fn write(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Expr::Var(v) => f.write_str(v.name()),
        Expr::Const(c) => f.write_str(&number(*c)),
        Expr::Unary(Unary::Neg, x) => {
            f.write_str("-")?;
            // `-2` would read back as a negative literal, `--x` as well as `-(-x)`; keep both explicit.
            let bare = Prec::of(x) == Prec::Atom && !matches!(**x, Expr::Const(_));
            write_operand(x, !bare, f)
        }
        Expr::Binary(op, a, b) if infix(*op).is_some() => {
            let prec = Prec::of(e);
            write_operand(a, Prec::of(a) < prec, f)?;
            f.write_str(infix(*op).unwrap_or_default())?;
            write_operand(b, Prec::of(b) <= prec, f)
        }
        Expr::Unary(op, x) => call(op.name(), &[x], f),
        Expr::Reduce(op, x) => call(op.name(), &[x], f),
        Expr::Binary(op, a, b) => call(op.name(), &[a, b], f),
    }
}

fn write_operand(e: &Expr, parenthesize: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if parenthesize {
        f.write_str("(")?;
        write(e, f)?;
        f.write_str(")")
    } else {
        write(e, f)
    }
}

fn call(name: &str, args: &[&Expr], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(name)?;
    f.write_str("(")?;
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write(arg, f)?;
    }
    f.write_str(")")
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::strategy::arb_expr;
    use proptest::prelude::*;

    fn round(text: &str) -> String {
        text.parse::<Expr>().unwrap().to_string()
    }

    #[test]
    fn prints_with_minimal_parentheses() {
        assert_eq!(round("exp(2.4092 - p*(1+y)) - cos(cos(sin(p)))"), "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
        assert_eq!(round("((p - y)) - z"), "p - y - z");
        assert_eq!(round("p - (y - z)"), "p - (y - z)");
        assert_eq!(round("p + (y + z)"), "p + (y + z)");
        assert_eq!(round("p / (y * z)"), "p/(y*z)");
        assert_eq!(round("-(p*y)"), "-(p*y)");
        assert_eq!(round("(-p)*y"), "-p*y");
        assert_eq!(round("-(-p)"), "-(-p)");
        assert_eq!(round("-(2)"), "-(2)");
        assert_eq!(round("-(-2)"), "-(-2)");
        assert_eq!(round("p * -2"), "p*-2");
        assert_eq!(round("p - -2"), "p - -2");
        assert_eq!(round("p^2"), "pow(p, 2)");
        assert_eq!(round("amax(z) + lse(z)"), "amax(z) + logsumexp(z)");
    }

    #[test]
    fn numbers_print_short_and_exact() {
        assert_eq!(number(2.4092), "2.4092");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(1e-7), "1e-7");
        assert_eq!(number(1e20), "1e20");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(0.0001), "0.0001");
        assert_eq!(number(123456789.0), "123456789");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number(-0.0), "-0");
        for x in [f64::MIN_POSITIVE, f64::MAX, -f64::MAX, 5e-324, 123456.789e100, 0.1 + 0.2] {
            assert_eq!(number(x).parse::<f64>().unwrap(), x);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn parse_inverts_print(e in arb_expr()) {
            let text = e.to_string();
            let back: Expr = text.parse().map_err(|err| TestCaseError::fail(format!("{err}")))?;
            prop_assert_eq!(back, e, "text: {}", text);
        }
    }
}
