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
///
/// Options: `batch_norm=false` drops the batch norms (the convolutions then get biases, as
/// PyTorch's `nn.Conv2d` has by default); `hidden=N` sets the hidden layer's units, `hidden=0`
/// drops it. `small-cnn:batch_norm=false,hidden=0` is the plain network that published
/// loss-search comparisons of this size use (conv - relu - pool twice, then one linear layer).
pub struct SmallCnn {
    conv1: Conv,
    bn1: Option<BatchNorm>,
    conv2: Conv,
    bn2: Option<BatchNorm>,
    fc1: Option<Linear>,
    fc2: Linear,
}

impl SmallCnn {
    /// A fresh network for `spec` (inputs at least 4x4).
    pub fn build<B: Backend>(b: &B, spec: &ModelSpec) -> Result<Network<B, SmallCnn>, ModelError> {
        check_input("small-cnn", spec, 4, "")?;
        let [channels, height, width] = spec.input;
        let batch_norm = spec.option("small-cnn", "batch_norm", true)?;
        let hidden = spec.option("small-cnn", "hidden", HIDDEN)?;
        let mut build = Builder::new(b, spec.seed);
        let same = if batch_norm { ConvConfig::square(3).same() } else { ConvConfig::square(3).same().bias() };
        let conv1 = build.conv("conv1", [channels, WIDTH], same)?;
        let bn1 = batch_norm.then(|| build.batch_norm("bn1", WIDTH)).transpose()?;
        let conv2 = build.conv("conv2", [WIDTH, 2 * WIDTH], same)?;
        let bn2 = batch_norm.then(|| build.batch_norm("bn2", 2 * WIDTH)).transpose()?;
        let flat = 2 * WIDTH * (height / 4) * (width / 4);
        let fc1 = (hidden > 0).then(|| build.linear("fc1", [flat, hidden], WeightInit::Default)).transpose()?;
        let last = if hidden > 0 { hidden } else { flat };
        let fc2 = build.linear("fc2", [last, spec.classes], WeightInit::Default)?;
        Ok(Network::new("small-cnn", spec, build, SmallCnn { conv1, bn1, conv2, bn2, fc1, fc2 }))
    }
}

impl<B: Backend> Layers<B> for SmallCnn {
    fn forward(&self, b: &B, params: &mut Params<B>, images: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let mut x = self.conv1.forward(b, params, images)?;
        if let Some(bn) = &self.bn1 {
            x = bn.forward(b, params, &x, train)?;
        }
        let mut x = self.conv2.forward(b, params, &max_pool(b, &relu(b, &x)?, 2, 2, 0)?)?;
        if let Some(bn) = &self.bn2 {
            x = bn.forward(b, params, &x, train)?;
        }
        let mut x = flatten(b, &max_pool(b, &relu(b, &x)?, 2, 2, 0)?)?;
        if let Some(fc1) = &self.fc1 {
            x = relu(b, &fc1.forward(b, params, &x)?)?;
        }
        Ok(self.fc2.forward(b, params, &x)?.into())
    }
}
