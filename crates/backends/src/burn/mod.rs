//! lossgp's [`Backend`] on burn 0.22.
//!
//! burn 0.22 picks its backend at run time from a [`Device`] (`Device::flex()`,
//! `Device::ndarray()`, `Device::libtorch()`, `Device::wgpu(..)`...), so one implementation
//! serves every burn backend: [`BurnBackend::new`] takes any device and enables autodiff on it,
//! and the constructors below open the devices lossgp registers (`flex`, `ndarray`, `tch`,
//! `tch-cuda`, `tch-cpu`, `wgpu`), each behind its Cargo feature.
//! Each method maps to burn's own tensor method or `burn::tensor::module` function (batch
//! norm is burn's fused `batch_norm_train`), after the shape checks shared by every backend.

mod plain;
pub(crate) mod tensor;

use burn::prelude::Device;
use burn::tensor::activation;
use burn::tensor::module;
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{Distribution, Gradients, Tensor, TensorData};
use lossgp_core::backend::resize::bilinear_matrix;
use lossgp_core::backend::{
    BResult, Backend, BackendError, BatchNormMode, BatchNormOutput, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp, checks,
};

pub use plain::BurnLoss;
pub use tensor::BurnTensor;
use tensor::{map_rank, with_rank, zip_rank};

/// A burn device as a lossgp backend.
#[derive(Clone, Debug)]
pub struct BurnBackend {
    device: Device,
    label: String,
    /// Whether the device's backend differentiates its bilinear resizing kernel (burn-ndarray
    /// and burn's CubeCL backends, wgpu among them, do not: they resize by matrix products).
    bilinear_backward: bool,
}

impl BurnBackend {
    /// A backend on any burn device (autodiff is enabled on it); `label` names it in reports.
    pub fn new(device: Device, label: impl Into<String>) -> BurnBackend {
        BurnBackend { device: device.autodiff(), label: label.into(), bilinear_backward: true }
    }

    /// burn's pure-Rust CPU backend, multi-threaded and SIMD-accelerated.
    #[cfg(feature = "flex")]
    pub fn flex() -> BurnBackend {
        BurnBackend::new(Device::flex(), "burn-flex cpu")
    }

    /// burn's ndarray CPU backend.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn deprecates ndarray in favour of flex; kept to compare them.
    pub fn ndarray() -> BurnBackend {
        BurnBackend { bilinear_backward: false, ..BurnBackend::new(Device::ndarray(), "burn-ndarray cpu") }
    }

    /// burn's libtorch backend on the first CUDA GPU libtorch sees, or on libtorch's CPU where
    /// it sees none; [`Backend::name`] says which.
    #[cfg(feature = "tch")]
    pub fn tch() -> BurnBackend {
        match BurnBackend::tch_cuda(0) {
            Ok(gpu) => gpu,
            Err(_) => BurnBackend::tch_cpu(),
        }
    }

    /// burn's libtorch backend on libtorch's CPU device.
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn 0.22 deprecates burn-tch in favour of its CubeCL backends; it still works.
    pub fn tch_cpu() -> BurnBackend {
        BurnBackend::new(Device::libtorch(), "burn-tch cpu")
    }

    /// burn's libtorch backend on CUDA GPU `index`; an error that says why where libtorch sees
    /// no such GPU.
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // as `tch_cpu`
    pub fn tch_cuda(index: usize) -> BResult<BurnBackend> {
        let gpus = libtorch_cuda_devices();
        if index >= gpus {
            let why = match gpus {
                0 => "libtorch sees no CUDA GPU. It needs an NVIDIA GPU with its driver (`nvidia-smi` lists \
                      it) and a CUDA build of libtorch (PyPI's `torch==2.9.0` for Linux is one; a `+cpu` build \
                      is not); `--backend tch` runs on the CPU instead"
                    .to_string(),
                n => format!("libtorch sees {n} CUDA GPUs, numbered from 0"),
            };
            return Err(BackendError::Device(format!("tch: no CUDA GPU {index}: {why}")));
        }
        Ok(BurnBackend::new(Device::libtorch_cuda(index), format!("burn-tch cuda:{index}")))
    }

