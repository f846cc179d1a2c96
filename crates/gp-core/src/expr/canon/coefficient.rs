//! Coefficients: compared exactly by the algebra, rounded to 40 significant bits in keys, and
//! folded (multiplied, added) only where the result stays in the float range.

/// A coefficient. The algebra compares coefficients exactly, so that terms cancel only when
/// they cancel exactly (`(1 + 1e-14)*p - p` is not 0); keys encode them rounded to 40
/// significant bits ([`Num::rounded`]), so that rounding noise from folding does not split
/// equal losses.
#[derive(Clone, Copy, Debug)]
pub(super) struct Num(pub(super) f64);

impl Num {
    pub(super) fn rounded(self) -> f64 {
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
pub(super) fn coefficient_product(a: f64, b: f64) -> Option<f64> {
    let product = a * b;
    let exact = a.abs() == 1.0 || b.abs() == 1.0 || a == 0.0 || b == 0.0;
    (product.is_finite() && (product.is_normal() || exact)).then_some(product)
}

/// The sum of two coefficients, or `None` where it overflows. A sum that is zero or subnormal
/// is exact.
pub(super) fn coefficient_sum(a: f64, b: f64) -> Option<f64> {
    let sum = a + b;
    sum.is_finite().then_some(sum)
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use crate::expr::canon::testing::{canon, different, same};
    use crate::expr::ops::Var;

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
}
