//! The operators of the loss language: names, arities, and their exact numeric semantics.
//!
//! Everything that evaluates a loss (the reference interpreter here, tensor backends later, the
//! generated PyTorch code) must agree with the definitions in this file, so they are written
//! once, generically over [`Real`], together with their derivatives.
//!
//! # Protected operators
//!
//! Random expression trees hit the edges of an operator's domain all the time (`log` of a
//! negative number, division by zero). Rather than throwing most candidates away, the language
//! defines *protected* forms that are finite wherever their inputs are finite. The choice is
//! explicit, stated here once, and is part of the language's meaning (two evaluators that
//! disagree on it are a bug):
//!
//! | operator | definition | why |
//! |---|---|---|
//! | `log(x)` | `ln(max(|x|, ε))` | EvoMAL's protected log; `log(p)` of a softmax output is unchanged unless `p < ε` |
//! | `sqrt(x)` | `sqrt(max(|x|, ε))` | EvoMAL's protected square root; bounded gradient at 0 |
//! | `recip(x)` | `1/x` where `|x| ≥ ε`, `x/ε²` inside | odd and continuous (no jump at 0), bounded by `1/ε` |
//! | `a / b` | `a · recip(b)`, saturated | guarded division built on the protected reciprocal |
//! | `aq(a, b)` | `a / sqrt(1 + b²)` | Ni et al.'s analytic quotient: smooth, no guard needed |
//! | `pow(a, b)` | `max(|a|, ε)^b`, saturated | Koza's protected power: the sign of the base is dropped |
//!
//! with `ε = 1e-7` ([`PROTECT_EPS`]). *Saturated* means that a result beyond the float range is
//! clamped to the largest finite value instead of becoming infinite (its gradient is then 0).
//! Search configurations choose between guarded division (`div`) and the analytic quotient
//! (`aq`) by putting one or both in their primitive set.
//!
//! The remaining operators are total on finite inputs but may overflow (`exp(1000)`,
//! `square(1e200)`); a loss that produces a non-finite value is rejected by the search with
//! the worst fitness, never an error.

use std::fmt;
use std::str::FromStr;

use num_traits::Float;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `ε` of the protected operators; see the [module documentation](self).
pub const PROTECT_EPS: f64 = 1e-7;

/// A floating-point type the reference interpreter evaluates losses in (`f32` or `f64`).
pub trait Real: Float + Default + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Converts from `f64`, rounding to the nearest representable value.
    fn of(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// The protected reciprocal: `1/x` where `|x| ≥ ε`, and the straight line `x/ε²` joining
/// `±1/ε` through 0 inside. Unlike a guard that replaces small denominators by `±ε`, it has no
/// jump at zero, so it is exactly odd (signed zeros included) and rounding noise in a
/// near-zero denominator cannot flip the result from `+1/ε` to `-1/ε`.
pub fn protected_recip<T: Real>(x: T) -> T {
    let eps = T::of(PROTECT_EPS);
    if x.abs() >= eps { x.recip() } else { x / (eps * eps) }
}

/// The derivative of [`protected_recip`] at `x`.
fn protected_recip_derivative<T: Real>(x: T) -> T {
    let eps = T::of(PROTECT_EPS);
    if x.abs() >= eps { -(x * x).recip() } else { (eps * eps).recip() }
}

/// Clamps `±∞` to the largest finite value of `T`, leaving finite values and NaN alone.
pub fn saturate<T: Real>(x: T) -> T {
    let max = T::max_value();
    if x > max {
        max
    } else if x < -max {
        -max
    } else {
        x
    }
}

/// Numerically stable logistic function.
fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// Numerically stable `ln(1 + e^x)`.
fn softplus<T: Real>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// `+1` for `x > 0`, `-1` for `x < 0`, `0` at zero: the derivative of `|x|` as autodiff
/// frameworks define it.
fn sign<T: Real>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in expression text and configuration files.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Looks a value up by its [`name`](Self::name).
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// A leaf of a loss expression. Each stands for a `[batch, classes]` matrix.
    pub enum Var {
        /// Softmax probabilities of the network's output.
        P = "p",
        /// The one-hot target.
        Y = "y",
        /// The raw logits (the network's output before the softmax).
        Z = "z",
    }
}

