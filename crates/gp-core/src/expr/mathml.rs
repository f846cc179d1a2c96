//! MathML for web pages: formulas that browsers render natively (MathML Core, Chromium 109+
//! and Firefox), with no script or web font to load.
//!
//! The formulas are the [`latex`](super::latex) ones, rule for rule: variables are
//! element-wise, class reductions run over `k`, a loss shows its reduction over samples `b` and
//! classes `c`, `log` and `sqrt` take `|x|` unless `x` is provably non-negative, the base of
//! `pow` is `|a|`, and the `ε` floors are left out. Only MathML Core elements are written
//! (`mi`, `mn`, `mo`, `mrow`, `mfrac`, `msqrt`, `msup`, `munder`, `munderover`, `mspace`), and
//! every subexpression is one element, an `<mrow>` where it has several parts, so that
//! parentheses stretch to their contents and a prefix `−` renders as a sign.

use super::Expr;
use super::notation::{has_superscript, nonneg};
use super::ops::{Binary, Reduce, Unary};
use super::print::{Prec, number};
use super::reduction::Reduction;

/// The minus sign (U+2212), not the hyphen.
const MINUS: &str = "<mo>−</mo>";
/// The invisible function application between a function's name and its argument.
const APPLY: &str = "<mo>&#x2061;</mo>";
/// Juxtaposition: an invisible times followed by a thin space, LaTeX's `\,`.
const TIMES: &str = r#"<mo>&#x2062;</mo><mspace width="0.1667em"/>"#;

/// An expression as MathML: one element (`<mi>`, `<mrow>`, ...) to place inside a `<math>`
/// element, which is not included.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write(e, &mut out);
    out
}

/// The loss `reduction(e)` as a `<math display="block">` element, its reduction included.
pub(crate) fn loss(e: &Expr, reduction: Reduction) -> String {
    let scale = match reduction {
        Reduction::ElementMean => "<mfrac><mn>1</mn><mrow><mi>B</mi><mo>&#x2062;</mo><mi>C</mi></mrow></mfrac>",
        Reduction::SampleMean => "<mfrac><mn>1</mn><mi>B</mi></mfrac>",
    };
    let sum = |index: &str, end: &str| {
        format!("<munderover><mo>∑</mo><mrow><mi>{index}</mi><mo>=</mo><mn>1</mn></mrow><mi>{end}</mi></munderover>")
    };
    format!(
        r#"<math display="block"><mi>ℒ</mi><mo>=</mo>{scale}{}{}<mrow><mo>[</mo>{}<mo>]</mo></mrow></math>"#,
        sum("b", "B"),
        sum("c", "C"),
        expr(e)
    )
}

/// Writes `e` as one element.
fn write(e: &Expr, out: &mut String) {
    match e {
        Expr::Var(v) => {
            out.push_str("<mi>");
            out.push_str(v.name());
            out.push_str("</mi>");
        }
        Expr::Const(c) => out.push_str(&mathml_number(*c)),
        Expr::Unary(op, x) => unary(*op, x, out),
        Expr::Binary(op, a, b) => binary(*op, a, b, e, out),
        Expr::Reduce(op, x) => {
            out.push_str("<mrow>");
            let sum = "<munder><mo>∑</mo><mi>k</mi></munder>";
            match op {
                Reduce::Sum => out.push_str(sum),
                Reduce::Mean => {
                    out.push_str("<mfrac><mn>1</mn><mi>C</mi></mfrac>");
                    out.push_str(sum);
                }
                Reduce::Max => out.push_str("<munder><mi>max</mi><mi>k</mi></munder>"),
                Reduce::LogSumExp => {
                    out.push_str("<mi>log</mi>");
                    out.push_str(APPLY);
                    out.push_str(sum);
                    out.push_str("<msup><mi>e</mi>");
                    write(x, out);
                    out.push_str("</msup></mrow>");
                    return;
                }
            }
            paren(x, Prec::of(x) < Prec::Atom || matches!(**x, Expr::Const(_)), out);
            out.push_str("</mrow>");
        }
    }
}

