//! Layers, written once over [`Backend`]: each holds the ids of its tensors in the model's
//! [`Params`] and applies the backend's kernels to them.
//!
//! Names and layouts follow PyTorch (`conv1.weight` is `[out, in, kh, kw]`, `fc.weight` is
//! `[out, in]`, batch norm keeps `running_mean` and `running_var`), so a checkpoint saved by
//! lossgp loads into the same network written in PyTorch and back. Initial weights are drawn
//! as the reference implementation of each network draws them ([`WeightInit`]), from a seeded
//! generator on the host, so a seed gives the same network on every backend.
//!
//! Models are put together with a [`Builder`], which owns the parameters being created and the
//! generator, so that building a network reads like its PyTorch `__init__`.

use lossgp_core::backend::{
    BResult, Backend, BackendError, BatchNormMode, BinaryOp, Conv2d, ParamId, ParamKind, Params, Pool, UnaryOp,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Draws initial weights.
pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Init {
        Init { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// `n` values uniform in `[-bound, bound]`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(-bound..=bound)).collect()
    }

    /// `n` values from a normal distribution with standard deviation `std` (Box-Muller).
    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| std * self.standard_normal()).collect()
    }

    /// `n` values from a normal distribution with standard deviation `std`, redrawn until they
    /// lie in `[-bound, bound]` (PyTorch's `trunc_normal_`, whose bounds are absolute).
    pub fn truncated_normal(&mut self, n: usize, std: f32, bound: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                loop {
                    let x = std * self.standard_normal();
                    if x.abs() <= bound {
                        break x;
                    }
                }
            })
            .collect()
    }

    fn standard_normal(&mut self) -> f32 {
        let (u, v): (f32, f32) = (self.rng.random_range(f32::EPSILON..1.0), self.rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// How a layer's weights start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightInit {
    /// PyTorch's default for convolutions and linear layers: uniform in `±1/sqrt(fan_in)`,
    /// bias too.
    Default,
    /// He et al.'s normal initialisation for ReLU networks, `std = sqrt(2 / fan_out)`
    /// (torchvision's ResNets and segmentation backbones); bias as [`Default`](Self::Default).
    KaimingFanOut,
    /// Normal with this standard deviation, truncated to `±2` (torchvision's InceptionV3:
    /// 0.1, 0.01 and 0.001); bias as [`Default`](Self::Default).
    TruncatedNormal(f32),
    /// Keras' default for `Dense`: uniform in `±sqrt(6 / (fan_in + fan_out))`, bias 0 (the
    /// paper's classification head was written in Keras).
    GlorotUniform,
}

impl WeightInit {
    fn weights(self, init: &mut Init, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        match self {
            WeightInit::Default => init.uniform(n, 1.0 / (fan_in as f32).sqrt()),
            WeightInit::KaimingFanOut => init.normal(n, (2.0 / fan_out as f32).sqrt()),
            WeightInit::TruncatedNormal(std) => init.truncated_normal(n, std, 2.0),
            WeightInit::GlorotUniform => init.uniform(n, (6.0 / (fan_in + fan_out) as f32).sqrt()),
        }
    }

    fn bias(self, init: &mut Init, n: usize, fan_in: usize) -> Vec<f32> {
        match self {
            WeightInit::GlorotUniform => vec![0.0; n],
            _ => init.uniform(n, 1.0 / (fan_in as f32).sqrt()),
        }
    }
}

/// The settings of a convolution: kernel, geometry, bias and initialisation. Built with
/// chained calls, `ConvConfig::square(3).stride(2).same()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvConfig {
    /// Kernel (height, width).
    pub kernel: [usize; 2],
    /// Stride, padding, dilation and groups.
    pub geometry: Conv2d,
    /// Whether it adds a bias.
    pub bias: bool,
    /// How its weights start.
    pub init: WeightInit,
}

impl ConvConfig {
    /// A `kh x kw` convolution: stride 1, no padding, no bias, PyTorch's default weights.
    pub fn new(kh: usize, kw: usize) -> ConvConfig {
        ConvConfig { kernel: [kh, kw], geometry: Conv2d::default(), bias: false, init: WeightInit::Default }
    }

