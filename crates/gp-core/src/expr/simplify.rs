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

impl Expr {
    /// An equivalent expression that is no larger, with constants folded and algebraic
    /// identities applied; see [`canon`] for the rules.
    pub fn simplify(&self) -> Expr {
        smallest(self).1
    }
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
    use crate::expr::{Binary, Expr, Unary, Var};
    use crate::interp::{Batch, Instr, Program};
    use crate::loss::{BUILTINS, Loss, Reduction};
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

    /// Field case `simplify-underflow-to-zero`: the loss worth 1e23 simplified to `0`.
    #[test]
    fn keeps_values_where_folding_would_leave_the_float_range() {
        for text in ["1e-20*exp(800*p - 700)*y", "1e-200*(1e-200*p)", "y*(1e308*p + 1e308*p)", "exp(z + 700)*1e-300"] {
            assert_eq!(simp(text), text);
        }
        assert_eq!(simp("1e30*((1 + 1e-14)*p - p)*y"), "9992007221626410*p*y");
        assert_eq!(simp("exp(800*p - 700)*exp(z)"), "exp(800*p + z - 700)");
        // What the interpreter computes as 0 is 0.
        assert_eq!(simp("1e-300*1e-300*p"), "0");
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

    /// Batches at the edges of the float range the field cases came from: confident and
    /// extreme logits (probabilities of `e^-60` and `e^-600`), uniform ones, 2 and 10 classes,
    /// one-hot targets on either side.
    fn extreme_batches() -> Vec<Batch<f64>> {
        let mut batches = Vec::new();
        let two = [
            ([10.0, 0.0], 0),
            ([10.0, 0.0], 1),
            ([-30.0, 30.0], 0),
            ([-30.0, 30.0], 1),
            ([0.0, 0.0], 0),
            ([-300.0, 300.0], 1),
            ([-300.0, 300.0], 0),
        ];
        let logits = two.iter().flat_map(|(row, _)| *row).collect();
        let labels: Vec<usize> = two.iter().map(|(_, label)| *label).collect();
        batches.push(Batch::from_labels(logits, 2, &labels).expect("a batch"));
        let mut rows: Vec<(Vec<f64>, usize)> = vec![(vec![0.0; 10], 3)];
        let confident: Vec<f64> = (0..10).map(|k| if k == 2 { 10.0 } else { 0.0 }).collect();
        rows.extend([(confident.clone(), 2), (confident, 7)]);
        let spread: Vec<f64> = (0..10).map(|k| -30.0 + 60.0 * f64::from(k) / 9.0).collect();
        rows.extend([(spread.clone(), 0), (spread, 9)]);
        let logits = rows.iter().flat_map(|(row, _)| row.clone()).collect();
        let labels: Vec<usize> = rows.iter().map(|(_, label)| *label).collect();
        batches.push(Batch::from_labels(logits, 10, &labels).expect("a batch"));
        batches
    }

    /// The values of `e` on one sample's classes, evaluated directly from the tree with every
    /// intermediate value (and the softmax) multiplied by `1 + delta*s` for a random sign `s`.
    fn perturbed(e: &Expr, sample: (&[f64], &[f64], &[f64]), delta: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let (p, y, z) = sample;
        let classes = p.len();
        let values: Vec<f64> = match e {
            Expr::Var(Var::Y) => return y.to_vec(),
            Expr::Var(Var::Z) => return z.to_vec(),
            Expr::Const(c) => return vec![*c; classes],
            Expr::Var(Var::P) => p.to_vec(),
            Expr::Unary(op, x) => perturbed(x, sample, delta, rng).into_iter().map(|v| op.eval(v)).collect(),
            Expr::Binary(op, a, b) => {
                let (a, b) = (perturbed(a, sample, delta, rng), perturbed(b, sample, delta, rng));
                a.into_iter().zip(b).map(|(a, b)| op.eval(a, b)).collect()
            }
            Expr::Reduce(op, x) => vec![op.eval_row(&perturbed(x, sample, delta, rng)); classes],
        };
        let factor = if rng.random::<bool>() { 1.0 + delta } else { 1.0 - delta };
        values.into_iter().map(|v| v * factor).collect()
    }

    /// How much rounding in evaluating `e` can move each sample's loss: `ε` times the change
    /// that relative perturbations of every intermediate value bring, per unit of perturbation
    /// (a first-order error bound, estimated). It is large where the expression cancels:
    /// `1e30*((1 + 1e-14)*p - p)` is computed by the interpreter itself to only two digits.
    fn rounding_error(e: &Expr, batch: &Batch<f64>, reduction: Reduction) -> Vec<f64> {
        const DELTA: f64 = 1e-7;
        let classes = batch.classes();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let reduce = |v: Vec<f64>| {
            let sum: f64 = v.iter().sum();
            if reduction == Reduction::SampleMean { sum } else { sum / classes as f64 }
        };
        (0..batch.batch_size())
            .map(|i| {
                let row = |v: Var| &batch.var(v)[i * classes..(i + 1) * classes];
                let sample = (row(Var::P), row(Var::Y), row(Var::Z));
                let exact = reduce(perturbed(e, sample, 0.0, &mut rng));
                let spread = (0..8)
                    .map(|_| (reduce(perturbed(e, sample, DELTA, &mut rng)) - exact).abs() / DELTA)
                    .fold(0.0, f64::max);
                4.0 * f64::EPSILON * if spread.is_finite() { spread } else { 0.0 }
            })
            .collect()
    }

    /// Compares `candidate` with `original` on the extreme batches, sample by sample, under
    /// both reductions: where both are finite, to a relative 1e-9 plus the rounding error of
    /// either evaluation; otherwise both must be the same non-finite value (NaN, +inf or
    /// -inf). Returns how many finite values were compared.
    fn agree_on_extremes(original: &Expr, candidate: &Expr, why: &str) -> usize {
        let mut compared = 0;
        for batch in extreme_batches() {
            for reduction in Reduction::ALL {
                let a = Loss::new(original.clone(), reduction).compile();
                let b = Loss::new(candidate.clone(), reduction).compile();
                let (ta, tb) = (a.forward(&batch), b.forward(&batch));
                let (ea, eb) =
                    (rounding_error(original, &batch, reduction), rounding_error(candidate, &batch, reduction));
                for (i, (&x, &y)) in ta.per_sample().iter().zip(tb.per_sample()).enumerate() {
                    let at = format!(
                        "{why}: `{original}` = {x} but `{candidate}` = {y} ({reduction}, sample {i} of {} classes)",
                        batch.classes()
                    );
                    if x.is_finite() && y.is_finite() {
                        assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + ea[i] + eb[i], "{at}");
                        compared += 1;
                    } else {
                        assert!(x.is_nan() && y.is_nan() || x == y, "{at}");
                    }
                }
            }
        }
        compared
    }

