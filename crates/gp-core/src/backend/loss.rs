//! Losses on tensors: a compiled loss [`Program`] run with a backend's kernels.
//!
//! The program is the one the reference interpreter runs, common subexpressions merged; each
//! instruction becomes the few kernels of its operator ([`tensor_ops`]). Values that are
//! constant (a literal, `2 * 3`) stay numbers on the host and enter the tensors through
//! scalar operations, so an evolved loss costs exactly the kernels of the same loss written by
//! hand. Logits may be `[batch, classes]` or `[batch, classes, height, width]`: the class axis
//! is dimension 1, and for segmentation pixels labelled "ignore" count for nothing.

use super::{BResult, Backend, BackendError, BinaryOp, ReduceOp, tensor_ops};
use crate::expr::{Binary, Unary, Var};
use crate::interp::{Instr, Program, Shape};
use crate::loss::{Loss, Reduction};

/// The targets of a batch, on the backend.
#[derive(Clone, Debug)]
pub struct TensorTargets<T> {
    /// One-hot targets, the shape of the logits (all zero for an ignored pixel).
    pub one_hot: T,
    /// For segmentation with ignored pixels: 1 where a pixel counts, `[batch, 1, h, w]`, and
    /// how many count.
    pub valid: Option<(T, f32)>,
}

impl<T> TensorTargets<T> {
    /// Targets of a classification batch: `labels[i]` is the class of sample `i`.
    pub fn classes<B: Backend<Tensor = T>>(b: &B, labels: &[u32], classes: usize) -> BResult<Self> {
        let mut one_hot = vec![0f32; labels.len() * classes];
        for (i, &label) in labels.iter().enumerate() {
            let slot = one_hot
                .get_mut(i * classes + label as usize)
                .filter(|_| (label as usize) < classes)
                .ok_or_else(|| {
                    BackendError::shape(
                        "targets",
                        format!("label {label} of sample {i} is not one of {classes} classes"),
                    )
                })?;
            *slot = 1.0;
        }
        Ok(TensorTargets { one_hot: b.tensor(&one_hot, &[labels.len(), classes])?, valid: None })
    }

    /// Targets of a segmentation batch: `labels` is `[batch, height, width]`, `ignore` marks
    /// pixels without a class.
    pub fn masks<B: Backend<Tensor = T>>(
        b: &B,
        labels: &[u8],
        [n, h, w]: [usize; 3],
        classes: usize,
        ignore: u8,
    ) -> BResult<Self> {
        if labels.len() != n * h * w {
            return Err(BackendError::shape("targets", format!("{} labels for {n} maps of {h}x{w}", labels.len())));
        }
        let plane = h * w;
        let mut one_hot = vec![0f32; n * classes * plane];
        let mut valid = vec![0f32; n * plane];
        let mut count = 0usize;
        for (i, &label) in labels.iter().enumerate() {
            if label == ignore {
                continue;
            }
            if label as usize >= classes {
                return Err(BackendError::shape(
                    "targets",
                    format!("label {label} is neither one of {classes} classes nor the ignore label {ignore}"),
                ));
            }
            let (sample, pixel) = (i / plane, i % plane);
            one_hot[(sample * classes + label as usize) * plane + pixel] = 1.0;
            valid[i] = 1.0;
            count += 1;
        }
        let valid = if count == labels.len() { None } else { Some((b.tensor(&valid, &[n, 1, h, w])?, count as f32)) };
        Ok(TensorTargets { one_hot: b.tensor(&one_hot, &[n, classes, h, w])?, valid })
    }
}

/// A value during evaluation: a tensor, or a number on the host.
enum Value<T> {
    Number(f64),
    Tensor(T),
}

/// A loss ready to run on tensors.
#[derive(Clone, Debug)]
pub struct TensorLoss {
    program: Program,
}

impl TensorLoss {
    /// Compiles a loss.
    pub fn new(loss: &Loss) -> TensorLoss {
        TensorLoss { program: loss.compile() }
    }

    /// The loss of a batch: a tensor of one element through which gradients flow to `logits`.
    pub fn forward<B: Backend>(
        &self,
        b: &B,
        logits: &B::Tensor,
        targets: &TensorTargets<B::Tensor>,
    ) -> BResult<B::Tensor> {
        let shape = b.shape(logits);
        let target_shape = b.shape(&targets.one_hot);
        if shape.len() >= 2 && target_shape.len() == shape.len() && shape[1] != target_shape[1] {
            return Err(BackendError::shape(
                "loss",
                format!(
                    "the model predicts {} classes (logits {shape:?}) and the data has {} (targets {target_shape:?}): build the model for the dataset's classes",
                    shape[1], target_shape[1]
                ),
            ));
        }
        if shape.len() < 2 || shape != target_shape {
            return Err(BackendError::shape(
                "loss",
                format!(
                    "logits {shape:?} and one-hot targets {:?} must be [batch, classes, ...] alike",
                    b.shape(&targets.one_hot)
                ),
            ));
        }
        let classes = shape[1];
        let mut values: Vec<Value<B::Tensor>> = Vec::with_capacity(self.program.instrs().len());
        for (i, instr) in self.program.instrs().iter().enumerate() {
            let value = match *instr {
                Instr::Var(Var::Z) => Value::Tensor(logits.clone()),
                Instr::Var(Var::P) => Value::Tensor(b.softmax(logits, 1)?),
                Instr::Var(Var::Y) => Value::Tensor(targets.one_hot.clone()),
                Instr::Const(c) => Value::Number(c),
                Instr::Unary(op, a) => match &values[a] {
                    Value::Number(x) => Value::Number(op.eval(*x)),
                    Value::Tensor(x) => Value::Tensor(tensor_ops::unary(b, op, x)?),
                },
                Instr::Binary(op, a, c) => binary(b, op, &values[a], &values[c], shape.len())?,
                Instr::Reduce(op, a) => match (&values[a], self.program.shapes()[a]) {
                    (Value::Number(x), _) => Value::Number(op.eval_uniform(*x, classes)),
                    // Constant over the classes already: the reduction of C equal values.
                    (Value::Tensor(x), Shape::Column) => Value::Tensor(match op {
                        crate::expr::Reduce::Sum => b.affine(x, classes as f32, 0.0)?,
                        crate::expr::Reduce::LogSumExp => b.affine(x, 1.0, (classes as f32).ln())?,
                        _ => x.clone(),
                    }),
                    (Value::Tensor(x), _) => Value::Tensor(tensor_ops::reduce(b, op, x)?),
                },
            };
            debug_assert!(i == values.len());
            values.push(value);
        }
        let last = values.pop().ok_or_else(|| BackendError::shape("loss", "an empty program"))?;
        let last_shape = self.program.shapes().last().copied().unwrap_or(Shape::Scalar);
        self.reduce(b, last, last_shape, classes, targets)
    }