    /// burn's wgpu backend on the adapter wgpu prefers (a discrete GPU first), on Vulkan (Metal on
    /// macOS; DX12, else Vulkan, on Windows). Not OpenGL, wgpu's last resort:
    /// burn's kernels compute wrong values there (measured on Mesa: bilinear resizing). The
    /// runtime is initialised once per process, here, so that a machine without a usable driver
    /// gets an error that says how to install one instead of a panic at the first tensor.
    #[cfg(feature = "wgpu")]
    pub fn wgpu() -> BResult<BurnBackend> {
        use burn::tensor::wgpu::WgpuBackend;
        use std::sync::OnceLock;
        const APIS: &[WgpuBackend] = if cfg!(target_os = "macos") {
            &[WgpuBackend::Metal]
        } else if cfg!(windows) {
            &[WgpuBackend::Dx12, WgpuBackend::Vulkan]
        } else {
            &[WgpuBackend::Vulkan]
        };
        // burn refuses to initialise a wgpu runtime twice, so the outcome is kept.
        static RUNTIME: OnceLock<Result<(Device, String), String>> = OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            let mut failures = Vec::new();
            for &api in APIS {
                match Device::wgpu_options().graphics_api(api).init_with_setup() {
                    Ok((device, setup)) => {
                        let info = setup.adapter.get_info();
                        return Ok((device, format!("{:?} {}", info.backend, info.name).to_lowercase()));
                    }
                    Err(e) => failures.push(format!("{api:?}: {e}")),
                }
            }
            Err(failures.join("; "))
        });
        match runtime {
            Ok((device, adapter)) => Ok(BurnBackend {
                bilinear_backward: false,
                ..BurnBackend::new(device.clone(), format!("burn-wgpu {adapter}"))
            }),
            Err(e) => Err(BackendError::Device(format!(
                "wgpu found no usable GPU adapter ({e}). Install the GPU's Vulkan driver (NVIDIA's, or Mesa's \
                 for AMD and Intel), or on a machine without a GPU Mesa's software Vulkan driver \
                 (Debian/Ubuntu: `apt install mesa-vulkan-drivers libvulkan1`)"
            ))),
        }
    }

    /// The device (autodiff-enabled).
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// How many CUDA GPUs libtorch sees.
#[cfg(feature = "tch")]
pub fn libtorch_cuda_devices() -> usize {
    Device::enumerate(burn::tensor::DeviceType::LibTorch).into_vec().len()
}

fn device_error(e: impl std::fmt::Debug) -> BackendError {
    BackendError::Device(format!("burn: {e:?}"))
}

impl Backend for BurnBackend {
    type Tensor = BurnTensor;
    type Gradients = Gradients;

    fn name(&self) -> String {
        self.label.clone()
    }

    fn seed(&self, seed: u64) {
        self.device.seed(seed);
    }

    fn tensor(&self, data: &[f32], shape: &[usize]) -> BResult<BurnTensor> {
        if data.len() != shape.iter().product::<usize>() {
            return Err(BackendError::shape("tensor", format!("{} values do not fill shape {shape:?}", data.len())));
        }
        BurnTensor::from_data(data, shape, &self.device)
    }

    fn full(&self, shape: &[usize], value: f32) -> BResult<BurnTensor> {
        self.tensor(&vec![value; shape.iter().product()], shape)
    }

    fn to_vec(&self, x: &BurnTensor) -> BResult<Vec<f32>> {
        with_rank!(x, |t| t.clone().into_data().try_to_vec::<f32>()).map_err(device_error)
    }

    fn shape(&self, x: &BurnTensor) -> Vec<usize> {
        x.dims()
    }

    fn param(&self, x: BurnTensor) -> BurnTensor {
        // A fresh leaf: `require_grad` on a tensor computed from parameters would panic.
        map_rank!(x, |t| t.inner().autodiff().require_grad())
    }

    fn detach(&self, x: &BurnTensor) -> BurnTensor {
        // The tensor without autodiff: free of the graph, and cheaper in later operations.
        map_rank!(x.clone(), |t| t.inner())
    }

    fn backward(&self, loss: &BurnTensor) -> BResult<Gradients> {
        if loss.dims().iter().product::<usize>() != 1 {
            return Err(BackendError::shape(
                "backward",
                format!("the loss must have one element, it has shape {:?}", loss.dims()),
            ));
        }
        if !loss.is_tracked() {
            return Err(BackendError::Device(
                "backward: the loss depends on no parameter (a loss must use the logits, through p or z)".into(),
            ));
        }
        Ok(with_rank!(loss, |t| t.backward()))
    }