    /// A `k x k` convolution.
    pub fn square(k: usize) -> ConvConfig {
        ConvConfig::new(k, k)
    }

    /// With stride `s` in both directions.
    pub fn stride(mut self, s: usize) -> ConvConfig {
        self.geometry.stride = [s, s];
        self
    }

    /// With `[height, width]` zeros on each side.
    pub fn padding(mut self, padding: [usize; 2]) -> ConvConfig {
        self.geometry.padding = padding;
        self
    }

    /// With dilation `d` in both directions.
    pub fn dilation(mut self, d: usize) -> ConvConfig {
        self.geometry.dilation = [d, d];
        self
    }

    /// Padded to keep the size at stride 1 (odd kernels): `dilation * (k - 1) / 2`.
    pub fn same(mut self) -> ConvConfig {
        let g = &mut self.geometry;
        g.padding = [g.dilation[0] * (self.kernel[0] - 1) / 2, g.dilation[1] * (self.kernel[1] - 1) / 2];
        self
    }

    /// With a bias.
    pub fn bias(mut self) -> ConvConfig {
        self.bias = true;
        self
    }

    /// With weights drawn by `init`.
    pub fn init(mut self, init: WeightInit) -> ConvConfig {
        self.init = init;
        self
    }

    /// The output size along one axis (0: height, 1: width) for an input of `size`.
    pub fn output(&self, size: usize, axis: usize) -> usize {
        let g = &self.geometry;
        let span = g.dilation[axis] * (self.kernel[axis] - 1) + 1;
        (size + 2 * g.padding[axis]).saturating_sub(span) / g.stride[axis] + 1
    }
}

/// The output size of a pooling window `k` with stride `s` and padding `p` (floor mode).
pub fn pooled(size: usize, k: usize, s: usize, p: usize) -> usize {
    (size + 2 * p).saturating_sub(k) / s + 1
}

/// Creates a model's parameters: the backend, the store being filled and the generator.
pub struct Builder<'a, B: Backend> {
    b: &'a B,
    params: Params<B>,
    init: Init,
}