    /// The final reduction, over the pixels that count.
    fn reduce<B: Backend>(
        &self,
        b: &B,
        value: Value<B::Tensor>,
        shape: Shape,
        classes: usize,
        targets: &TensorTargets<B::Tensor>,
    ) -> BResult<B::Tensor> {
        let per_class = match self.program.reduction() {
            Reduction::ElementMean => 1.0,
            Reduction::SampleMean => classes as f32,
        };
        let x = match value {
            Value::Number(v) => return b.tensor(&[(v * f64::from(per_class)) as f32], &[1]),
            Value::Tensor(x) => x,
        };
        if let (None, Shape::Full) = (&targets.valid, shape) {
            // Every element counts: one reduction over all of them, as a hand-written loss
            // would do it (the mean, or for sample-mean the sum over classes averaged over the
            // samples: the mean times the classes).
            let n = b.shape(&x).iter().product::<usize>();
            let mean = b.reduce(ReduceOp::Mean, &b.reshape(&x, &[n])?, 0)?;
            return if per_class == 1.0 { Ok(mean) } else { b.affine(&mean, per_class, 0.0) };
        }
        // The value per pixel (or per sample): summed over classes for sample-mean, averaged
        // for element-mean.
        let per_pixel = match (shape, self.program.reduction()) {
            (Shape::Full, Reduction::SampleMean) => b.reduce(ReduceOp::Sum, &x, 1)?,
            (Shape::Full, Reduction::ElementMean) => b.reduce(ReduceOp::Mean, &x, 1)?,
            (_, _) => b.affine(&x, per_class, 0.0)?,
        };
        let total = |t: &B::Tensor| -> BResult<B::Tensor> {
            let n = b.shape(t).iter().product::<usize>();
            b.reduce(ReduceOp::Sum, &b.reshape(t, &[n])?, 0)
        };
        match &targets.valid {
            None => {
                let n = b.shape(&per_pixel).iter().product::<usize>();
                b.reduce(ReduceOp::Mean, &b.reshape(&per_pixel, &[n])?, 0)
            }
            Some((mask, count)) => {
                let kept = b.binary(BinaryOp::Mul, &per_pixel, mask)?;
                b.affine(&total(&kept)?, 1.0 / count.max(1.0), 0.0)
            }
        }
    }
}

/// A binary operator between two values; constants stay on the host where they can.
fn binary<B: Backend>(
    b: &B,
    op: Binary,
    x: &Value<B::Tensor>,
    y: &Value<B::Tensor>,
    rank: usize,
) -> BResult<Value<B::Tensor>> {
    use Value::{Number, Tensor};
    let scalar = |v: f64| b.full(&vec![1; rank], v as f32);
    Ok(match (x, y) {
        (Number(x), Number(y)) => Number(op.eval(*x, *y)),
        (Tensor(t), Number(c)) => Tensor(match op {
            Binary::Add => b.affine(t, 1.0, *c as f32)?,
            Binary::Sub => b.affine(t, 1.0, -*c as f32)?,
            Binary::Mul => b.affine(t, *c as f32, 0.0)?,
            Binary::Div => b.clamp(&b.affine(t, Unary::Recip.eval(*c) as f32, 0.0)?, -f32::MAX, f32::MAX)?,
            Binary::Max => b.clamp(t, *c as f32, f32::INFINITY)?,
            Binary::Min => b.clamp(t, f32::NEG_INFINITY, *c as f32)?,
            Binary::Aq | Binary::Pow => tensor_ops::binary(b, op, t, &scalar(*c)?)?,
        }),
        (Number(c), Tensor(t)) => Tensor(match op {
            Binary::Add => b.affine(t, 1.0, *c as f32)?,
            Binary::Sub => b.affine(t, -1.0, *c as f32)?,
            Binary::Mul => b.affine(t, *c as f32, 0.0)?,
            Binary::Max => b.clamp(t, *c as f32, f32::INFINITY)?,
            Binary::Min => b.clamp(t, f32::NEG_INFINITY, *c as f32)?,
            Binary::Div | Binary::Aq | Binary::Pow => tensor_ops::binary(b, op, &scalar(*c)?, t)?,
        }),
        (Tensor(s), Tensor(t)) => Tensor(tensor_ops::binary(b, op, s, t)?),
    })
}
