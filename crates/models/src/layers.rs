//! Layers, written once over [`Backend`]: each holds the ids of its tensors in the model's
//! [`Params`] and applies the backend's kernels to them.
//!
//! Names and layouts follow PyTorch (`conv1.weight` is `[out, in, kh, kw]`, `fc.weight` is
//! `[out, in]`, batch norm keeps `running_mean` and `running_var`), so a checkpoint saved by
//! lossgp loads into the same network written in PyTorch and back. Initialisation is PyTorch's
//! default too, drawn from a seeded generator on the host, so a seed gives the same network on
//! every backend.

use lossgp_core::backend::{
    BResult, Backend, BatchNormMode, BinaryOp, Conv2d, ParamId, ParamKind, Params, Pool, UnaryOp,
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
        (0..n)
            .map(|_| {
                let (u, v): (f32, f32) = (self.rng.random_range(f32::EPSILON..1.0), self.rng.random());
                std * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect()
    }
}

/// How a layer's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightInit {
    /// PyTorch's default for convolutions and linear layers: uniform in `±1/sqrt(fan_in)`.
    Default,
    /// He et al.'s normal initialisation for ReLU networks, `std = sqrt(2 / fan_out)`
    /// (what torchvision's ResNets use).
    KaimingFanOut,
}

/// A 2-d convolution.
#[derive(Clone, Debug)]
pub struct Conv {
    weight: ParamId,
    bias: Option<ParamId>,
    options: Conv2d,
}

impl Conv {
    /// A `kernel x kernel` convolution from `c_in` to `c_out` channels, named `name`.
    #[allow(clippy::too_many_arguments)]
    pub fn new<B: Backend>(
        b: &B,
        params: &mut Params<B>,
        init: &mut Init,
        name: &str,
        [c_in, c_out]: [usize; 2],
        kernel: usize,
        options: Conv2d,
        bias: bool,
        weights: WeightInit,
    ) -> BResult<Conv> {
        let shape = [c_out, c_in / options.groups.max(1), kernel, kernel];
        let fan_in = shape[1] * kernel * kernel;
        let values = match weights {
            WeightInit::Default => init.uniform(shape.iter().product(), 1.0 / (fan_in as f32).sqrt()),
            WeightInit::KaimingFanOut => {
                init.normal(shape.iter().product(), (2.0 / (c_out * kernel * kernel) as f32).sqrt())
            }
        };
        let weight = params.add(b, format!("{name}.weight"), b.tensor(&values, &shape)?, ParamKind::Trainable);
        let bias = if bias {
            let values = init.uniform(c_out, 1.0 / (fan_in as f32).sqrt());
            Some(params.add(b, format!("{name}.bias"), b.tensor(&values, &[c_out])?, ParamKind::Trainable))
        } else {
            None
        };
        Ok(Conv { weight, bias, options })
    }

    /// Applies it to `[n, c_in, h, w]`.
    pub fn forward<B: Backend>(&self, b: &B, params: &Params<B>, x: &B::Tensor) -> BResult<B::Tensor> {
        b.conv2d(x, params.get(self.weight), self.bias.map(|id| params.get(id)), &self.options)
    }
}

/// Batch normalisation over the channels of `[n, c, ...]`, with running statistics for
/// inference (PyTorch's `BatchNorm2d`: momentum 0.1, unbiased running variance).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    gamma: ParamId,
    beta: ParamId,
    mean: ParamId,
    variance: ParamId,
    momentum: f32,
    epsilon: f32,
}

impl BatchNorm {
    /// Batch norm over `channels`, named `name`.
    pub fn new<B: Backend>(b: &B, params: &mut Params<B>, name: &str, channels: usize) -> BResult<BatchNorm> {
        let mut add = |suffix: &str, value: f32, kind: ParamKind| -> BResult<ParamId> {
            Ok(params.add(b, format!("{name}.{suffix}"), b.full(&[channels], value)?, kind))
        };
        Ok(BatchNorm {
            gamma: add("weight", 1.0, ParamKind::Trainable)?,
            beta: add("bias", 0.0, ParamKind::Trainable)?,
            mean: add("running_mean", 0.0, ParamKind::Buffer)?,
            variance: add("running_var", 1.0, ParamKind::Buffer)?,
            momentum: 0.1,
            epsilon: 1e-5,
        })
    }

    /// Normalises with the batch's statistics (and updates the running ones) when training,
    /// with the running statistics otherwise.
    pub fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let (gamma, beta) = (params.get(self.gamma), params.get(self.beta));
        if !train {
            let mode = BatchNormMode::Eval { mean: params.get(self.mean), variance: params.get(self.variance) };
            return Ok(b.batch_norm(x, gamma, beta, mode, self.epsilon)?.output);
        }
        let out = b.batch_norm(x, gamma, beta, BatchNormMode::Train, self.epsilon)?;
        if let Some((mean, variance)) = &out.statistics {
            let shape = b.shape(x);
            let n: usize = shape.iter().product::<usize>() / shape[1];
            let unbiased = n as f32 / (n.max(2) - 1) as f32;
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

/// A fully connected layer, `[n, in] -> [n, out]`, weight stored `[out, in]` as in PyTorch.
#[derive(Clone, Debug)]
pub struct Linear {
    outputs: usize,
    weight: ParamId,
    bias: ParamId,
}

impl Linear {
    /// A layer from `inputs` to `outputs`, named `name`.
    pub fn new<B: Backend>(
        b: &B,
        params: &mut Params<B>,
        init: &mut Init,
        name: &str,
        [inputs, outputs]: [usize; 2],
    ) -> BResult<Linear> {
        let bound = 1.0 / (inputs as f32).sqrt();
        let weight = b.tensor(&init.uniform(inputs * outputs, bound), &[outputs, inputs])?;
        let bias = b.tensor(&init.uniform(outputs, bound), &[outputs])?;
        Ok(Linear {
            outputs,
            weight: params.add(b, format!("{name}.weight"), weight, ParamKind::Trainable),
            bias: params.add(b, format!("{name}.bias"), bias, ParamKind::Trainable),
        })
    }

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

/// Max pooling with a square window and stride equal to it.
pub fn max_pool<B: Backend>(b: &B, x: &B::Tensor, size: usize) -> BResult<B::Tensor> {
    b.pool2d(Pool::Max, x, [size, size], [size, size], [0, 0])
}

/// `[n, ...] -> [n, rest]`.
pub fn flatten<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    let shape = b.shape(x);
    b.reshape(x, &[shape[0], shape[1..].iter().product()])
}

#[cfg(test)]
mod tests {
    use lossgp_backends::burn::BurnBackend;

    use super::*;

    #[test]
    fn batch_norm_running_statistics_follow_pytorch() {
        let b = BurnBackend::flex();
        let mut params = Params::new();
        let bn = BatchNorm::new(&b, &mut params, "bn", 2).unwrap();
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
}
