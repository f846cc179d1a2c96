//! Optimisers, written once over [`Backend`] kernels, with PyTorch's update rules.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::setting::{self, SettingError};
use crate::backend::{BResult, Backend, BinaryOp, ParamId, Params, StoreError, UnaryOp, read_tensors, write_tensors};

/// Which optimiser, and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.
    Sgd {
        /// Momentum (0 for none).
        #[serde(default)]
        momentum: f32,
        /// Nesterov's form of momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba), with weight decay added to the gradient as an L2 penalty.
    Adam {
        /// Decay of the first moment.
        #[serde(default = "beta1")]
        beta1: f32,
        /// Decay of the second moment.
        #[serde(default = "beta2")]
        beta2: f32,
        /// Added to the denominator.
        #[serde(default = "epsilon")]
        epsilon: f32,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
    /// AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly.
    Adamw {
        /// Decay of the first moment.
        #[serde(default = "beta1")]
        beta1: f32,
        /// Decay of the second moment.
        #[serde(default = "beta2")]
        beta2: f32,
        /// Added to the denominator.
        #[serde(default = "epsilon")]
        epsilon: f32,
        /// Decoupled weight decay.
        #[serde(default = "adamw_decay")]
        weight_decay: f32,
    },
}

fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}
fn epsilon() -> f32 {
    1e-8
}
/// AdamW's default decoupled weight decay (PyTorch's).
pub const ADAMW_DECAY: f32 = 0.01;

fn adamw_decay() -> f32 {
    ADAMW_DECAY
}

impl Default for OptimizerConfig {
    /// Adam with PyTorch's defaults: the paper trained with Adam.
    fn default() -> Self {
        OptimizerConfig::Adam { beta1: beta1(), beta2: beta2(), epsilon: epsilon(), weight_decay: 0.0 }
    }
}

impl OptimizerConfig {
    /// The same optimiser with its weight decay (L2 or decoupled) set to `decay`.
    pub fn with_weight_decay(mut self, decay: f32) -> OptimizerConfig {
        match &mut self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::Adamw { weight_decay, .. } => *weight_decay = decay,
        }
        self
    }
}

impl OptimizerConfig {
    /// The weight decay (L2 or decoupled).
    pub fn weight_decay(&self) -> f32 {
        match *self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::Adamw { weight_decay, .. } => weight_decay,
        }
    }

    /// Checks that the settings can work: momentum and betas in [0, 1), decay not negative.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |v: f32| (0.0..1.0).contains(&v);
        let ok = match *self {
            OptimizerConfig::Sgd { momentum, nesterov, weight_decay } => {
                unit(momentum) && (!nesterov || momentum > 0.0) && weight_decay >= 0.0
            }
            OptimizerConfig::Adam { beta1, beta2, epsilon, weight_decay }
            | OptimizerConfig::Adamw { beta1, beta2, epsilon, weight_decay } => {
                unit(beta1) && unit(beta2) && epsilon > 0.0 && weight_decay >= 0.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the optimizer {self:?} cannot work: momentum and betas must be in [0, 1), Nesterov needs momentum, epsilon must be positive and weight decay not negative"
            ))
        }
    }
}

impl std::str::FromStr for OptimizerConfig {
    type Err = SettingError;

