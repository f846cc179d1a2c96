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
//! folded to numbers. A subexpression that occurs more than once is computed once, bound to a
//! name (`t1 = ...`), so the code grows linearly with the tree, however the tree nests.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write;
use std::hash::{Hash, Hasher};

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
        "_lossgp_softplus",
        "def _lossgp_softplus(x):\n    # Not torch.nn.functional.softplus, which returns x itself above x = 20.\n    return torch.logaddexp(x, torch.zeros_like(x))\n",
        &[],
    ),
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

#[derive(Clone)]
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
    /// Every node of the tree being written (by address: the tree does not move meanwhile):
    /// its structural hash, and whether it is constant (no variable or reduction below it).
    nodes: HashMap<*const Expr, (u64, bool)>,
    /// Subexpressions that occur more than once, by structural hash: the trees, and the code
    /// of the name each is bound to once written.
    shared: HashMap<u64, Vec<(Expr, Option<Code>)>>,
    /// `name = code` lines computing the shared subexpressions, in order of need.
    bindings: Vec<String>,
}

impl Generator {
    /// Hashes every node of `e` by its structure (constants by their bits) and notes which
    /// are constant; returns `e`'s. Equal trees hash alike; trees that merely hash alike are
    /// told apart by comparing them.
    fn index(&mut self, e: &Expr) -> (u64, bool) {
        let mut h = DefaultHasher::new();
        let constant = match e {
            Expr::Var(v) => {
                (0u8, v.name()).hash(&mut h);
                false
            }
            Expr::Const(c) => {
                (1u8, c.to_bits()).hash(&mut h);
                true
            }
            Expr::Unary(op, x) => {
                let (x, constant) = self.index(x);
                (2u8, op.name(), x).hash(&mut h);
                constant
            }
            Expr::Binary(op, a, b) => {
                let ((a, ca), (b, cb)) = (self.index(a), self.index(b));
                (3u8, op.name(), a, b).hash(&mut h);
                ca && cb
            }
            Expr::Reduce(op, x) => {
                let (x, _) = self.index(x);
                (4u8, op.name(), x).hash(&mut h);
                false
            }
        };
        let entry = (h.finish(), constant);
        self.nodes.insert(e as *const Expr, entry);
        entry
    }

    /// Indexes `root` and finds the subexpressions worth binding to a name: those met more
    /// than once in a walk that does not enter a subtree it has met before (so the parts of a
    /// repeated subtree are not bound as well), leaves and constants excepted.
    fn find_shared(&mut self, root: &Expr) {
        self.index(root);
        let mut seen: HashMap<u64, Vec<(&Expr, usize)>> = HashMap::new();
        let mut stack = vec![root];
        while let Some(e) = stack.pop() {
            let (hash, constant) = self.nodes[&(e as *const Expr)];
            if constant || matches!(e, Expr::Var(_)) {
                continue;
            }
            let bucket = seen.entry(hash).or_default();
            if let Some(entry) = bucket.iter_mut().find(|(other, _)| *other == e) {
                entry.1 += 1;
                continue;
            }
            bucket.push((e, 1));
            stack.extend(e.children());
        }
        for (hash, bucket) in seen {
            let repeated: Vec<(Expr, Option<Code>)> =
                bucket.into_iter().filter(|(_, n)| *n > 1).map(|(e, _)| (e.clone(), None)).collect();
            if !repeated.is_empty() {
                self.shared.insert(hash, repeated);
            }
        }
    }

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

    /// The code of `e`: the name it is bound to if it is a shared subexpression (bound on
    /// first use), else its expression.
    fn emit(&mut self, e: &Expr) -> Code {
        let hash = self.nodes.get(&(e as *const Expr)).map(|(hash, _)| *hash);
        let found = hash.and_then(|hash| {
            let index = self.shared.get(&hash)?.iter().position(|(other, _)| other == e)?;
            Some((hash, index))
        });
        let Some((hash, index)) = found else {
            return self.expression(e);
        };
        if let Some(code) = &self.shared[&hash][index].1 {
            return code.clone();
        }
        let code = self.expression(e);
        let name = format!("t{}", self.bindings.len() + 1);
        self.bindings.push(format!("{name} = {}", code.text));
        let bound = Code { text: name, prec: Prec::Atom, kind: code.kind };
        if let Some(slot) = self.shared.get_mut(&hash) {
            slot[index].1 = Some(bound.clone());
        }
        bound
    }

    /// The code of `e` itself (its parts through [`emit`](Self::emit)).
    fn expression(&mut self, e: &Expr) -> Code {
        let constant = self.nodes.get(&(e as *const Expr)).is_none_or(|(_, constant)| *constant);
        if let Some(value) = constant.then(|| constant_value(e)).flatten() {
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
            // A helper: `torch.logaddexp(x, torch.zeros_like(x))` would write x twice.
            Unary::Softplus => self.helper("_lossgp_softplus"),
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
    generator.find_shared(&loss.expr);
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
    for binding in &generator.bindings {
        let _ = writeln!(out, "    {binding}");
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

    fn nested(op: &str, depth: usize) -> Loss {
        format!("{}p{}*y", format!("{op}(").repeat(depth), ")".repeat(depth)).parse().unwrap()
    }

    #[test]
    fn code_grows_linearly_with_nesting() {
        // Every export writes each node once: 40 nested softplus (or any operator) cost 40
        // times one, not 2^40.
        for op in ["softplus", "exp", "log", "sigmoid", "sqrt", "tanh"] {
            let (small, large) = (nested(op, 5), nested(op, 40));
            let growth = |f: &dyn Fn(&Loss) -> String| f(&large).len() as f64 / f(&small).len() as f64;
            assert!(growth(&|l| l.to_pytorch("f")) < 8.0, "{op}: PyTorch code grows too fast");
            assert!(growth(&|l| l.to_latex()) < 10.0, "{op}: LaTeX grows too fast");
            assert!(growth(&|l| l.expr.to_string()) < 10.0, "{op}: text grows too fast");
        }
        let code = nested("softplus", 3).to_pytorch("f");
        assert!(code.contains("return (_lossgp_softplus(_lossgp_softplus(_lossgp_softplus(p))) * y).mean()"), "{code}");
    }

    #[test]
    fn repeated_subexpressions_are_computed_once() {
        let loss: Loss = "exp(p*y + 1)/(1 + exp(p*y + 1)) + sin(p)*sin(p)".parse().unwrap();
        let code = loss.to_pytorch("f");
        assert!(code.contains("    t1 = torch.exp(p * y + 1)\n"), "{code}");
        assert!(code.contains("    t2 = torch.sin(p)\n"), "{code}");
        assert!(code.contains("_lossgp_div(t1, 1 + t1) + t2 * t2"), "{code}");
        assert_eq!(code.matches("p * y").count(), 1, "the part of a shared subexpression is not bound again: {code}");
    }
}
