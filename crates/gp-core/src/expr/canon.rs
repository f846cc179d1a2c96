//! Canonical form and structural key: one key for all expressions equal under algebra.
//!
//! The search must never train the same loss twice, so it needs a key under which `p*(1 + y)`,
//! `p + y*p` and `(y + 1)*p - 0` coincide. lossgp computes a *normal form*: every expression
//! becomes a polynomial over *atoms*, where an atom is a variable or a non-polynomial function
//! (`exp`, `log`, `max`, a class reduction, ...) applied to arguments that are themselves in
//! normal form. Polynomials are kept expanded, with like terms collected and terms in a fixed
//! order, so two expressions get the same normal form exactly when the rules below make them
//! equal, and the key is a hash of that form.
//!
//! Why a normal form and not equality saturation (`egg`): an e-graph proves two given
//! expressions equal, but a key needs each expression *alone* to reach the same representative.
//! Saturation with commutativity and associativity explodes on trees of the size GP produces and
//! must be cut off, and where it is cut off, and which of several equally small terms extraction
//! returns, depends on how the input was written. Measured with egg 0.11 (39 rewrite rules of the
//! kind below, constant folding, node limit 10k, AstSize extraction) on the 16 equal pairs of
//! the test `pairs_equality_saturation_misses`: equal extracted terms for 7 pairs (12 with a
//! lexicographic tie-break added to the extractor), at a median 0.2 ms per 10-node expression and
//! 1.6 ms per 30-node one. The normal form gives equal keys for all of them, in microseconds, and
//! is deterministic by construction: it decides the polynomial fragment (commutativity,
//! associativity, distributivity, constants) completely, and applies the rules for the
//! non-polynomial operators on top.
//!
//! # Rules
//!
//! All rules hold exactly under the protected semantics of [`ops`](super::ops), up to
//! floating-point rounding and values the original itself computes out of range:
//!
//! * ring arithmetic: `+`, `-`, `*`, `neg`, `square` and constants expand into a polynomial;
//!   like terms are collected and constants folded (`x - x = 0`, `x*(a + b) = x*a + x*b`);
//!   division by an expression is multiplication by its `recip`;
//! * constant folding: an operator applied to constants is evaluated as the interpreter
//!   evaluates it (unless the result is not finite);
//! * the float range: folding never takes a coefficient out of it where the original keeps
//!   the value in range. A product of coefficients that would overflow, or underflow to zero or
//!   to a subnormal number (`1e-20·e^-700`), or a sum that would overflow, is not folded: the
//!   operation stays as written, an opaque function of its normalised arguments. A term
//!   vanishes only when its coefficients cancel exactly (`(1 + 1e-14)*p - p` is `1e-14·p`,
//!   as the interpreter computes it);
//! * absorption: the interpreter adds in floating point, where a term much smaller than
//!   another is absorbed (`p + 1e300` is `1e300`, so `(p + 1e300) - 1e300` is 0 everywhere).
//!   That only shows once the large terms cancel, so the check sits where terms are collected
//!   (every sum, every expansion of a product, every merge of exponents): where a term
//!   cancels to less than `ABSORBED` (2^-40) of its size, and another term of the result is
//!   smaller than 2^-40 of the cancelled one at its largest, the small term was absorbed
//!   (or kept fewer than 13 of its bits) where the interpreter added it to the large one, and
//!   the operation stays as written. A term's size is its coefficient times the largest
//!   magnitude of its atoms over every input (`p` and `y` at most 1, `sin` 1, `recip` 1e7);
//!   atoms with no bound (the logits, the class count, `logsumexp`) count as 1, the scale
//!   of logits, so `(z + 1e20) - 1e20` stays, while `(z + 1e6) - 1e6` is `z`. The
//!   leftover of a cancelled term itself is the coefficients' float difference, which the
//!   interpreter computes too (`(1 + 1e-14)*p - p` is `1e-14·p`). Sums without such a
//!   cancellation collect as usual: `log(p + 1e-7)` absorbs `p < 1e-23` in the normal form
//!   as in the interpreter;
//! * the target is one-hot: `y² = y` (so `y*(1 - y) = 0`), `sum(y) = amax(y) = 1`;
//!   probabilities sum to one: `sum(p) = 1`, and `mean(p) = mean(y) = 1/C`;
//! * symmetry: `log`, `sqrt`, `cos`, `abs` and the base of `pow` are even, `sin`, `tanh` and
//!   `recip` are odd, `sigmoid(-x) = 1 - sigmoid(x)`, `softplus(-x) = softplus(x) - x`; the
//!   argument is normalised so that its leading term is positive;
//! * `exp(a)*exp(b) = exp(a + b)`, constants leave the exponent (`exp(2 + x) = e²·exp(x)`)
//!   where `exp(x)` is a normal float for every input (so `exp(800*p - 700)` and `exp(z - 3)`
//!   keep theirs), and `pow(c, x) = exp(ln(c)·x)` for a constant base where that cannot
//!   overflow (`pow` saturates where `exp` would be infinite);
//! * `min(a, b) = -max(-a, -b)`; `max` is flattened, sorted and deduplicated;
//!   `abs(x) = x` where `x` is provably non-negative;
//! * class reductions are linear and factors constant over the classes move out of them:
//!   `sum(a*x + b) = a*sum(x) + b*C` for class-constant `a`, `b`; `logsumexp(x + k) =
//!   logsumexp(x) + k` and `amax(x + k) = amax(x) + k` for class-constant `k`.
//!
//! Keys encode coefficients rounded to 40 significant bits, so `0.1 + 0.2` and `0.3` are one
//! coefficient; losses whose constants differ in the 13th digit share a key. The algebra itself
//! compares them exactly, so that nearly equal terms never cancel to zero.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::Expr;
use super::ops::{Binary, Op, PROTECT_EPS, Reduce, Unary, Var};