    /// `adam`, `adamw`, `sgd[:MOMENTUM]` or `nesterov:MOMENTUM`, with default settings
    /// otherwise (weight decay is set apart, see [`OptimizerConfig::with_weight_decay`]).
    fn from_str(text: &str) -> Result<OptimizerConfig, SettingError> {
        const EXPECTED: &str =
            "use adam, adamw, sgd[:MOMENTUM] (e.g. sgd:0.9) or nesterov:MOMENTUM, MOMENTUM in [0, 1)";
        let (name, n) = setting::split("optimizer", text, 1, EXPECTED)?;
        let sgd =
            |momentum: f64, nesterov| OptimizerConfig::Sgd { momentum: momentum as f32, nesterov, weight_decay: 0.0 };
        let config = match (name, n.as_slice()) {
            ("adam", []) => OptimizerConfig::default(),
            ("adamw", []) => {
                OptimizerConfig::Adamw { beta1: beta1(), beta2: beta2(), epsilon: epsilon(), weight_decay: ADAMW_DECAY }
            }
            ("sgd", []) => sgd(0.0, false),
            ("sgd", &[m]) => sgd(m, false),
            ("nesterov", &[m]) => sgd(m, true),
            _ => return Err(SettingError::new("optimizer", text, EXPECTED)),
        };
        config.validate().map_err(|_| SettingError::new("optimizer", text, EXPECTED))?;
        Ok(config)
    }
}

/// Per-parameter state: the momentum buffer, or Adam's two moments and the parameter's own
/// step count (PyTorch's, which a parameter without gradient at some step does not advance).
enum State<T> {
    Momentum(T),
    Moments(T, T, i32),
}

/// An optimiser with its state.
pub struct Optimizer<B: Backend> {
    config: OptimizerConfig,
    state: HashMap<ParamId, State<B::Tensor>>,
}

impl<B: Backend> Optimizer<B> {
    /// A fresh optimiser.
    pub fn new(config: OptimizerConfig) -> Optimizer<B> {
        Optimizer { config, state: HashMap::new() }
    }

    /// Updates every trainable parameter that has a gradient, with learning rate `lr`.
    pub fn step(&mut self, b: &B, params: &mut Params<B>, grads: &B::Gradients, lr: f32) -> BResult<()> {
        let ids: Vec<ParamId> = params.trainable().collect();
        for id in ids {
            let Some(grad) = b.grad(grads, params.get(id)) else { continue };
            let weight = b.detach(params.get(id));
            let updated = self.update(b, id, weight, grad, lr)?;
            params.set(b, id, updated);
        }
        Ok(())
    }

    fn update(&mut self, b: &B, id: ParamId, w: B::Tensor, g: B::Tensor, lr: f32) -> BResult<B::Tensor> {
        let add = |x: &B::Tensor, y: &B::Tensor| b.binary(BinaryOp::Add, x, y);
        // a*x + c*y
        let mix = |a: f32, x: &B::Tensor, c: f32, y: &B::Tensor| add(&b.affine(x, a, 0.0)?, &b.affine(y, c, 0.0)?);
        match self.config {
            OptimizerConfig::Sgd { momentum, nesterov, weight_decay } => {
                let g = if weight_decay > 0.0 { mix(1.0, &g, weight_decay, &w)? } else { g };
                let direction = if momentum > 0.0 {
                    let velocity = match self.state.remove(&id) {
                        Some(State::Momentum(v)) => mix(momentum, &v, 1.0, &g)?,
                        _ => g.clone(),
                    };
                    let direction = if nesterov { mix(1.0, &g, momentum, &velocity)? } else { velocity.clone() };
                    self.state.insert(id, State::Momentum(velocity));
                    direction
                } else {
                    g
                };
                mix(1.0, &w, -lr, &direction)
            }
            OptimizerConfig::Adam { beta1, beta2, epsilon, weight_decay }
            | OptimizerConfig::Adamw { beta1, beta2, epsilon, weight_decay } => {
                let decoupled = matches!(self.config, OptimizerConfig::Adamw { .. });
                let w = if decoupled && weight_decay > 0.0 { b.affine(&w, 1.0 - lr * weight_decay, 0.0)? } else { w };
                let g = if !decoupled && weight_decay > 0.0 { mix(1.0, &g, weight_decay, &w)? } else { g };
                let g2 = b.binary(BinaryOp::Mul, &g, &g)?;
                let (m, v, t) = match self.state.remove(&id) {
                    Some(State::Moments(m, v, t)) => {
                        (mix(beta1, &m, 1.0 - beta1, &g)?, mix(beta2, &v, 1.0 - beta2, &g2)?, t + 1)
                    }
                    _ => (b.affine(&g, 1.0 - beta1, 0.0)?, b.affine(&g2, 1.0 - beta2, 0.0)?, 1),
                };
                let (correction1, correction2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                let denominator =
                    b.affine(&b.unary(UnaryOp::Sqrt, &b.affine(&v, 1.0 / correction2, 0.0)?)?, 1.0, epsilon)?;
                let step = b.binary(BinaryOp::Div, &b.affine(&m, lr / correction1, 0.0)?, &denominator)?;
                self.state.insert(id, State::Moments(m, v, t));
                b.binary(BinaryOp::Sub, &w, &step)
            }
        }
    }
}

impl<B: Backend> Optimizer<B> {
    /// Writes the state of every parameter of `params` to a safetensors file, under the
    /// parameter's name with PyTorch's state names (`NAME.momentum_buffer`, `NAME.exp_avg`,
    /// `NAME.exp_avg_sq`; Adam's step counts as metadata `step.NAME`).
    pub fn save(&self, b: &B, params: &Params<B>, path: &Path) -> Result<(), StoreError> {
        let (mut tensors, mut metadata) = (Vec::new(), HashMap::new());
        for id in params.ids() {
            let (name, shape) = (params.name(id), params.shape(id).to_vec());
            match self.state.get(&id) {
                Some(State::Momentum(v)) => tensors.push((format!("{name}.momentum_buffer"), b.to_vec(v)?, shape)),
                Some(State::Moments(m, v, t)) => {
                    tensors.push((format!("{name}.exp_avg"), b.to_vec(m)?, shape.clone()));
                    tensors.push((format!("{name}.exp_avg_sq"), b.to_vec(v)?, shape));
                    metadata.insert(format!("step.{name}"), t.to_string());
                }
                None => {}
            }
        }
        write_tensors(path, &tensors, metadata)
    }