impl<'a, B: Backend> Builder<'a, B> {
    /// An empty model on `b`, with weights drawn from `seed`.
    pub fn new(b: &'a B, seed: u64) -> Builder<'a, B> {
        Builder { b, params: Params::new(), init: Init::new(seed) }
    }

    /// The parameters created.
    pub fn finish(self) -> Params<B> {
        self.params
    }

    /// A convolution from `c_in` to `c_out` channels, named `name`.
    pub fn conv(&mut self, name: &str, [c_in, c_out]: [usize; 2], config: ConvConfig) -> BResult<Conv> {
        nonempty(name, [c_in, c_out])?;
        let [kh, kw] = config.kernel;
        let shape = [c_out, c_in / config.geometry.groups.max(1), kh, kw];
        let count = within_limit(name, &shape)?;
        let (fan_in, fan_out) = (shape[1] * kh * kw, c_out * kh * kw);
        let values = config.init.weights(&mut self.init, count, fan_in, fan_out);
        let weight = self.trainable(format!("{name}.weight"), &values, &shape)?;
        let bias = match config.bias {
            true => {
                let values = config.init.bias(&mut self.init, c_out, fan_in);
                Some(self.trainable(format!("{name}.bias"), &values, &[c_out])?)
            }
            false => None,
        };
        Ok(Conv { weight, bias, options: config.geometry })
    }

    /// Batch normalisation over `channels` with PyTorch's defaults (epsilon 1e-5, momentum 0.1).
    pub fn batch_norm(&mut self, name: &str, channels: usize) -> BResult<BatchNorm> {
        self.batch_norm_with(name, channels, 1e-5, 0.1)
    }

    /// Batch normalisation with its own epsilon and momentum (PyTorch's convention: the
    /// weight of the new batch in the running statistics).
    pub fn batch_norm_with(&mut self, name: &str, channels: usize, epsilon: f32, momentum: f32) -> BResult<BatchNorm> {
        self.batch_norm_full(name, channels, epsilon, momentum, true)
    }

    /// Keras' `BatchNormalization`: epsilon 1e-3, momentum 0.99 (0.01 here), and a running
    /// variance fed with the biased batch variance.
    pub fn batch_norm_keras(&mut self, name: &str, channels: usize) -> BResult<BatchNorm> {
        self.batch_norm_full(name, channels, 1e-3, 0.01, false)
    }

    fn batch_norm_full(
        &mut self,
        name: &str,
        channels: usize,
        epsilon: f32,
        momentum: f32,
        unbiased: bool,
    ) -> BResult<BatchNorm> {
        let mut add = |suffix: &str, value: f32, kind: ParamKind| -> BResult<ParamId> {
            let tensor = self.b.full(&[channels], value)?;
            Ok(self.params.add(self.b, format!("{name}.{suffix}"), tensor, kind))
        };
        Ok(BatchNorm {
            gamma: add("weight", 1.0, ParamKind::Trainable)?,
            beta: add("bias", 0.0, ParamKind::Trainable)?,
            mean: add("running_mean", 0.0, ParamKind::Buffer)?,
            variance: add("running_var", 1.0, ParamKind::Buffer)?,
            momentum,
            epsilon,
            unbiased,
        })
    }

    /// A fully connected layer from `inputs` to `outputs`, named `name`.
    pub fn linear(&mut self, name: &str, [inputs, outputs]: [usize; 2], init: WeightInit) -> BResult<Linear> {
        nonempty(name, [inputs, outputs])?;
        let count = within_limit(name, &[outputs, inputs])?;
        let values = init.weights(&mut self.init, count, inputs, outputs);
        let weight = self.trainable(format!("{name}.weight"), &values, &[outputs, inputs])?;
        let values = init.bias(&mut self.init, outputs, inputs);
        let bias = self.trainable(format!("{name}.bias"), &values, &[outputs])?;
        Ok(Linear { outputs, weight, bias })
    }

    /// A convolution without bias followed by batch norm (and the ReLU applied by
    /// [`ConvBn::forward`]), named `conv` and `bn`.
    pub fn conv_bn(
        &mut self,
        [conv, bn]: [&str; 2],
        io: [usize; 2],
        config: ConvConfig,
        epsilon: f32,
    ) -> BResult<ConvBn> {
        let conv = self.conv(conv, io, config)?;
        let bn = self.batch_norm_with(bn, io[1], epsilon, 0.1)?;
        Ok(ConvBn { conv, bn })
    }

    fn trainable(&mut self, name: String, values: &[f32], shape: &[usize]) -> BResult<ParamId> {
        let tensor = self.b.tensor(values, shape)?;
        Ok(self.params.add(self.b, name, tensor, ParamKind::Trainable))
    }
}

/// Layers need inputs and outputs (a width option too small leaves none).
/// The most weights one layer may hold: 2^28 (1 GiB of `f32`), ten times VGG-16's largest.
/// A layer sized by its input (a linear layer after an unpooled image) beyond it is refused
/// before anything is allocated, naming the layer and the fix.
pub const MAX_LAYER_WEIGHTS: usize = 1 << 28;

fn within_limit(name: &str, shape: &[usize]) -> BResult<usize> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match count {
        Some(n) if n <= MAX_LAYER_WEIGHTS => Ok(n),
        _ => Err(BackendError::shape(
            "layer",
            format!(
                "`{name}` would hold {} weights ({shape:?}), beyond the limit of {MAX_LAYER_WEIGHTS} per layer: the \
                 input is too large for this model; use a smaller --image-size (image_size), or a model that pools it",
                count.map_or("more than 2^64".to_owned(), |n| n.to_string())
            ),
        )),
    }
}

fn nonempty(name: &str, [inputs, outputs]: [usize; 2]) -> BResult<()> {
    if inputs == 0 || outputs == 0 {
        return Err(BackendError::shape(
            "layer",
            format!("`{name}` would map {inputs} channels to {outputs}; use a larger width"),
        ));
    }
    Ok(())
}

/// A 2-d convolution.
#[derive(Clone, Debug)]
pub struct Conv {
    weight: ParamId,
    bias: Option<ParamId>,
    options: Conv2d,
}