/// Bumped whenever a rule changes, so that keys cached by earlier versions are not mistaken
/// for keys of the current normal form.
pub const CANON_VERSION: u32 = 1;

/// A product whose expansion would have more terms than this keeps its sums as factors, so
/// that trees such as `square(square(square(square(a + b + c + d))))` stay cheap. Losses of
/// the sizes GP works with never come near it; above it, equal products written in different
/// orders may get different keys (a missed duplicate, never a false merge).
const MAX_EXPANDED_TERMS: usize = 1024;

/// Likewise for the size of the expansion: multiplying out copies every atom of one side into
/// each term of the other, and repeating that through nested functions would grow the normal
/// form exponentially.
const MAX_EXPANDED_SIZE: usize = 4096;

/// A term that cancels to less than this fraction of itself (and in [`Poly::plus`] and
/// [`Poly::times`], a term smaller than this fraction of a cancelled one) marks absorption:
/// 2^-40, the relative precision at which keys compare coefficients ([`Num::rounded`]), so that
/// what the normal form keeps the interpreter resolves to at least 13 bits.
const ABSORBED: f64 = 1.0 / 1_099_511_627_776.0;

/// Squaring doubles exponents, so a few dozen nested `square`s would overflow them; beyond this
/// exponent a `square` stays an opaque function instead.
const MAX_EXPONENT: u32 = 1 << 16;

/// A coefficient. The algebra compares coefficients exactly, so that terms cancel only when
/// they cancel exactly (`(1 + 1e-14)*p - p` is not 0); keys encode them rounded to 40
/// significant bits ([`Num::rounded`]), so that rounding noise from folding does not split
/// equal losses.
#[derive(Clone, Copy, Debug)]
struct Num(f64);

impl Num {
    fn rounded(self) -> f64 {
        if self.0 == 0.0 || !self.0.is_finite() {
            return self.0 + 0.0;
        }
        const DROP: u32 = 12;
        let bits = self.0.to_bits();
        f64::from_bits((bits + (1 << (DROP - 1))) & !((1u64 << DROP) - 1))
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Num {}
impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Num {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0 + 0.0).total_cmp(&(other.0 + 0.0))
    }
}

/// The product of two coefficients, or `None` where folding it would change a value: where it
/// overflows, or where two non-zero coefficients multiply to zero or to a subnormal number
/// (`1e-20·e^-700`). The interpreter evaluates the factors where the expression puts them,
/// next to the values that keep them in range; a folded coefficient out of range would turn the
/// whole term into 0 or infinity.
fn coefficient_product(a: f64, b: f64) -> Option<f64> {
    let product = a * b;
    let exact = a.abs() == 1.0 || b.abs() == 1.0 || a == 0.0 || b == 0.0;
    (product.is_finite() && (product.is_normal() || exact)).then_some(product)
}

/// The sum of two coefficients, or `None` where it overflows. A sum that is zero or subnormal
/// is exact.
fn coefficient_sum(a: f64, b: f64) -> Option<f64> {
    let sum = a + b;
    sum.is_finite().then_some(sum)
}

/// Whether `exp` of every value in the interval is a normal float.
fn exp_is_normal_over((lo, hi): (f64, f64)) -> bool {
    lo >= f64::MIN_POSITIVE.ln() && hi <= f64::MAX.ln()
}

/// The interval `[lo, hi]` scaled by `k`.
fn interval_scaled((lo, hi): (f64, f64), k: f64) -> (f64, f64) {
    if k >= 0.0 { (lo * k, hi * k) } else { (hi * k, lo * k) }
}