/// A constant as one element: `<mn>2.5</mn>`, a power of ten for `1e-7`, `2.5 × 10^20`, and a
/// sign in front of a negative one.
fn mathml_number(c: f64) -> String {
    let text = number(c);
    let (sign, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (MINUS, rest),
        None => ("", text.as_str()),
    };
    // The mantissa's digits and the power of ten, each an element.
    let (mantissa, power) = match magnitude.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent = match exponent.strip_prefix('-') {
                Some(digits) => format!("<mrow>{MINUS}<mn>{digits}</mn></mrow>"),
                None => format!("<mn>{exponent}</mn>"),
            };
            (mantissa, Some(format!("<msup><mn>10</mn>{exponent}</msup>")))
        }
        None => (magnitude, None),
    };
    let body = match power {
        Some(power) if mantissa == "1" => power,
        Some(power) => return format!("<mrow>{sign}<mn>{mantissa}</mn><mo>×</mo>{power}</mrow>"),
        None => format!("<mn>{mantissa}</mn>"),
    };
    if sign.is_empty() { body } else { format!("<mrow>{sign}{body}</mrow>") }
}

fn paren(e: &Expr, parenthesize: bool, out: &mut String) {
    if parenthesize {
        out.push_str("<mrow><mo>(</mo>");
        write(e, out);
        out.push_str("<mo>)</mo></mrow>");
    } else {
        write(e, out);
    }
}

fn call(name: &str, args: &[&Expr], out: &mut String) {
    out.push_str("<mrow><mi>");
    out.push_str(name);
    out.push_str("</mi>");
    out.push_str(APPLY);
    out.push_str("<mrow><mo>(</mo>");
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str("<mo>,</mo>");
        }
        write(arg, out);
    }
    out.push_str("<mo>)</mo></mrow></mrow>");
}

/// `x`, or `|x|` where the sign of `x` matters to a protected operator.
fn magnitude(x: &Expr, out: &mut String) {
    if nonneg(x) {
        write(x, out);
    } else {
        abs(x, out);
    }
}

fn abs(x: &Expr, out: &mut String) {
    out.push_str("<mrow><mo>|</mo>");
    write(x, out);
    out.push_str("<mo>|</mo></mrow>");
}

/// `base^exponent`, where `exponent` writes one element.
fn power(base: &Expr, exponent: impl FnOnce(&mut String), out: &mut String) {
    out.push_str("<msup>");
    paren(base, Prec::of(base) < Prec::Atom || has_superscript(base), out);
    exponent(out);
    out.push_str("</msup>");
}

fn two(out: &mut String) {
    out.push_str("<mn>2</mn>");
}

fn unary(op: Unary, x: &Expr, out: &mut String) {
    match op {
        Unary::Neg => {
            out.push_str("<mrow>");
            out.push_str(MINUS);
            paren(x, Prec::of(x) < Prec::Atom || matches!(x, Expr::Const(_)), out);
            out.push_str("</mrow>");
        }
        Unary::Exp => {
            out.push_str("<msup><mi>e</mi>");
            write(x, out);
            out.push_str("</msup>");
        }
        Unary::Log if nonneg(x) => call("log", &[x], out),
        Unary::Log => {
            out.push_str("<mrow><mi>log</mi>");
            out.push_str(APPLY);
            abs(x, out);
            out.push_str("</mrow>");
        }
        Unary::Sqrt => {
            out.push_str("<msqrt>");
            magnitude(x, out);
            out.push_str("</msqrt>");
        }
        Unary::Abs => abs(x, out),
        Unary::Square => power(x, two, out),
        Unary::Sin => call("sin", &[x], out),
        Unary::Cos => call("cos", &[x], out),
        Unary::Tanh => call("tanh", &[x], out),
        Unary::Sigmoid => call("σ", &[x], out),
        Unary::Softplus => call("softplus", &[x], out),
        Unary::Recip => {
            out.push_str("<mfrac><mn>1</mn>");
            write(x, out);
            out.push_str("</mfrac>");
        }
    }
}