impl Conv {
    /// Applies it to `[n, c_in, h, w]`.
    pub fn forward<B: Backend>(&self, b: &B, params: &Params<B>, x: &B::Tensor) -> BResult<B::Tensor> {
        b.conv2d(x, params.get(self.weight), self.bias.map(|id| params.get(id)), &self.options)
    }
}

/// Batch normalisation over the channels of `[n, c, ...]`, with running statistics for
/// inference (PyTorch's `BatchNorm1d`/`BatchNorm2d`, or Keras').
#[derive(Clone, Debug)]
pub struct BatchNorm {
    gamma: ParamId,
    beta: ParamId,
    mean: ParamId,
    variance: ParamId,
    momentum: f32,
    epsilon: f32,
    /// Whether the running variance takes the unbiased batch variance (PyTorch) or the biased
    /// one (Keras).
    unbiased: bool,
}

impl BatchNorm {
    /// Normalises with the batch's statistics (and updates the running ones) when training,
    /// with the running statistics otherwise.
    pub fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let (gamma, beta) = (params.get(self.gamma), params.get(self.beta));
        if !train {
            let mode = BatchNormMode::Eval { mean: params.get(self.mean), variance: params.get(self.variance) };
            return Ok(b.batch_norm(x, gamma, beta, mode, self.epsilon)?.output);
        }
        let shape = b.shape(x);
        let n: usize = shape.iter().product::<usize>() / shape.get(1).copied().unwrap_or(1).max(1);
        if n < 2 {
            // Normalised by its own mean, a single value is 0 whatever it was: nothing before
            // this layer would learn. PyTorch refuses it the same way.
            return Err(BackendError::Shape {
                op: "batch norm",
                detail: format!(
                    "in training mode it needs more than one value per channel, and input {shape:?} gives one: \
                     train with a batch size of at least 2 (--batch-size, [train] batch_size)"
                ),
            });
        }
        let out = b.batch_norm(x, gamma, beta, BatchNormMode::Train, self.epsilon)?;
        if let Some((mean, variance)) = &out.statistics {
            let unbiased = if self.unbiased { n as f32 / (n.max(2) - 1) as f32 } else { 1.0 };
            let m = self.momentum;
            let blend = |old: &B::Tensor, new: &B::Tensor, scale: f32| {
                b.binary(BinaryOp::Add, &b.affine(old, 1.0 - m, 0.0)?, &b.affine(new, m * scale, 0.0)?)
            };
            let running_mean = blend(params.get(self.mean), mean, 1.0)?;
            let running_variance = blend(params.get(self.variance), variance, unbiased)?;
            params.set(b, self.mean, running_mean);
            params.set(b, self.variance, running_variance);
        }
        Ok(out.output)
    }
}

/// Convolution, batch norm and (optionally) ReLU: the unit most networks of the zoo are made of
/// (InceptionV3's `BasicConv2d`).
#[derive(Clone, Debug)]
pub struct ConvBn {
    conv: Conv,
    bn: BatchNorm,
}

impl ConvBn {
    /// `relu(bn(conv(x)))`.
    pub fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        relu(b, &self.forward_linear(b, params, x, train)?)
    }

    /// `bn(conv(x))`, without the ReLU.
    pub fn forward_linear<B: Backend>(
        &self,
        b: &B,
        params: &mut Params<B>,
        x: &B::Tensor,
        train: bool,
    ) -> BResult<B::Tensor> {
        let y = self.conv.forward(b, params, x)?;
        self.bn.forward(b, params, &y, train)
    }
}

/// A fully connected layer, `[n, in] -> [n, out]`, weight stored `[out, in]` as in PyTorch.
#[derive(Clone, Debug)]
pub struct Linear {
    outputs: usize,
    weight: ParamId,
    bias: ParamId,
}

impl Linear {
    /// Applies it to `[n, in]`.
    pub fn forward<B: Backend>(&self, b: &B, params: &Params<B>, x: &B::Tensor) -> BResult<B::Tensor> {
        let weight_t = b.permute(params.get(self.weight), &[1, 0])?;
        b.binary(BinaryOp::Add, &b.matmul(x, &weight_t)?, &b.reshape(params.get(self.bias), &[1, self.outputs])?)
    }
}

