//! PyTorch code for a loss, to paste into a PyTorch project.
//!
//! The generated function takes raw logits `[N, C, ...]` and integer class targets `[N, ...]`
//! (so it serves classification and, with spatial dimensions, per-pixel segmentation alike),
//! and reproduces lossgp's semantics, protected operators included: each protected operator
//! the loss uses comes with a small helper, written so that the guards never turn a gradient
//! into NaN (no `torch.where` over an infinite branch, `pow` capped below overflow rather than
//! clamped after it). Two differences remain, both only where values leave the float range:
//! `pow` saturates a little below the largest float rather than at it, and a saturated `div`
//! whose other partial derivative overflows can still give NaN. Constant subexpressions are
//! folded to numbers.

use std::fmt::Write;

use super::Expr;
use super::ops::{Binary, PROTECT_EPS, Reduce, Unary, Var};
use super::print::{Prec, number};
use crate::interp::Shape;
use crate::loss::{Loss, Reduction};

/// The helpers the protected operators need, each with the helpers it calls.
const HELPERS: &[(&str, &str, &[&str])] = &[
    ("_lossgp_log", "def _lossgp_log(x):\n    return torch.log(x.abs().clamp_min(_LOSSGP_EPS))\n", &[]),
    ("_lossgp_sqrt", "def _lossgp_sqrt(x):\n    return torch.sqrt(x.abs().clamp_min(_LOSSGP_EPS))\n", &[]),
    (
        "_lossgp_recip",
        "def _lossgp_recip(x):\n    # 1/x outside (-eps, eps), the line x/eps^2 inside: odd, continuous, bounded by 1/eps.\n    big = x.abs() >= _LOSSGP_EPS\n    return torch.where(big, 1 / torch.where(big, x, torch.ones_like(x)), x / _LOSSGP_EPS**2)\n",
        &[],
    ),
    (
        "_lossgp_saturate",
        "def _lossgp_saturate(x):\n    # +-inf become the largest finite value; NaN stays NaN.\n    return torch.nan_to_num(x, nan=float(\"nan\"))\n",
        &[],
    ),
    (
        "_lossgp_div",
        "def _lossgp_div(a, b):\n    return _lossgp_saturate(a * _lossgp_recip(b))\n",
        &["_lossgp_recip", "_lossgp_saturate"],
    ),
    ("_lossgp_aq", "def _lossgp_aq(a, b):\n    return a / torch.sqrt(1 + b * b)\n", &[]),
    (
        "_lossgp_pow",
        "def _lossgp_pow(a, b):\n    return _lossgp_saturate(a.abs().clamp_min(_LOSSGP_EPS) ** b)\n",
        &["_lossgp_saturate"],
    ),
];

/// What a generated Python expression evaluates to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A Python float.
    Number,
    /// A tensor (possibly 0-dimensional).
    Tensor,
}

struct Code {
    text: String,
    prec: Prec,
    kind: Kind,
}

#[derive(Default)]
struct Generator {
    helpers: Vec<&'static str>,
    uses_classes: bool,
    uses_math: bool,
}

impl Generator {
    fn helper(&mut self, name: &'static str) -> &'static str {
        if let Some(&(_, _, deps)) = HELPERS.iter().find(|(n, ..)| *n == name) {
            for &dep in deps {
                self.helper(dep);
            }
        }
        if !self.helpers.contains(&name) {
            self.helpers.push(name);
        }
        name
    }

    fn call(&mut self, function: &str, args: Vec<Code>) -> Code {
        let args: Vec<String> = args.into_iter().map(as_tensor).collect();
        Code { text: format!("{function}({})", args.join(", ")), prec: Prec::Atom, kind: Kind::Tensor }
    }

    fn emit(&mut self, e: &Expr) -> Code {
        if let Some(value) = constant_value(e) {
            return number_code(value);
        }
        match e {
            Expr::Var(v) => Code { text: v.name().to_owned(), prec: Prec::Atom, kind: Kind::Tensor },
            Expr::Const(c) => number_code(*c),
            Expr::Unary(op, x) => {
                let x = self.emit(x);
                self.unary(*op, x)
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.emit(a), self.emit(b));
                self.binary(*op, a, b)
            }
            Expr::Reduce(op, x) if Shape::of(x) != Shape::Full => {
                // A reduction of a value that is constant over the classes (a number, or one
                // value per sample): there is no class axis to reduce over, so apply the
                // reduction of C equal values.
                let x = self.emit(x);
                self.uses_classes = true;
                let text = match op {
                    Reduce::Sum => format!("{} * C", parenthesize(&x, Prec::Product)),
                    Reduce::Mean | Reduce::Max => return x,
                    Reduce::LogSumExp => {
                        self.uses_math = true;
                        format!("{} + math.log(C)", parenthesize(&x, Prec::Sum))
                    }
                };
                Code { text, prec: if *op == Reduce::Sum { Prec::Product } else { Prec::Sum }, kind: x.kind }
            }
            Expr::Reduce(op, x) => {
                let code = self.emit(x);
                let x = match code.kind {
                    Kind::Tensor => parenthesize(&code, Prec::Atom),
                    Kind::Number => as_tensor(code),
                };
                let text = match op {
                    Reduce::Sum => format!("{x}.sum(dim=1, keepdim=True)"),
                    Reduce::Mean => format!("{x}.mean(dim=1, keepdim=True)"),
                    Reduce::Max => format!("torch.amax({x}, dim=1, keepdim=True)"),
                    Reduce::LogSumExp => format!("torch.logsumexp({x}, dim=1, keepdim=True)"),
                };
                Code { text, prec: Prec::Atom, kind: Kind::Tensor }
            }
        }
    }

