//! The small CNN ([`SmallCnn`]). The same network is written in plain burn and in PyTorch for the training benchmark
//! (`benches/training.rs`, `scripts/bench_torch.py`).

use lossgp_core::backend::{BResult, Backend, BackendError, Conv2d, Params};
use lossgp_core::model::{Model, ModelSpec};

use crate::layers::{BatchNorm, Conv, Init, Linear, WeightInit, flatten, max_pool, relu};

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
pub struct SmallCnn<B: Backend> {
    params: Params<B>,
    spec: ModelSpec,
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    fc1: Linear,
    fc2: Linear,
}

impl<B: Backend> SmallCnn<B> {
    /// A fresh network for `spec` (inputs at least 4x4).
    pub fn new(b: &B, spec: &ModelSpec) -> BResult<SmallCnn<B>> {
        let [channels, height, width] = spec.input;
        if height < 4 || width < 4 || channels == 0 || spec.classes < 2 {
            return Err(BackendError::shape(
                "small-cnn",
                format!(
                    "needs images of at least 4x4 and 2 classes, not {channels}x{height}x{width} and {} classes",
                    spec.classes
                ),
            ));
        }
        let mut params = Params::new();
        let mut init = Init::new(spec.seed);
        let same = Conv2d { padding: [1, 1], ..Conv2d::default() };
        let conv = |p: &mut Params<B>, init: &mut Init, name, io| {
            Conv::new(b, p, init, name, io, 3, same, false, WeightInit::Default)
        };
        let conv1 = conv(&mut params, &mut init, "conv1", [channels, WIDTH])?;
        let bn1 = BatchNorm::new(b, &mut params, "bn1", WIDTH)?;
        let conv2 = conv(&mut params, &mut init, "conv2", [WIDTH, 2 * WIDTH])?;
        let bn2 = BatchNorm::new(b, &mut params, "bn2", 2 * WIDTH)?;
        let flat = 2 * WIDTH * (height / 4) * (width / 4);
        let fc1 = Linear::new(b, &mut params, &mut init, "fc1", [flat, HIDDEN])?;
        let fc2 = Linear::new(b, &mut params, &mut init, "fc2", [HIDDEN, spec.classes])?;
        Ok(SmallCnn { params, spec: *spec, conv1, bn1, conv2, bn2, fc1, fc2 })
    }
}

impl<B: Backend> Model<B> for SmallCnn<B> {
    fn forward(&mut self, b: &B, images: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let x = self.conv1.forward(b, &self.params, images)?;
        let x = max_pool(b, &relu(b, &self.bn1.forward(b, &mut self.params, &x, train)?)?, 2)?;
        let x = self.conv2.forward(b, &self.params, &x)?;
        let x = max_pool(b, &relu(b, &self.bn2.forward(b, &mut self.params, &x, train)?)?, 2)?;
        let x = relu(b, &self.fc1.forward(b, &self.params, &flatten(b, &x)?)?)?;
        self.fc2.forward(b, &self.params, &x)
    }

    fn params(&self) -> &Params<B> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<B> {
        &mut self.params
    }

    fn input_shape(&self) -> [usize; 3] {
        self.spec.input
    }

    fn describe(&self) -> String {
        let [c, h, w] = self.spec.input;
        format!("small-cnn ({c}x{h}x{w} -> {} classes, {} parameters)", self.spec.classes, self.params.count())
    }
}
