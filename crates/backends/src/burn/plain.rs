//! lossgp losses for plain burn programs: burn's own logits and labels in, a burn loss out.
//!
//! A burn user who wants NGL (or any evolved loss) needs neither lossgp's models nor its
//! trainer: [`BurnLoss`] takes the logits of their network and the labels of the batch as burn
//! tensors and returns the loss as a burn tensor, through which `backward()` reaches their
//! parameters. The loss runs the same compiled program, with the same protected operators, as
//! everywhere else in lossgp.
//!
//! ```no_run
//! use burn::tensor::{Int, Tensor};
//! use lossgp_backends::burn::BurnLoss;
//!
//! let ngl = BurnLoss::new("ngl")?;
//! # let device = burn::prelude::Device::flex().autodiff();
//! # let logits: Tensor<2> = Tensor::zeros([4, 10], &device).require_grad();
//! # let labels: Tensor<1, Int> = Tensor::from_ints([0, 1, 2, 3], &device);
//! let loss = ngl.forward(logits, labels)?; // Tensor<1> of one element
//! let gradients = loss.backward();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use burn::tensor::{Int, Tensor};
use lossgp_core::backend::{BackendError, TensorLoss, TensorTargets};
use lossgp_core::loss::{Loss, LossError};

use super::{BurnBackend, BurnTensor};

/// A lossgp loss (built-in or evolved) applied to burn tensors.
#[derive(Clone, Debug)]
pub struct BurnLoss {
    loss: Loss,
    compiled: TensorLoss,
}

impl BurnLoss {
    /// A loss from a built-in name (`ngl`, `ce`, ...), an expression (`-sum(y * log(p))`) or
    /// `reduction: expression`, as `lossgp loss show` accepts them.
    pub fn new(spec: &str) -> Result<BurnLoss, LossError> {
        Ok(BurnLoss::from_loss(Loss::resolve(spec)?))
    }

    /// A loss already built.
    pub fn from_loss(loss: Loss) -> BurnLoss {
        BurnLoss { compiled: TensorLoss::new(&loss), loss }
    }

    /// The loss this applies.
    pub fn loss(&self) -> &Loss {
        &self.loss
    }

    /// The loss of a classification batch: `logits` `[batch, classes]`, `labels` `[batch]`
    /// holding class indices. Returns a tensor of one element.
    pub fn forward(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Result<Tensor<1>, BackendError> {
        let [batch, classes] = logits.dims();
        if labels.dims() != [batch] {
            return Err(BackendError::shape("loss", format!("{} labels for {batch} rows of logits", labels.dims()[0])));
        }
        let labels = host_labels(labels, classes)?;
        let backend = BurnBackend::new(logits.device(), "burn");
        let targets = TensorTargets::classes(&backend, &labels, classes)?;
        self.run(&backend, BurnTensor::R2(logits), &targets)
    }

    /// The loss of a segmentation batch: `logits` `[batch, classes, height, width]`, `labels`
    /// `[batch, height, width]` holding class indices, or `ignore` for pixels that count for
    /// nothing (255 in Pascal VOC and COCO-Stuff).
    pub fn forward_masks(
        &self,
        logits: Tensor<4>,
        labels: Tensor<3, Int>,
        ignore: u8,
    ) -> Result<Tensor<1>, BackendError> {
        let [batch, classes, height, width] = logits.dims();
        if classes > usize::from(u8::MAX) {
            return Err(BackendError::shape(
                "loss",
                format!("segmentation masks hold at most 255 classes, the logits have {classes}"),
            ));
        }
        if labels.dims() != [batch, height, width] {
            return Err(BackendError::shape(
                "loss",
                format!("labels {:?} for logits {:?}", labels.dims(), logits.dims()),
            ));
        }
        let labels: Vec<u8> = host_labels(labels, usize::from(ignore).max(classes.saturating_sub(1)) + 1)?
            .into_iter()
            .map(|l| l as u8) // below 256: checked against `ignore` + 1 above
            .collect();
        let backend = BurnBackend::new(logits.device(), "burn");
        let targets = TensorTargets::masks(&backend, &labels, [batch, height, width], classes, ignore)?;
        self.run(&backend, BurnTensor::R4(logits), &targets)
    }

    fn run(
        &self,
        backend: &BurnBackend,
        logits: BurnTensor,
        targets: &TensorTargets<BurnTensor>,
    ) -> Result<Tensor<1>, BackendError> {
        let loss = self.compiled.forward(backend, &logits, targets)?;
        loss.r1("loss")
    }
}

/// The labels on the host (a batch of integers: one small read), each checked to be below
/// `bound`.
fn host_labels<const D: usize>(labels: Tensor<D, Int>, bound: usize) -> Result<Vec<u32>, BackendError> {
    labels
        .into_data()
        .iter::<i64>()
        .map(|l| {
            u32::try_from(l)
                .ok()
                .filter(|&l| (l as usize) < bound)
                .ok_or_else(|| BackendError::shape("loss", format!("label {l} is not a class index below {bound}")))
        })
        .collect()
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::prelude::Device;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    #[test]
    fn ngl_on_burn_tensors_matches_the_reference_interpreter() {
        let logits_host = [0.5f32, -1.0, 2.0, 0.0, 0.3, 0.3, -2.0, 1.5, 0.0];
        let labels_host = [2usize, 0, 1];
        let logits: Tensor<2> = Tensor::<1>::from_floats(logits_host, &device()).reshape([3, 3]).require_grad();
        let labels: Tensor<1, Int> = Tensor::from_ints([2, 0, 1], &device());
        let loss = BurnLoss::new("ngl").unwrap();
        let value = loss.forward(logits.clone(), labels).unwrap();
        let got = value.clone().into_data().try_to_vec::<f32>().unwrap()[0];

        let batch = lossgp_core::interp::Batch::from_labels(
            logits_host.iter().map(|&v| f64::from(v)).collect(),
            3,
            &labels_host,
        )
        .expect("a valid batch");
        let expected = loss.loss().evaluate(&batch).loss;
        assert!((f64::from(got) - expected).abs() < 1e-5, "{got} vs {expected}");
        let grads = value.backward();
        let g = logits.grad(&grads).expect("the logits receive a gradient");
        assert_eq!(g.dims(), [3, 3]);
    }

    #[test]
    fn labels_out_of_range_are_an_error_not_a_panic() {
        let logits: Tensor<2> = Tensor::zeros([2, 3], &device());
        let labels: Tensor<1, Int> = Tensor::from_ints([0, 3], &device());
        let err = BurnLoss::new("ce").unwrap().forward(logits, labels).unwrap_err();
        assert!(err.to_string().contains("label 3"), "{err}");
    }

    #[test]
    fn segmentation_ignores_the_ignore_label() {
        let logits: Tensor<4> =
            Tensor::<1>::from_floats([2.0, 0.0, 0.0, 5.0, 0.0, 2.0, 0.0, -5.0], &device()).reshape([1, 2, 2, 2]);
        let with_ignored: Tensor<3, Int> = Tensor::<1, Int>::from_ints([0, 1, 255, 255], &device()).reshape([1, 2, 2]);
        let ce = BurnLoss::new("ce").unwrap();
        let value = ce.forward_masks(logits, with_ignored, 255).unwrap().into_data().try_to_vec::<f32>().unwrap()[0];
        // Pixel 0: class 0 of logits (2, 0); pixel 1: class 1 of (0, 2). Both -ln(sigmoid(2)).
        let expected = (1.0 + (-2.0f32).exp()).ln();
        assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
    }
}