    fn grad(&self, grads: &Gradients, param: &BurnTensor) -> Option<BurnTensor> {
        match param {
            BurnTensor::R1(t) => t.grad(grads).map(BurnTensor::R1),
            BurnTensor::R2(t) => t.grad(grads).map(BurnTensor::R2),
            BurnTensor::R3(t) => t.grad(grads).map(BurnTensor::R3),
            BurnTensor::R4(t) => t.grad(grads).map(BurnTensor::R4),
            BurnTensor::R5(t) => t.grad(grads).map(BurnTensor::R5),
            BurnTensor::R6(t) => t.grad(grads).map(BurnTensor::R6),
        }
    }

    fn unary(&self, op: UnaryOp, x: &BurnTensor) -> BResult<BurnTensor> {
        Ok(map_rank!(x.clone(), |t| match op {
            UnaryOp::Neg => t.neg(),
            UnaryOp::Exp => t.exp(),
            UnaryOp::Log => t.log(),
            UnaryOp::Sqrt => t.sqrt(),
            UnaryOp::Abs => t.abs(),
            UnaryOp::Sin => t.sin(),
            UnaryOp::Cos => t.cos(),
            UnaryOp::Tanh => t.tanh(),
            UnaryOp::Sigmoid => activation::sigmoid(t),
            UnaryOp::Relu => activation::relu(t),
            UnaryOp::Recip => t.recip(),
        }))
    }

    fn binary(&self, op: BinaryOp, a: &BurnTensor, b: &BurnTensor) -> BResult<BurnTensor> {
        checks::broadcast("binary", &a.dims(), &b.dims())?;
        Ok(zip_rank!(
            a.clone(),
            b.clone(),
            |x, y| match op {
                BinaryOp::Add => x.add(y),
                BinaryOp::Sub => x.sub(y),
                BinaryOp::Mul => x.mul(y),
                BinaryOp::Div => x.div(y),
                BinaryOp::Max => x.max_pair(y),
                BinaryOp::Min => x.min_pair(y),
            },
            BackendError::shape("binary", "operands of different rank")
        ))
    }

    fn affine(&self, x: &BurnTensor, scale: f32, shift: f32) -> BResult<BurnTensor> {
        Ok(map_rank!(x.clone(), |t| {
            let t = match scale {
                1.0 => t,
                -1.0 => t.neg(),
                _ => t.mul_scalar(scale),
            };
            if shift == 0.0 { t } else { t.add_scalar(shift) }
        }))
    }

    fn clamp(&self, x: &BurnTensor, min: f32, max: f32) -> BResult<BurnTensor> {
        if min > max || min.is_nan() || max.is_nan() {
            return Err(BackendError::shape("clamp", format!("the range [{min}, {max}] is empty")));
        }
        Ok(map_rank!(x.clone(), |t| match (min.is_finite(), max.is_finite()) {
            (true, true) => t.clamp(min, max),
            (true, false) => t.clamp_min(min),
            (false, true) => t.clamp_max(max),
            (false, false) => t,
        }))
    }

    fn mask_ge(&self, x: &BurnTensor, threshold: f32) -> BResult<BurnTensor> {
        Ok(map_rank!(x.clone(), |t| t.greater_equal_elem(threshold).float()))
    }

    fn reduce(&self, op: ReduceOp, x: &BurnTensor, dim: usize) -> BResult<BurnTensor> {
        checks::dim("reduce", &x.dims(), dim)?;
        Ok(map_rank!(x.clone(), |t| match op {
            ReduceOp::Sum => t.sum_dim(dim),
            ReduceOp::Mean => t.mean_dim(dim),
            ReduceOp::Max => t.max_dim(dim),
        }))
    }

    fn softmax(&self, x: &BurnTensor, dim: usize) -> BResult<BurnTensor> {
        checks::dim("softmax", &x.dims(), dim)?;
        Ok(map_rank!(x.clone(), |t| activation::softmax(t, dim)))
    }

    fn log_softmax(&self, x: &BurnTensor, dim: usize) -> BResult<BurnTensor> {
        checks::dim("log_softmax", &x.dims(), dim)?;
        Ok(map_rank!(x.clone(), |t| activation::log_softmax(t, dim)))
    }