    /// Expressions that push constants, exponents and cancellations to the edge of the float
    /// range; each came up as a case where a rewrite changed a loss's value.
    const NASTY: &[&str] = &[
        "1e-20*exp(800*p - 700)*y",
        "1e30*((1 + 1e-14)*p - p)*y",
        "exp(-745*y)*1e300*p",
        "exp(-745*y)*1e300*(1e10*p)",
        "1e-300*1e-300*p",
        "1e-300*(1e-300*p)",
        "1e-200*(p/1e200) + y",
        "1e308*10*p",
        "1e200*(1e200*p*y)",
        "1e308*p + 1e308*p",
        "(1e308*p + 1e308*p)*y",
        "exp(800*p - 700)",
        "exp(z + 700)*1e-300",
        "exp(z - 700)*1e300",
        "exp(sin(z) - 700)*1e300",
        "exp(z + 400)*exp(z + 400)*1e-300",
        "1e30*(exp((1 + 1e-14)*p) - exp(p))",
        "1e30*(max(p, (1 + 1e-14)*p) - p)",
        "1e30*((0.1 + 0.2)*p - 0.3*p)",
        "1e20*(sum((1 + 1e-14)*p*z) - sum(p*z))",
        "pow(10, 400*p)*y",
        "pow(10, 20*p) - exp(20*p*log(10))",
        "1e300*(1e300*p)*1e-300",
        "y*(logsumexp(z) - z)*1e-310",
        "square(1e200*p)*1e-200",
        "(p + 1e300) - 1e300",
        "(p + 1e16) - 1e16",
        "y*(1e16 + p - 1e16)",
        "(z + 1e20) - 1e20",
        "exp(1e20*y + p)*exp(-1e20*y)",
        "1e300 - (1e300 - p)",
        "(1e300*y + p) - 1e300*y",
        "1e30*((p + 1e-20*y) - p)",
        "sum(p + 1e300) - sum(1e300)",
        "logsumexp(z + 1e20) - 1e20",
        "(1e20 + p)*(1e20 - p) - 1e40",
        "(z + 1e6) - 1e6",
        "log(p + 1e-7) - log(1e-7)",
    ];