named_enum! {
    /// An element-wise operator of one argument.
    pub enum Unary {
        /// `-x`
        Neg = "neg",
        /// `e^x`
        Exp = "exp",
        /// Protected natural logarithm, `ln(max(|x|, ε))`.
        Log = "log",
        /// Protected square root, `sqrt(max(|x|, ε))`.
        Sqrt = "sqrt",
        /// `|x|`
        Abs = "abs",
        /// `x²`
        Square = "square",
        /// `sin(x)`
        Sin = "sin",
        /// `cos(x)`
        Cos = "cos",
        /// `tanh(x)`
        Tanh = "tanh",
        /// The logistic function `1 / (1 + e^-x)`.
        Sigmoid = "sigmoid",
        /// `ln(1 + e^x)`
        Softplus = "softplus",
        /// Protected reciprocal: `1/x` where `|x| ≥ ε`, `x/ε²` inside.
        Recip = "recip",
    }
}

named_enum! {
    /// An element-wise operator of two arguments.
    pub enum Binary {
        /// `a + b`
        Add = "add",
        /// `a - b`
        Sub = "sub",
        /// `a * b`
        Mul = "mul",
        /// Guarded division `a · recip(b)`, saturated.
        Div = "div",
        /// Analytic quotient `a / sqrt(1 + b²)`.
        Aq = "aq",
        /// Protected power `max(|a|, ε)^b`, saturated.
        Pow = "pow",
        /// `min(a, b)`
        Min = "min",
        /// `max(a, b)`
        Max = "max",
    }
}

named_enum! {
    /// A reduction over the class axis whose result is broadcast back over the classes, so that
    /// `z - logsumexp(z)` is the log-softmax.
    pub enum Reduce {
        /// `Σ_c x`
        Sum = "sum",
        /// `(1/C) Σ_c x`
        Mean = "mean",
        /// `max_c x` (named like NumPy's and PyTorch's `amax`; `max(a, b)` is element-wise)
        Max = "amax",
        /// `ln Σ_c e^x`, computed stably.
        LogSumExp = "logsumexp",
    }
}

impl Unary {
    /// Applies the operator to one value.
    pub fn eval<T: Real>(self, x: T) -> T {
        let eps = T::of(PROTECT_EPS);
        match self {
            Unary::Neg => -x,
            Unary::Exp => x.exp(),
            Unary::Log => x.abs().max(eps).ln(),
            Unary::Sqrt => x.abs().max(eps).sqrt(),
            Unary::Abs => x.abs(),
            Unary::Square => x * x,
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tanh => x.tanh(),
            Unary::Sigmoid => sigmoid(x),
            Unary::Softplus => softplus(x),
            Unary::Recip => protected_recip(x),
        }
    }

    /// The derivative `d out / d x` at `x`, given `out = self.eval(x)`.
    pub fn derivative<T: Real>(self, x: T, out: T) -> T {
        let one = T::one();
        let two = one + one;
        let eps = T::of(PROTECT_EPS);
        match self {
            Unary::Neg => -one,
            Unary::Exp => out,
            Unary::Log if x.abs() > eps => x.recip(),
            Unary::Sqrt if x.abs() > eps => sign(x) / (two * out),
            Unary::Log | Unary::Sqrt => T::zero(),
            Unary::Abs => sign(x),
            Unary::Square => two * x,
            Unary::Sin => x.cos(),
            Unary::Cos => -x.sin(),
            Unary::Tanh => one - out * out,
            Unary::Sigmoid => out * (one - out),
            Unary::Softplus => sigmoid(x),
            Unary::Recip => protected_recip_derivative(x),
        }
    }

    /// Whether `f(-x) = f(x)` holds exactly under the protected semantics.
    pub(crate) fn is_even(self) -> bool {
        matches!(self, Unary::Log | Unary::Sqrt | Unary::Abs | Unary::Square | Unary::Cos)
    }