    fn reshape(&self, x: &BurnTensor, shape: &[usize]) -> BResult<BurnTensor> {
        checks::reshape(&x.dims(), shape)?;
        x.clone().reshaped(shape)
    }

    fn permute(&self, x: &BurnTensor, axes: &[usize]) -> BResult<BurnTensor> {
        checks::permute(&x.dims(), axes)?;
        Ok(map_rank!(x.clone(), |t| t.permute(std::array::from_fn(|i| axes[i]))))
    }

    fn narrow(&self, x: &BurnTensor, dim: usize, start: usize, len: usize) -> BResult<BurnTensor> {
        checks::narrow(&x.dims(), dim, start, len)?;
        Ok(map_rank!(x.clone(), |t| t.narrow(dim, start, len)))
    }

    fn cat(&self, xs: &[BurnTensor], dim: usize) -> BResult<BurnTensor> {
        checks::cat(&xs.iter().map(BurnTensor::dims).collect::<Vec<_>>(), dim)?;
        let first = xs[0].dims();
        macro_rules! join {
            ($variant:ident) => {
                BurnTensor::$variant(Tensor::cat(
                    xs.iter()
                        .filter_map(|x| if let BurnTensor::$variant(t) = x { Some(t.clone()) } else { None })
                        .collect(),
                    dim,
                ))
            };
        }
        Ok(match first.len() {
            1 => join!(R1),
            2 => join!(R2),
            3 => join!(R3),
            4 => join!(R4),
            5 => join!(R5),
            _ => join!(R6),
        })
    }

    fn matmul(&self, a: &BurnTensor, b: &BurnTensor) -> BResult<BurnTensor> {
        checks::matmul(&a.dims(), &b.dims())?;
        Ok(zip_rank!(
            a.clone(),
            b.clone(),
            |x, y| x.matmul(y),
            BackendError::shape("matmul", "operands of different rank")
        ))
    }

    fn conv2d(
        &self,
        x: &BurnTensor,
        weight: &BurnTensor,
        bias: Option<&BurnTensor>,
        o: &Conv2d,
    ) -> BResult<BurnTensor> {
        checks::conv2d(&x.dims(), &weight.dims(), bias.map(|b| b.dims()).as_deref(), o)?;
        let options = ConvOptions::new(o.stride, o.padding, o.dilation, o.groups);
        let bias = bias.map(|b| b.r1("conv2d")).transpose()?;
        Ok(BurnTensor::R4(module::conv2d(x.r4("conv2d")?, weight.r4("conv2d")?, bias, options)))
    }