    /// Reads back the state [`save`](Self::save) wrote for the same parameters, replacing this
    /// optimiser's.
    pub fn load(&mut self, b: &B, params: &Params<B>, path: &Path) -> Result<(), StoreError> {
        let mut file = read_tensors(path)?;
        let mut take = |name: String| file.tensors.remove(&name).map(|(values, shape)| b.tensor(&values, &shape));
        let mut state = HashMap::new();
        for id in params.ids() {
            let name = params.name(id).to_owned();
            if let Some(v) = take(format!("{name}.momentum_buffer")) {
                state.insert(id, State::Momentum(v?));
            } else if let (Some(m), Some(v)) = (take(format!("{name}.exp_avg")), take(format!("{name}.exp_avg_sq"))) {
                let t = file.metadata.get(&format!("step.{name}")).and_then(|t| t.parse().ok()).ok_or_else(|| {
                    StoreError::Format { path: path.to_owned(), message: format!("no step count for `{name}`") }
                })?;
                state.insert(id, State::Moments(m?, v?, t));
            }
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimisers_read_from_text() {
        assert_eq!(
            "nesterov:0.9".parse::<OptimizerConfig>().unwrap(),
            OptimizerConfig::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 }
        );
        let adamw = "adamw".parse::<OptimizerConfig>().unwrap();
        assert!(matches!(adamw, OptimizerConfig::Adamw { beta1: 0.9, beta2: 0.999, .. }), "{adamw:?}");
        assert_eq!(adamw.weight_decay(), 0.01);
        assert_eq!("adam".parse::<OptimizerConfig>().unwrap(), OptimizerConfig::default());
        for bad in ["sgd:1.5", "nesterov:0", "nesterov", "rmsprop", "adam:0.9", "sgd:-0.5"] {
            let err = bad.parse::<OptimizerConfig>().unwrap_err().to_string();
            assert!(err.contains("sgd[:MOMENTUM]"), "{bad}: {err}");
        }
        let broken = OptimizerConfig::Adam { beta1: 1.0, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.0 };
        assert!(broken.validate().is_err());
    }
}
