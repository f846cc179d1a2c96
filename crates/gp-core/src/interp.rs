//! The reference interpreter: a loss and its gradient with respect to the logits, on plain
//! host arrays, in `f32` or `f64`.
//!
//! A loss compiles to a [`Program`]: a list of instructions in dependency order, with common
//! subexpressions merged (`p` and `logsumexp(z) - z` are computed once however often they
//! occur) and a [`Shape`] per instruction, so that constants stay scalars and class reductions
//! stay one value per sample until an operation broadcasts them. Tensor backends evaluate the
//! same instruction list with their own kernels; this interpreter is the definition they are
//! tested against, and what the search uses to screen candidates on probe inputs before any
//! training.
//!
//! ```
//! use lossgp_core::interp::Batch;
//! use lossgp_core::loss::builtin;
//!
//! let ngl = builtin("ngl").unwrap().loss().compile();
//! let batch = Batch::from_labels(vec![0.0_f64; 2 * 10], 10, &[3, 7])?;
//! let trace = ngl.forward(&batch);
//! assert!((trace.loss() - 9.42609).abs() < 1e-5);
//! let grad = trace.gradient(); // d loss / d logits, [2, 10] row-major
//! assert_eq!(grad.len(), 20);
//! # Ok::<(), lossgp_core::interp::BatchError>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

pub use crate::expr::shape::Shape;

use crate::expr::reduction::Reduction;
use crate::expr::{Binary, Expr, Real, Reduce, Unary, Var};

/// `value` (of shape `from`) spread to shape `to`, borrowed when the shapes agree.
fn broadcast<T: Real>(value: &[T], from: Shape, to: Shape, batch: usize, classes: usize) -> Cow<'_, [T]> {
    match (from, to) {
        _ if from == to => Cow::Borrowed(value),
        (Shape::Column, Shape::Full) => {
            Cow::Owned(value.iter().flat_map(|&x| std::iter::repeat_n(x, classes)).collect())
        }
        _ => Cow::Owned(vec![value[0]; to.len(batch, classes)]),
    }
}

/// Adds `grad` (of shape `from`) into `adjoint` (of shape `to`), summing over the elements
/// that a broadcast in the forward pass had copied.
fn accumulate<T: Real>(adjoint: &mut [T], to: Shape, grad: &[T], from: Shape, classes: usize) {
    match (to, from) {
        _ if to == from => adjoint.iter_mut().zip(grad).for_each(|(a, &g)| *a = *a + g),
        (Shape::Column, Shape::Full) => {
            for (a, row) in adjoint.iter_mut().zip(grad.chunks(classes)) {
                *a = row.iter().fold(*a, |s, &g| s + g);
            }
        }
        _ => adjoint[0] = grad.iter().fold(adjoint[0], |s, &g| s + g),
    }
}

/// One step of a [`Program`]; operands are indices of earlier instructions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instr {
    /// A leaf.
    Var(Var),
    /// A constant.
    Const(f64),
    /// An element-wise operator of one argument.
    Unary(Unary, usize),
    /// An element-wise operator of two arguments.
    Binary(Binary, usize, usize),
    /// A class reduction.
    Reduce(Reduce, usize),
}

/// Hashable identity of an instruction, for merging common subexpressions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum InstrKey {
    Var(Var),
    Const(u64),
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    Reduce(Reduce, usize),
}

/// A compiled loss: instructions in dependency order, the last one being the expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    instrs: Vec<Instr>,
    shapes: Vec<Shape>,
    reduction: Reduction,
}

impl Program {
    /// Compiles the loss `reduction(expr)`, merging repeated subexpressions; a
    /// [`Loss`](crate::loss::Loss) compiles with [`Program::compile`].
    pub fn compile_expr(expr: &Expr, reduction: Reduction) -> Program {
        let mut compiler = Compiler::default();
        compiler.emit(expr);
        Program { instrs: compiler.instrs, shapes: compiler.shapes, reduction }
    }