    /// Whether `f(-x) = -f(x)` holds exactly.
    pub(crate) fn is_odd(self) -> bool {
        matches!(self, Unary::Neg | Unary::Sin | Unary::Tanh | Unary::Recip)
    }
}

impl Binary {
    /// Applies the operator to two values.
    pub fn eval<T: Real>(self, a: T, b: T) -> T {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div if b.abs() >= T::of(PROTECT_EPS) => saturate(a / b),
            Binary::Div => saturate(a * protected_recip(b)),
            Binary::Aq => a / T::one().hypot(b),
            Binary::Pow => saturate(a.abs().max(T::of(PROTECT_EPS)).powf(b)),
            // NaN propagates, as in PyTorch (Rust's `min`/`max` would drop it and hide a broken
            // candidate from screening).
            Binary::Min | Binary::Max if a.is_nan() || b.is_nan() => T::nan(),
            Binary::Min => a.min(b),
            Binary::Max => a.max(b),
        }
    }

    /// The partial derivatives `(d out / d a, d out / d b)`, given `out = self.eval(a, b)`.
    ///
    /// At ties of `min` and `max` the gradient is shared equally, as PyTorch does; in a
    /// saturated region of `div` and `pow` both partials are 0.
    pub fn partials<T: Real>(self, a: T, b: T, out: T) -> (T, T) {
        let (zero, one) = (T::zero(), T::one());
        let eps = T::of(PROTECT_EPS);
        let saturated = out.abs() == T::max_value();
        match self {
            Binary::Add => (one, one),
            Binary::Sub => (one, -one),
            Binary::Mul => (b, a),
            Binary::Div if saturated => (zero, zero),
            Binary::Div => (protected_recip(b), a * protected_recip_derivative(b)),
            Binary::Aq => {
                let h = one.hypot(b);
                (h.recip(), -a * b / (h * h * h))
            }
            Binary::Pow if saturated => (zero, zero),
            Binary::Pow => {
                let m = a.abs().max(eps);
                let da = if a.abs() > eps { b * out / m * sign(a) } else { zero };
                (da, out * m.ln())
            }
            Binary::Min | Binary::Max if a == b => (one / (one + one), one / (one + one)),
            Binary::Min if a < b => (one, zero),
            Binary::Max if a > b => (one, zero),
            Binary::Min | Binary::Max => (zero, one),
        }
    }

    /// Whether `f(a, b) = f(b, a)`.
    pub(crate) fn is_commutative(self) -> bool {
        matches!(self, Binary::Add | Binary::Mul | Binary::Min | Binary::Max)
    }
}

/// The largest entry of a row, NaN if any entry is NaN.
fn row_max<T: Real>(row: &[T]) -> T {
    row.iter().fold(T::neg_infinity(), |m, &x| if m.is_nan() || x.is_nan() { T::nan() } else { m.max(x) })
}

impl Reduce {
    /// Reduces one row (the classes of one sample).
    pub fn eval_row<T: Real>(self, row: &[T]) -> T {
        let n = T::of(row.len() as f64);
        match self {
            Reduce::Sum => row.iter().fold(T::zero(), |s, &x| s + x),
            Reduce::Mean => row.iter().fold(T::zero(), |s, &x| s + x) / n,
            Reduce::Max => row_max(row),
            Reduce::LogSumExp => {
                let m = row_max(row);
                if !m.is_finite() {
                    return m;
                }
                m + row.iter().fold(T::zero(), |s, &x| s + (x - m).exp()).ln()
            }
        }
    }

    /// Adds `g_out · d out / d row` to `g_row`, given `out = self.eval_row(row)`.
    ///
    /// `amax` shares the gradient evenly among tied maxima, as PyTorch's `amax` does.
    pub fn backprop_row<T: Real>(self, row: &[T], out: T, g_out: T, g_row: &mut [T]) {
        match self {
            Reduce::Sum => g_row.iter_mut().for_each(|g| *g = *g + g_out),
            Reduce::Mean => {
                let share = g_out / T::of(row.len() as f64);
                g_row.iter_mut().for_each(|g| *g = *g + share);
            }
            Reduce::Max => {
                let ties = row.iter().filter(|&&x| x == out).count();
                let share = g_out / T::of(ties as f64);
                for (g, &x) in g_row.iter_mut().zip(row) {
                    if x == out {
                        *g = *g + share;
                    }
                }
            }
            Reduce::LogSumExp => {
                for (g, &x) in g_row.iter_mut().zip(row) {
                    *g = *g + g_out * (x - out).exp();
                }
            }
        }
    }