    fn pool2d(
        &self,
        pool: Pool,
        x: &BurnTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> BResult<BurnTensor> {
        checks::pool2d(&x.dims(), kernel, stride, padding)?;
        let x = x.r4("pool2d")?;
        Ok(BurnTensor::R4(match pool {
            Pool::Max => module::max_pool2d(x, MaxPoolOptions::new(kernel).with_stride(stride).with_padding(padding)),
            Pool::Avg => module::avg_pool2d(
                x,
                AvgPoolOptions::new(kernel).with_stride(stride).with_padding(padding).with_count_include_pad(true),
            ),
        }))
    }

    fn adaptive_avg_pool2d(&self, x: &BurnTensor, size: [usize; 2]) -> BResult<BurnTensor> {
        if size.contains(&0) {
            return Err(BackendError::shape("adaptive_avg_pool2d", format!("output size {size:?} is empty")));
        }
        Ok(BurnTensor::R4(module::adaptive_avg_pool2d(x.r4("adaptive_avg_pool2d")?, size)))
    }

    fn batch_norm(
        &self,
        x: &BurnTensor,
        gamma: &BurnTensor,
        beta: &BurnTensor,
        mode: BatchNormMode<'_, BurnTensor>,
        epsilon: f32,
    ) -> BResult<BatchNormOutput<BurnTensor>> {
        let dims = x.dims();
        if dims.len() < 2 {
            return Err(BackendError::shape("batch_norm", format!("input {dims:?} needs a channel dimension")));
        }
        let channels = dims[1];
        let vector = |t: &BurnTensor| -> BResult<Tensor<1>> {
            let v = t.r1("batch_norm")?;
            if v.dims() == [channels] {
                Ok(v)
            } else {
                Err(BackendError::shape(
                    "batch_norm",
                    format!("a per-channel vector must be [{channels}], got {:?}", v.dims()),
                ))
            }
        };
        let (gamma, beta) = (vector(gamma)?, vector(beta)?);
        let eps = f64::from(epsilon);
        Ok(match mode {
            BatchNormMode::Train => {
                let statistics;
                let output = map_rank!(x.clone(), |t| {
                    let out = module::batch_norm_train(t, gamma.clone(), beta.clone(), eps);
                    statistics = (BurnTensor::R1(out.mean.inner()), BurnTensor::R1(out.variance.inner()));
                    out.output
                });
                BatchNormOutput { output, statistics: Some(statistics) }
            }
            BatchNormMode::Eval { mean, variance } => {
                let (mean, variance) = (vector(mean)?, vector(variance)?);
                let output = map_rank!(x.clone(), |t| module::batch_norm(
                    t,
                    gamma.clone(),
                    beta.clone(),
                    mean.clone(),
                    variance.clone(),
                    eps
                ));
                BatchNormOutput { output, statistics: None }
            }
        })
    }

    fn dropout(&self, x: &BurnTensor, p: f32) -> BResult<BurnTensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(BackendError::shape("dropout", format!("the probability {p} is not in [0, 1)")));
        }
        if p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - f64::from(p);
        Ok(map_rank!(x.clone(), |t| {
            let mask = Tensor::random(t.dims(), Distribution::Bernoulli(keep), &self.device);
            t.mul(mask).mul_scalar(1.0 / keep as f32)
        }))
    }

    fn upsample_bilinear(&self, x: &BurnTensor, size: [usize; 2]) -> BResult<BurnTensor> {
        if size.contains(&0) {
            return Err(BackendError::shape("upsample_bilinear", format!("output size {size:?} is empty")));
        }
        let x4 = x.r4("upsample_bilinear")?;
        if self.bilinear_backward || !x.is_tracked() {
            let options =
                InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size(size).with_align_corners(false);
            return Ok(BurnTensor::R4(module::interpolate(x4, options)));
        }
        // The backend cannot differentiate its bilinear kernel: the same resize as two matrix
        // products (rows · x · colsᵀ), broadcast over batch and channels.
        let [_, _, h, w] = x4.dims();
        let matrix = |from: usize, to: usize| -> Tensor<4> {
            Tensor::from_data(TensorData::new(bilinear_matrix(from, to), [1, 1, to, from]), &self.device)
        };
        let (rows, cols) = (matrix(h, size[0]), matrix(w, size[1]).swap_dims(2, 3));
        Ok(BurnTensor::R4(rows.matmul(x4.matmul(cols))))
    }
}

#[cfg(test)]
mod tests {
    use lossgp_core::backend::conformance::assert_conformant;

    #[cfg(feature = "flex")]
    #[test]
    fn flex_conforms() {
        assert_conformant(&super::BurnBackend::flex(), &[]);
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn ndarray_conforms() {
        assert_conformant(&super::BurnBackend::ndarray(), &[]);
    }

    #[cfg(feature = "tch")]
    #[test]
    fn tch_cpu_conforms() {
        assert_conformant(&super::BurnBackend::tch_cpu(), &[]);
    }

    /// On a machine where libtorch sees a CUDA GPU; elsewhere it says so and passes.
    #[cfg(feature = "tch")]
    #[test]
    fn tch_cuda_conforms_where_there_is_a_gpu() {
        match super::BurnBackend::tch_cuda(0) {
            Ok(gpu) => assert_conformant(&gpu, &[]),
            Err(why) => eprintln!("tch on CUDA not tested: {why}"),
        }
    }

    /// With the `wgpu` feature the test needs a driver (Mesa's software one will do): a build
    /// that asks for wgpu and cannot run it fails here, with the message that says what to
    /// install.
    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_conforms() {
        let b = super::BurnBackend::wgpu().unwrap_or_else(|e| panic!("{e}"));
        eprintln!("wgpu adapter: {}", lossgp_core::backend::Backend::name(&b));
        assert_conformant(&b, &[]);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_erased_backend_conforms_too() {
        assert_conformant(&lossgp_core::backend::DynBackend::new(super::BurnBackend::flex()), &[]);
    }
}
