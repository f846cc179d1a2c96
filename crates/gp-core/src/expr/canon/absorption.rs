//! Cancellation and absorption: collecting a term into a polynomial, noting where like terms
//! cancel, and telling when a cancellation reveals a term that floating-point addition would
//! have absorbed (the *absorption* rule of [`canon`](super)).

use std::collections::btree_map::Entry;

use super::coefficient::{Num, coefficient_sum};
use super::poly::{Mono, Poly};

/// A term that cancels to less than this fraction of itself (and in [`Poly::plus`] and
/// [`Poly::times`], a term smaller than this fraction of a cancelled one) marks absorption:
/// 2^-40, the relative precision at which keys compare coefficients ([`Num::rounded`]), so that
/// what the normal form keeps the interpreter resolves to at least 13 bits.
const ABSORBED: f64 = 1.0 / 1_099_511_627_776.0;

impl Poly {
    /// Adds `c·m`, dropping the term only when it cancels exactly: a coefficient that is
    /// merely small (`(1 + 1e-14) - 1`) is what the interpreter computes too, and a factor
    /// of `1e30` elsewhere makes it large again. `None` where the sum overflows; otherwise
    /// the magnitude of the coefficient that cancelled to less than [`ABSORBED`] of itself,
    /// or 0 where none did.
    pub(super) fn add_term(&mut self, m: Mono, c: f64) -> Option<f64> {
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
    pub(super) fn collect_term(&mut self, m: &Mono, c: f64, cancelled: &mut Vec<(Mono, f64)>) -> Option<()> {
        let lost = self.add_term(m.clone(), c)?;
        if lost > 0.0 {
            cancelled.push((m.clone(), lost));
        }
        Some(())
    }

    /// Whether collecting terms into `self` revealed terms that floating-point addition
    /// absorbs: whether a term other than the `cancelled` ones is smaller than [`ABSORBED`]
    /// of the largest of them (see the absorption rule in [`canon`](super)).
    pub(super) fn reveals_absorbed(&self, cancelled: &[(Mono, f64)]) -> bool {
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
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use crate::expr::canon::testing::{canon, different, same};
    use crate::expr::ops::Var;

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
}