/// `max(x, 0)`.
pub fn relu<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    b.unary(UnaryOp::Relu, x)
}

/// Max pooling with window `k`, stride `s` and padding `p` (floor mode).
pub fn max_pool<B: Backend>(b: &B, x: &B::Tensor, k: usize, s: usize, p: usize) -> BResult<B::Tensor> {
    b.pool2d(Pool::Max, x, [k, k], [s, s], [p, p])
}

/// Average pooling with window `k`, stride `s` and padding `p`, padding counted as zeros
/// (PyTorch's `F.avg_pool2d` default).
pub fn avg_pool<B: Backend>(b: &B, x: &B::Tensor, k: usize, s: usize, p: usize) -> BResult<B::Tensor> {
    b.pool2d(Pool::Avg, x, [k, k], [s, s], [p, p])
}

/// The mean over each channel, `[n, c, h, w] -> [n, c]`.
pub fn global_avg_pool<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    flatten(b, &b.adaptive_avg_pool2d(x, [1, 1])?)
}

/// `[n, ...] -> [n, rest]`.
pub fn flatten<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    let shape = b.shape(x);
    b.reshape(x, &[shape[0], shape[1..].iter().product()])
}

/// Dropout with probability `p` when training; the identity otherwise.
pub fn dropout<B: Backend>(b: &B, x: &B::Tensor, p: f32, train: bool) -> BResult<B::Tensor> {
    if train && p > 0.0 { b.dropout(x, p) } else { Ok(x.clone()) }
}

#[cfg(test)]
mod tests {
    use lossgp_backends::burn::BurnBackend;

    use super::*;

    /// A layer sized beyond the limit (a linear layer over a 2048x2048 image's features, or
    /// sizes whose product overflows) is refused by name before anything is allocated.
    #[test]
    fn layers_beyond_the_weight_limit_are_refused_before_allocating() {
        let b = BurnBackend::flex();
        let mut build = Builder::new(&b, 0);
        let err = build.linear("fc1", [64 * 512 * 512, 128], WeightInit::Default).unwrap_err().to_string();
        assert!(err.contains("`fc1` would hold 2147483648 weights") && err.contains("--image-size"), "{err}");
        let err = build.linear("fc", [usize::MAX, 2], WeightInit::Default).unwrap_err().to_string();
        assert!(err.contains("more than 2^64"), "{err}");
        let err = build.conv("conv", [1 << 20, 1 << 10], ConvConfig::square(3)).unwrap_err().to_string();
        assert!(err.contains("`conv` would hold"), "{err}");
        assert!(build.linear("ok", [512, 10], WeightInit::Default).is_ok());
    }