    /// The reduction of a row whose `classes` entries all equal `x`.
    pub fn eval_uniform<T: Real>(self, x: T, classes: usize) -> T {
        let c = T::of(classes as f64);
        match self {
            Reduce::Sum => x * c,
            Reduce::Mean | Reduce::Max => x,
            Reduce::LogSumExp => x + c.ln(),
        }
    }

    /// `d out / d x` for [`eval_uniform`](Self::eval_uniform).
    pub fn uniform_derivative<T: Real>(self, classes: usize) -> T {
        match self {
            Reduce::Sum => T::of(classes as f64),
            Reduce::Mean | Reduce::Max | Reduce::LogSumExp => T::one(),
        }
    }
}

/// Any operator of the language, as listed in a primitive set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// An element-wise operator of one argument.
    Unary(Unary),
    /// An element-wise operator of two arguments.
    Binary(Binary),
    /// A reduction over the class axis.
    Reduce(Reduce),
}

impl Op {
    /// Every operator of the language.
    pub fn all() -> impl Iterator<Item = Op> {
        let unary = Unary::ALL.iter().map(|&u| Op::Unary(u));
        let binary = Binary::ALL.iter().map(|&b| Op::Binary(b));
        let reduce = Reduce::ALL.iter().map(|&r| Op::Reduce(r));
        unary.chain(binary).chain(reduce)
    }

    /// The number of arguments.
    pub fn arity(self) -> usize {
        match self {
            Op::Binary(_) => 2,
            Op::Unary(_) | Op::Reduce(_) => 1,
        }
    }

    /// The name used in expression text and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Reduce(r) => r.name(),
        }
    }

    /// Looks an operator up by its [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Op> {
        Unary::from_name(name)
            .map(Op::Unary)
            .or_else(|| Binary::from_name(name).map(Op::Binary))
            .or_else(|| Reduce::from_name(name).map(Op::Reduce))
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Known names that look like `name`, best first: the "did you mean" of errors. A name is
/// close if one edit (insertion, deletion, substitution or swap of neighbours) turns one into
/// the other, two edits for longer names, or if they share a long prefix.
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), strsim::jaro_winkler(name, c), c))
        .filter(|&(edits, similarity, _)| edits <= 1 || (edits == 2 && name.len() >= 5) || similarity >= 0.88)
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)));
    scored.dedup_by_key(|s| s.2);
    scored.into_iter().take(3).map(|(_, _, c)| c).collect()
}

/// An unknown operator or variable name in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`{}", hint(.suggestions))]
pub struct UnknownName {
    what: &'static str,
    name: String,
    suggestions: Vec<&'static str>,
}

fn hint(suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!("; did you mean one of {}?", quoted_list(many)),
    }
}

/// `` `a`, `b`, `c` `` for error messages.
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl FromStr for Op {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::from_name(s).ok_or_else(|| UnknownName {
            what: "operator",
            name: s.to_owned(),
            suggestions: suggest(s, Op::all().map(Op::name)),
        })
    }
}

impl FromStr for Var {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Var::from_name(s).ok_or_else(|| UnknownName {
            what: "variable",
            name: s.to_owned(),
            suggestions: suggest(s, Var::ALL.iter().map(|v| v.name())),
        })
    }
}