    /// The instructions, in dependency order.
    pub fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// The shape of each instruction's value.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// The loss's reduction.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Evaluates the loss on a batch, keeping every intermediate value for
    /// [`Trace::gradient`].
    pub fn forward<'a, T: Real>(&'a self, batch: &'a Batch<T>) -> Trace<'a, T> {
        let classes = batch.classes;
        let mut values: Vec<Vec<T>> = Vec::with_capacity(self.instrs.len());
        for (i, instr) in self.instrs.iter().enumerate() {
            let out_shape = self.shapes[i];
            let value = match *instr {
                Instr::Var(v) => batch.var(v).to_vec(),
                Instr::Const(c) => vec![T::of(c)],
                Instr::Unary(op, a) => values[a].iter().map(|&x| op.eval(x)).collect(),
                Instr::Binary(op, a, b) => {
                    let xa = broadcast(&values[a], self.shapes[a], out_shape, batch.batch, classes);
                    let xb = broadcast(&values[b], self.shapes[b], out_shape, batch.batch, classes);
                    xa.iter().zip(xb.iter()).map(|(&x, &y)| op.eval(x, y)).collect()
                }
                Instr::Reduce(op, a) => match self.shapes[a] {
                    Shape::Full => values[a].chunks(classes).map(|row| op.eval_row(row)).collect(),
                    _ => values[a].iter().map(|&x| op.eval_uniform(x, classes)).collect(),
                },
            };
            values.push(value);
        }
        let per_sample = self.per_sample(values.last().map(Vec::as_slice).unwrap_or(&[]), batch);
        let loss = per_sample.iter().fold(T::zero(), |s, &x| s + x) / T::of(batch.batch as f64);
        Trace { program: self, batch, values, per_sample, loss }
    }

    /// The loss, the loss of each sample and the gradient with respect to the logits, in one
    /// call that keeps nothing borrowed.
    pub fn evaluate<T: Real>(&self, batch: &Batch<T>) -> Evaluation<T> {
        let trace = self.forward(batch);
        Evaluation { loss: trace.loss, gradient: trace.gradient(), per_sample: trace.per_sample }
    }

    /// The loss of each sample; the loss is their mean under either reduction.
    fn per_sample<T: Real>(&self, out: &[T], batch: &Batch<T>) -> Vec<T> {
        let classes = batch.classes;
        let c = T::of(classes as f64);
        let shape = self.shapes.last().copied().unwrap_or(Shape::Scalar);
        (0..batch.batch)
            .map(|b| {
                let row_sum = match shape {
                    Shape::Full => out[b * classes..(b + 1) * classes].iter().fold(T::zero(), |s, &x| s + x),
                    Shape::Column => out[b] * c,
                    Shape::Scalar => out[0] * c,
                };
                match self.reduction {
                    Reduction::ElementMean => row_sum / c,
                    Reduction::SampleMean => row_sum,
                }
            })
            .collect()
    }
}

#[derive(Default)]
struct Compiler {
    instrs: Vec<Instr>,
    shapes: Vec<Shape>,
    seen: HashMap<InstrKey, usize>,
}

impl Compiler {
    fn emit(&mut self, e: &Expr) -> usize {
        let (instr, key, shape) = match e {
            Expr::Var(v) => (Instr::Var(*v), InstrKey::Var(*v), Shape::Full),
            Expr::Const(c) => (Instr::Const(*c), InstrKey::Const(c.to_bits()), Shape::Scalar),
            Expr::Unary(op, x) => {
                let a = self.emit(x);
                (Instr::Unary(*op, a), InstrKey::Unary(*op, a), self.shapes[a])
            }
            Expr::Binary(op, x, y) => {
                let (a, b) = (self.emit(x), self.emit(y));
                let key = if op.is_commutative() {
                    InstrKey::Binary(*op, a.min(b), a.max(b))
                } else {
                    InstrKey::Binary(*op, a, b)
                };
                (Instr::Binary(*op, a, b), key, self.shapes[a].max(self.shapes[b]))
            }
            Expr::Reduce(op, x) => {
                let a = self.emit(x);
                (Instr::Reduce(*op, a), InstrKey::Reduce(*op, a), self.shapes[a].reduced())
            }
        };
        *self.seen.entry(key).or_insert_with(|| {
            self.instrs.push(instr);
            self.shapes.push(shape);
            self.instrs.len() - 1
        })
    }
}

/// The inputs of a loss: logits, their softmax, and targets, each `[batch, classes]`
/// row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T> {
    batch: usize,
    classes: usize,
    logits: Vec<T>,
    probs: Vec<T>,
    targets: Vec<T>,
}

