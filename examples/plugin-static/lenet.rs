//! LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
//! recognition", 1998), the classic network lossgp's zoo lacks, registered as `lenet5`.
//!
//! ```text
//! conv 5x5 (c -> 6, padded by 2) - act - avg pool 2
//! conv 5x5 (6 -> 16) - act - avg pool 2
//! flatten - linear (16 * h' * w' -> 120) - act - linear (120 -> 84) - act - linear (84 -> classes)
//! ```
//!
//! The first convolution is padded, as the usual form for 28x28 digits is, so that 28x28 inputs
//! reach the 5x5 maps of the original's 32x32; `h' = (h / 2 - 4) / 2`. The activation is tanh, as
//! in the paper, or ReLU (`act=relu`). Inputs must be at least 12x12.

use lossgp_core::backend::{BResult, Backend, Params, UnaryOp, inventory};
use lossgp_core::data::Task;
use lossgp_core::model::{ModelEntry, ModelError, ModelSpec, OptionDoc};
use lossgp_models::layers::{Builder, Conv, ConvConfig, Linear, WeightInit, avg_pool, flatten, relu};
use lossgp_models::{Layers, Network, Output};

/// The registered name.
pub const NAME: &str = "lenet5";

/// Which non-linearity follows each layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// The paper's (a scaled tanh there; plain tanh here, as most reimplementations).
    Tanh,
    /// `max(x, 0)`.
    Relu,
}

/// LeNet-5's layers; see the [module documentation](self).
pub struct LeNet5 {
    conv1: Conv,
    conv2: Conv,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    activation: Activation,
}

impl LeNet5 {
    /// A fresh network for `spec`.
    pub fn build<B: Backend>(b: &B, spec: &ModelSpec) -> Result<Network<B, LeNet5>, ModelError> {
        let [channels, height, width] = spec.input;
        if height < 12 || width < 12 {
            return Err(ModelError::Spec {
                model: NAME.into(),
                message: format!(
                    "needs images of at least 12x12, not {channels}x{height}x{width}; resize them with --image-size"
                ),
            });
        }
        let activation = match spec.option(NAME, "act", "tanh".to_owned())?.as_str() {
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            other => {
                return Err(ModelError::Option {
                    model: NAME.into(),
                    message: format!("option `act={other}`: use tanh or relu"),
                });
            }
        };
        let mut build = Builder::new(b, spec.seed);
        let conv1 = build.conv("conv1", [channels, 6], ConvConfig::square(5).padding([2, 2]).bias())?;
        let conv2 = build.conv("conv2", [6, 16], ConvConfig::square(5).bias())?;
        let flat = 16 * ((height / 2 - 4) / 2) * ((width / 2 - 4) / 2);
        let fc1 = build.linear("fc1", [flat, 120], WeightInit::Default)?;
        let fc2 = build.linear("fc2", [120, 84], WeightInit::Default)?;
        let fc3 = build.linear("fc3", [84, spec.classes], WeightInit::Default)?;
        Ok(Network::new(NAME, spec, build, LeNet5 { conv1, conv2, fc1, fc2, fc3, activation }))
    }

    fn act<B: Backend>(&self, b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
        match self.activation {
            Activation::Tanh => b.unary(UnaryOp::Tanh, x),
            Activation::Relu => relu(b, x),
        }
    }
}

impl<B: Backend> Layers<B> for LeNet5 {
    fn forward(&self, b: &B, params: &mut Params<B>, images: &B::Tensor, _train: bool) -> BResult<Output<B::Tensor>> {
        let x = avg_pool(b, &self.act(b, &self.conv1.forward(b, params, images)?)?, 2, 2, 0)?;
        let x = avg_pool(b, &self.act(b, &self.conv2.forward(b, params, &x)?)?, 2, 2, 0)?;
        let x = self.act(b, &self.fc1.forward(b, params, &flatten(b, &x)?)?)?;
        let x = self.act(b, &self.fc2.forward(b, params, &x)?)?;
        Ok(self.fc3.forward(b, params, &x)?.into())
    }
}

inventory::submit! {
    ModelEntry {
        name: NAME,
        description: "LeNet-5 (LeCun et al. 1998): 2 conv (6, 16 channels, avg pool) + 3 linear layers; from the plugin-static example",
        task: Task::Classification,
        options: &[OptionDoc { key: "act", default: "tanh", help: "tanh (the paper's) or relu" }],
        build: |b, spec| Ok(Box::new(LeNet5::build(b, spec)?)),
    }
}