/// Operators and variables travel as their names in configuration files.
macro_rules! serde_by_name {
    ($($ty:ty),+) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    )+};
}
serde_by_name!(Op, Var);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: Vec<&str> = Op::all().map(Op::name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate operator names: {names:?}");
        for op in Op::all() {
            assert_eq!(op.name().parse::<Op>(), Ok(op));
        }
        for &v in Var::ALL {
            assert_eq!(v.name().parse::<Var>(), Ok(v));
        }
    }

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let err = "lgo".parse::<Op>().unwrap_err().to_string();
        assert!(err.contains("`log`"), "{err}");
        let err = "tnah".parse::<Op>().unwrap_err().to_string();
        assert!(err.ends_with("did you mean `tanh`?"), "{err}");
        let err = "sigmod".parse::<Op>().unwrap_err().to_string();
        assert!(err.ends_with("did you mean `sigmoid`?"), "{err}");
        let err = "logsumexpp".parse::<Op>().unwrap_err().to_string();
        assert!(err.ends_with("did you mean `logsumexp`?"), "{err}");
        let err = "q".parse::<Var>().unwrap_err().to_string();
        assert_eq!(err, "unknown variable `q`; did you mean one of `p`, `y`, `z`?");
    }

    #[test]
    fn protected_forms_follow_their_definitions() {
        assert_eq!(Unary::Log.eval(-2.0_f64), 2.0_f64.ln());
        assert_eq!(Unary::Log.eval(0.0_f64), PROTECT_EPS.ln());
        assert_eq!(Unary::Sqrt.eval(-4.0_f64), 2.0);
        assert_eq!(Unary::Recip.eval(0.0_f64), 0.0);
        assert_eq!(Unary::Recip.eval(PROTECT_EPS), 1.0 / PROTECT_EPS);
        assert!((Unary::Recip.eval(-PROTECT_EPS / 2.0) + 0.5 / PROTECT_EPS).abs() < 1e-3);
        assert_eq!(Unary::Recip.eval(-4.0_f64), -0.25);
        assert_eq!(Binary::Div.eval(3.0_f64, 0.0), 0.0);
        assert_eq!(Binary::Div.eval(3.0_f64, 2.0), 1.5);
        assert_eq!(Binary::Div.eval(f64::MAX, 0.5), f64::MAX);
        assert_eq!(Binary::Aq.eval(3.0_f64, 0.0), 3.0);
        assert_eq!(Binary::Pow.eval(-2.0_f64, 3.0), 8.0);
        assert_eq!(Binary::Pow.eval(0.0_f64, -1.0), 1.0 / PROTECT_EPS);
        assert_eq!(Binary::Pow.eval(10.0_f32, 100.0), f32::MAX);
    }

    #[test]
    fn nan_propagates_through_min_max_and_reductions() {
        assert!(Binary::Max.eval(f64::NAN, 0.0).is_nan());
        assert!(Binary::Min.eval(0.0, f64::NAN).is_nan());
        for r in [Reduce::Max, Reduce::LogSumExp, Reduce::Sum] {
            assert!(r.eval_row(&[1.0, f64::NAN, 0.0]).is_nan(), "{r}");
        }
    }

    #[test]
    fn ties_share_the_gradient() {
        assert_eq!(Binary::Max.partials(1.0, 1.0, 1.0), (0.5, 0.5));
        assert_eq!(Binary::Min.partials(2.0, 1.0, 1.0), (0.0, 1.0));
        assert_eq!(Binary::Max.partials(2.0, 1.0, 2.0), (1.0, 0.0));
    }

    #[test]
    fn stable_forms_do_not_overflow() {
        assert_eq!(Unary::Sigmoid.eval(-1000.0_f64), 0.0);
        assert_eq!(Unary::Sigmoid.eval(1000.0_f64), 1.0);
        assert_eq!(Unary::Softplus.eval(1000.0_f64), 1000.0);
        assert_eq!(Reduce::LogSumExp.eval_row(&[1000.0_f64, 1000.0]), 1000.0 + 2.0_f64.ln());
    }

    #[test]
    fn reductions_of_uniform_rows_match_the_row_forms() {
        for &r in Reduce::ALL {
            let row = [0.7_f64; 5];
            let expected = r.eval_row(&row);
            assert!((r.eval_uniform(0.7, 5) - expected).abs() < 1e-12, "{r}");
        }
    }
}