/// Inputs that do not form a batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No samples or no classes.
    #[error("a batch needs at least one sample and one class (got {batch} samples, {classes} classes)")]
    Empty {
        /// Samples.
        batch: usize,
        /// Classes.
        classes: usize,
    },
    /// The logits do not fill whole rows.
    #[error("{len} logits do not make rows of {classes} classes")]
    Ragged {
        /// Number of logits.
        len: usize,
        /// Classes per row.
        classes: usize,
    },
    /// A different number of labels than rows.
    #[error("{labels} targets for {rows} rows of logits")]
    TargetCount {
        /// Number of targets.
        labels: usize,
        /// Number of rows.
        rows: usize,
    },
    /// A class label outside `0..classes`.
    #[error("target {label} of sample {sample} is not a class (classes are 0 to {})", .classes - 1)]
    LabelOutOfRange {
        /// The sample.
        sample: usize,
        /// Its label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A logit that is NaN or infinite.
    #[error("logit {class} of sample {sample} is not a finite number")]
    NonFinite {
        /// The sample.
        sample: usize,
        /// The class.
        class: usize,
    },
}

impl<T: Real> Batch<T> {
    /// A batch from logits and class labels. The language's `y` is the one-hot target (the
    /// simplifier relies on `y² = y`), so there is no constructor for soft targets.
    pub fn from_labels(logits: Vec<T>, classes: usize, labels: &[usize]) -> Result<Self, BatchError> {
        let rows = Self::rows(&logits, classes)?;
        if labels.len() != rows {
            return Err(BatchError::TargetCount { labels: labels.len(), rows });
        }
        let mut targets = vec![T::zero(); logits.len()];
        for (sample, &label) in labels.iter().enumerate() {
            if label >= classes {
                return Err(BatchError::LabelOutOfRange { sample, label, classes });
            }
            targets[sample * classes + label] = T::one();
        }
        Ok(Self::with_targets(logits, classes, targets))
    }

    fn rows(logits: &[T], classes: usize) -> Result<usize, BatchError> {
        if classes == 0 || logits.is_empty() {
            return Err(BatchError::Empty { batch: logits.len().checked_div(classes).unwrap_or(0), classes });
        }
        if !logits.len().is_multiple_of(classes) {
            return Err(BatchError::Ragged { len: logits.len(), classes });
        }
        if let Some(i) = logits.iter().position(|x| !x.is_finite()) {
            return Err(BatchError::NonFinite { sample: i / classes, class: i % classes });
        }
        Ok(logits.len() / classes)
    }

    fn with_targets(logits: Vec<T>, classes: usize, targets: Vec<T>) -> Self {
        let mut probs = logits.clone();
        for row in probs.chunks_mut(classes) {
            let m = row.iter().fold(T::neg_infinity(), |m, &x| m.max(x));
            let mut sum = T::zero();
            for x in row.iter_mut() {
                *x = (*x - m).exp();
                sum = sum + *x;
            }
            row.iter_mut().for_each(|x| *x = *x / sum);
        }
        Batch { batch: logits.len() / classes, classes, logits, probs, targets }
    }

    /// Number of samples.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The values of a leaf.
    pub fn var(&self, var: Var) -> &[T] {
        match var {
            Var::P => &self.probs,
            Var::Y => &self.targets,
            Var::Z => &self.logits,
        }
    }
}

/// What [`Program::evaluate`] computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation<T> {
    /// The loss.
    pub loss: T,
    /// The loss of each sample (the loss is their mean).
    pub per_sample: Vec<T>,
    /// `d loss / d logits`, `[batch, classes]` row-major.
    pub gradient: Vec<T>,
}

/// A forward evaluation: the loss, and every intermediate value needed for its gradient.
#[derive(Clone, Debug)]
pub struct Trace<'a, T> {
    program: &'a Program,
    batch: &'a Batch<T>,
    values: Vec<Vec<T>>,
    per_sample: Vec<T>,
    loss: T,
}

