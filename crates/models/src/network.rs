//! [`Network`]: the parameters of a model together with its layers, so that each model of the
//! zoo only says what its layers are and how they connect.

use lossgp_core::backend::{BResult, Backend, Params};
use lossgp_core::model::{Model, ModelError, ModelSpec};

use crate::layers::Builder;

/// What the layers of a network compute for a batch.
pub struct Output<T> {
    /// The logits.
    pub logits: T,
    /// Logits of an auxiliary classifier and the weight of their loss (training only).
    pub auxiliary: Option<(T, f32)>,
}

impl<T> From<T> for Output<T> {
    fn from(logits: T) -> Output<T> {
        Output { logits, auxiliary: None }
    }
}

/// The layers of a network: which parameters they use and how they connect. The parameters
/// themselves live in the [`Network`].
pub trait Layers<B: Backend>: Send + 'static {
    /// The forward pass, in training mode (batch statistics, dropout) or not.
    fn forward(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>>;
}

/// A model of the zoo: its name and spec, its parameters and its layers.
pub struct Network<B: Backend, L> {
    name: String,
    spec: ModelSpec,
    params: Params<B>,
    layers: L,
    auxiliary: Option<(B::Tensor, f32)>,
}

impl<B: Backend, L: Layers<B>> Network<B, L> {
    /// Puts together a network built with `build`.
    pub fn new(name: &str, spec: &ModelSpec, build: Builder<'_, B>, layers: L) -> Network<B, L> {
        Network { name: name.to_owned(), spec: spec.clone(), params: build.finish(), layers, auxiliary: None }
    }

    /// Its layers.
    pub fn layers(&self) -> &L {
        &self.layers
    }

    /// What it was built for.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }
}

impl<B: Backend, L: Layers<B>> Model<B> for Network<B, L> {
    fn forward(&mut self, b: &B, images: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        // Inference runs in no-gradient mode: on parameters cut off from the autodiff graph
        // (evaluation updates no parameter, so nothing needs writing back).
        let out = if train {
            self.layers.forward(b, &mut self.params, images, true)?
        } else {
            self.layers.forward(b, &mut self.params.detached(b), images, false)?
        };
        self.auxiliary = out.auxiliary.filter(|_| train);
        Ok(out.logits)
    }

    fn take_auxiliary(&mut self) -> Option<(B::Tensor, f32)> {
        self.auxiliary.take()
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
        let options = self.spec.options.to_string();
        let name = if options.is_empty() { self.name.clone() } else { format!("{}:{options}", self.name) };
        format!("{name} ({c}x{h}x{w} -> {} classes, {} parameters)", self.spec.classes, self.params.count())
    }
}

/// A channel count scaled by `width`, at least 1.
pub fn scaled(channels: usize, width: f64) -> usize {
    ((channels as f64 * width).round() as usize).max(1)
}

/// Refuses inputs smaller than `min` (height and width) or class counts below 2, naming the
/// fix.
pub fn check_input(model: &str, spec: &ModelSpec, min: usize, why: &str) -> Result<(), ModelError> {
    let [c, h, w] = spec.input;
    if c == 0 || h < min || w < min {
        return Err(ModelError::Spec {
            model: model.to_owned(),
            message: format!(
                "needs images of at least {min}x{min}{why}, not {c}x{h}x{w}; resize them with --image-size"
            ),
        });
    }
    if spec.classes < 2 {
        return Err(ModelError::Spec {
            model: model.to_owned(),
            message: format!("needs at least 2 classes, not {}", spec.classes),
        });
    }
    Ok(())
}