    fn unary(&mut self, op: Unary, x: Code) -> Code {
        let function = match op {
            Unary::Neg => {
                let text = format!("-{}", parenthesize(&x, Prec::Atom));
                return Code { text, prec: Prec::Prefix, kind: x.kind };
            }
            Unary::Exp => "torch.exp",
            Unary::Log => self.helper("_lossgp_log"),
            Unary::Sqrt => self.helper("_lossgp_sqrt"),
            Unary::Abs => "torch.abs",
            Unary::Square => "torch.square",
            Unary::Sin => "torch.sin",
            Unary::Cos => "torch.cos",
            Unary::Tanh => "torch.tanh",
            Unary::Sigmoid => "torch.sigmoid",
            // Not `torch.nn.functional.softplus`, which returns x itself above x = 20.
            Unary::Softplus => {
                let x = as_tensor(x);
                return Code {
                    text: format!("torch.logaddexp({x}, torch.zeros_like({x}))"),
                    prec: Prec::Atom,
                    kind: Kind::Tensor,
                };
            }
            Unary::Recip => self.helper("_lossgp_recip"),
        };
        self.call(function, vec![x])
    }

    fn binary(&mut self, op: Binary, a: Code, b: Code) -> Code {
        let function = match op {
            Binary::Add | Binary::Sub | Binary::Mul => {
                let (symbol, prec) = match op {
                    Binary::Add => (" + ", Prec::Sum),
                    Binary::Sub => (" - ", Prec::Sum),
                    _ => (" * ", Prec::Product),
                };
                let text = format!("{}{symbol}{}", parenthesize(&a, prec), parenthesize(&b, next(prec)));
                let kind = if a.kind == Kind::Number && b.kind == Kind::Number { Kind::Number } else { Kind::Tensor };
                return Code { text, prec, kind };
            }
            Binary::Div => self.helper("_lossgp_div"),
            Binary::Aq => self.helper("_lossgp_aq"),
            Binary::Pow => {
                self.uses_math = true;
                self.helper("_lossgp_pow")
            }
            Binary::Min => "torch.minimum",
            Binary::Max => "torch.maximum",
        };
        self.call(function, vec![a, b])
    }
}

/// `code` as a tensor argument of a torch function.
fn as_tensor(code: Code) -> String {
    match code.kind {
        Kind::Tensor => code.text,
        Kind::Number => format!("logits.new_tensor({})", code.text),
    }
}

/// The next tighter precedence level.
fn next(prec: Prec) -> Prec {
    match prec {
        Prec::Sum => Prec::Product,
        Prec::Product => Prec::Prefix,
        Prec::Prefix | Prec::Atom => Prec::Atom,
    }
}

fn parenthesize(code: &Code, at_least: Prec) -> String {
    if code.prec < at_least { format!("({})", code.text) } else { code.text.clone() }
}

fn number_code(x: f64) -> Code {
    let text = if x.is_finite() {
        number(x)
    } else if x.is_nan() {
        "float(\"nan\")".to_owned()
    } else if x > 0.0 {
        "float(\"inf\")".to_owned()
    } else {
        "-float(\"inf\")".to_owned()
    };
    let prec = if text.starts_with('-') { Prec::Prefix } else { Prec::Atom };
    Code { text, prec, kind: Kind::Number }
}

/// The value of a subexpression without variables or reductions, evaluated in `f64` with the
/// language's own semantics.
fn constant_value(e: &Expr) -> Option<f64> {
    match e {
        Expr::Var(_) | Expr::Reduce(..) => None,
        Expr::Const(c) => Some(*c),
        Expr::Unary(op, x) => Some(op.eval(constant_value(x)?)),
        Expr::Binary(op, a, b) => Some(op.eval(constant_value(a)?, constant_value(b)?)),
    }
}

/// Python keywords, and the names the generated module itself uses.
const RESERVED: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "torch", "math", "logits", "target",
];

/// A valid Python identifier made from `name`, not shadowing anything the module uses.
fn identifier(name: &str) -> String {
    let mut id: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "loss_");
    }
    if RESERVED.contains(&id.as_str()) || id.starts_with("_lossgp_") || id.starts_with("_LOSSGP_") {
        id.push_str("_loss");
    }
    id
}

