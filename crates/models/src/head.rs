//! Classification heads: what turns a backbone's feature map into class logits.

use lossgp_core::backend::{BResult, Backend, Params};
use lossgp_core::model::{ModelError, ModelSpec};

use crate::layers::{BatchNorm, Builder, Linear, WeightInit, dropout, flatten, global_avg_pool, relu};

/// Units of the paper head's hidden layers.
const PAPER_UNITS: [usize; 2] = [128, 64];
/// Dropout between the paper head's blocks.
const PAPER_DROPOUT: f32 = 0.5;

/// A classification head.
pub enum Head {
    /// Global average pooling, dropout (if any) and one fully connected layer.
    Linear {
        /// Dropout before the layer (InceptionV3: 0.5).
        dropout: f32,
        /// The layer.
        fc: Linear,
    },
    /// The paper's head (its CIFAR-100 example, in Keras): `Flatten`, then three blocks of
    /// `BatchNormalization` and `Dense` (128, 64, classes), with ReLU and `Dropout(0.5)` between
    /// them. The sources do not name the activation; ReLU is the usual choice. Keras' defaults
    /// hold: Glorot-uniform weights, zero biases, and Keras' batch norm (epsilon 1e-3, momentum
    /// 0.99, biased running variance).
    Paper {
        /// `head.bn{1,2,3}` and `head.fc{1,2,3}`.
        blocks: Vec<(BatchNorm, Linear)>,
    },
}

impl Head {
    /// The head `spec` asks for (`head=linear|paper`) on features `[channels, height, width]`.
    /// The linear head is named `fc` with the given dropout and initialisation, as in the
    /// backbone's reference implementation.
    pub fn new<B: Backend>(
        build: &mut Builder<'_, B>,
        model: &str,
        spec: &ModelSpec,
        [channels, height, width]: [usize; 3],
        dropout: f32,
        fc_init: WeightInit,
    ) -> Result<Head, ModelError> {
        Ok(match spec.choice(model, "head", &["linear", "paper"])? {
            "linear" => Head::Linear { dropout, fc: build.linear("fc", [channels, spec.classes], fc_init)? },
            _ => {
                let sizes = [channels * height * width, PAPER_UNITS[0], PAPER_UNITS[1], spec.classes];
                let blocks = (0..3)
                    .map(|i| {
                        let bn = build.batch_norm_keras(&format!("head.bn{}", i + 1), sizes[i])?;
                        let fc = build.linear(
                            &format!("head.fc{}", i + 1),
                            [sizes[i], sizes[i + 1]],
                            WeightInit::GlorotUniform,
                        )?;
                        Ok((bn, fc))
                    })
                    .collect::<BResult<Vec<_>>>()?;
                Head::Paper { blocks }
            }
        })
    }

    /// Logits `[n, classes]` from features `[n, c, h, w]`.
    pub fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        match self {
            Head::Linear { dropout: p, fc } => fc.forward(b, params, &dropout(b, &global_avg_pool(b, x)?, *p, train)?),
            Head::Paper { blocks } => {
                let mut x = flatten(b, x)?;
                for (i, (bn, fc)) in blocks.iter().enumerate() {
                    if i > 0 {
                        x = dropout(b, &relu(b, &x)?, PAPER_DROPOUT, train)?;
                    }
                    let normalised = bn.forward(b, params, &x, train)?;
                    x = fc.forward(b, params, &normalised)?;
                }
                Ok(x)
            }
        }
    }
}