    /// Compares `candidate` with `original` on the extreme batches and a moderate one, without
    /// allowing for the original's rounding: for expressions whose value *is* their rounding.
    fn agree_strictly(original: &Expr, candidate: &Expr) {
        let mut batches = extreme_batches();
        let logits = vec![-2.5, 0.5, 1.0, 2.0, 0.0, -1.0];
        batches.push(Batch::from_labels(logits, 3, &[2, 0]).expect("a batch"));
        for batch in batches {
            for reduction in Reduction::ALL {
                let (a, b) = (
                    Loss::new(original.clone(), reduction).compile(),
                    Loss::new(candidate.clone(), reduction).compile(),
                );
                let (a, b) = (a.forward(&batch), b.forward(&batch));
                for (&x, &y) in a.per_sample().iter().zip(b.per_sample()) {
                    let close = (x - y).abs() <= 1e-12 * x.abs().max(y.abs());
                    assert!(close || x.is_nan() && y.is_nan() || x == y, "`{original}` = {x} but `{candidate}` = {y}");
                }
            }
        }
    }

    /// Field case `simplify-absorption`: `(p + 1e300) - 1e300` simplified to `p`, where the
    /// interpreter computes 0 (`p + 1e300` is `1e300`). What floating-point addition absorbs
    /// stays absorbed; the rounding allowance of the property below would hide this.
    #[test]
    fn absorbed_terms_stay_absorbed() {
        for (text, simplified) in [
            ("(p + 1e300) - 1e300", "p + 1e300 - 1e300"),
            ("(p + 1e16) - 1e16", "p + 1e16 - 1e16"),
            ("y*(1e16 + p - 1e16)", "y*(1e16 + p - 1e16)"),
            ("(z + 1e20) - 1e20", "z + 1e20 - 1e20"),
            ("1e300 - (1e300 - p)", "1e300 - (1e300 - p)"),
            ("(1e300*y + p) - 1e300*y", "1e300*y + p - 1e300*y"),
            ("1e30*((p + 1e-20*y) - p)", "1e30*(p + 1e-20*y - p)"),
            ("amax(z + 1e20) - 1e20", "amax(z + 1e20) - 1e20"),
            ("logsumexp(z + 1e20) - 1e20", "logsumexp(z + 1e20) - 1e20"),
            ("(1e20 + p)*(1e20 - p) - 1e40", "(1e20 + p)*(1e20 - p) - 1e40"),
            ("exp(1e20*y + p)*exp(-1e20*y)", "exp(1e20*y + p)*exp(-1e20*y)"),
            ("(p + 1e300)*y - 1e300*y + z", "(p + 1e300)*y - 1e300*y + z"),
        ] {
            let e: Expr = text.parse().expect("parses");
            assert_eq!(e.simplify().to_string(), simplified, "{text}");
            agree_strictly(&e, &e.simplify());
            agree_strictly(&e, e.canonical().expr());
        }
        // Where nothing was absorbed, the sums still collect.
        assert_eq!(simp("(p + 1) - 1"), "p");
        assert_eq!(simp("(z + 1e6) - 1e6"), "z");
        assert_eq!(simp("log(p + 1e-7) - log(1e-7 + p) + y"), "y");
    }

    /// Field case `simplify-underflow-to-zero`, as a property: simplification and the normal
    /// form keep every value the interpreter computes, on extreme batches, for expressions at
    /// the edges of the float range and for every built-in loss; and expressions that share a
    /// key evaluate alike.
    #[test]
    fn rewrites_keep_values_at_the_edges_of_the_float_range() {
        let mut corpus: Vec<Expr> = NASTY.iter().map(|t| t.parse().expect("parses")).collect();
        corpus.extend(BUILTINS.iter().map(|b| b.loss().expr));
        let mut compared = 0;
        let mut keyed: Vec<(crate::expr::canon::Key, Expr)> = Vec::new();
        for e in &corpus {
            let canonical = e.canonical();
            compared += agree_on_extremes(e, &e.simplify(), "simplified");
            compared += agree_on_extremes(e, canonical.expr(), "normal form");
            keyed.extend([(canonical.key(), e.clone()), (canonical.key(), canonical.expr().clone())]);
            keyed.push((e.simplify().canonical().key(), e.simplify()));
        }
        for (i, (key, a)) in keyed.iter().enumerate() {
            for (other, b) in &keyed[i + 1..] {
                if key == other {
                    agree_on_extremes(a, b, "same key");
                }
            }
        }
        let possible: usize = 2 * 2 * extreme_batches().iter().map(Batch::batch_size).sum::<usize>() * corpus.len();
        assert!(4 * compared >= 3 * possible, "only {compared} of {possible} values compared");
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
