//! LaTeX for papers and reports.
//!
//! Variables are element-wise (`p`, `y` and `z` stand for `p_{b,c}` and so on); class
//! reductions are written over an index `k`, and a loss shows its reduction over samples `b`
//! and classes `c`. Where a protected operator differs from the textbook function on some
//! input, the formula shows the difference: `log` and `sqrt` take `|x|` unless `x` is provably
//! non-negative, and the base of `pow` is `|a|`. The `ε` floors are left out.

use super::Expr;
use super::notation::{has_superscript, nonneg};
use super::ops::{Binary, Reduce, Unary};
use super::print::{Prec, number};
use super::reduction::Reduction;

/// An expression as LaTeX.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write(e, &mut out);
    out
}

/// The loss `reduction(e)` as a LaTeX formula, its reduction included.
pub(crate) fn loss(e: &Expr, reduction: Reduction) -> String {
    let scale = match reduction {
        Reduction::ElementMean => r"\frac{1}{BC}",
        Reduction::SampleMean => r"\frac{1}{B}",
    };
    format!(r"\mathcal{{L}} = {scale}\sum_{{b=1}}^{{B}}\sum_{{c=1}}^{{C}}\left[{}\right]", expr(e))
}

fn write(e: &Expr, out: &mut String) {
    match e {
        Expr::Var(v) => out.push_str(v.name()),
        Expr::Const(c) => out.push_str(&latex_number(*c)),
        Expr::Unary(op, x) => unary(*op, x, out),
        Expr::Binary(op, a, b) => binary(*op, a, b, e, out),
        Expr::Reduce(op, x) => {
            let (open, close) = match op {
                Reduce::Sum => (r"\sum_{k}", ""),
                Reduce::Mean => (r"\frac{1}{C}\sum_{k}", ""),
                Reduce::Max => (r"\max_{k}", ""),
                Reduce::LogSumExp => (r"\log\sum_{k} e^{", "}"),
            };
            out.push_str(open);
            if close.is_empty() {
                paren(x, Prec::of(x) < Prec::Atom || matches!(**x, Expr::Const(_)), out);
            } else {
                write(x, out);
                out.push_str(close);
            }
        }
    }
}

fn latex_number(c: f64) -> String {
    let text = number(c);
    match text.split_once('e') {
        Some(("1", exponent)) => format!("10^{{{exponent}}}"),
        Some(("-1", exponent)) => format!("-10^{{{exponent}}}"),
        Some((mantissa, exponent)) => format!(r"{mantissa} \times 10^{{{exponent}}}"),
        None => text,
    }
}

fn paren(e: &Expr, parenthesize: bool, out: &mut String) {
    if parenthesize {
        out.push_str(r"\left(");
        write(e, out);
        out.push_str(r"\right)");
    } else {
        write(e, out);
    }
}

fn call(name: &str, args: &[&Expr], out: &mut String) {
    out.push_str(name);
    out.push_str(r"\left(");
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write(arg, out);
    }
    out.push_str(r"\right)");
}

/// `x`, or `|x|` where the sign of `x` matters to a protected operator.
fn magnitude(x: &Expr, out: &mut String) {
    if nonneg(x) {
        write(x, out);
    } else {
        out.push_str(r"\left|");
        write(x, out);
        out.push_str(r"\right|");
    }
}

fn power(base: &Expr, exponent: impl FnOnce(&mut String), out: &mut String) {
    paren(base, Prec::of(base) < Prec::Atom || has_superscript(base), out);
    out.push_str("^{");
    exponent(out);
    out.push('}');
}

fn unary(op: Unary, x: &Expr, out: &mut String) {
    match op {
        Unary::Neg => {
            out.push('-');
            paren(x, Prec::of(x) < Prec::Atom || matches!(x, Expr::Const(_)), out);
        }
        Unary::Exp => {
            out.push_str("e^{");
            write(x, out);
            out.push('}');
        }
        Unary::Log if nonneg(x) => call(r"\log", &[x], out),
        Unary::Log => {
            out.push_str(r"\log");
            magnitude(x, out);
        }
        Unary::Sqrt => {
            out.push_str(r"\sqrt{");
            magnitude(x, out);
            out.push('}');
        }
        Unary::Abs => {
            out.push_str(r"\left|");
            write(x, out);
            out.push_str(r"\right|");
        }
        Unary::Square => power(x, |o| o.push('2'), out),
        Unary::Sin => call(r"\sin", &[x], out),
        Unary::Cos => call(r"\cos", &[x], out),
        Unary::Tanh => call(r"\tanh", &[x], out),
        Unary::Sigmoid => call(r"\sigma", &[x], out),
        Unary::Softplus => call(r"\operatorname{softplus}", &[x], out),
        Unary::Recip => {
            out.push_str(r"\frac{1}{");
            write(x, out);
            out.push('}');
        }
    }
}