    #[test]
    fn batch_norm_running_statistics_follow_pytorch() {
        let b = BurnBackend::flex();
        let mut build = Builder::new(&b, 0);
        let bn = build.batch_norm("bn", 2).unwrap();
        let mut params = build.finish();
        // Channel 0 holds 1, 2, 3, 6 (mean 3, unbiased variance 14/3); channel 1 holds 0, 0, 0, 4.
        let x = b.tensor(&[1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 6.0, 4.0], &[4, 2, 1, 1]).unwrap();
        let out = b.to_vec(&bn.forward(&b, &mut params, &x, true).unwrap()).unwrap();
        let named = |params: &Params<BurnBackend>, name: &str| {
            let id = params.ids().find(|&id| params.name(id) == name).unwrap();
            b.to_vec(params.get(id)).unwrap()
        };
        let close = |got: Vec<f32>, want: [f32; 2]| {
            assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5), "{got:?} vs {want:?}")
        };
        close(named(&params, "bn.running_mean"), [0.1 * 3.0, 0.1 * 1.0]);
        close(named(&params, "bn.running_var"), [0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 4.0]);
        // The output is normalised with the biased batch variance (3.5 for channel 0).
        assert!((out[0] - (1.0 - 3.0) / (3.5f32 + 1e-5).sqrt()).abs() < 1e-4, "{out:?}");
        // Inference uses the running statistics and leaves them alone.
        let eval = b.to_vec(&bn.forward(&b, &mut params, &x, false).unwrap()).unwrap();
        assert!((eval[0] - (1.0 - 0.3) / (0.9f32 + 1.4 / 3.0 + 1e-5).sqrt()).abs() < 1e-4, "{eval:?}");
        close(named(&params, "bn.running_mean"), [0.3, 0.1]);
    }

    #[test]
    fn batch_norm_refuses_to_train_on_one_value_per_channel() {
        let b = BurnBackend::flex();
        let mut build = Builder::new(&b, 0);
        let bn = build.batch_norm("bn", 2).unwrap();
        let mut params = build.finish();
        let one = b.tensor(&[1.0, 2.0], &[1, 2, 1, 1]).unwrap();
        let err = bn.forward(&b, &mut params, &one, true).unwrap_err().to_string();
        assert!(err.contains("more than one value per channel") && err.contains("--batch-size"), "{err}");
        // Evaluation, and one image with several pixels, are fine.
        bn.forward(&b, &mut params, &one, false).unwrap();
        bn.forward(&b, &mut params, &b.tensor(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 2, 1]).unwrap(), true).unwrap();
    }

    /// Sample standard deviation of a layer's initial weights.
    fn spread(values: &[f32]) -> f32 {
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt()
    }

    #[test]
    fn initialisations_follow_their_references() {
        let b = BurnBackend::flex();
        let mut build = Builder::new(&b, 3);
        build.conv("kaiming", [16, 64], ConvConfig::square(3).init(WeightInit::KaimingFanOut)).unwrap();
        build.conv("trunc", [16, 64], ConvConfig::square(3).init(WeightInit::TruncatedNormal(1.5))).unwrap();
        build.conv("default", [16, 64], ConvConfig::square(3).bias()).unwrap();
        build.linear("dense", [300, 100], WeightInit::GlorotUniform).unwrap();
        let params = build.finish();
        let values = |name: &str| {
            let id = params.ids().find(|&id| params.name(id) == name).unwrap();
            b.to_vec(params.get(id)).unwrap()
        };
        // Kaiming normal, fan out = 64 * 9: std sqrt(2 / 576).
        let kaiming = spread(&values("kaiming.weight"));
        assert!((kaiming / (2.0f32 / 576.0).sqrt() - 1.0).abs() < 0.05, "{kaiming}");
        // Truncated to ±2 (absolute): nothing beyond, and a narrower spread than 1.5.
        let trunc = values("trunc.weight");
        assert!(trunc.iter().all(|v| v.abs() <= 2.0) && spread(&trunc) < 1.3, "{}", spread(&trunc));
        // PyTorch's default: uniform in ±1/sqrt(fan_in = 144), bias likewise.
        let bound = 1.0 / 12.0;
        assert!(values("default.weight").iter().chain(&values("default.bias")).all(|v| v.abs() <= bound));
        assert!(values("default.weight").iter().any(|v| v.abs() > 0.9 * bound));
        // Glorot: uniform in ±sqrt(6 / 400), bias 0.
        let dense = values("dense.weight");
        assert!(
            dense.iter().all(|v| v.abs() <= (6.0f32 / 400.0).sqrt()) && values("dense.bias").iter().all(|&v| v == 0.0)
        );
    }

    #[test]
    fn conv_output_sizes_match_the_kernels() {
        let b = BurnBackend::flex();
        let configs = [
            ConvConfig::square(3).stride(2),
            ConvConfig::new(1, 7).padding([0, 3]),
            ConvConfig::square(3).dilation(4).same(),
            ConvConfig::square(7).stride(2).padding([3, 3]),
        ];
        for config in configs {
            let mut build = Builder::new(&b, 0);
            let conv = build.conv("c", [2, 3], config).unwrap();
            let params = build.finish();
            let out = conv.forward(&b, &params, &b.full(&[1, 2, 17, 12], 1.0).unwrap()).unwrap();
            assert_eq!(b.shape(&out), [1, 3, config.output(17, 0), config.output(12, 1)], "{config:?}");
        }
        assert_eq!((pooled(147, 3, 2, 0), pooled(112, 3, 2, 1)), (73, 56));
    }
}
