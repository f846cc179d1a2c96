//! lossgp's [`Backend`] on candle (`candle-core`, with `candle-nn`'s softmax and sigmoid).
//!
//! Most methods map to one candle operation. Where candle lacks an operation, or lacks its
//! gradient, the method composes it from candle's own tensor operations (never a loop over
//! elements on the host):
//!
//! - **pooling**: candle differentiates pooling only when the window equals the stride, and its
//!   max pooling gradient is wrong even then (a quarter of the true one for 2x2 windows, found
//!   by the conformance suite); so every max pooling, and average pooling with other windows, is
//!   the maximum (or mean) of the window's `kh * kw` shifted views, each subsampled by the
//!   stride with a reshape; padding is zeros for the mean (PyTorch's `count_include_pad`) and
//!   `-inf` for the maximum;
//! - **bilinear resizing**: candle cannot differentiate `upsample_bilinear2d`, so it is two
//!   matrix products with interpolation matrices (half-pixel centres, PyTorch's
//!   `align_corners=False`);
//! - **adaptive average pooling**: the mean of each of PyTorch's windows, joined;
//! - **batch norm**: mean and biased variance over all dimensions but the channels;
//! - **convolution padding**: candle pads both axes alike, so uneven padding (a 1x7 kernel's
//!   0x3) pads the input first;
//! - **dropout**: candle cannot seed its CPU generator, so the masks come from a seeded
//!   generator on the host, which makes runs repeatable.

