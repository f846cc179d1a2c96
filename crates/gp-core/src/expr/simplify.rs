//! Simplification: the smallest form the normal form of [`canon`](super::canon) offers, node
//! by node.
//!
//! The normal form is built for deciding equality, not for reading: it expands products
//! (`square(p - y)` becomes `square(p) - 2*p*y + y`). So the simplifier walks the tree bottom
//! up and, at every node, keeps whichever is smaller: the node rebuilt over its simplified
//! arguments, or the normal form of the node written back as an expression. Constants fold,
//! `x - x` vanishes and `y*y` becomes `y`, while a compact factored form the user wrote
//! survives. The result is never larger than the input and has the same values, up to rounding
//! (see [`Canonical::expr`](super::canon::Canonical::expr)). It may use operators the input did
//! not (`mean(y)` for `1/C`, `recip` for a division): check it with
//! [`PrimitiveSet::admits`](super::PrimitiveSet::admits) before it joins a population that must
//! stay inside a primitive set.

use super::Expr;
use super::canon::{self, Poly};

pub(super) fn simplify(e: &Expr) -> Expr {
    smallest(e).1
}

/// The normal form of `e` and the smallest expression found for it.
fn smallest(e: &Expr) -> (Poly, Expr) {
    let (poly, rebuilt) = match e.op() {
        None => (canon::normalize(e), e.clone()),
        Some(op) => {
            let (polys, simplified): (Vec<Poly>, Vec<Expr>) = e.children().map(smallest).unzip();
            let rebuilt = Expr::apply(op, simplified).unwrap_or_else(|| e.clone());
            (canon::apply(op, polys), rebuilt)
        }
    };
    let rendered = poly.to_expr();
    if rendered.size() < rebuilt.size() { (poly, rendered) } else { (poly, rebuilt) }
}

#[cfg(test)]
mod tests {
    use crate::expr::strategy::arb_value_expr;
    use crate::expr::{Binary, Expr, Unary};
    use crate::interp::{Batch, Instr, Program};
    use crate::loss::{Loss, Reduction};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn simp(text: &str) -> String {
        text.parse::<Expr>().unwrap().simplify().to_string()
    }

    #[test]
    fn folds_and_cancels() {
        assert_eq!(simp("p*(1 + 1)"), "p*2");
        assert_eq!(simp("exp(0) + p - p"), "1");
        assert_eq!(simp("y*y*p"), "y*p");
        assert_eq!(simp("p*y - y*p + z"), "z");
        assert_eq!(simp("log(exp(0)*p)"), "log(p)");
        assert_eq!(simp("sum(p)*z"), "z");
        assert_eq!(simp("logsumexp(z - amax(z)) + amax(z)"), "logsumexp(z)");
        assert_eq!(simp("-(-(z))"), "z");
    }

    #[test]
    fn keeps_compact_forms() {
        for text in ["square(p - y)", "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))", "y*(logsumexp(z) - z)"] {
            assert_eq!(simp(text), text);
        }
    }

    /// Whether a trace passed close to a point where the expression is ill-conditioned: a
    /// reciprocal or divisor, or the base of a power, near zero, where rounding differences
    /// between two equal formulas are amplified without bound.
    fn near_singularity(program: &Program, batch: &Batch<f64>) -> bool {
        let trace = program.forward(batch);
        let small = |i: usize| trace.value(i).iter().any(|x| x.abs() < 1e-4);
        program.instrs().iter().any(|instr| match *instr {
            Instr::Unary(Unary::Recip | Unary::Log | Unary::Sqrt, a)
            | Instr::Binary(Binary::Div, _, a)
            | Instr::Binary(Binary::Pow, a, _) => small(a),
            _ => false,
        })
    }

    /// Checks that `candidate` evaluates like `original` on random batches, sample by sample,
    /// wherever the original is finite and well-conditioned. The tolerance scales with the
    /// largest intermediate value of either computation, where rounding happens.
    fn same_values(original: &Expr, candidate: &Expr, seed: u64) -> Result<usize, TestCaseError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut compared = 0;
        for reduction in [Reduction::ElementMean, Reduction::SampleMean] {
            let a = Loss::new(original.clone(), reduction).compile();
            let b = Loss::new(candidate.clone(), reduction).compile();
            for _ in 0..4 {
                let logits = (0..12).map(|_| rng.random_range(-3.0..3.0)).collect();
                let labels: Vec<usize> = (0..3).map(|_| rng.random_range(0..4)).collect();
                let batch = Batch::<f64>::from_labels(logits, 4, &labels).expect("valid batch");
                let (ta, tb) = (a.forward(&batch), b.forward(&batch));
                let scale = ta.max_magnitude().max(tb.max_magnitude());
                if !ta.per_sample().iter().all(|x| x.is_finite())
                    || scale > 1e12
                    || near_singularity(&a, &batch)
                    || near_singularity(&b, &batch)
                {
                    continue;
                }
                for (x, y) in ta.per_sample().iter().zip(tb.per_sample()) {
                    prop_assert!(
                        (x - y).abs() <= 1e-9 * (1.0 + scale),
                        "{original} = {x}, but {candidate} = {y} (scale {scale})"
                    );
                }
                compared += 1;
            }
        }
        Ok(compared)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn simplification_keeps_values_and_never_grows(e in arb_value_expr(), seed in any::<u64>()) {
            let simplified = e.simplify();
            prop_assert!(simplified.size() <= e.size(), "{e} grew into {simplified}");
            same_values(&e, &simplified, seed)?;
        }

        #[test]
        fn the_canonical_form_keeps_values(e in arb_value_expr(), seed in any::<u64>()) {
            let canonical = e.canonical();
            same_values(&e, canonical.expr(), seed)?;
        }
    }

    /// Guards the two properties above against passing vacuously: most random expressions
    /// must actually be compared on some batch.
    #[test]
    fn value_comparisons_are_not_vacuous() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut cases, mut compared) = (0, 0);
        for seed in 0..300 {
            let e = arb_value_expr().new_tree(&mut runner).expect("a tree").current();
            cases += 1;
            if same_values(&e, &e.simplify(), seed).expect("equal values") > 0 {
                compared += 1;
            }
        }
        assert!(compared * 10 >= cases * 7, "only {compared} of {cases} expressions were compared");
    }
}