/// A complete Python module defining `name(logits, target)`.
pub(crate) fn loss_function(loss: &Loss, name: &str) -> String {
    let mut generator = Generator::default();
    let body = generator.emit(&loss.expr);
    let shape = loss.compile().shapes().last().copied().unwrap_or(Shape::Scalar);
    let value = as_tensor(Code { text: parenthesize(&body, Prec::Atom), ..body });
    let result = match (loss.reduction, shape) {
        (Reduction::ElementMean, Shape::Scalar) => value,
        (Reduction::ElementMean, _) => format!("{value}.mean()"),
        (Reduction::SampleMean, Shape::Full) => format!("{value}.sum(dim=1).mean()"),
        (Reduction::SampleMean, _) => {
            generator.uses_classes = true;
            format!("({value} * C).mean()")
        }
    };

    let mut out = String::new();
    if generator.uses_math {
        out.push_str("import math\n\n");
    }
    out.push_str("import torch\n\n");
    if !generator.helpers.is_empty() {
        let _ = writeln!(out, "_LOSSGP_EPS = {}\n", number(PROTECT_EPS));
        for (_, code, _) in HELPERS.iter().filter(|(n, ..)| generator.helpers.contains(n)) {
            let _ = writeln!(out, "{code}");
        }
    }
    let name = identifier(name);
    let _ = writeln!(out, "\ndef {name}(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:");
    let _ = writeln!(out, "    \"\"\"{}: {}", loss.reduction, loss.expr.to_string().replace('\\', "\\\\"));
    let _ = writeln!(out, "\n    {}.", loss.reduction.describe().replace("batch x class", "sample x class"));
    out.push_str(
        "    logits: [N, C, ...] raw scores; target: [N, ...] class indices. Generated by lossgp.\n    \"\"\"\n",
    );
    if loss.expr.uses(Var::P) {
        out.push_str("    p = torch.softmax(logits, dim=1)\n");
    }
    if loss.expr.uses(Var::Y) {
        out.push_str("    y = torch.nn.functional.one_hot(target, logits.shape[1]).movedim(-1, 1).to(logits.dtype)\n");
    }
    if loss.expr.uses(Var::Z) {
        out.push_str("    z = logits\n");
    }
    if generator.uses_classes {
        out.push_str("    C = logits.shape[1]\n");
    }
    let _ = writeln!(out, "    return {result}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::builtin;

    #[test]
    fn ngl_reads_like_hand_written_code() {
        let code = builtin("ngl").unwrap().loss().to_pytorch("ngl");
        assert!(
            code.starts_with(
                "import torch\n\n\ndef ngl(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
            ),
            "{code}"
        );
        assert!(code.contains("    p = torch.softmax(logits, dim=1)\n"), "{code}");
        assert!(
            code.ends_with(
                "    return (torch.exp(2.4092 - p * (1 + y)) - torch.cos(torch.cos(torch.sin(p)))).mean()\n"
            ),
            "{code}"
        );
        assert!(!code.contains("_lossgp_"), "{code}");
    }

    #[test]
    fn cross_entropy_sums_over_classes() {
        let code = builtin("ce").unwrap().loss().to_pytorch("cross entropy");
        assert!(code.contains("def cross_entropy("), "{code}");
        assert!(
            code.ends_with("    return (y * (torch.logsumexp(z, dim=1, keepdim=True) - z)).sum(dim=1).mean()\n"),
            "{code}"
        );
        assert!(!code.contains("    p = "), "{code}");
    }

    #[test]
    fn protected_operators_bring_their_helpers() {
        let loss: Loss = "p/(y + 1) + pow(z, 2)".parse().unwrap();
        let code = loss.to_pytorch("l");
        for helper in
            ["def _lossgp_div", "def _lossgp_recip", "def _lossgp_saturate", "def _lossgp_pow", "_LOSSGP_EPS = 1e-7"]
        {
            assert!(code.contains(helper), "{helper} missing:\n{code}");
        }
        assert!(code.contains("_lossgp_pow(z, logits.new_tensor(2))"), "{code}");
        assert!(!code.contains("def _lossgp_log"), "{code}");
    }

    #[test]
    fn constants_fold_and_class_counts_appear_where_needed() {
        let loss: Loss = "sample-mean: exp(1 - 1)*mean(y) + sum(2)".parse().unwrap();
        let code = loss.to_pytorch("l");
        assert!(code.contains("    C = logits.shape[1]\n"), "{code}");
        assert!(code.contains("1 * y.mean(dim=1, keepdim=True) + 2 * C"), "{code}");
        assert!(code.contains("* C).mean()"), "{code}");
        let loss: Loss = "logsumexp(3) + z".parse().unwrap();
        let code = loss.to_pytorch("l");
        assert!(code.starts_with("import math\n"), "{code}");
        assert!(code.contains("3 + math.log(C) + z"), "{code}");
    }

    #[test]
    fn names_become_identifiers() {
        assert_eq!(identifier("ls-ce"), "ls_ce");
        assert_eq!(identifier("1st"), "loss_1st");
        assert_eq!(identifier(""), "loss_");
        assert_eq!(identifier("lambda"), "lambda_loss");
        assert_eq!(identifier("torch"), "torch_loss");
    }
}