fn interval_product((a, b): (f64, f64), (c, d): (f64, f64)) -> (f64, f64) {
    let products = [a * c, a * d, b * c, b * d];
    (products.iter().copied().fold(f64::INFINITY, f64::min), products.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

fn interval_power((lo, hi): (f64, f64), k: u32) -> (f64, f64) {
    let k = i32::try_from(k).unwrap_or(i32::MAX);
    if k % 2 == 1 || lo >= 0.0 {
        (lo.powi(k), hi.powi(k))
    } else if hi <= 0.0 {
        (hi.powi(k), lo.powi(k))
    } else {
        (0.0, lo.abs().max(hi.abs()).powi(k))
    }
}

fn interval_abs((lo, hi): (f64, f64)) -> (f64, f64) {
    if lo >= 0.0 {
        (lo, hi)
    } else if hi <= 0.0 {
        (-hi, -lo)
    } else {
        (0.0, lo.abs().max(hi.abs()))
    }
}

/// The interval, if both ends are finite.
fn finite((lo, hi): (f64, f64)) -> Option<(f64, f64)> {
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}

/// A factor of a monomial that is not itself a sum or product.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    Var(Var),
    /// The number of classes `C`, which reductions of class-constant terms produce; it prints
    /// as `sum(1)`.
    Classes,
    /// `1/C`, which `mean(y)` and `mean(p)` are; it prints as `mean(y)`.
    PerClass,
    /// A non-polynomial operator applied to normalised arguments. `aq(a, b)` is stored as
    /// `a · aq(1, b)` and `max` with any number of arguments.
    Apply(Op, Vec<Poly>),
    /// A sum kept whole as a factor because multiplying it out would be too large, scaled so
    /// that its first coefficient is 1. Equal factors merge into a power like any atom, so
    /// nested products stay linear in size.
    Factor(Poly),
}

/// A product of atoms with positive exponents, sorted; the empty monomial is 1.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Mono(Vec<(Atom, u32)>);

/// A sum of monomials with non-zero coefficients, in canonical order (the constant term, whose
/// monomial is empty, first).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Poly(BTreeMap<Mono, Num>);

impl Atom {
    fn apply(op: Op, args: Vec<Poly>) -> Atom {
        Atom::Apply(op, args)
    }

    fn is_class_constant(&self) -> bool {
        match self {
            Atom::Var(_) => false,
            Atom::Classes | Atom::PerClass | Atom::Apply(Op::Reduce(_), _) => true,
            Atom::Apply(_, args) => args.iter().all(Poly::is_class_constant),
            Atom::Factor(p) => p.is_class_constant(),
        }
    }

    fn is_nonneg(&self) -> bool {
        use Unary::*;
        match self {
            Atom::Var(v) => *v != Var::Z,
            Atom::Classes | Atom::PerClass => true,
            Atom::Apply(Op::Unary(Exp | Abs | Sqrt | Square | Sigmoid | Softplus), _) => true,
            Atom::Apply(Op::Binary(Binary::Pow | Binary::Aq), _) => true,
            Atom::Apply(Op::Binary(Binary::Max), args) => args.iter().any(Poly::is_nonneg),
            Atom::Apply(Op::Unary(Recip) | Op::Reduce(Reduce::Sum | Reduce::Mean | Reduce::Max), args) => {
                args.iter().all(Poly::is_nonneg)
            }
            Atom::Factor(p) => p.is_nonneg(),
            Atom::Apply(..) => false,
        }
    }

    fn mentions(&self, var: Var) -> bool {
        match self {
            Atom::Var(v) => *v == var,
            Atom::Classes | Atom::PerClass => false,
            Atom::Apply(_, args) => args.iter().any(|a| a.mentions(var)),
            Atom::Factor(p) => p.mentions(var),
        }
    }

    fn size(&self) -> usize {
        match self {
            Atom::Var(_) | Atom::Classes | Atom::PerClass => 1,
            Atom::Apply(_, args) => 1 + args.iter().map(Poly::size).sum::<usize>(),
            Atom::Factor(p) => 1 + p.size(),
        }
    }

    fn exp_argument(&self) -> Option<&Poly> {
        match self {
            Atom::Apply(Op::Unary(Unary::Exp), args) => args.first(),
            _ => None,
        }
    }

    /// The largest magnitude of the atom over all inputs, or 1 where it has no bound (the
    /// logits, the class count): what decides whether adding it to another term absorbs it.
    fn scale(&self) -> f64 {
        self.bounds().map_or(1.0, |(lo, hi)| lo.abs().max(hi.abs()))
    }

    /// Finite bounds on the atom's values over all inputs, where its structure gives them:
    /// `p`, `y` and `1/C` lie in `[0, 1]`, `sin` in `[-1, 1]`, and so on; the logits and the
    /// class count are unbounded.
    fn bounds(&self) -> Option<(f64, f64)> {
        use Unary::*;
        let arg = |args: &[Poly], i: usize| args.get(i).and_then(Poly::bounds);
        let bounds = match self {
            Atom::Var(Var::P | Var::Y) | Atom::PerClass => (0.0, 1.0),
            Atom::Var(Var::Z) | Atom::Classes => return None,
            Atom::Factor(p) => p.bounds()?,
            Atom::Apply(Op::Unary(Sin | Cos | Tanh), _) => (-1.0, 1.0),
            Atom::Apply(Op::Unary(Sigmoid), _) => (0.0, 1.0),
            Atom::Apply(Op::Unary(Recip), _) => (-1.0 / PROTECT_EPS, 1.0 / PROTECT_EPS),
            Atom::Apply(Op::Unary(op), args) => {
                let (lo, hi) = arg(args, 0)?;
                match op {
                    Neg => (-hi, -lo),
                    Exp | Softplus => (op.eval(lo), op.eval(hi)),
                    Abs => interval_abs((lo, hi)),
                    Square => interval_power((lo, hi), 2),
                    Log | Sqrt => {
                        let (small, large) = interval_abs((lo, hi));
                        (op.eval(small), op.eval(large))
                    }
                    Sin | Cos | Tanh | Sigmoid | Recip => return None,
                }
            }
            Atom::Apply(Op::Binary(op), args) => match op {
                Binary::Add => {
                    let ((a, b), (c, d)) = (arg(args, 0)?, arg(args, 1)?);
                    (a + c, b + d)
                }
                Binary::Sub => {
                    let ((a, b), (c, d)) = (arg(args, 0)?, arg(args, 1)?);
                    (a - d, b - c)
                }
                Binary::Mul => interval_product(arg(args, 0)?, arg(args, 1)?),
                // |aq(a, b)| <= |a|
                Binary::Aq => {
                    let (_, m) = interval_abs(arg(args, 0)?);
                    (-m, m)
                }
                Binary::Max => {
                    let all = args.iter().map(Poly::bounds).collect::<Option<Vec<_>>>()?;
                    all.into_iter().fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b), (c, d)| (a.max(c), b.max(d)))
                }
                Binary::Min => {
                    let all = args.iter().map(Poly::bounds).collect::<Option<Vec<_>>>()?;
                    all.into_iter().fold((f64::INFINITY, f64::INFINITY), |(a, b), (c, d)| (a.min(c), b.min(d)))
                }
                Binary::Div | Binary::Pow => return None,
            },
            Atom::Apply(Op::Reduce(Reduce::Mean | Reduce::Max), args) => arg(args, 0)?,
            Atom::Apply(Op::Reduce(Reduce::Sum | Reduce::LogSumExp), _) => return None,
        };
        finite(bounds)
    }
}

impl Mono {
    fn one() -> Mono {
        Mono(Vec::new())
    }

    fn of(atom: Atom) -> Mono {
        Mono(vec![(atom, 1)])
    }

    fn is_one(&self) -> bool {
        self.0.is_empty()
    }

    fn is_nonneg(&self) -> bool {
        self.0.iter().all(|(atom, k)| k % 2 == 0 || atom.is_nonneg())
    }

    fn mentions(&self, var: Var) -> bool {
        self.0.iter().any(|(atom, _)| atom.mentions(var))
    }

    /// Splits into the factors constant over the classes and the rest.
    fn split_class_constant(&self) -> (Mono, Mono) {
        let (constant, varying) = self.0.iter().cloned().partition(|(atom, _)| atom.is_class_constant());
        (Mono(constant), Mono(varying))
    }

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

