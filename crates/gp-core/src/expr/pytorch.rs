//! PyTorch code for a loss, to paste into a PyTorch project.
//!
//! The generated function takes raw logits `[N, C, ...]` and integer class targets `[N, ...]`
//! (so it serves classification and, with spatial dimensions, per-pixel segmentation alike),
//! and computes what lossgp's trainer computes: segmentation pixels labelled `ignore_index`
//! (255 by default, VOC's border label) count for nothing, and the loss is the mean over the
//! pixels that are kept (see `loss_function`). It reproduces lossgp's semantics, protected
//! operators included: each protected operator
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
use super::reduction::Reduction;
use super::shape::Shape;

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
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "torch",
    "math",
    "logits",
    "target",
    "ignore_index",
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

/// The label of pixels without a class, as lossgp's segmentation data and trainer use it
/// ([`IGNORE`](crate::data::IGNORE)); the default of the generated `ignore_index`.
const IGNORE_INDEX: u8 = crate::data::IGNORE;

/// How the generated function turns the expression's values into the loss, as lossgp's trainer
/// does it ([`TensorLoss`](crate::backend::TensorLoss)): the value of each pixel (each
/// sample, for classification) is its values summed over the classes (`sample-mean`) or
/// averaged over them (`element-mean`); the loss is the mean of the pixels that count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reducing {
    /// A number (no variable below it): the loss itself, times the classes for `sample-mean`,
    /// whatever the targets.
    Constant { times_classes: bool },
    /// One value per element, `[N, C, ...]`: summed (`sample-mean`) or averaged over dim 1.
    Elements { sum: bool },
    /// One value per pixel, `[N, 1, ...]`: times the classes for `sample-mean`.
    Pixels { times_classes: bool },
}

impl Reducing {
    fn of(e: &Expr, reduction: Reduction) -> Reducing {
        let sample_mean = reduction == Reduction::SampleMean;
        match Shape::of(e) {
            Shape::Scalar => Reducing::Constant { times_classes: sample_mean },
            Shape::Column => Reducing::Pixels { times_classes: sample_mean },
            Shape::Full => Reducing::Elements { sum: sample_mean },
        }
    }
}