mod plain;

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use lossgp_core::backend::resize::bilinear_matrix;
use lossgp_core::backend::{
    BResult, Backend, BackendError, BatchNormMode, BatchNormOutput, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp, checks,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use plain::CandleLoss;

/// A candle device as a lossgp backend.
#[derive(Debug)]
pub struct CandleBackend {
    device: Device,
    label: String,
    rng: Mutex<ChaCha8Rng>,
}

impl Clone for CandleBackend {
    fn clone(&self) -> Self {
        let rng = self.rng.lock().map(|r| r.clone()).unwrap_or_else(|e| e.into_inner().clone());
        CandleBackend { device: self.device.clone(), label: self.label.clone(), rng: Mutex::new(rng) }
    }
}

impl CandleBackend {
    /// A backend on any candle device; `label` names it in reports.
    pub fn new(device: Device, label: impl Into<String>) -> CandleBackend {
        CandleBackend { device, label: label.into(), rng: Mutex::new(ChaCha8Rng::seed_from_u64(0)) }
    }

    /// candle's CPU device.
    pub fn cpu() -> CandleBackend {
        CandleBackend::new(Device::Cpu, "candle cpu")
    }

    /// CUDA device `ordinal` (the `candle-cuda` feature, which builds where the CUDA toolkit is
    /// installed); an error naming what is missing where there is no GPU or driver.
    #[cfg(feature = "candle-cuda")]
    pub fn cuda(ordinal: usize) -> BResult<CandleBackend> {
        let device = Device::new_cuda(ordinal).map_err(|e| {
            BackendError::Device(format!("candle: no CUDA device {ordinal} ({e}); check `nvidia-smi` and the driver"))
        })?;
        Ok(CandleBackend::new(device, format!("candle cuda:{ordinal}")))
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// A candle error as a backend error.
fn err(e: candle_core::Error) -> BackendError {
    BackendError::Device(format!("candle: {e}"))
}

trait Candle<T> {
    fn c(self) -> BResult<T>;
}

impl<T> Candle<T> for candle_core::Result<T> {
    fn c(self) -> BResult<T> {
        self.map_err(err)
    }
}

impl CandleBackend {
    /// `x` subsampled by `stride` along dimensions 2 and 3, keeping `[oh, ow]` elements: padded
    /// to a multiple of the stride, reshaped so that the stride becomes its own axis, and the
    /// first of each group kept. Differentiable, unlike strided pooling in candle.
    fn subsample(&self, x: &Tensor, stride: [usize; 2], [oh, ow]: [usize; 2]) -> BResult<Tensor> {
        let (n, c, h, w) = x.dims4().c()?;
        let (sh, sw) = (stride[0], stride[1]);
        let (ph, pw) = ((oh * sh).saturating_sub(h), (ow * sw).saturating_sub(w));
        let x = if ph > 0 { x.pad_with_zeros(2, 0, ph).c()? } else { x.clone() };
        let x = if pw > 0 { x.pad_with_zeros(3, 0, pw).c()? } else { x };
        let x = x.narrow(2, 0, oh * sh).c()?.narrow(3, 0, ow * sw).c()?;
        x.reshape((n, c, oh, sh, ow, sw)).c()?.narrow(3, 0, 1).c()?.narrow(5, 0, 1).c()?.reshape((n, c, oh, ow)).c()
    }

    /// A kernel `[o, i, kh, kw]` dilated by `d` along `dim` (2 or 3): `d - 1` zeros between
    /// its elements, written in with a pad and a reshape so that the gradient flows back.
    fn dilate(&self, kernel: &Tensor, dim: usize, d: usize) -> BResult<Tensor> {
        if d == 1 {
            return Ok(kernel.clone());
        }
        let dims = kernel.dims().to_vec();
        let k = dims[dim];
        let mut spread = dims.clone();
        spread.insert(dim + 1, 1);
        let x = kernel.reshape(spread.as_slice()).c()?.pad_with_zeros(dim + 1, 0, d - 1).c()?;
        let mut joined = dims.clone();
        joined[dim] = k * d;
        x.reshape(joined.as_slice()).c()?.narrow(dim, 0, (k - 1) * d + 1).c()
    }

    /// `x` with `pad` rows and columns of `value` on each side.
    fn pad(&self, x: &Tensor, [ph, pw]: [usize; 2], value: f32) -> BResult<Tensor> {
        if value == 0.0 {
            return x.pad_with_zeros(2, ph, ph).c()?.pad_with_zeros(3, pw, pw).c();
        }
        let (n, c, h, w) = x.dims4().c()?;
        let mut x = x.clone();
        if ph > 0 {
            let rows = Tensor::full(value, (n, c, ph, w), &self.device).c()?;
            x = Tensor::cat(&[&rows, &x, &rows], 2).c()?;
        }
        if pw > 0 {
            let cols = Tensor::full(value, (n, c, h + 2 * ph, pw), &self.device).c()?;
            x = Tensor::cat(&[&cols, &x, &cols], 3).c()?;
        }
        Ok(x)
    }

    /// The `[to, from]` matrix of linear interpolation from `from` to `to` samples
    /// ([`bilinear_matrix`]).
    fn interpolation(&self, from: usize, to: usize) -> BResult<Tensor> {
        Tensor::from_vec(bilinear_matrix(from, to), (to, from), &self.device).c()
    }
}

impl Backend for CandleBackend {
    type Tensor = Tensor;
    type Gradients = GradStore;

    fn name(&self) -> String {
        self.label.clone()
    }

    fn seed(&self, seed: u64) {
        if let Ok(mut rng) = self.rng.lock() {
            *rng = ChaCha8Rng::seed_from_u64(seed);
        }
    }

    fn tensor(&self, data: &[f32], shape: &[usize]) -> BResult<Tensor> {
        if data.len() != shape.iter().product::<usize>() {
            return Err(BackendError::shape("tensor", format!("{} values do not fill shape {shape:?}", data.len())));
        }
        Tensor::from_slice(data, shape, &self.device).c()
    }

    fn full(&self, shape: &[usize], value: f32) -> BResult<Tensor> {
        Tensor::full(value, shape, &self.device).c()
    }

    fn to_vec(&self, x: &Tensor) -> BResult<Vec<f32>> {
        x.flatten_all().c()?.to_vec1::<f32>().c()
    }

    fn shape(&self, x: &Tensor) -> Vec<usize> {
        x.dims().to_vec()
    }

    fn param(&self, x: Tensor) -> Tensor {
        // A fresh leaf variable; should candle refuse, the values themselves (untracked).
        Var::from_tensor(&x.detach()).map(|v| v.as_tensor().clone()).unwrap_or(x)
    }

    fn detach(&self, x: &Tensor) -> Tensor {
        x.detach()
    }

    fn backward(&self, loss: &Tensor) -> BResult<GradStore> {
        if loss.elem_count() != 1 {
            return Err(BackendError::shape(
                "backward",
                format!("the loss must have one element, it has shape {:?}", loss.dims()),
            ));
        }
        if !loss.track_op() {
            return Err(BackendError::Device(
                "backward: the loss depends on no parameter (a loss must use the logits, through p or z)".into(),
            ));
        }
        loss.backward().c()
    }

    fn grad(&self, grads: &GradStore, param: &Tensor) -> Option<Tensor> {
        grads.get(param).map(Tensor::detach)
    }

    fn unary(&self, op: UnaryOp, x: &Tensor) -> BResult<Tensor> {
        match op {
            UnaryOp::Neg => x.neg(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.log(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sigmoid => candle_nn::ops::sigmoid(x),
            UnaryOp::Relu => x.relu(),
            UnaryOp::Recip => x.recip(),
        }
        .c()
    }

    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor) -> BResult<Tensor> {
        checks::broadcast("binary", a.dims(), b.dims())?;
        match op {
            BinaryOp::Add => a.broadcast_add(b),
            BinaryOp::Sub => a.broadcast_sub(b),
            BinaryOp::Mul => a.broadcast_mul(b),
            BinaryOp::Div => a.broadcast_div(b),
            BinaryOp::Max => a.broadcast_maximum(b),
            BinaryOp::Min => a.broadcast_minimum(b),
        }
        .c()
    }

    fn affine(&self, x: &Tensor, scale: f32, shift: f32) -> BResult<Tensor> {
        x.affine(f64::from(scale), f64::from(shift)).c()
    }

    fn clamp(&self, x: &Tensor, min: f32, max: f32) -> BResult<Tensor> {
        let mut y = x.clone();
        if min.is_finite() {
            y = y.maximum(min).c()?;
        }
        if max.is_finite() {
            y = y.minimum(max).c()?;
        }
        Ok(y)
    }

    fn mask_ge(&self, x: &Tensor, threshold: f32) -> BResult<Tensor> {
        x.detach().ge(f64::from(threshold)).c()?.to_dtype(DType::F32).c()
    }

    fn reduce(&self, op: ReduceOp, x: &Tensor, dim: usize) -> BResult<Tensor> {
        checks::dim("reduce", x.dims(), dim)?;
        match op {
            ReduceOp::Sum => x.sum_keepdim(dim),
            ReduceOp::Mean => x.mean_keepdim(dim),
            ReduceOp::Max => x.max_keepdim(dim),
        }
        .c()
    }

    fn softmax(&self, x: &Tensor, dim: usize) -> BResult<Tensor> {
        checks::dim("softmax", x.dims(), dim)?;
        candle_nn::ops::softmax(x, dim).c()
    }

    fn log_softmax(&self, x: &Tensor, dim: usize) -> BResult<Tensor> {
        checks::dim("log_softmax", x.dims(), dim)?;
        candle_nn::ops::log_softmax(x, dim).c()
    }

    fn reshape(&self, x: &Tensor, shape: &[usize]) -> BResult<Tensor> {
        checks::reshape(x.dims(), shape)?;
        x.reshape(shape).c()
    }

    fn permute(&self, x: &Tensor, axes: &[usize]) -> BResult<Tensor> {
        checks::permute(x.dims(), axes)?;
        x.permute(axes.to_vec()).c()?.contiguous().c()
    }

    fn narrow(&self, x: &Tensor, dim: usize, start: usize, len: usize) -> BResult<Tensor> {
        checks::narrow(x.dims(), dim, start, len)?;
        x.narrow(dim, start, len).c()
    }

    fn cat(&self, xs: &[Tensor], dim: usize) -> BResult<Tensor> {
        checks::cat(&xs.iter().map(|x| x.dims().to_vec()).collect::<Vec<_>>(), dim)?;
        Tensor::cat(xs, dim).c()
    }

    fn matmul(&self, a: &Tensor, b: &Tensor) -> BResult<Tensor> {
        checks::matmul(a.dims(), b.dims())?;
        a.contiguous().c()?.matmul(&b.contiguous().c()?).c()
    }

    fn conv2d(&self, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, o: &Conv2d) -> BResult<Tensor> {
        let [_, _, oh, ow] = checks::conv2d(x.dims(), weight.dims(), bias.map(|b| b.dims()), o)?;
        let (x, padding) =
            if o.padding[0] == o.padding[1] { (x.clone(), o.padding[0]) } else { (self.pad(x, o.padding, 0.0)?, 0) };
        // candle takes one stride and one dilation for both axes: different ones become a
        // kernel with the zeros written in, and a stride-1 convolution subsampled.
        let (weight, dilation) = match o.dilation {
            [a, b] if a == b => (weight.clone(), a),
            [dh, dw] => (self.dilate(&self.dilate(weight, 2, dh)?, 3, dw)?, 1),
        };
        let y = match o.stride {
            [a, b] if a == b => x.conv2d(&weight, padding, a, dilation, o.groups).c()?,
            stride => self.subsample(&x.conv2d(&weight, padding, 1, dilation, o.groups).c()?, stride, [oh, ow])?,
        };
        match bias {
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1)).c()?).c(),
            None => Ok(y),
        }
    }

    fn pool2d(
        &self,
        pool: Pool,
        x: &Tensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> BResult<Tensor> {
        checks::pool2d(x.dims(), kernel, stride, padding)?;
        // candle's own average pooling, which it differentiates when the window equals the
        // stride. (Its max pooling gradient is wrong there: the conformance suite measured a
        // quarter of the true gradient for 2x2 windows, so max pooling is always composed.)
        if pool == Pool::Avg && kernel == stride && padding == [0, 0] {
            return x.avg_pool2d_with_stride((kernel[0], kernel[1]), (stride[0], stride[1])).c();
        }
        let (_, _, h, w) = x.dims4().c()?;
        let out = [(h + 2 * padding[0] - kernel[0]) / stride[0] + 1, (w + 2 * padding[1] - kernel[1]) / stride[1] + 1];
        let fill = if pool == Pool::Max { f32::NEG_INFINITY } else { 0.0 };
        let padded = if padding == [0, 0] { x.clone() } else { self.pad(x, padding, fill)? };
        let span = [(out[0] - 1) * stride[0] + 1, (out[1] - 1) * stride[1] + 1];
        let mut acc: Option<Tensor> = None;
        for di in 0..kernel[0] {
            for dj in 0..kernel[1] {
                let view = padded.narrow(2, di, span[0]).c()?.narrow(3, dj, span[1]).c()?;
                let view = self.subsample(&view, stride, out)?;
                acc = Some(match (acc, pool) {
                    (None, _) => view,
                    (Some(a), Pool::Max) => a.maximum(&view).c()?,
                    (Some(a), Pool::Avg) => (a + view).c()?,
                });
            }
        }
        let acc = acc.expect("a window of at least one element");
        match pool {
            Pool::Max => Ok(acc),
            Pool::Avg => acc.affine(1.0 / (kernel[0] * kernel[1]) as f64, 0.0).c(),
        }
    }

    fn adaptive_avg_pool2d(&self, x: &Tensor, size: [usize; 2]) -> BResult<Tensor> {
        if size.contains(&0) {
            return Err(BackendError::shape("adaptive_avg_pool2d", format!("output size {size:?} is empty")));
        }
        let (_, _, h, w) = x.dims4().c()?;
        if size == [1, 1] {
            return x.mean_keepdim(2).c()?.mean_keepdim(3).c();
        }
        // PyTorch's windows: [floor(i * h / oh), ceil((i + 1) * h / oh)).
        let window = |i: usize, n: usize, out: usize| (i * n / out, ((i + 1) * n).div_ceil(out));
        let mut rows = Vec::with_capacity(size[0]);
        for i in 0..size[0] {
            let (r0, r1) = window(i, h, size[0]);
            let band = x.narrow(2, r0, r1 - r0).c()?.mean_keepdim(2).c()?;
            let mut cells = Vec::with_capacity(size[1]);
            for j in 0..size[1] {
                let (c0, c1) = window(j, w, size[1]);
                cells.push(band.narrow(3, c0, c1 - c0).c()?.mean_keepdim(3).c()?);
            }
            rows.push(Tensor::cat(&cells, 3).c()?);
        }
        Tensor::cat(&rows, 2).c()
    }

    fn batch_norm(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        mode: BatchNormMode<'_, Tensor>,
        epsilon: f32,
    ) -> BResult<BatchNormOutput<Tensor>> {
        let dims = x.dims().to_vec();
        if dims.len() < 2 {
            return Err(BackendError::shape("batch_norm", format!("input {dims:?} needs a channel dimension")));
        }
        let channels = dims[1];
        for v in [gamma, beta] {
            if v.dims() != [channels] {
                return Err(BackendError::shape(
                    "batch_norm",
                    format!("a per-channel vector must be [{channels}], got {:?}", v.dims()),
                ));
            }
        }
        // Per-channel vectors shaped to broadcast against x: [1, c, 1, ...].
        let mut shape = vec![1; dims.len()];
        shape[1] = channels;
        let bc = |v: &Tensor| v.reshape(shape.as_slice()).c();
        let reduce: Vec<usize> = (0..dims.len()).filter(|&d| d != 1).collect();
        let (mean, variance, statistics) = match mode {
            BatchNormMode::Train => {
                let mean = x.mean_keepdim(reduce.as_slice()).c()?;
                let centred = x.broadcast_sub(&mean).c()?;
                let variance = centred.sqr().c()?.mean_keepdim(reduce.as_slice()).c()?;
                let stats = (mean.detach().flatten_all().c()?, variance.detach().flatten_all().c()?);
                (mean, variance, Some(stats))
            }
            BatchNormMode::Eval { mean, variance } => (bc(mean)?, bc(variance)?, None),
        };
        let normalised = x
            .broadcast_sub(&mean)
            .c()?
            .broadcast_div(&variance.affine(1.0, f64::from(epsilon)).c()?.sqrt().c()?)
            .c()?;
        let output = normalised.broadcast_mul(&bc(gamma)?).c()?.broadcast_add(&bc(beta)?).c()?;
        Ok(BatchNormOutput { output, statistics })
    }

    fn dropout(&self, x: &Tensor, p: f32) -> BResult<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(BackendError::shape("dropout", format!("the probability {p} is not in [0, 1)")));
        }
        if p == 0.0 {
            return Ok(x.clone());
        }
        let scale = 1.0 / (1.0 - p);
        let mask: Vec<f32> = {
            let mut rng = self
                .rng
                .lock()
                .map_err(|_| BackendError::Device("candle: the dropout generator was poisoned".into()))?;
            (0..x.elem_count()).map(|_| if rng.random::<f32>() < p { 0.0 } else { scale }).collect()
        };
        x.mul(&Tensor::from_vec(mask, x.dims(), &self.device).c()?).c()
    }

    fn upsample_bilinear(&self, x: &Tensor, size: [usize; 2]) -> BResult<Tensor> {
        if size.contains(&0) {
            return Err(BackendError::shape("upsample_bilinear", format!("output size {size:?} is empty")));
        }
        let (_, _, h, w) = x.dims4().c()?;
        let rows = self.interpolation(h, size[0])?; // [H, h]
        let cols = self.interpolation(w, size[1])?.t().c()?.contiguous().c()?; // [w, W]
        let y = x.contiguous().c()?.broadcast_matmul(&cols).c()?; // [n, c, h, W]
        rows.broadcast_left(x.dims()[..2].to_vec()).c()?.contiguous().c()?.matmul(&y).c()
    }
}

#[cfg(test)]
mod tests {
    use lossgp_core::backend::conformance::assert_conformant;

    #[test]
    fn candle_conforms() {
        assert_conformant(&super::CandleBackend::cpu(), &[]);
    }

    #[test]
    fn the_erased_candle_backend_conforms_too() {
        assert_conformant(&lossgp_core::backend::DynBackend::new(super::CandleBackend::cpu()), &[]);
    }
}