    /// The largest magnitude of the monomial, with [`Atom::scale`] for each atom.
    fn scale(&self) -> f64 {
        self.0.iter().map(|(atom, k)| atom.scale().powi(i32::try_from(*k).unwrap_or(i32::MAX))).product()
    }

    /// Finite bounds on the monomial's values, where its atoms have them.
    fn bounds(&self) -> Option<(f64, f64)> {
        self.0
            .iter()
            .try_fold((1.0, 1.0), |acc, (atom, k)| finite(interval_product(acc, interval_power(atom.bounds()?, *k))))
    }
}

/// `exp(x)` as a coefficient and an atom: the constant term `k` of `x` leaves the exponent
/// (`exp(2 + p) = e²·exp(p)`), and `exp(0)` is no atom at all. The constant stays inside where
/// taking it out could under- or overflow where the original does not: where `e^k` is not a
/// normal float, or where `exp` of the rest may leave the normal range (`exp(800*p - 700)` is
/// at most `e^100`, but `exp(800*p)` overflows, and so does `exp(z)` for large logits).
fn exp_of(mut x: Poly) -> (f64, Option<Atom>) {
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
    fn zero() -> Poly {
        Poly::default()
    }

    fn constant(c: f64) -> Poly {
        Poly::term(c, Mono::one())
    }

    fn atom(atom: Atom) -> Poly {
        Poly::term(1.0, Mono::of(atom))
    }

    fn term(c: f64, m: Mono) -> Poly {
        let mut p = Poly::zero();
        if c != 0.0 {
            p.0.insert(m, Num(c));
        }
        p
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn as_constant(&self) -> Option<f64> {
        match self.0.len() {
            0 => Some(0.0),
            1 => self.0.get(&Mono::one()).map(|c| c.0),
            _ => None,
        }
    }

    fn constant_term(&self) -> f64 {
        self.0.get(&Mono::one()).map_or(0.0, |c| c.0)
    }

    /// Adds `c·m`, dropping the term only when it cancels exactly: a coefficient that is
    /// merely small (`(1 + 1e-14) - 1`) is what the interpreter computes too, and a factor
    /// of `1e30` elsewhere makes it large again. `None` where the sum overflows; otherwise
    /// the magnitude of the coefficient that cancelled to less than [`ABSORBED`] of itself,
    /// or 0 where none did.
    fn add_term(&mut self, m: Mono, c: f64) -> Option<f64> {
        if c == 0.0 {
            return Some(0.0);
        }
        match self.0.entry(m) {
            Entry::Vacant(slot) => {
                slot.insert(Num(c));
                Some(0.0)
            }
            Entry::Occupied(mut slot) => {
                let old = slot.get().0;
                let sum = coefficient_sum(old, c)?;
                if sum == 0.0 {
                    slot.remove();
                } else {
                    slot.insert(Num(sum));
                }
                let larger = old.abs().max(c.abs());
                Some(if sum.abs() <= larger * ABSORBED { larger } else { 0.0 })
            }
        }
    }

    /// Adds `c·m` as [`Poly::add_term`] does, noting a monomial that cancelled in
    /// `cancelled`.
    fn collect_term(&mut self, m: &Mono, c: f64, cancelled: &mut Vec<(Mono, f64)>) -> Option<()> {
        let lost = self.add_term(m.clone(), c)?;
        if lost > 0.0 {
            cancelled.push((m.clone(), lost));
        }
        Some(())
    }

    /// Whether collecting terms into `self` revealed terms that floating-point addition
    /// absorbs: whether a term other than the `cancelled` ones is smaller than [`ABSORBED`]
    /// of the largest of them (see the module documentation).
    fn reveals_absorbed(&self, cancelled: &[(Mono, f64)]) -> bool {
        if cancelled.is_empty() {
            return false;
        }
        let survivors: Vec<(&Mono, f64)> =
            self.0.iter().filter(|(m, _)| cancelled.iter().all(|(k, _)| k != *m)).map(|(m, c)| (m, c.0)).collect();
        if survivors.is_empty() {
            return false;
        }
        let floor = cancelled.iter().map(|(m, c)| c * m.scale()).fold(0.0, f64::max) * ABSORBED;
        survivors.into_iter().any(|(m, c)| {
            let size = c.abs() * m.scale();
            size < floor || size.is_nan()
        })
    }

    /// The sum; `None` where a coefficient would overflow, or where the sum would reveal
    /// absorbed terms ([`Poly::reveals_absorbed`]).
    fn plus(mut self, other: &Poly) -> Option<Poly> {
        let mut cancelled = Vec::new();
        for (m, c) in &other.0 {
            self.collect_term(m, c.0, &mut cancelled)?;
        }
        (!self.reveals_absorbed(&cancelled)).then_some(self)
    }

    /// The polynomial times `k`; `None` where a coefficient would leave the float range.
    fn scaled(&self, k: f64) -> Option<Poly> {
        let mut out = Poly::zero();
        for (m, c) in &self.0 {
            out.add_term(m.clone(), coefficient_product(c.0, k)?)?;
        }
        Some(out)
    }

    fn neg(&self) -> Poly {
        Poly(self.0.iter().map(|(m, c)| (m.clone(), Num(-c.0))).collect())
    }

    fn minus(self, other: &Poly) -> Option<Poly> {
        self.plus(&other.neg())
    }

    /// The product, expanded unless the expansion would exceed [`MAX_EXPANDED_TERMS`] terms
    /// or [`MAX_EXPANDED_SIZE`] nodes; then each multi-term side becomes one [`Atom::Factor`].
    /// `None` where a coefficient would leave the float range, or where collecting the
    /// expansion would reveal absorbed terms (`(1e20 + p)*(1e20 - p)`: each factor is `1e20`
    /// in floats).
    fn times(&self, other: &Poly) -> Option<Poly> {
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

    /// The number of nodes, counting every copy of a repeated atom: what expanding costs.
    fn size(&self) -> usize {
        self.0.keys().map(|m| 1 + m.0.iter().map(|(atom, _)| atom.size()).sum::<usize>()).sum()
    }

    /// Whether the first non-constant term has a negative coefficient; odd and even functions
    /// normalise their argument so that it does not.
    fn leads_negative(&self) -> bool {
        self.0.iter().find(|(m, _)| !m.is_one()).is_some_and(|(_, c)| c.0 < 0.0)
    }

    fn max_exponent(&self) -> u32 {
        self.0.keys().flat_map(|m| m.0.iter().map(|(_, k)| *k)).max().unwrap_or(0)
    }

    fn is_class_constant(&self) -> bool {
        self.0.keys().all(|m| m.0.iter().all(|(atom, _)| atom.is_class_constant()))
    }

    fn is_nonneg(&self) -> bool {
        self.0.iter().all(|(m, c)| c.0 > 0.0 && m.is_nonneg())
    }

    fn mentions(&self, var: Var) -> bool {
        self.0.keys().any(|m| m.mentions(var))
    }

    /// The single term `c·m`, if the polynomial has exactly one.
    fn single_term(&self) -> Option<(&Mono, f64)> {
        match self.0.len() {
            1 => self.0.iter().next().map(|(m, c)| (m, c.0)),
            _ => None,
        }
    }

    /// The terms constant over the classes, and the rest.
    fn split_class_constant(&self) -> (Poly, Poly) {
        let (constant, varying) = self
            .0
            .iter()
            .map(|(m, c)| (m.clone(), *c))
            .partition(|(m, _)| m.0.iter().all(|(a, _)| a.is_class_constant()));
        (Poly(constant), Poly(varying))
    }

    /// Finite bounds on the polynomial's values, where its atoms have them.
    fn bounds(&self) -> Option<(f64, f64)> {
        self.0.iter().try_fold((0.0, 0.0), |(lo, hi), (m, c)| {
            let (a, b) = interval_scaled(m.bounds()?, c.0);
            finite((lo + a, hi + b))
        })
    }
}

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
fn binary(op: Binary, a: Poly, b: Poly) -> Poly {
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

fn classes() -> Poly {
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

/// A 128-bit identity of an expression or loss under the rules of this module, printed as 32
/// hexadecimal digits. Stable across runs, machines and lossgp versions with the same
/// [`CANON_VERSION`], so it can key a cache on disk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key([u8; 16]);

impl Key {
    fn digest(domain: &str, poly: &Poly) -> Key {
        Key::digest_with(domain, poly, &[])
    }

    /// The digest of `poly`, and of `notes` where there are any (so keys without notes are
    /// those of earlier versions).
    fn digest_with(domain: &str, poly: &Poly, notes: &[String]) -> Key {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&CANON_VERSION.to_le_bytes());
        bytes.extend_from_slice(domain.as_bytes());
        bytes.push(0);
        encode_poly(poly, &mut bytes);
        for note in notes {
            bytes.push(0xff);
            bytes.extend_from_slice(note.as_bytes());
        }
        let hash = Sha256::digest(&bytes);
        let mut key = [0; 16];
        key.copy_from_slice(&hash[..16]);
        Key(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

/// A string that is not 32 hexadecimal digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a lossgp key (32 hexadecimal digits)")]
pub struct BadKey(String);

impl FromStr for Key {
    type Err = BadKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadKey(s.to_owned());
        if s.len() != 32 || !s.is_ascii() {
            return Err(bad());
        }
        let mut key = [0; 16];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Key(key))
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A byte encoding of the normal form that names operators and variables by their names, so
/// that reordering enums in the source never changes a key.
fn encode_poly(poly: &Poly, out: &mut Vec<u8>) {
    out.push(b'(');
    for (m, c) in &poly.0 {
        out.extend_from_slice(&c.rounded().to_bits().to_le_bytes());
        for (atom, k) in &m.0 {
            encode_atom(atom, out);
            out.extend_from_slice(&k.to_le_bytes());
        }
        out.push(b';');
    }
    out.push(b')');
}

fn encode_atom(atom: &Atom, out: &mut Vec<u8>) {
    let (tag, name, args): (u8, &str, &[Poly]) = match atom {
        Atom::Var(v) => (b'v', v.name(), &[]),
        Atom::Classes => (b'C', "", &[]),
        Atom::PerClass => (b'c', "", &[]),
        Atom::Apply(op, args) => (b'a', op.name(), args),
        Atom::Factor(p) => (b'x', "", std::slice::from_ref(p)),
    };
    out.push(tag);
    out.extend_from_slice(name.as_bytes());
    out.push(b'[');
    for arg in args {
        encode_poly(arg, out);
    }
    out.push(b']');
}

/// An expression's normal form: the form written back as an expression, and its key.
#[derive(Clone, Debug)]
pub struct Canonical {
    poly: Poly,
    expr: Expr,
    key: Key,
}

impl Canonical {
    /// Normalises `expr`.
    pub fn of(expr: &Expr) -> Canonical {
        let poly = normalize(expr);
        Canonical { expr: poly.to_expr(), key: Key::digest("expr", &poly), poly }
    }

    /// The normal form as an expression. It evaluates to the original's values up to rounding
    /// (reassociated sums can move a value by a few units in the last place of the largest
    /// intermediate value); no folded constant leaves the float range where the original's
    /// values stay in it. Where the original itself computes an intermediate value out of range
    /// (`exp(1000)*exp(-1000)`), the two may differ.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The key: equal for expressions the rules make equal.
    pub fn key(&self) -> Key {
        self.key
    }

    /// Whether the variable survives normalisation (`p*0 + y` does not depend on `p`).
    pub fn depends_on(&self, var: Var) -> bool {
        self.poly.mentions(var)
    }

    /// Whether the expression is a number (possibly times a function of the class count).
    pub fn is_constant(&self) -> bool {
        !Var::ALL.iter().any(|&v| self.depends_on(v))
    }

    /// Whether every product was multiplied out (none exceeded the expansion limits); only then
    /// is the key guaranteed to be the same for every way of writing the expression.
    pub fn is_fully_expanded(&self) -> bool {
        !self.poly.has_factor()
    }
}

impl Canonical {
    /// Whether a coefficient overflowed while folding (the form then prints `exp(1000)` for it).
    #[cfg(test)]
    fn overflowed(&self) -> bool {
        fn poly(p: &Poly) -> bool {
            p.0.iter().any(|(m, c)| {
                !c.0.is_finite()
                    || m.0.iter().any(|(atom, _)| match atom {
                        Atom::Apply(_, args) => args.iter().any(poly),
                        Atom::Factor(f) => poly(f),
                        _ => false,
                    })
            })
        }
        poly(&self.poly)
    }
}

impl Poly {
    fn has_factor(&self) -> bool {
        self.0.keys().any(|m| {
            m.0.iter().any(|(atom, _)| match atom {
                Atom::Factor(_) | Atom::Apply(Op::Unary(Unary::Square), _) => true,
                // Kept as written because folding would have left the float range.
                Atom::Apply(Op::Binary(Binary::Add | Binary::Sub | Binary::Mul | Binary::Div), _) => true,
                Atom::Apply(_, args) => args.iter().any(Poly::has_factor),
                Atom::Var(_) | Atom::Classes | Atom::PerClass => false,
            })
        })
    }
}

/// The keys of a loss `reduction(expr)`, given where on the probe batches it is not finite
/// (`not_finite`, empty for a loss finite everywhere there); see
/// [`Loss::key`](crate::loss::Loss::key) and
/// [`Loss::training_key`](crate::loss::Loss::training_key).
pub(crate) fn loss_keys(expr: &Expr, sample_mean: bool, not_finite: &[String]) -> (Key, Key) {
    // Summing over classes then averaging over samples is the element mean of C times the
    // expression; writing both reductions as an element mean lets equal losses meet.
    let mut poly = normalize(expr);
    if sample_mean {
        poly = binary(Binary::Mul, poly, classes());
    }
    let value = Key::digest_with("loss", &poly, not_finite);
    // Terms that involve neither the probabilities nor the logits add nothing to the gradient
    // with respect to the logits, so they cannot change training, unless they are infinite:
    // then the loss diverges, and it keeps every term (and where it is not finite).
    let trainable = if not_finite.is_empty() {
        Poly(poly.0.into_iter().filter(|(m, _)| m.mentions(Var::P) || m.mentions(Var::Z)).collect())
    } else {
        poly
    };
    (value, Key::digest_with("train", &trainable, not_finite))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::strategy::{arb_exact_expr, arb_expr};
    use proptest::prelude::*;

    fn key(text: &str) -> Key {
        text.parse::<Expr>().unwrap().canonical().key()
    }

    fn canon(text: &str) -> String {
        text.parse::<Expr>().unwrap().canonical().expr().to_string()
    }

    #[track_caller]
    fn same(a: &str, b: &str) {
        assert_eq!(key(a), key(b), "`{a}` -> `{}` vs `{b}` -> `{}`", canon(a), canon(b));
    }

    #[track_caller]
    fn different(a: &str, b: &str) {
        assert_ne!(key(a), key(b), "`{a}` and `{b}` got one key (`{}`)", canon(a));
    }

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

    /// The pairs on which `egg` (39 standard rewrite rules, AstSize extraction, 10k-node limit)
    /// gave equal keys for only 7 of 16; see the design note at the top of this module.
    #[test]
    fn pairs_equality_saturation_misses() {
        let pairs = [
            ("p*(1 + y)", "p + y*p"),
            ("p*(1 + y)", "(y + 1)*p - 0"),
            ("square(p - y)", "p*p - 2*p*y + y"),
            ("(p + z)*(p - z)", "square(p) - square(z)"),
            ("(p + y) + z", "p + (y + z)"),
            ("y*(1 - y)", "0"),
            ("sum(2*p*z + mean(z)*z)", "2*sum(p*z) + mean(z)*sum(z)"),
            ("cos(p - y)", "cos(y - p)"),
            ("sin(p - y)", "-sin(y - p)"),
            ("min(p, z)", "-max(-z, -p)"),
            ("exp(p)*exp(y)", "exp(p + y)"),
            ("exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))", "exp(2.4092 - p - p*y) - cos(cos(sin(p)))"),
            ("y*(logsumexp(z) - z) + p*y - y*p", "y*logsumexp(z) - y*z"),
            ("(p + y + z + 1)*(p + y + z + 2)*(p + z + 4)", "(p + z + 4)*(p + y + z + 2)*(p + y + z + 1)"),
            (
                "(exp(p)*(y + z) + sin(p - y))*(p + 1) - (p*exp(p)*y + exp(p)*y)",
                "(exp(p)*z)*(p + 1) + (p + 1)*sin(p - y)",
            ),
        ];
        for (a, b) in pairs {
            same(a, b);
        }
    }

    #[test]
    fn folding_stops_at_non_finite_results() {
        let e: Expr = "exp(1000) - exp(1000)".parse().unwrap();
        assert_eq!(e.canonical().expr().to_string(), "0");
        let e: Expr = "exp(1000)*p".parse().unwrap();
        assert_eq!(e.canonical().expr().to_string(), "p*exp(1000)");
        assert!(e.canonical().is_fully_expanded());
    }

    /// Field case `simplify-underflow-to-zero`: `1e-20·e^-700` underflowed to 0 and took the
    /// whole term with it. No rule may fold a coefficient out of the float range; where one
    /// would, the operation stays as written.
    #[test]
    fn coefficients_never_fold_out_of_range() {
        for (text, form) in [
            ("1e-20*exp(800*p - 700)*y", "1e-20*y*exp(800*p - 700)"),
            ("1e-200*(1e-200*p)", "1e-200*(1e-200*p)"),
            ("1e200*(1e200*p)", "1e200*(1e200*p)"),
            ("exp(-745*y)*1e300*(1e10*p)", "1e300*exp(-745*y)*(1e10*p)"),
            ("1e308*p + 1e308*p", "1e308*p + 1e308*p"),
            ("1e-200*(p/1e200)", "1e-200*(1e-200*p)"),
        ] {
            let c = text.parse::<Expr>().unwrap().canonical();
            assert_eq!(c.expr().to_string(), form, "{text}");
            assert!(c.depends_on(Var::P) && !c.is_constant(), "{text}");
            different(text, "0");
            assert_eq!(c.expr().canonical().key(), c.key(), "{text}: not idempotent");
        }
        // Operators on constants fold exactly as the interpreter evaluates them, out of range
        // or not: `1e-300*1e-300` is 0 there too, and a non-finite result stays written out.
        assert_eq!(canon("1e-300*1e-300*p"), "0");
        assert_eq!(canon("1e308*10*p"), "p*(1e308*10)");
        assert_eq!(canon("1e305/1e-7*p"), format!("{}*p", crate::expr::print::number(f64::MAX)));
        same("1e-20*exp(800*p - 700)*y", "y*exp(800*p - 700)*1e-20");
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

    /// Terms vanish only when they cancel exactly: what is left of a near-cancellation is what
    /// the interpreter computes, and a large factor makes it matter.
    #[test]
    fn only_exact_cancellation_drops_terms() {
        for text in [
            "(1 + 1e-14)*p - p",
            "1e30*((1 + 1e-14)*p - p)*y",
            "exp((1 + 1e-14)*p) - exp(p)",
            "max(p, (1 + 1e-14)*p) - p",
            "0.1*p + 0.2*p - 0.3*p",
            "sum((1 + 1e-14)*p*z) - sum(p*z)",
        ] {
            let c = text.parse::<Expr>().unwrap().canonical();
            assert!(c.depends_on(Var::P), "{text} became {}", c.expr());
            different(text, "0");
        }
        assert_eq!(
            canon("1e30*((1 + 1e-14)*p - p)*y"),
            format!("{}*p*y", crate::expr::print::number(1e30 * ((1.0 + 1e-14) - 1.0)))
        );
        same("p - p", "0");
        same("(0.5 + 0.25)*p - 0.75*p", "0");
        same("exp(p)*3 - 3*exp(p)", "0");
    }

    /// Field case `simplify-absorption`: `(p + 1e300) - 1e300` became `p`, but the interpreter
    /// computes `p + 1e300` as `1e300` and the whole as 0. A cancellation that would reveal
    /// terms that floating-point addition absorbed leaves the operation as written.
    #[test]
    fn cancellation_never_reveals_absorbed_terms() {
        for (text, form, real) in [
            ("(p + 1e300) - 1e300", "1e300 + p - 1e300", "p"),
            ("(p + 1e16) - 1e16", "1e16 + p - 1e16", "p"),
            ("y*(1e16 + p - 1e16)", "y*(1e16 + p - 1e16)", "y*p"),
            ("(z + 1e20) - 1e20", "1e20 + z - 1e20", "z"),
            ("1e300 - (1e300 - p)", "1e300 - (1e300 - p)", "p"),
            ("(p - 1e300) + (1e300 + y)", "p - 1e300 + (1e300 + y)", "p + y"),
            ("(1e300*y + p) - 1e300*y", "p + 1e300*y - 1e300*y", "p"),
            ("(1e15*z + p) - 1e15*z", "p + 1e15*z - 1e15*z", "p"),
            ("1e30*((p + 1e-20*y) - p)", "1e30*(p + 1e-20*y - p)", "1e10*y"),
            ("mean(p + 1e300) - 1e300", "1e300 + mean(y) - 1e300", "mean(y)"),
            ("amax(z + 1e20) - 1e20", "1e20 + amax(z) - 1e20", "amax(z)"),
            ("logsumexp(z + 1e20) - 1e20", "1e20 + logsumexp(z) - 1e20", "logsumexp(z)"),
            ("sum(p + 1e300) - sum(1e300)", "1 + 1e300*sum(1) - 1e300*sum(1)", "1"),
            ("(1e20 + p)*(1e20 - p) - 1e40", "(1e20 + p)*(1e20 - p) - 1e40", "-square(p)"),
            ("exp(1e20*y + p)*exp(-1e20*y)", "exp(p + 1e20*y)*exp(-1e20*y)", "exp(p)"),
        ] {
            let c = text.parse::<Expr>().unwrap().canonical();
            assert_eq!(c.expr().to_string(), form, "{text}");
            different(text, real);
            assert_eq!(c.expr().canonical().key(), c.key(), "{text}: not idempotent");
        }
        // Without absorption, sums collect as before: the cancelled terms are no more than
        // 2^40 times the rest, or nothing else is left.
        same("(p + 1) - 1", "p");
        same("1 - (1 - p)", "p");
        same("(p + 1e-7) - 1e-7", "p");
        same("(z + 1e6) - 1e6", "z");
        same("(1e15*z + 1e3*p) - 1e15*z", "1e3*p");
        same("(1 + p)*(1 - p)", "1 - square(p)");
        same("(p + 1e300) - (p + 1e300)", "0");
        same("log(p + 1e-7) - log(1e-7 + p)", "0");
        same("exp(p + 1e-7)*exp(-1e-7)", "exp(p)");
        assert_eq!(canon("log(p + 1e-7)"), "log(1e-7 + p)");
        // The leftover of the cancelled term itself is what the interpreter computes.
        assert_eq!(
            canon("(1 + 1e-14)*p - p + y"),
            format!("{}*p + y", crate::expr::print::number((1.0 + 1e-14) - 1.0))
        );
    }

    /// The range rules only touch expressions at the edges of the float range: the keys of
    /// ordinary losses, which caches on disk hold, are those of earlier versions.
    #[test]
    fn ordinary_keys_are_unchanged() {
        let ce = crate::loss::builtin("ce").unwrap().loss();
        assert_eq!(ce.training_key().to_string(), "408268e78377ff270eb022c6daf5da06");
    }

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

    #[test]
    fn deeply_nested_squares_do_not_overflow_exponents() {
        let text = format!("{}p{}", "square(".repeat(60), ")".repeat(60));
        let e: Expr = text.parse().unwrap();
        assert_eq!(e.canonical().key(), e.canonical().expr().canonical().key());
        let twice = format!("{}p*p{}", "square(".repeat(59), ")".repeat(59));
        assert!(twice.parse::<Expr>().unwrap().simplify().size() <= twice.parse::<Expr>().unwrap().size());
    }

    #[test]
    fn dependence_survives_only_if_real() {
        let c = "p*0 + y".parse::<Expr>().unwrap().canonical();
        assert!(!c.depends_on(Var::P) && c.depends_on(Var::Y));
        assert!("sum(p) + mean(y)".parse::<Expr>().unwrap().canonical().is_constant());
    }

    #[test]
    fn keys_print_and_parse() {
        let k = key("exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
        assert_eq!(k.to_string().len(), 32);
        assert_eq!(k.to_string().parse::<Key>(), Ok(k));
        assert_eq!(serde_json::from_str::<Key>(&serde_json::to_string(&k).unwrap()).unwrap(), k);
        assert!("xyz".parse::<Key>().is_err());
        assert!("é".repeat(16).parse::<Key>().is_err());
    }

    /// Rewrites `e` with identities the normal form must see through.
    fn rewrite(e: &Expr, choices: &mut impl Iterator<Item = u8>) -> Expr {
        use Binary::*;
        let children: Vec<Expr> = e.children().map(|c| rewrite(c, choices)).collect();
        let rebuilt = match e.op() {
            Some(op) => Expr::apply(op, children).unwrap_or_else(|| e.clone()),
            None => e.clone(),
        };
        let pick = choices.next().unwrap_or(0);
        match (&rebuilt, pick % 8) {
            (Expr::Binary(op, a, b), 0) if op.is_commutative() => Expr::binary(*op, (**b).clone(), (**a).clone()),
            (Expr::Binary(Add, a, b), 1) => match &**a {
                Expr::Binary(Add, x, y) => {
                    Expr::binary(Add, (**x).clone(), Expr::binary(Add, (**y).clone(), (**b).clone()))
                }
                _ => Expr::binary(Add, Expr::binary(Add, (**a).clone(), Expr::Const(0.0)), (**b).clone()),
            },
            (Expr::Binary(Mul, a, b), 1) => match &**b {
                Expr::Binary(Add, x, y) => Expr::binary(
                    Add,
                    Expr::binary(Mul, (**a).clone(), (**x).clone()),
                    Expr::binary(Mul, (**a).clone(), (**y).clone()),
                ),
                _ => Expr::binary(Mul, Expr::binary(Mul, Expr::Const(1.0), (**a).clone()), (**b).clone()),
            },
            (Expr::Binary(Sub, a, b), 2) => {
                Expr::binary(Add, (**a).clone(), Expr::binary(Mul, Expr::Const(-1.0), (**b).clone()))
            }
            (Expr::Binary(Min, a, b), 2) => Expr::unary(
                Unary::Neg,
                Expr::binary(Max, Expr::unary(Unary::Neg, (**a).clone()), Expr::unary(Unary::Neg, (**b).clone())),
            ),
            (Expr::Binary(Div, a, b), 2) => Expr::binary(Mul, (**a).clone(), Expr::unary(Unary::Recip, (**b).clone())),
            (Expr::Unary(Unary::Square, x), 2) => Expr::binary(Mul, (**x).clone(), (**x).clone()),
            (Expr::Unary(op, x), 3) if op.is_odd() => {
                Expr::unary(Unary::Neg, Expr::unary(*op, Expr::unary(Unary::Neg, (**x).clone())))
            }
            (Expr::Unary(op, x), 3) if op.is_even() => Expr::unary(*op, Expr::unary(Unary::Neg, (**x).clone())),
            (Expr::Reduce(Reduce::Sum | Reduce::Mean, x), 4) => {
                let r = if let Expr::Reduce(r, _) = &rebuilt { *r } else { Reduce::Sum };
                Expr::binary(Mul, Expr::Const(0.5), Expr::reduce(r, Expr::binary(Add, (**x).clone(), (**x).clone())))
            }
            (Expr::Const(c), 5) => Expr::binary(Add, Expr::Const(c / 2.0), Expr::Const(c / 2.0)),
            (Expr::Var(Var::Y), 6) => Expr::binary(Mul, Expr::Var(Var::Y), Expr::Var(Var::Y)),
            (_, 7) => Expr::unary(Unary::Neg, Expr::unary(Unary::Neg, rebuilt.clone())),
            _ => rebuilt,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn keys_see_through_identities(e in arb_exact_expr(), choices in prop::collection::vec(any::<u8>(), 64)) {
            prop_assume!(e.canonical().is_fully_expanded());
            let rewritten = rewrite(&e, &mut choices.into_iter());
            prop_assert_eq!(e.canonical().key(), rewritten.canonical().key(), "\n  {}\n  {}", e, rewritten);
        }

        #[test]
        fn normalising_is_idempotent(e in arb_expr()) {
            let once = e.canonical();
            prop_assume!(once.is_fully_expanded() && !once.overflowed());
            let twice = once.expr().canonical();
            prop_assert_eq!(once.key(), twice.key(), "\n  {}\n  {}", once.expr(), twice.expr());
        }
    }
}