impl<T: Real> Trace<'_, T> {
    /// The loss.
    pub fn loss(&self) -> T {
        self.loss
    }

    /// The loss of each sample (the loss is their mean).
    pub fn per_sample(&self) -> &[T] {
        &self.per_sample
    }

    /// The value of instruction `i` (one number, one per sample, or one per element,
    /// according to its [`Shape`]).
    pub fn value(&self, i: usize) -> &[T] {
        &self.values[i]
    }

    /// The largest magnitude of any intermediate value: a measure of the scale at which
    /// rounding happened.
    pub fn max_magnitude(&self) -> T {
        self.values.iter().flatten().fold(T::zero(), |m, &x| m.max(x.abs()))
    }

    /// The gradient of the loss with respect to the logits, `[batch, classes]` row-major. It
    /// flows through `p` (via the softmax) and `z`; the targets are constants.
    pub fn gradient(&self) -> Vec<T> {
        let Program { instrs, shapes, reduction } = self.program;
        let (batch, classes) = (self.batch.batch, self.batch.classes);
        let mut adjoints: Vec<Vec<T>> = shapes.iter().map(|s| vec![T::zero(); s.len(batch, classes)]).collect();
        if let (Some(seed), Some(&shape)) = (adjoints.last_mut(), shapes.last()) {
            let (b, c) = (T::of(batch as f64), T::of(classes as f64));
            let weight = match (reduction, shape) {
                (Reduction::ElementMean, Shape::Full) => (b * c).recip(),
                (Reduction::ElementMean, Shape::Column) | (Reduction::SampleMean, Shape::Full) => b.recip(),
                (Reduction::ElementMean, Shape::Scalar) => T::one(),
                (Reduction::SampleMean, Shape::Column) => c / b,
                (Reduction::SampleMean, Shape::Scalar) => c,
            };
            seed.iter_mut().for_each(|g| *g = weight);
        }
        let mut grad_logits = vec![T::zero(); batch * classes];
        let mut grad_probs = vec![T::zero(); batch * classes];
        for i in (0..instrs.len()).rev() {
            let (earlier, rest) = adjoints.split_at_mut(i);
            let g = &rest[0];
            let out = &self.values[i];
            match instrs[i] {
                Instr::Var(Var::Z) => grad_logits.copy_from_slice(g),
                Instr::Var(Var::P) => grad_probs.copy_from_slice(g),
                Instr::Var(Var::Y) | Instr::Const(_) => {}
                Instr::Unary(op, a) => {
                    let x = &self.values[a];
                    for (k, ga) in earlier[a].iter_mut().enumerate() {
                        *ga = *ga + g[k] * op.derivative(x[k], out[k]);
                    }
                }
                Instr::Binary(op, a, b) => {
                    let (sa, sb, so) = (shapes[a], shapes[b], shapes[i]);
                    let xa = broadcast(&self.values[a], sa, so, batch, classes);
                    let xb = broadcast(&self.values[b], sb, so, batch, classes);
                    let (mut ga, mut gb) = (Vec::with_capacity(g.len()), Vec::with_capacity(g.len()));
                    for (((&gk, &ok), &x), &y) in g.iter().zip(out).zip(xa.iter()).zip(xb.iter()) {
                        let (da, db) = op.partials(x, y, ok);
                        ga.push(gk * da);
                        gb.push(gk * db);
                    }
                    accumulate(&mut earlier[a], sa, &ga, so, classes);
                    accumulate(&mut earlier[b], sb, &gb, so, classes);
                }
                Instr::Reduce(op, a) => match shapes[a] {
                    Shape::Full => {
                        let rows = self.values[a].chunks(classes).zip(earlier[a].chunks_mut(classes));
                        for (r, (row, g_row)) in rows.enumerate() {
                            op.backprop_row(row, out[r], g[r], g_row);
                        }
                    }
                    _ => {
                        let d = op.uniform_derivative::<T>(classes);
                        earlier[a].iter_mut().zip(g).for_each(|(ga, &gk)| *ga = *ga + gk * d);
                    }
                },
            }
        }
        // Through the softmax: dL/dz_c = p_c (dL/dp_c - sum_k p_k dL/dp_k).
        let probs = &self.batch.probs;
        for ((gz, gp), p) in grad_logits.chunks_mut(classes).zip(grad_probs.chunks(classes)).zip(probs.chunks(classes))
        {
            let dot = gp.iter().zip(p).fold(T::zero(), |s, (&g, &p)| s + g * p);
            for c in 0..classes {
                gz[c] = gz[c] + p[c] * (gp[c] - dot);
            }
        }
        grad_logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Op;
    use crate::loss::{BUILTINS, Loss, builtin};
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn uniform(batch: usize, classes: usize) -> Batch<f64> {
        let labels: Vec<usize> = (0..batch).map(|b| b % classes).collect();
        Batch::from_labels(vec![0.0; batch * classes], classes, &labels).unwrap()
    }

    fn random_batch(rng: &mut ChaCha8Rng, batch: usize, classes: usize) -> Batch<f64> {
        let logits = (0..batch * classes).map(|_| rng.random_range(-3.0..3.0)).collect();
        let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
        Batch::from_labels(logits, classes, &labels).unwrap()
    }

    #[test]
    fn ngl_matches_the_published_values() {
        let ngl = builtin("ngl").unwrap().loss().compile();
        for batch in [1, 3, 8] {
            assert!((ngl.forward(&uniform(batch, 10)).loss() - 9.42609).abs() < 5e-6);
            assert!((ngl.forward(&uniform(batch, 100)).loss() - 10.47292).abs() < 5e-6);
        }
        let in_f32 = Batch::<f32>::from_labels(vec![0.0; 10], 10, &[4]).unwrap();
        assert!((ngl.forward(&in_f32).loss() - 9.42609).abs() < 1e-4);
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_c() {
        for name in ["ce", "ce-l2"] {
            let ce = builtin(name).unwrap().loss().compile();
            for classes in [2, 10, 100, 1000] {
                let loss = ce.forward(&uniform(4, classes)).loss();
                assert!((loss - (classes as f64).ln()).abs() < 1e-12, "{classes}: {loss}");
            }
        }
    }

    #[test]
    fn cross_entropy_matches_a_hand_computation() {
        // One sample, logits (1, 2, 3), target class 0: -log softmax = log(e + e² + e³) - 1.
        let batch = Batch::from_labels(vec![1.0, 2.0, 3.0], 3, &[0]).unwrap();
        let ce = builtin("ce").unwrap().loss().compile();
        let trace = ce.forward(&batch);
        let expected = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 1.0;
        assert!((trace.loss() - expected).abs() < 1e-12);
        // Its gradient is softmax - onehot.
        let grad = trace.gradient();
        let p = batch.var(Var::P);
        for c in 0..3 {
            let want = p[c] - f64::from(c == 0);
            assert!((grad[c] - want).abs() < 1e-12, "{c}: {} vs {want}", grad[c]);
        }
    }

    #[test]
    fn common_subexpressions_are_computed_once() {
        let loss: Loss = "sample-mean: (logsumexp(z) - z)*y + (logsumexp(z) - z)*p + p*p".parse().unwrap();
        let program = loss.compile();
        let count = |f: &dyn Fn(&Instr) -> bool| program.instrs().iter().filter(|i| f(i)).count();
        assert_eq!(count(&|i| matches!(i, Instr::Reduce(..))), 1);
        assert_eq!(count(&|i| matches!(i, Instr::Var(Var::P))), 1);
        assert_eq!(count(&|i| matches!(i, Instr::Binary(Binary::Sub, ..))), 1);
        assert_eq!(program.shapes().iter().filter(|&&s| s == Shape::Column).count(), 1);
    }

    #[test]
    fn per_sample_losses_average_to_the_loss() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let batch = random_batch(&mut rng, 5, 7);
        for b in BUILTINS {
            let program = b.loss().compile();
            let trace = program.forward(&batch);
            let mean = trace.per_sample().iter().sum::<f64>() / 5.0;
            assert!((mean - trace.loss()).abs() < 1e-12, "{}", b.name);
        }
    }

    #[test]
    fn bad_batches_are_explained() {
        let err = |r: Result<Batch<f64>, BatchError>| r.unwrap_err().to_string();
        assert_eq!(err(Batch::from_labels(vec![0.0; 5], 2, &[0, 1])), "5 logits do not make rows of 2 classes");
        assert_eq!(err(Batch::from_labels(vec![0.0; 4], 2, &[0])), "1 targets for 2 rows of logits");
        assert_eq!(
            err(Batch::from_labels(vec![0.0; 4], 2, &[0, 2])),
            "target 2 of sample 1 is not a class (classes are 0 to 1)"
        );
        assert_eq!(err(Batch::from_labels(vec![0.0, f64::NAN], 2, &[0])), "logit 1 of sample 0 is not a finite number");
        assert!(err(Batch::from_labels(vec![], 2, &[])).starts_with("a batch needs"));
        assert!(err(Batch::from_labels(vec![1.0], 0, &[0])).starts_with("a batch needs"));
    }

    /// Central finite differences of the loss with respect to every logit.
    fn finite_difference(program: &Program, batch: &Batch<f64>) -> Vec<f64> {
        let classes = batch.classes();
        let labels: Vec<usize> =
            batch.var(Var::Y).chunks(classes).map(|row| row.iter().position(|&y| y == 1.0).unwrap_or(0)).collect();
        let logits = batch.var(Var::Z).to_vec();
        (0..logits.len())
            .map(|i| {
                let h = 1e-6 * logits[i].abs().max(1.0);
                let at = |delta: f64| {
                    let mut shifted = logits.clone();
                    shifted[i] += delta;
                    program.forward(&Batch::from_labels(shifted, classes, &labels).unwrap()).loss()
                };
                (at(h) - at(-h)) / (2.0 * h)
            })
            .collect()
    }

    #[track_caller]
    fn assert_gradient_matches(loss: &Loss, batch: &Batch<f64>) {
        let program = loss.compile();
        let analytic = program.forward(batch).gradient();
        let numeric = finite_difference(&program, batch);
        let scale = numeric.iter().chain(&analytic).fold(1.0_f64, |m, x| m.max(x.abs()));
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!((a - n).abs() <= 1e-5 * scale, "{loss}: d/dz[{i}] analytic {a} vs numeric {n}");
        }
    }

    #[test]
    fn gradients_of_every_builtin_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for b in BUILTINS {
            for _ in 0..3 {
                assert_gradient_matches(&b.loss(), &random_batch(&mut rng, 4, 5));
            }
        }
    }

    #[test]
    fn gradients_of_every_operator_match_finite_differences() {
        // Each operator applied to leaves through affine maps, so that both arguments vary with
        // the logits, on both sides of zero, away from kinks.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let args = ["z", "2*p - 0.3", "z*p + 0.5"];
        for op in Op::all() {
            for reduction in [Reduction::ElementMean, Reduction::SampleMean] {
                let text = match op.arity() {
                    1 => format!("{op}({})", args[0]),
                    _ => format!("{op}({}, {})", args[1], args[2]),
                };
                let loss = Loss::new(text.parse().unwrap(), reduction);
                for _ in 0..4 {
                    assert_gradient_matches(&loss, &random_batch(&mut rng, 3, 4));
                }
                if op.arity() == 2 {
                    let swapped = Loss::new(format!("{op}({}, {})", args[2], args[0]).parse().unwrap(), reduction);
                    assert_gradient_matches(&swapped, &random_batch(&mut rng, 3, 4));
                }
            }
        }
    }

    #[test]
    fn protected_regions_have_finite_gradients() {
        // Arguments inside the guard band of log, sqrt, recip, div and pow.
        let batch = Batch::<f64>::from_labels(vec![0.0, 0.0, 0.0], 3, &[1]).unwrap();
        for text in ["log(z)", "sqrt(z)", "recip(z)", "p/z", "pow(z, 0.5)", "pow(z, -2)"] {
            let loss: Loss = text.parse().unwrap();
            let evaluation = loss.evaluate(&batch);
            assert!(evaluation.loss.is_finite(), "{text}");
            assert!(evaluation.gradient.iter().all(|g| g.is_finite()), "{text}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The protected operators return finite values on every finite input, in both precisions.
        #[test]
        fn protected_operators_are_finite(x in prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
                                          y in prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO) {
            for op in [Unary::Log, Unary::Sqrt, Unary::Recip] {
                prop_assert!(op.eval(x).is_finite(), "{op}({x})");
                if (x as f32).is_finite() {
                    prop_assert!(op.eval(x as f32).is_finite(), "{op}({x} as f32)");
                }
            }
            for op in [Binary::Div, Binary::Aq, Binary::Pow] {
                prop_assert!(op.eval(x, y).is_finite(), "{op}({x}, {y})");
                let (xf, yf) = (x as f32, y as f32);
                if xf.is_finite() && yf.is_finite() {
                    prop_assert!(op.eval(xf, yf).is_finite(), "{op}({xf}, {yf})");
                }
            }
        }
    }
}
