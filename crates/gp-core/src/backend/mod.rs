//! The tensor backend: what losses, the model zoo and the trainer are written against.
//!
//! A [`Backend`] is a handle on a device of some deep-learning framework (burn, candle, ...).
//! Its tensors are `f32`, of any rank, and track gradients where [`Backend::param`] asked for
//! it. The trait is deliberately small and honest: every method maps to one kernel (or a short,
//! fixed sequence of kernels) of the framework underneath, never to a loop over elements on the
//! host. What can be composed from these methods is composed once, here in the core: the
//! protected operators of the loss language ([`tensor_ops`]), the losses ([`TensorLoss`]),
//! the optimisers and the layers of the model zoo, so that every backend computes exactly the
//! same thing.
//!
//! Each method was designed against the API of both frameworks lossgp targets: burn 0.22
//! (`Tensor` methods and `burn::tensor::module` functions), which implements it now, and
//! candle-core (`Tensor` methods, `candle_nn::ops`), whose backend is to come. Shapes and
//! settings are checked ([`checks`]) before a framework sees them, so that a mistake is a
//! [`BackendError`] naming the operation and the shapes rather than a panic inside the
//! framework.
//!
//! Where frameworks differ at the edges, a backend follows its framework: the gradient of
//! `max`/`min` at ties and of a `max` reduction with several maxima, and which operand a
//! `max`/`min` with a NaN returns (the reference interpreter shares tied gradients evenly and
//! propagates NaN; burn sends the gradient to one operand and returns the non-NaN one when the
//! NaN is second). Training never hides a NaN: a NaN loss ends the run.
//!
//! Backends are generic (`B: Backend`, no cost per operation) for code that knows its backend,
//! and erased ([`DynBackend`]) for code that picks one by name at run time: the command line,
//! the search, plugins.

pub mod conformance;
mod dynamic;
mod loss;
mod observed;
pub mod operations;
mod params;
mod registry;
pub mod resize;
pub mod tensor_ops;

pub use dynamic::{DynBackend, DynGradients, DynTensor, ErasedBackend};
pub use loss::{TensorLoss, TensorTargets};
pub use observed::{Observed, Observer};
pub use params::{
    NamedTensor, ParamId, ParamKind, Params, Pretrained, StoreError, TensorFile, read_tensors, write_tensors,
};
pub use registry::{
    Availability, BackendEntry, LoadedBackend, PluginOrigin, Registered, backends, open_backend, register_loaded,
};

/// Re-exported so that backend crates register with the same `inventory` as the core.
pub use inventory;

/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Operands whose shapes do not fit the operation.
    #[error("{op}: {detail}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// The shapes involved and what is wrong with them.
        detail: String,
    },
    /// An operation or rank the backend does not support.
    #[error("{backend} does not support {what}")]
    Unsupported {
        /// The backend.
        backend: String,
        /// What it lacks.
        what: String,
    },
    /// No backend or model of that name in this build.
    #[error("no {kind} named `{name}`; this build has {known}")]
    Unknown {
        /// `backend` or `model`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names there are, and how to get more.
        known: String,
    },
    /// A tensor of another backend (possible only through [`DynBackend`]).
    #[error("a tensor of another backend was passed to {0}")]
    ForeignTensor(String),
    /// The device or framework failed (out of memory, a driver error, ...).
    #[error("{0}")]
    Device(String),
}

impl BackendError {
    /// A shape error for `op`.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> BackendError {
        BackendError::Shape { op, detail: detail.into() }
    }
}

/// Results of backend operations.
pub type BResult<T> = Result<T, BackendError>;

/// An element-wise operation on one tensor. These are the raw functions; the protected forms
/// of the loss language are composed from them in [`tensor_ops`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// Natural logarithm (unprotected).
    Log,
    /// Square root (unprotected).
    Sqrt,
    /// `|x|`
    Abs,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `1 / x` (unprotected).
    Recip,
}