/// A complete Python module defining `name(logits, target, ignore_index=255)` that computes
/// the loss `reduction(e)`.
///
/// The function computes what lossgp's trainer computes. Segmentation targets (`[N, H, W]`)
/// may hold `ignore_index`: such a pixel's one-hot target is all zero, its value is multiplied
/// by 0 (so that, as in training, a NaN there makes the loss NaN), and the loss is the mean
/// over the other pixels (0 if none is left). Classification targets (`[N]`) ignore nothing,
/// as in training, where a label that is not a class is an error (`one_hot` raises).
pub(crate) fn loss_function(e: &Expr, reduction: Reduction, name: &str) -> String {
    let mut generator = Generator::default();
    generator.find_shared(e);
    let body = generator.emit(e);
    let reducing = Reducing::of(e, reduction);
    let value = as_tensor(Code { text: parenthesize(&body, Prec::Atom), ..body });
    let (per_pixel, result) = match reducing {
        Reducing::Constant { times_classes } => {
            generator.uses_classes |= times_classes;
            (None, if times_classes { format!("{value} * C") } else { value })
        }
        Reducing::Elements { sum } => {
            let per_pixel = format!("{value}.{}(dim=1)", if sum { "sum" } else { "mean" });
            (Some(per_pixel), "(per_pixel * kept).sum() / kept.sum().clamp_min(1)".to_owned())
        }
        Reducing::Pixels { times_classes } => {
            generator.uses_classes |= times_classes;
            let per_pixel = format!("{value}[:, 0]{}", if times_classes { " * C" } else { "" });
            (Some(per_pixel), "(per_pixel * kept).sum() / kept.sum().clamp_min(1)".to_owned())
        }
    };
    let uses_y = e.uses(Var::Y);

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
    let _ = writeln!(
        out,
        "\ndef {name}(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = {IGNORE_INDEX}) -> torch.Tensor:"
    );
    let _ = writeln!(out, "    \"\"\"{}: {}", reduction, e.to_string().replace('\\', "\\\\"));
    let _ = writeln!(out, "\n    {}.", reduction.describe().replace("batch x class", "sample x class"));
    out.push_str(concat!(
        "    logits: [N, C, ...] raw scores; target: [N, ...] class indices. As in lossgp's trainer,\n",
        "    segmentation pixels labelled ignore_index count for nothing and the mean is over the\n",
        "    others; classification targets [N] ignore nothing. Generated by lossgp.\n",
        "    \"\"\"\n",
    ));
    if uses_y || per_pixel.is_some() {
        out.push_str("    target = target.long()\n");
        out.push_str(
            "    keep = target != ignore_index if target.dim() > 1 else torch.ones_like(target, dtype=torch.bool)\n",
        );
    }
    if e.uses(Var::P) {
        out.push_str("    p = torch.softmax(logits, dim=1)\n");
    }
    if uses_y {
        out.push_str(
            "    y = torch.nn.functional.one_hot(target.masked_fill(~keep, 0), logits.shape[1]) * keep.unsqueeze(-1)\n",
        );
        out.push_str("    y = y.movedim(-1, 1).to(logits.dtype)\n");
    }
    if e.uses(Var::Z) {
        out.push_str("    z = logits\n");
    }
    if generator.uses_classes {
        out.push_str("    C = logits.shape[1]\n");
    }
    for binding in &generator.bindings {
        let _ = writeln!(out, "    {binding}");
    }
    if let Some(per_pixel) = per_pixel {
        let _ = writeln!(out, "    per_pixel = {per_pixel}");
        out.push_str("    kept = keep.to(logits.dtype)\n");
    }
    let _ = writeln!(out, "    return {result}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::Batch;
    use crate::loss::{BUILTINS, Loss, builtin};

    /// The lines that read the targets and reduce, as every function with `y` writes them.
    const KEEP: &str = "    target = target.long()\n    keep = target != ignore_index if target.dim() > 1 else torch.ones_like(target, dtype=torch.bool)\n";
    const ONE_HOT: &str = "    y = torch.nn.functional.one_hot(target.masked_fill(~keep, 0), logits.shape[1]) * keep.unsqueeze(-1)\n    y = y.movedim(-1, 1).to(logits.dtype)\n";
    const MEAN_OF_KEPT: &str =
        "    kept = keep.to(logits.dtype)\n    return (per_pixel * kept).sum() / kept.sum().clamp_min(1)\n";

    #[test]
    fn ngl_reads_like_hand_written_code() {
        let code = builtin("ngl").unwrap().loss().to_pytorch("ngl");
        assert!(
            code.starts_with(
                "import torch\n\n\ndef ngl(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:\n"
            ),
            "{code}"
        );
        assert!(code.contains(&format!("{KEEP}    p = torch.softmax(logits, dim=1)\n{ONE_HOT}")), "{code}");
        assert!(
            code.ends_with(&format!(
                "    per_pixel = (torch.exp(2.4092 - p * (1 + y)) - torch.cos(torch.cos(torch.sin(p)))).mean(dim=1)\n{MEAN_OF_KEPT}"
            )),
            "{code}"
        );
        assert!(!code.contains("_lossgp_"), "{code}");
    }

    #[test]
    fn cross_entropy_sums_over_classes() {
        let code = builtin("ce").unwrap().loss().to_pytorch("cross entropy");
        assert!(code.contains("def cross_entropy("), "{code}");
        assert!(
            code.ends_with(&format!(
                "{KEEP}{ONE_HOT}    z = logits\n    per_pixel = (y * (torch.logsumexp(z, dim=1, keepdim=True) - z)).sum(dim=1)\n{MEAN_OF_KEPT}"
            )),
            "{code}"
        );
        assert!(!code.contains("    p = "), "{code}");
    }

    /// Field case `pytorch-export-ignore-index`: VOC targets hold 255, which `one_hot` refused,
    /// and nothing was averaged over the kept pixels only. Every shape of value reduces over
    /// the kept pixels, as the trainer does.
    #[test]
    fn every_reduction_skips_ignored_pixels() {
        for (text, per_pixel) in [
            (
                "sample-mean: -sum(y*log(p)) + amax(z)",
                "    per_pixel = (-(y * _lossgp_log(p)).sum(dim=1, keepdim=True) + torch.amax(z, dim=1, keepdim=True))[:, 0] * C\n",
            ),
            (
                "element-mean: logsumexp(z) - sum(y*z)",
                "    per_pixel = (torch.logsumexp(z, dim=1, keepdim=True) - (y * z).sum(dim=1, keepdim=True))[:, 0]\n",
            ),
            ("element-mean: square(p - y)", "    per_pixel = torch.square(p - y).mean(dim=1)\n"),
            ("sample-mean: z", "    per_pixel = z.sum(dim=1)\n"),
        ] {
            let code = Loss::resolve(text).unwrap().to_pytorch("l");
            assert!(code.contains(KEEP), "{text}:\n{code}");
            assert!(code.ends_with(&format!("{per_pixel}{MEAN_OF_KEPT}")), "{text}:\n{code}");
            assert_eq!(code.contains("y = "), text.contains('y'), "{text}:\n{code}");
            assert!(text.contains('y') == code.contains(ONE_HOT), "{text}:\n{code}");
        }
        // A constant loss is the same number whatever the targets, as in training.
        let code = Loss::resolve("sample-mean: exp(1)").unwrap().to_pytorch("l");
        assert!(
            code.ends_with("    C = logits.shape[1]\n    return logits.new_tensor(2.718281828459045) * C\n"),
            "{code}"
        );
        assert!(!code.contains("keep"), "{code}");
    }

    /// The values of `e` at one pixel, from the expression tree: `p`, `y` and `z` are the
    /// pixel's class columns, a reduction is broadcast back over the classes.
    fn column_values(e: &Expr, p: &[f64], y: &[f64], z: &[f64]) -> Vec<f64> {
        match e {
            Expr::Var(Var::P) => p.to_vec(),
            Expr::Var(Var::Y) => y.to_vec(),
            Expr::Var(Var::Z) => z.to_vec(),
            Expr::Const(c) => vec![*c; p.len()],
            Expr::Unary(op, x) => column_values(x, p, y, z).into_iter().map(|v| op.eval(v)).collect(),
            Expr::Binary(op, a, b) => {
                let a = column_values(a, p, y, z);
                a.into_iter().zip(column_values(b, p, y, z)).map(|(a, b)| op.eval(a, b)).collect()
            }
            Expr::Reduce(op, x) => vec![op.eval_row(&column_values(x, p, y, z)); p.len()],
        }
    }

    /// What the generated function computes, line by line, on logits `[n, classes, plane]`
    /// (row-major) and targets `[n, plane]` for segmentation (`Some(plane)`: the targets of
    /// `target.dim() > 1`), or logits `[n, classes]` and targets `[n]` for classification.
    fn as_generated(loss: &Loss, logits: &[f64], classes: usize, targets: &[i64], plane: Option<usize>) -> f64 {
        let segmentation = plane.is_some();
        let plane = plane.unwrap_or(1);
        let reducing = Reducing::of(&loss.expr, loss.reduction);
        let (mut total, mut count) = (0.0, 0.0);
        for (pixel, &target) in targets.iter().enumerate() {
            let (sample, at) = (pixel / plane, pixel % plane);
            // keep = target != ignore_index if target.dim() > 1 else torch.ones_like(...)
            let kept = if segmentation && target == i64::from(IGNORE_INDEX) { 0.0 } else { 1.0 };
            let z: Vec<f64> = (0..classes).map(|k| logits[(sample * classes + k) * plane + at]).collect();
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - m).exp()).sum();
            // p = torch.softmax(logits, dim=1)
            let p: Vec<f64> = z.iter().map(|v| (v - m).exp() / sum).collect();
            // y = one_hot(target.masked_fill(~keep, 0), C) * keep.unsqueeze(-1)
            let label = if kept == 0.0 { 0 } else { target as usize };
            let y: Vec<f64> = (0..classes).map(|k| if k == label { kept } else { 0.0 }).collect();
            let values = column_values(&loss.expr, &p, &y, &z);
            let c = classes as f64;
            let per_pixel = match reducing {
                Reducing::Constant { times_classes } => return values[0] * if times_classes { c } else { 1.0 },
                Reducing::Elements { sum: true } => values.iter().sum::<f64>(),
                Reducing::Elements { sum: false } => values.iter().sum::<f64>() / c,
                Reducing::Pixels { times_classes } => values[0] * if times_classes { c } else { 1.0 },
            };
            // (per_pixel * kept).sum() / kept.sum().clamp_min(1)
            total += per_pixel * kept;
            count += kept;
        }
        total / f64::max(count, 1.0)
    }

    /// The generated function on VOC-like targets against lossgp's own definition, the one the
    /// trainer is tested against: the interpreter's loss over the kept pixels taken as rows.
    #[test]
    fn generated_reduction_is_the_trainers_on_voc_targets() {
        let (n, classes, plane) = (2, 3, 4);
        let logits: Vec<f64> = (0..n * classes * plane).map(|i| ((i * 7919) % 23) as f64 / 4.0 - 2.5).collect();
        let voc: [i64; 8] = [0, 255, 2, 1, 255, 255, 0, 1];
        let logits = &logits;
        let reference = |loss: &Loss, labels: &[i64]| {
            let kept: Vec<usize> = (0..n * plane).filter(|&i| labels[i] != 255).collect();
            let rows: Vec<f64> = kept
                .iter()
                .flat_map(|&i| (0..classes).map(move |k| logits[((i / plane) * classes + k) * plane + i % plane]))
                .collect();
            let row_labels: Vec<usize> = kept.iter().map(|&i| labels[i] as usize).collect();
            loss.evaluate(&Batch::<f64>::from_labels(rows, classes, &row_labels).unwrap()).loss
        };
        let mut texts: Vec<String> = BUILTINS.iter().map(|b| b.name.to_owned()).collect();
        texts.extend(
            [
                "sample-mean: -sum(y*log(p)) + amax(z)",
                "element-mean: logsumexp(z) - sum(y*z)",
                "sample-mean: mean(z)*y",
            ]
            .map(str::to_owned),
        );
        for text in &texts {
            let loss = Loss::resolve(text).unwrap();
            for labels in [voc, [0, 1, 2, 1, 2, 2, 0, 1]] {
                let got = as_generated(&loss, logits, classes, &labels, Some(plane));
                let want = reference(&loss, &labels);
                assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{text} on {labels:?}: {got} vs {want}");
            }
        }
        let ce = Loss::resolve("ce").unwrap();
        // Nothing kept: 0, as the trainer's sum over no pixel divided by max(0, 1).
        assert_eq!(as_generated(&ce, logits, classes, &[255; 8], Some(plane)), 0.0);
        // An ignored pixel's target is all zero; a value that is not finite there makes the
        // loss NaN, as the trainer's masked sum does.
        let diverging = Loss::resolve("exp(1000*(1 - sum(y)))").unwrap();
        assert!(as_generated(&diverging, logits, classes, &voc, Some(plane)).is_nan());
        assert_eq!(as_generated(&diverging, logits, classes, &[0, 1, 2, 1, 2, 2, 0, 1], Some(plane)), 1.0);
        // Classification ignores nothing: with 300 classes, 255 is a class like any other.
        let wide: Vec<f64> = (0..2 * 300).map(|i| ((i * 31) % 17) as f64 / 3.0).collect();
        let batch = Batch::<f64>::from_labels(wide.clone(), 300, &[255, 7]).unwrap();
        let got = as_generated(&ce, &wide, 300, &[255, 7], None);
        assert!((got - ce.evaluate(&batch).loss).abs() < 1e-12, "{got}");
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
        assert!(code.contains("    per_pixel = (1 * y.mean(dim=1, keepdim=True) + 2 * C)[:, 0] * C\n"), "{code}");
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
        assert!(
            code.contains("per_pixel = (_lossgp_softplus(_lossgp_softplus(_lossgp_softplus(p))) * y).mean(dim=1)"),
            "{code}"
        );
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
