//! Backends chosen at run time: [`ErasedBackend`] is [`Backend`] with its tensor type hidden
//! behind [`DynTensor`], so that any backend (a compiled-in one, or a plugin) fits in a
//! [`DynBackend`], which is itself a [`Backend`]. Models and the trainer are written once,
//! generically, and run on either.
//!
//! The cost is a virtual call and a type check per operation: nanoseconds, against the
//! microseconds to milliseconds of the kernels behind them.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{
    BResult, Backend, BackendError, BatchNormMode, BatchNormOutput, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp,
};

/// A tensor of some backend, type-erased; cloning is cheap.
#[derive(Clone)]
pub struct DynTensor(Arc<dyn Any + Send + Sync>);

impl DynTensor {
    /// Wraps a backend's tensor.
    pub fn new<T: Any + Send + Sync>(tensor: T) -> DynTensor {
        DynTensor(Arc::new(tensor))
    }

    /// The backend tensor inside, if it is a `T`.
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for DynTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynTensor")
    }
}

/// Gradients of some backend, type-erased.
pub struct DynGradients(Box<dyn Any + Send>);

/// [`Backend`] with the tensor type erased: what a backend chosen by name at run time offers.
/// Every [`Backend`] is one; a plugin implements it directly.
#[allow(missing_docs)] // Each method is the `Backend` method of the same name.
pub trait ErasedBackend: Send + Sync {
    fn name(&self) -> String;
    fn seed(&self, seed: u64);
    fn tensor(&self, data: &[f32], shape: &[usize]) -> BResult<DynTensor>;
    fn full(&self, shape: &[usize], value: f32) -> BResult<DynTensor>;
    fn to_vec(&self, x: &DynTensor) -> BResult<Vec<f32>>;
    fn shape(&self, x: &DynTensor) -> Vec<usize>;
    fn param(&self, x: DynTensor) -> BResult<DynTensor>;
    fn detach(&self, x: &DynTensor) -> BResult<DynTensor>;
    fn backward(&self, loss: &DynTensor) -> BResult<DynGradients>;
    fn grad(&self, grads: &DynGradients, param: &DynTensor) -> Option<DynTensor>;
    fn unary(&self, op: UnaryOp, x: &DynTensor) -> BResult<DynTensor>;
    fn binary(&self, op: BinaryOp, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor>;
    fn affine(&self, x: &DynTensor, scale: f32, shift: f32) -> BResult<DynTensor>;
    fn clamp(&self, x: &DynTensor, min: f32, max: f32) -> BResult<DynTensor>;
    fn mask_ge(&self, x: &DynTensor, threshold: f32) -> BResult<DynTensor>;
    fn reduce(&self, op: ReduceOp, x: &DynTensor, dim: usize) -> BResult<DynTensor>;
    fn softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor>;
    fn log_softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor>;
    fn reshape(&self, x: &DynTensor, shape: &[usize]) -> BResult<DynTensor>;
    fn permute(&self, x: &DynTensor, axes: &[usize]) -> BResult<DynTensor>;
    fn narrow(&self, x: &DynTensor, dim: usize, start: usize, len: usize) -> BResult<DynTensor>;
    fn cat(&self, xs: &[DynTensor], dim: usize) -> BResult<DynTensor>;
    fn matmul(&self, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor>;
    fn conv2d(
        &self,
        x: &DynTensor,
        weight: &DynTensor,
        bias: Option<&DynTensor>,
        options: &Conv2d,
    ) -> BResult<DynTensor>;
    fn pool2d(
        &self,
        pool: Pool,
        x: &DynTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> BResult<DynTensor>;
    fn adaptive_avg_pool2d(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor>;
    fn batch_norm(
        &self,
        x: &DynTensor,
        gamma: &DynTensor,
        beta: &DynTensor,
        mode: BatchNormMode<'_, DynTensor>,
        epsilon: f32,
    ) -> BResult<BatchNormOutput<DynTensor>>;
    fn dropout(&self, x: &DynTensor, p: f32) -> BResult<DynTensor>;
    fn upsample_bilinear(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor>;
}

/// The backend tensor inside `x`, or the error naming the operation.
fn inner<'a, B: Backend>(x: &'a DynTensor, op: &str) -> BResult<&'a B::Tensor> {
    x.downcast::<B::Tensor>().ok_or_else(|| BackendError::ForeignTensor(op.to_owned()))
}

fn wrap<B: Backend>(result: BResult<B::Tensor>) -> BResult<DynTensor> {
    result.map(DynTensor::new)
}

impl<B: Backend> ErasedBackend for B {
    fn name(&self) -> String {
        Backend::name(self)
    }
    fn seed(&self, seed: u64) {
        Backend::seed(self, seed)
    }
    fn tensor(&self, data: &[f32], shape: &[usize]) -> BResult<DynTensor> {
        wrap::<B>(Backend::tensor(self, data, shape))
    }
    fn full(&self, shape: &[usize], value: f32) -> BResult<DynTensor> {
        wrap::<B>(Backend::full(self, shape, value))
    }
    fn to_vec(&self, x: &DynTensor) -> BResult<Vec<f32>> {
        Backend::to_vec(self, inner::<B>(x, "to_vec")?)
    }
    fn shape(&self, x: &DynTensor) -> Vec<usize> {
        inner::<B>(x, "shape").map(|t| Backend::shape(self, t)).unwrap_or_default()
    }
    fn param(&self, x: DynTensor) -> BResult<DynTensor> {
        Ok(DynTensor::new(Backend::param(self, inner::<B>(&x, "param")?.clone())))
    }
    fn detach(&self, x: &DynTensor) -> BResult<DynTensor> {
        Ok(DynTensor::new(Backend::detach(self, inner::<B>(x, "detach")?)))
    }
    fn backward(&self, loss: &DynTensor) -> BResult<DynGradients> {
        Ok(DynGradients(Box::new(Backend::backward(self, inner::<B>(loss, "backward")?)?)))
    }
    fn grad(&self, grads: &DynGradients, param: &DynTensor) -> Option<DynTensor> {
        let grads = grads.0.downcast_ref::<B::Gradients>()?;
        Backend::grad(self, grads, param.downcast::<B::Tensor>()?).map(DynTensor::new)
    }
    fn unary(&self, op: UnaryOp, x: &DynTensor) -> BResult<DynTensor> {
        wrap::<B>(Backend::unary(self, op, inner::<B>(x, "unary")?))
    }
    fn binary(&self, op: BinaryOp, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor> {
        wrap::<B>(Backend::binary(self, op, inner::<B>(a, "binary")?, inner::<B>(b, "binary")?))
    }
    fn affine(&self, x: &DynTensor, scale: f32, shift: f32) -> BResult<DynTensor> {
        wrap::<B>(Backend::affine(self, inner::<B>(x, "affine")?, scale, shift))
    }
    fn clamp(&self, x: &DynTensor, min: f32, max: f32) -> BResult<DynTensor> {
        wrap::<B>(Backend::clamp(self, inner::<B>(x, "clamp")?, min, max))
    }
    fn mask_ge(&self, x: &DynTensor, threshold: f32) -> BResult<DynTensor> {
        wrap::<B>(Backend::mask_ge(self, inner::<B>(x, "mask_ge")?, threshold))
    }
    fn reduce(&self, op: ReduceOp, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        wrap::<B>(Backend::reduce(self, op, inner::<B>(x, "reduce")?, dim))
    }
    fn softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        wrap::<B>(Backend::softmax(self, inner::<B>(x, "softmax")?, dim))
    }
    fn log_softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        wrap::<B>(Backend::log_softmax(self, inner::<B>(x, "log_softmax")?, dim))
    }
    fn reshape(&self, x: &DynTensor, shape: &[usize]) -> BResult<DynTensor> {
        wrap::<B>(Backend::reshape(self, inner::<B>(x, "reshape")?, shape))
    }
    fn permute(&self, x: &DynTensor, axes: &[usize]) -> BResult<DynTensor> {
        wrap::<B>(Backend::permute(self, inner::<B>(x, "permute")?, axes))
    }
    fn narrow(&self, x: &DynTensor, dim: usize, start: usize, len: usize) -> BResult<DynTensor> {
        wrap::<B>(Backend::narrow(self, inner::<B>(x, "narrow")?, dim, start, len))
    }
    fn cat(&self, xs: &[DynTensor], dim: usize) -> BResult<DynTensor> {
        let xs: Vec<B::Tensor> = xs.iter().map(|x| inner::<B>(x, "cat").cloned()).collect::<BResult<_>>()?;
        wrap::<B>(Backend::cat(self, &xs, dim))
    }
    fn matmul(&self, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor> {
        wrap::<B>(Backend::matmul(self, inner::<B>(a, "matmul")?, inner::<B>(b, "matmul")?))
    }
    fn conv2d(
        &self,
        x: &DynTensor,
        weight: &DynTensor,
        bias: Option<&DynTensor>,
        options: &Conv2d,
    ) -> BResult<DynTensor> {
        let bias = bias.map(|b| inner::<B>(b, "conv2d")).transpose()?;
        wrap::<B>(Backend::conv2d(self, inner::<B>(x, "conv2d")?, inner::<B>(weight, "conv2d")?, bias, options))
    }
    fn pool2d(
        &self,
        pool: Pool,
        x: &DynTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> BResult<DynTensor> {
        wrap::<B>(Backend::pool2d(self, pool, inner::<B>(x, "pool2d")?, kernel, stride, padding))
    }
    fn adaptive_avg_pool2d(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor> {
        wrap::<B>(Backend::adaptive_avg_pool2d(self, inner::<B>(x, "adaptive_avg_pool2d")?, size))
    }
    fn batch_norm(
        &self,
        x: &DynTensor,
        gamma: &DynTensor,
        beta: &DynTensor,
        mode: BatchNormMode<'_, DynTensor>,
        epsilon: f32,
    ) -> BResult<BatchNormOutput<DynTensor>> {
        let mode = match mode {
            BatchNormMode::Train => BatchNormMode::Train,
            BatchNormMode::Eval { mean, variance } => BatchNormMode::Eval {
                mean: inner::<B>(mean, "batch_norm")?,
                variance: inner::<B>(variance, "batch_norm")?,
            },
        };
        let out = Backend::batch_norm(
            self,
            inner::<B>(x, "batch_norm")?,
            inner::<B>(gamma, "batch_norm")?,
            inner::<B>(beta, "batch_norm")?,
            mode,
            epsilon,
        )?;
        Ok(BatchNormOutput {
            output: DynTensor::new(out.output),
            statistics: out.statistics.map(|(m, v)| (DynTensor::new(m), DynTensor::new(v))),
        })
    }
    fn dropout(&self, x: &DynTensor, p: f32) -> BResult<DynTensor> {
        wrap::<B>(Backend::dropout(self, inner::<B>(x, "dropout")?, p))
    }
    fn upsample_bilinear(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor> {
        wrap::<B>(Backend::upsample_bilinear(self, inner::<B>(x, "upsample_bilinear")?, size))
    }
}

/// A backend chosen at run time (by name, from the command line, or loaded as a plugin): any
/// [`Backend`] with its tensor type erased, itself a [`Backend`], so that models and the
/// trainer written generically run on it. The cost is a virtual call and a type check per
/// operation: nanoseconds, against the microseconds to milliseconds of the kernels.
#[derive(Clone)]
pub struct DynBackend(Arc<dyn ErasedBackend>);

impl DynBackend {
    /// Erases a backend's type.
    pub fn new(backend: impl ErasedBackend + 'static) -> DynBackend {
        DynBackend(Arc::new(backend))
    }
}

impl fmt::Debug for DynBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynBackend({})", self.0.name())
    }
}

impl Backend for DynBackend {
    type Tensor = DynTensor;
    type Gradients = DynGradients;

    fn name(&self) -> String {
        self.0.name()
    }
    fn seed(&self, seed: u64) {
        self.0.seed(seed)
    }
    fn tensor(&self, data: &[f32], shape: &[usize]) -> BResult<DynTensor> {
        self.0.tensor(data, shape)
    }
    fn full(&self, shape: &[usize], value: f32) -> BResult<DynTensor> {
        self.0.full(shape, value)
    }
    fn to_vec(&self, x: &DynTensor) -> BResult<Vec<f32>> {
        self.0.to_vec(x)
    }
    fn shape(&self, x: &DynTensor) -> Vec<usize> {
        self.0.shape(x)
    }
    fn param(&self, x: DynTensor) -> DynTensor {
        self.0.param(x.clone()).unwrap_or(x)
    }
    fn detach(&self, x: &DynTensor) -> DynTensor {
        self.0.detach(x).unwrap_or_else(|_| x.clone())
    }
    fn backward(&self, loss: &DynTensor) -> BResult<DynGradients> {
        self.0.backward(loss)
    }
    fn grad(&self, grads: &DynGradients, param: &DynTensor) -> Option<DynTensor> {
        self.0.grad(grads, param)
    }
    fn unary(&self, op: UnaryOp, x: &DynTensor) -> BResult<DynTensor> {
        self.0.unary(op, x)
    }
    fn binary(&self, op: BinaryOp, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor> {
        self.0.binary(op, a, b)
    }
    fn affine(&self, x: &DynTensor, scale: f32, shift: f32) -> BResult<DynTensor> {
        self.0.affine(x, scale, shift)
    }
    fn clamp(&self, x: &DynTensor, min: f32, max: f32) -> BResult<DynTensor> {
        self.0.clamp(x, min, max)
    }
    fn mask_ge(&self, x: &DynTensor, threshold: f32) -> BResult<DynTensor> {
        self.0.mask_ge(x, threshold)
    }
    fn reduce(&self, op: ReduceOp, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        self.0.reduce(op, x, dim)
    }
    fn softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        self.0.softmax(x, dim)
    }
    fn log_softmax(&self, x: &DynTensor, dim: usize) -> BResult<DynTensor> {
        self.0.log_softmax(x, dim)
    }
    fn reshape(&self, x: &DynTensor, shape: &[usize]) -> BResult<DynTensor> {
        self.0.reshape(x, shape)
    }
    fn permute(&self, x: &DynTensor, axes: &[usize]) -> BResult<DynTensor> {
        self.0.permute(x, axes)
    }
    fn narrow(&self, x: &DynTensor, dim: usize, start: usize, len: usize) -> BResult<DynTensor> {
        self.0.narrow(x, dim, start, len)
    }
    fn cat(&self, xs: &[DynTensor], dim: usize) -> BResult<DynTensor> {
        self.0.cat(xs, dim)
    }
    fn matmul(&self, a: &DynTensor, b: &DynTensor) -> BResult<DynTensor> {
        self.0.matmul(a, b)
    }
    fn conv2d(
        &self,
        x: &DynTensor,
        weight: &DynTensor,
        bias: Option<&DynTensor>,
        options: &Conv2d,
    ) -> BResult<DynTensor> {
        self.0.conv2d(x, weight, bias, options)
    }
    fn pool2d(
        &self,
        pool: Pool,
        x: &DynTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> BResult<DynTensor> {
        self.0.pool2d(pool, x, kernel, stride, padding)
    }
    fn adaptive_avg_pool2d(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor> {
        self.0.adaptive_avg_pool2d(x, size)
    }
    fn batch_norm(
        &self,
        x: &DynTensor,
        gamma: &DynTensor,
        beta: &DynTensor,
        mode: BatchNormMode<'_, DynTensor>,
        epsilon: f32,
    ) -> BResult<BatchNormOutput<DynTensor>> {
        self.0.batch_norm(x, gamma, beta, mode, epsilon)
    }
    fn dropout(&self, x: &DynTensor, p: f32) -> BResult<DynTensor> {
        self.0.dropout(x, p)
    }
    fn upsample_bilinear(&self, x: &DynTensor, size: [usize; 2]) -> BResult<DynTensor> {
        self.0.upsample_bilinear(x, size)
    }
}