fn binary(op: Binary, a: &Expr, b: &Expr, whole: &Expr, out: &mut String) {
    let prec = Prec::of(whole);
    match op {
        Binary::Add | Binary::Sub => {
            paren(a, Prec::of(a) < prec, out);
            out.push_str(if op == Binary::Add { " + " } else { " - " });
            paren(b, Prec::of(b) <= prec, out);
        }
        Binary::Mul => {
            paren(a, Prec::of(a) < prec, out);
            // Juxtaposition, except where it would glue two numbers together.
            out.push_str(if matches!(b, Expr::Const(_)) { r" \cdot " } else { r" \, " });
            paren(b, Prec::of(b) <= prec || matches!(b, Expr::Const(c) if *c < 0.0), out);
        }
        Binary::Div => {
            out.push_str(r"\frac{");
            write(a, out);
            out.push_str("}{");
            write(b, out);
            out.push('}');
        }
        Binary::Aq => {
            out.push_str(r"\frac{");
            write(a, out);
            out.push_str(r"}{\sqrt{1 + ");
            power(b, |o| o.push('2'), out);
            out.push_str("}}");
        }
        Binary::Pow if nonneg(a) => power(a, |o| write(b, o), out),
        Binary::Pow => {
            magnitude(a, out);
            out.push_str("^{");
            write(b, out);
            out.push('}');
        }
        Binary::Min => call(r"\min", &[a, b], out),
        Binary::Max => call(r"\max", &[a, b], out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::strategy::arb_expr;
    use crate::loss::builtin;
    use proptest::prelude::*;

    fn tex(text: &str) -> String {
        expr(&text.parse().unwrap())
    }

    #[test]
    fn ngl() {
        assert_eq!(
            builtin("ngl").unwrap().loss().to_latex(),
            r"\mathcal{L} = \frac{1}{BC}\sum_{b=1}^{B}\sum_{c=1}^{C}\left[e^{2.4092 - p \, \left(1 + y\right)} - \cos\left(\cos\left(\sin\left(p\right)\right)\right)\right]"
        );
    }

    #[test]
    fn cross_entropy() {
        assert_eq!(tex("y*(logsumexp(z) - z)"), r"y \, \left(\log\sum_{k} e^{z} - z\right)");
    }

    #[test]
    fn protected_operators_show_their_absolute_values() {
        assert_eq!(tex("log(p)"), r"\log\left(p\right)");
        assert_eq!(tex("log(z)"), r"\log\left|z\right|");
        assert_eq!(tex("sqrt(z - p)"), r"\sqrt{\left|z - p\right|}");
        assert_eq!(tex("pow(z, 2.5)"), r"\left|z\right|^{2.5}");
        assert_eq!(tex("pow(exp(z), 2)"), r"\left(e^{z}\right)^{2}");
        assert_eq!(tex("square(exp(z))"), r"\left(e^{z}\right)^{2}");
    }

    #[test]
    fn numbers_and_products() {
        assert_eq!(tex("1e-7*p"), r"10^{-7} \, p");
        assert_eq!(tex("p*2.5e20"), r"p \cdot 2.5 \times 10^{20}");
        assert_eq!(tex("p*-2"), r"p \cdot \left(-2\right)");
        assert_eq!(tex("-(2)"), r"-\left(2\right)");
        assert_eq!(tex("aq(p, y + z)"), r"\frac{p}{\sqrt{1 + \left(y + z\right)^{2}}}");
    }

    proptest! {
        #[test]
        fn braces_balance(e in arb_expr()) {
            let tex = expr(&e);
            let mut depth = 0i64;
            for ch in tex.chars() {
                depth += match ch { '{' => 1, '}' => -1, _ => 0 };
                prop_assert!(depth >= 0, "{}", tex);
            }
            prop_assert_eq!(depth, 0, "{}", tex);
            prop_assert_eq!(tex.matches(r"\left").count(), tex.matches(r"\right").count());
        }
    }
}
