//! The small CNN ([`SmallCnn`]). The same network is written in plain burn and in PyTorch for the training benchmark
//! (`benches/training.rs`, `scripts/bench_torch.py`).

use lossgp_core::backend::{BResult, Backend, Params};
use lossgp_core::model::{ModelError, ModelSpec};

use crate::layers::{BatchNorm, Builder, Conv, ConvConfig, Linear, WeightInit, flatten, max_pool, relu};
use crate::network::{Layers, Network, Output, check_input};

/// Width of the first block; the second has twice as many channels.
const WIDTH: usize = 32;
/// Units of the hidden fully connected layer.
const HIDDEN: usize = 128;

/// `small-cnn`: two convolution blocks and two fully connected layers, for quick experiments
/// and for screening candidate losses cheaply.
///
/// ```text
/// conv 3x3 (c -> 32) - batch norm - relu - max pool 2
/// conv 3x3 (32 -> 64) - batch norm - relu - max pool 2
/// flatten - linear (64 * h/4 * w/4 -> 128) - relu - linear (128 -> classes)
/// ```
pub struct SmallCnn {
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    fc1: Linear,
    fc2: Linear,
}

impl SmallCnn {
    /// A fresh network for `spec` (inputs at least 4x4).
    pub fn build<B: Backend>(b: &B, spec: &ModelSpec) -> Result<Network<B, SmallCnn>, ModelError> {
        check_input("small-cnn", spec, 4, "")?;
        let [channels, height, width] = spec.input;
        let mut build = Builder::new(b, spec.seed);
        let same = ConvConfig::square(3).same();
        let conv1 = build.conv("conv1", [channels, WIDTH], same)?;
        let bn1 = build.batch_norm("bn1", WIDTH)?;
        let conv2 = build.conv("conv2", [WIDTH, 2 * WIDTH], same)?;
        let bn2 = build.batch_norm("bn2", 2 * WIDTH)?;
        let flat = 2 * WIDTH * (height / 4) * (width / 4);
        let fc1 = build.linear("fc1", [flat, HIDDEN], WeightInit::Default)?;
        let fc2 = build.linear("fc2", [HIDDEN, spec.classes], WeightInit::Default)?;
        Ok(Network::new("small-cnn", spec, build, SmallCnn { conv1, bn1, conv2, bn2, fc1, fc2 }))
    }
}

impl<B: Backend> Layers<B> for SmallCnn {
    fn forward(&self, b: &B, params: &mut Params<B>, images: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let x = self.conv1.forward(b, params, images)?;
        let x = max_pool(b, &relu(b, &self.bn1.forward(b, params, &x, train)?)?, 2, 2, 0)?;
        let x = self.conv2.forward(b, params, &x)?;
        let x = max_pool(b, &relu(b, &self.bn2.forward(b, params, &x, train)?)?, 2, 2, 0)?;
        let x = relu(b, &self.fc1.forward(b, params, &flatten(b, &x)?)?)?;
        Ok(self.fc2.forward(b, params, &x)?.into())
    }
}