/// An element-wise operation on two tensors, broadcasting dimensions of size 1 (both operands
/// must have the same rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b` (unprotected).
    Div,
    /// `max(a, b)`
    Max,
    /// `min(a, b)`
    Min,
}

/// A reduction along one dimension, which is kept with size 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// The sum.
    Sum,
    /// The mean.
    Mean,
    /// The maximum.
    Max,
}

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The maximum of each window.
    Max,
    /// The mean of each window, padding counted as zeros (PyTorch's default,
    /// `count_include_pad=True`).
    Avg,
}

/// The geometry of a 2-d convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2d {
    /// Step between windows, (height, width).
    pub stride: [usize; 2],
    /// Zeros added on each side, (height, width).
    pub padding: [usize; 2],
    /// Spacing between kernel elements, (height, width).
    pub dilation: [usize; 2],
    /// Channel groups (1 for an ordinary convolution, the channel count for a depthwise one).
    pub groups: usize,
}

impl Default for Conv2d {
    fn default() -> Self {
        Conv2d { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

/// What [`Backend::batch_norm`] computes.
#[derive(Clone, Copy, Debug)]
pub enum BatchNormMode<'a, T> {
    /// Normalise with the statistics of the batch itself, and return them.
    Train,
    /// Normalise with given statistics (running mean and variance).
    Eval {
        /// Mean per channel, `[channels]`.
        mean: &'a T,
        /// Variance per channel, `[channels]`.
        variance: &'a T,
    },
}

/// The result of [`Backend::batch_norm`].
#[derive(Clone, Debug)]
pub struct BatchNormOutput<T> {
    /// The normalised, scaled and shifted input.
    pub output: T,
    /// In training mode, the batch mean and biased variance per channel, without gradient.
    pub statistics: Option<(T, T)>,
}

crate::backend_operations!(operations::define_backend);

/// Checks shared by backend implementations, so that every backend refuses the same inputs
/// with the same messages.
pub mod checks {
    use super::{BResult, BackendError, Conv2d};

    /// The shape of `a op b` under broadcasting, or the error.
    pub fn broadcast(op: &'static str, a: &[usize], b: &[usize]) -> BResult<Vec<usize>> {
        if a.len() != b.len() {
            return Err(BackendError::shape(
                op,
                format!("operands of rank {} {a:?} and {} {b:?} differ in rank", a.len(), b.len()),
            ));
        }
        a.iter()
            .zip(b)
            .map(|(&x, &y)| match (x, y) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(BackendError::shape(op, format!("shapes {a:?} and {b:?} do not broadcast"))),
            })
            .collect()
    }

    /// `dim` must be a dimension of a tensor of rank `rank`.
    pub fn dim(op: &'static str, shape: &[usize], dim: usize) -> BResult<()> {
        if dim < shape.len() {
            Ok(())
        } else {
            Err(BackendError::shape(op, format!("dimension {dim} of a tensor of shape {shape:?}")))
        }
    }

    /// `axes` must be a permutation of the dimensions of `shape`.
    pub fn permute(shape: &[usize], axes: &[usize]) -> BResult<()> {
        let rank = shape.len();
        let mut seen = vec![false; rank];
        if axes.len() != rank || !axes.iter().all(|&a| a < rank && !std::mem::replace(&mut seen[a], true)) {
            return Err(BackendError::shape(
                "permute",
                format!("{axes:?} is not a permutation of the {rank} dimensions"),
            ));
        }
        Ok(())
    }

    /// `len` (at least 1) elements from `start` must lie within dimension `dim`.
    pub fn narrow(shape: &[usize], dim: usize, start: usize, len: usize) -> BResult<()> {
        self::dim("narrow", shape, dim)?;
        if len == 0 || start + len > shape[dim] {
            return Err(BackendError::shape(
                "narrow",
                format!("elements {start}..{} of dimension {dim} of shape {shape:?}", start + len),
            ));
        }
        Ok(())
    }

    /// Tensors to join along `dim`: at least one, and equal outside `dim`.
    pub fn cat(shapes: &[Vec<usize>], dim: usize) -> BResult<()> {
        let first = shapes.first().ok_or_else(|| BackendError::shape("cat", "nothing to join"))?;
        self::dim("cat", first, dim)?;
        for d in shapes {
            if d.len() != first.len() || d.iter().zip(first).enumerate().any(|(i, (a, b))| i != dim && a != b) {
                return Err(BackendError::shape(
                    "cat",
                    format!("shapes {first:?} and {d:?} differ outside dimension {dim}"),
                ));
            }
        }
        Ok(())
    }

    /// Operands of a (batched) matrix product.
    pub fn matmul(a: &[usize], b: &[usize]) -> BResult<()> {
        let r = a.len();
        if r < 2 || b.len() != r || a[r - 1] != b[r - 2] || a[..r - 2] != b[..r - 2] {
            return Err(BackendError::shape("matmul", format!("{a:?} and {b:?} do not multiply")));
        }
        Ok(())
    }

    /// The elements must fit the new shape.
    pub fn reshape(from: &[usize], to: &[usize]) -> BResult<()> {
        if from.iter().product::<usize>() == to.iter().product::<usize>() {
            Ok(())
        } else {
            Err(BackendError::shape(
                "reshape",
                format!(
                    "{from:?} has {} elements, {to:?} needs {}",
                    from.iter().product::<usize>(),
                    to.iter().product::<usize>()
                ),
            ))
        }
    }

    /// The result shape of a convolution, or the error.
    pub fn conv2d(x: &[usize], w: &[usize], bias: Option<&[usize]>, o: &Conv2d) -> BResult<[usize; 4]> {
        let err = |detail: String| Err(BackendError::shape("conv2d", detail));
        let (&[n, c, h, wd], &[co, ci, kh, kw]) = (x, w) else {
            return err(format!("input {x:?} and weight {w:?} must both have rank 4"));
        };
        if kh == 0 || kw == 0 || o.stride.contains(&0) || o.dilation.contains(&0) {
            return err(format!(
                "kernel {kh}x{kw}, stride {:?} and dilation {:?} must be at least 1",
                o.stride, o.dilation
            ));
        }
        if o.groups == 0 || c % o.groups != 0 || co % o.groups != 0 || ci * o.groups != c {
            return err(format!("input {x:?} and weight {w:?} do not fit {} groups", o.groups));
        }
        if let Some(b) = bias.filter(|b| *b != [co]) {
            return err(format!("bias {b:?} must be [{co}]"));
        }
        let out = |size: usize, k: usize, i: usize| {
            let span = o.dilation[i] * (k - 1) + 1;
            (size + 2 * o.padding[i]).checked_sub(span).map(|s| s / o.stride[i] + 1)
        };
        match (out(h, kh, 0), out(wd, kw, 1)) {
            (Some(oh), Some(ow)) => Ok([n, co, oh, ow]),
            _ => err(format!(
                "kernel {kh}x{kw} (dilation {:?}, padding {:?}) does not fit input {h}x{wd}",
                o.dilation, o.padding
            )),
        }
    }

    /// Pooling windows must fit the padded input.
    pub fn pool2d(x: &[usize], kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> BResult<()> {
        let &[_, _, h, w] = x else {
            return Err(BackendError::shape("pool2d", format!("input {x:?} must have rank 4")));
        };
        let fits = kernel.iter().zip(&stride).all(|(&k, &s)| k > 0 && s > 0)
            && h + 2 * padding[0] >= kernel[0]
            && w + 2 * padding[1] >= kernel[1]
            && padding[0] * 2 <= kernel[0]
            && padding[1] * 2 <= kernel[1];
        if fits {
            Ok(())
        } else {
            Err(BackendError::shape(
                "pool2d",
                format!("window {kernel:?} (stride {stride:?}, padding {padding:?}) does not fit input {h}x{w}"),
            ))
        }
    }
}