fn binary(op: Binary, a: &Expr, b: &Expr, whole: &Expr, out: &mut String) {
    let prec = Prec::of(whole);
    match op {
        Binary::Add | Binary::Sub => {
            out.push_str("<mrow>");
            paren(a, Prec::of(a) < prec, out);
            out.push_str(if op == Binary::Add { "<mo>+</mo>" } else { MINUS });
            paren(b, Prec::of(b) <= prec, out);
            out.push_str("</mrow>");
        }
        Binary::Mul => {
            out.push_str("<mrow>");
            paren(a, Prec::of(a) < prec, out);
            // Juxtaposition, except where it would glue two numbers together.
            out.push_str(if matches!(b, Expr::Const(_)) { "<mo>⋅</mo>" } else { TIMES });
            paren(b, Prec::of(b) <= prec || matches!(b, Expr::Const(c) if *c < 0.0), out);
            out.push_str("</mrow>");
        }
        Binary::Div => {
            out.push_str("<mfrac>");
            write(a, out);
            write(b, out);
            out.push_str("</mfrac>");
        }
        Binary::Aq => {
            out.push_str("<mfrac>");
            write(a, out);
            out.push_str("<msqrt><mn>1</mn><mo>+</mo>");
            power(b, two, out);
            out.push_str("</msqrt></mfrac>");
        }
        Binary::Pow if nonneg(a) => power(a, |o| write(b, o), out),
        Binary::Pow => {
            out.push_str("<msup>");
            abs(a, out);
            write(b, out);
            out.push_str("</msup>");
        }
        Binary::Min => call("min", &[a, b], out),
        Binary::Max => call("max", &[a, b], out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::strategy::arb_expr;
    use crate::loss::{BUILTINS, Loss, PARAMETRIC, builtin};
    use proptest::prelude::*;

    fn ml(text: &str) -> String {
        expr(&text.parse().unwrap())
    }

    /// The number of top-level elements of `xml`, after checking that every element opened is
    /// closed in order (`<mspace .../>` being the one empty element), that no text lies
    /// outside an element and that nothing of LaTeX leaks through.
    fn elements(xml: &str) -> Result<usize, String> {
        let fail = |why: String| Err(format!("{why} in {xml}"));
        if xml.contains('\\') {
            return fail("a backslash".into());
        }
        let (mut stack, mut top, mut rest) = (Vec::<&str>::new(), 0, xml);
        while !rest.is_empty() {
            let Some(start) = rest.find('<') else { return fail(format!("text `{rest}` after the last tag")) };
            if stack.is_empty() && start > 0 {
                return fail(format!("text `{}` outside any element", &rest[..start]));
            }
            let Some(end) = rest[start..].find('>').map(|e| start + e) else { return fail("an unclosed tag".into()) };
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name => {}
                    open => return fail(format!("`</{name}>` closing {open:?}")),
                }
            } else if let Some(empty) = tag.strip_suffix('/') {
                if empty.split(' ').next() != Some("mspace") {
                    return fail(format!("self-closing `<{tag}>`"));
                }
                top += usize::from(stack.is_empty());
            } else {
                top += usize::from(stack.is_empty());
                stack.push(tag.split(' ').next().unwrap_or_default());
            }
            rest = &rest[end + 1..];
        }
        if stack.is_empty() { Ok(top) } else { fail(format!("{stack:?} left open")) }
    }

    #[test]
    fn cross_entropy_on_probabilities_needs_no_absolute_value() {
        let out = ml("-y*log(p)");
        assert_eq!(
            out,
            "<mrow><mrow><mo>−</mo><mi>y</mi></mrow><mo>&#x2062;</mo><mspace width=\"0.1667em\"/>\
             <mrow><mi>log</mi><mo>&#x2061;</mo><mrow><mo>(</mo><mi>p</mi><mo>)</mo></mrow></mrow></mrow>"
        );
        for part in ["<mi>log</mi>", "<mi>y</mi>", "<mi>p</mi>"] {
            assert!(out.contains(part), "{out}");
        }
        assert!(!out.contains('|'), "{out}");
    }

    #[test]
    fn protected_operators_show_their_absolute_values() {
        assert_eq!(
            ml("log(z)"),
            "<mrow><mi>log</mi><mo>&#x2061;</mo><mrow><mo>|</mo><mi>z</mi><mo>|</mo></mrow></mrow>"
        );
        assert_eq!(
            ml("sqrt(z - p)"),
            "<msqrt><mrow><mo>|</mo><mrow><mi>z</mi><mo>−</mo><mi>p</mi></mrow><mo>|</mo></mrow></msqrt>"
        );
        assert_eq!(ml("sqrt(p)"), "<msqrt><mi>p</mi></msqrt>");
        assert_eq!(ml("pow(z, 2.5)"), "<msup><mrow><mo>|</mo><mi>z</mi><mo>|</mo></mrow><mn>2.5</mn></msup>");
        let squared_exp = "<msup><mrow><mo>(</mo><msup><mi>e</mi><mi>z</mi></msup><mo>)</mo></mrow><mn>2</mn></msup>";
        assert_eq!(ml("pow(exp(z), 2)"), squared_exp);
        assert_eq!(ml("square(exp(z))"), squared_exp);
    }

    #[test]
    fn fractions_powers_and_functions() {
        assert_eq!(ml("p/(y + z)"), "<mfrac><mi>p</mi><mrow><mi>y</mi><mo>+</mo><mi>z</mi></mrow></mfrac>");
        assert_eq!(ml("recip(z)"), "<mfrac><mn>1</mn><mi>z</mi></mfrac>");
        assert_eq!(ml("exp(z)"), "<msup><mi>e</mi><mi>z</mi></msup>");
        assert_eq!(
            ml("aq(p, y + z)"),
            "<mfrac><mi>p</mi><msqrt><mn>1</mn><mo>+</mo><msup><mrow><mo>(</mo><mrow><mi>y</mi><mo>+</mo><mi>z</mi></mrow>\
             <mo>)</mo></mrow><mn>2</mn></msup></msqrt></mfrac>"
        );
        assert_eq!(
            ml("max(p, y)"),
            "<mrow><mi>max</mi><mo>&#x2061;</mo><mrow><mo>(</mo><mi>p</mi><mo>,</mo><mi>y</mi><mo>)</mo></mrow></mrow>"
        );
        assert!(ml("sigmoid(z)").starts_with("<mrow><mi>σ</mi>"));
        assert!(ml("softplus(z)").starts_with("<mrow><mi>softplus</mi>"));
    }

    #[test]
    fn reductions_run_over_k() {
        assert_eq!(
            ml("y*(logsumexp(z) - z)"),
            "<mrow><mi>y</mi><mo>&#x2062;</mo><mspace width=\"0.1667em\"/><mrow><mo>(</mo><mrow><mrow><mi>log</mi>\
             <mo>&#x2061;</mo><munder><mo>∑</mo><mi>k</mi></munder><msup><mi>e</mi><mi>z</mi></msup></mrow><mo>−</mo>\
             <mi>z</mi></mrow><mo>)</mo></mrow></mrow>"
        );
        assert_eq!(
            ml("mean(y)"),
            "<mrow><mfrac><mn>1</mn><mi>C</mi></mfrac><munder><mo>∑</mo><mi>k</mi></munder><mi>y</mi></mrow>"
        );
        assert_eq!(
            ml("amax(p*y)"),
            "<mrow><munder><mi>max</mi><mi>k</mi></munder><mrow><mo>(</mo><mrow><mi>p</mi>\
             <mo>&#x2062;</mo><mspace width=\"0.1667em\"/><mi>y</mi></mrow><mo>)</mo></mrow></mrow>"
        );
    }

    #[test]
    fn numbers_and_products() {
        assert_eq!(
            ml("1e-7*p"),
            "<mrow><msup><mn>10</mn><mrow><mo>−</mo><mn>7</mn></mrow></msup><mo>&#x2062;</mo>\
             <mspace width=\"0.1667em\"/><mi>p</mi></mrow>"
        );
        assert_eq!(
            ml("p*2.5e20"),
            "<mrow><mi>p</mi><mo>⋅</mo><mrow><mn>2.5</mn><mo>×</mo><msup><mn>10</mn><mn>20</mn></msup></mrow></mrow>"
        );
        assert_eq!(
            ml("p*-2"),
            "<mrow><mi>p</mi><mo>⋅</mo><mrow><mo>(</mo><mrow><mo>−</mo><mn>2</mn></mrow><mo>)</mo></mrow></mrow>"
        );
        assert_eq!(ml("-(2)"), "<mrow><mo>−</mo><mrow><mo>(</mo><mn>2</mn><mo>)</mo></mrow></mrow>");
        assert_eq!(
            mathml_number(-1e-20),
            "<mrow><mo>−</mo><msup><mn>10</mn><mrow><mo>−</mo><mn>20</mn></mrow></msup></mrow>"
        );
        assert_eq!(mathml_number(-0.0), "<mrow><mo>−</mo><mn>0</mn></mrow>");
        assert_eq!(mathml_number(2.4092), "<mn>2.4092</mn>");
    }

    #[test]
    fn the_loss_shows_its_reduction() {
        let sample: Loss = "sample-mean: -y*log(p)".parse().unwrap();
        let out = sample.to_mathml();
        assert!(
            out.starts_with(r#"<math display="block"><mi>ℒ</mi><mo>=</mo><mfrac><mn>1</mn><mi>B</mi></mfrac>"#),
            "{out}"
        );
        assert!(
            out.contains("<munderover><mo>∑</mo><mrow><mi>b</mi><mo>=</mo><mn>1</mn></mrow><mi>B</mi></munderover>")
        );
        assert!(
            out.contains("<munderover><mo>∑</mo><mrow><mi>c</mi><mo>=</mo><mn>1</mn></mrow><mi>C</mi></munderover>")
        );
        assert!(out.ends_with(&format!("<mrow><mo>[</mo>{}<mo>]</mo></mrow></math>", expr(&sample.expr))), "{out}");
        let element = builtin("ngl").unwrap().loss().to_mathml();
        assert!(element.contains("<mfrac><mn>1</mn><mrow><mi>B</mi><mo>&#x2062;</mo><mi>C</mi></mrow></mfrac>"));
    }

    #[test]
    fn every_builtin_is_well_formed() {
        let parametric = PARAMETRIC.iter().map(|p| p.loss(0.3).unwrap());
        for loss in BUILTINS.iter().map(|b| b.loss()).chain(parametric) {
            let out = loss.to_mathml();
            assert_eq!(elements(&out), Ok(1), "{loss}");
            assert!(out.starts_with("<math ") && out.ends_with("</math>"), "{out}");
            assert!(!out.contains("mathvariant"), "{out}");
        }
    }

    #[test]
    fn the_checker_catches_broken_markup() {
        assert!(elements("<mrow><mi>p</mi>").is_err());
        assert!(elements("<mrow><mi>p</mrow></mi>").is_err());
        assert!(elements("<mi>p</mi>q").is_err());
        assert!(elements("<mi/>").is_err());
        assert!(elements(r"<mi>\log</mi>").is_err());
        assert_eq!(elements("<mi>p</mi><mspace width=\"1em\"/>"), Ok(2));
    }

    #[test]
    fn markup_grows_linearly_with_nesting() {
        for op in ["softplus", "exp", "log", "sigmoid", "sqrt", "tanh", "neg", "square"] {
            let nested = |depth: usize| -> String {
                let text = format!("{}z{}*y", format!("{op}(").repeat(depth), ")".repeat(depth));
                expr(&text.parse().unwrap())
            };
            assert!(nested(40).len() as f64 / (nested(5).len() as f64) < 10.0, "{op}: MathML grows too fast");
        }
    }

    proptest! {
        #[test]
        fn every_expression_is_one_well_formed_element(e in arb_expr()) {
            let out = expr(&e);
            prop_assert_eq!(elements(&out), Ok(1));
        }
    }
}
