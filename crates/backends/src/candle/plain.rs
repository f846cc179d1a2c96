//! lossgp losses for plain candle programs: candle's own logits and labels in, a candle loss
//! out, through which `backward()` reaches the program's `Var`s.
//!
//! ```no_run
//! use candle_core::{Device, Tensor};
//! use lossgp_backends::candle::CandleLoss;
//!
//! let ngl = CandleLoss::new("ngl")?;
//! # let logits = Tensor::zeros((4, 10), candle_core::DType::F32, &Device::Cpu)?;
//! let labels = Tensor::new(&[0u32, 1, 2, 3], &Device::Cpu)?;
//! let loss = ngl.forward(&logits, &labels)?; // one element
//! let gradients = loss.backward()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};
use lossgp_core::backend::{BackendError, TensorLoss, TensorTargets};
use lossgp_core::loss::{Loss, LossError};

use super::{Candle, CandleBackend};

/// A lossgp loss (built-in or evolved) applied to candle tensors.
#[derive(Clone, Debug)]
pub struct CandleLoss {
    loss: Loss,
    compiled: TensorLoss,
}

impl CandleLoss {
    /// A loss from a built-in name (`ngl`, `ce`, ...), an expression (`-sum(y * log(p))`) or
    /// `reduction: expression`, as `lossgp loss show` accepts them.
    pub fn new(spec: &str) -> Result<CandleLoss, LossError> {
        Ok(CandleLoss::from_loss(Loss::resolve(spec)?))
    }

    /// A loss already built.
    pub fn from_loss(loss: Loss) -> CandleLoss {
        CandleLoss { compiled: TensorLoss::new(&loss), loss }
    }

    /// The loss this applies.
    pub fn loss(&self) -> &Loss {
        &self.loss
    }

    /// The loss of a classification batch: `logits` `[batch, classes]` (`f32`), `labels`
    /// `[batch]` holding class indices (any integer type). Returns a tensor of one element.
    pub fn forward(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor, BackendError> {
        let (batch, classes) = logits.dims2().c()?;
        if labels.dims() != [batch] {
            return Err(BackendError::shape("loss", format!("labels {:?} for {batch} rows of logits", labels.dims())));
        }
        let labels: Vec<u32> = labels.to_dtype(DType::U32).c()?.to_vec1().c()?;
        let backend = CandleBackend::new(logits.device().clone(), "candle");
        let targets = TensorTargets::classes(&backend, &labels, classes)?;
        self.compiled.forward(&backend, logits, &targets)
    }
}
