//! Evaluation metrics: top-1 and top-5 accuracy for classification, pixel accuracy and mean
//! intersection over union for segmentation. They are counted on the host from logits.

use serde::{Deserialize, Serialize};

/// Metrics of a model on some data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Samples evaluated.
    pub samples: u64,
    /// The mean loss (the training loss evaluated on this data).
    pub loss: f64,
    /// Fraction of samples (or, for segmentation, labelled pixels) whose highest logit is the
    /// target.
    pub accuracy: f64,
    /// Fraction of samples whose target is among the five highest logits (classification).
    pub top5: Option<f64>,
    /// Mean intersection over union over the classes that occur (segmentation).
    pub mean_iou: Option<f64>,
    /// Each class's intersection over union, none for a class that occurs neither as a target
    /// nor as a prediction (segmentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_iou: Option<Vec<Option<f64>>>,
}

/// Counts towards [`Metrics`], batch by batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    classes: usize,
    samples: u64,
    loss_sum: f64,
    correct: u64,
    top5: u64,
    counted: u64,
    /// `confusion[target * classes + predicted]`, for segmentation.
    confusion: Option<Vec<u64>>,
}

impl Tally {
    /// An empty tally for `classes` classes; `segmentation` keeps a confusion matrix.
    pub fn new(classes: usize, segmentation: bool) -> Tally {
        Tally {
            classes,
            samples: 0,
            loss_sum: 0.0,
            correct: 0,
            top5: 0,
            counted: 0,
            confusion: segmentation.then(|| vec![0; classes * classes]),
        }
    }

    /// Adds a classification batch: `logits` is `[n, classes]` row-major.
    pub fn add_classes(&mut self, logits: &[f32], labels: &[u32], loss: f64) {
        let c = self.classes;
        for (row, &label) in logits.chunks(c).zip(labels) {
            let target = row.get(label as usize).copied().unwrap_or(f32::NAN);
            // Rank of the target: how many other logits reach it. Ties count against it, so a
            // model with constant logits is right nowhere, and a NaN logit is never right.
            let better =
                row.iter().enumerate().filter(|&(j, &v)| j != label as usize && (v >= target || v.is_nan())).count()
                    + usize::from(target.is_nan()) * c;
            self.correct += u64::from(better == 0);
            self.top5 += u64::from(better < 5);
            self.counted += 1;
        }
        self.samples += labels.len() as u64;
        self.loss_sum += loss * labels.len() as f64;
    }

    /// Adds a segmentation batch: `logits` is `[n, classes, h, w]`, `labels` `[n, h, w]` with
    /// `ignore` for pixels that count for nothing.
    pub fn add_masks(&mut self, logits: &[f32], labels: &[u8], plane: usize, ignore: u8, loss: f64) {
        let c = self.classes;
        let confusion = self.confusion.get_or_insert_with(|| vec![0; c * c]);
        let samples = labels.len() / plane.max(1);
        for (i, &label) in labels.iter().enumerate() {
            if label == ignore || label as usize >= c {
                continue;
            }
            let (sample, pixel) = (i / plane, i % plane);
            let score = |k: usize| logits[(sample * c + k) * plane + pixel];
            self.counted += 1;
            // As for classification: a pixel with a NaN logit is wrong (and predicts nothing),
            // and a tie with the target counts against it.
            if (0..c).any(|k| score(k).is_nan()) {
                continue;
            }
            let best = (0..c).map(score).fold(f32::NEG_INFINITY, f32::max);
            let tied_with_target = score(label as usize) == best && (0..c).filter(|&k| score(k) == best).count() > 1;
            let predicted =
                (0..c).find(|&k| score(k) == best && !(tied_with_target && k == label as usize)).unwrap_or(0);
            confusion[label as usize * c + predicted] += 1;
            self.correct += u64::from(predicted == label as usize);
        }
        self.samples += samples as u64;
        self.loss_sum += loss * samples as f64;
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The metrics so far.
    pub fn metrics(&self) -> Metrics {
        let fraction = |n: u64| if self.counted > 0 { n as f64 / self.counted as f64 } else { 0.0 };
        Metrics {
            samples: self.samples,
            loss: if self.samples > 0 { self.loss_sum / self.samples as f64 } else { f64::NAN },
            accuracy: fraction(self.correct),
            top5: self.confusion.is_none().then(|| fraction(self.top5)),
            mean_iou: self.confusion.as_deref().map(|m| mean_iou(m, self.classes)),
            class_iou: self.confusion.as_deref().map(|m| class_iou(m, self.classes)),
        }
    }
}

/// Each class's intersection over union from a confusion matrix (`[target][predicted]`); none
/// for a class that occurs neither as a target nor as a prediction.
pub fn class_iou(confusion: &[u64], classes: usize) -> Vec<Option<f64>> {
    (0..classes)
        .map(|k| {
            let tp = confusion[k * classes + k];
            let row: u64 = confusion[k * classes..(k + 1) * classes].iter().sum();
            let column: u64 = (0..classes).map(|t| confusion[t * classes + k]).sum();
            let union = row + column - tp;
            (union > 0).then(|| tp as f64 / union as f64)
        })
        .collect()
}

/// Mean intersection over union from a confusion matrix (`[target][predicted]`), averaged over
/// the classes that occur as a target or a prediction.
pub fn mean_iou(confusion: &[u64], classes: usize) -> f64 {
    let ious: Vec<f64> = class_iou(confusion, classes).into_iter().flatten().collect();
    if ious.is_empty() { 0.0 } else { ious.iter().sum::<f64>() / ious.len() as f64 }
}

/// Resizes `[channels, height, width]` planes to `[channels, to.0, to.1]` bilinearly with
/// half-pixel centres, as PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`:
/// how segmentation logits predicted on a resized image are brought back to its own size.
pub fn resize_bilinear(planes: &[f32], channels: usize, from: (usize, usize), to: (usize, usize)) -> Vec<f32> {
    let ((h, w), (oh, ow)) = (from, to);
    // Source index pairs and weights along one axis, edges clamped.
    let axis = |n: usize, out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n as f32 / out as f32;
        (0..out)
            .map(|i| {
                let s = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n - 1);
                let i1 = (i0 + 1).min(n - 1);
                (i0, i1, s - i0 as f32)
            })
            .collect()
    };
    let (rows, cols) = (axis(h, oh), axis(w, ow));
    let mut out = vec![0f32; channels * oh * ow];
    for c in 0..channels {
        let plane = &planes[c * h * w..(c + 1) * h * w];
        for (y, &(y0, y1, ty)) in rows.iter().enumerate() {
            for (x, &(x0, x1, tx)) in cols.iter().enumerate() {
                let top = plane[y0 * w + x0] * (1.0 - tx) + plane[y0 * w + x1] * tx;
                let bottom = plane[y1 * w + x0] * (1.0 - tx) + plane[y1 * w + x1] * tx;
                out[(c * oh + y) * ow + x] = top * (1.0 - ty) + bottom * ty;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top1_and_top5() {
        let mut tally = Tally::new(6, false);
        // Sample 0: target 2 is the highest. Sample 1: target 0 is the 5th highest. Sample 2:
        // target 5 is the lowest.
        let logits = [0.0, 1.0, 5.0, 2.0, 3.0, 4.0, 0.5, 5.0, 4.0, 3.0, 2.0, 0.1, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        tally.add_classes(&logits, &[2, 0, 5], 0.5);
        let m = tally.metrics();
        assert!((m.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.top5.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((m.samples, m.loss), (3, 0.5));
        // A NaN logit never counts as right, nor does a tie.
        let mut nan = Tally::new(2, false);
        nan.add_classes(&[f32::NAN, 0.0], &[0], 1.0);
        nan.add_classes(&[0.0, f32::NAN], &[0], 1.0);
        assert_eq!(nan.metrics().accuracy, 0.0);
        let mut constant = Tally::new(3, false);
        constant.add_classes(&[1.0; 9], &[0, 1, 2], 1.0);
        assert_eq!((constant.metrics().accuracy, constant.metrics().top5), (0.0, Some(1.0)));
    }

    #[test]
    fn bilinear_resizing_is_pytorchs() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4),
        // mode="bilinear", align_corners=False)
        let up = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 1, (2, 2), (4, 4));
        let torch = [0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0];
        assert_eq!(up, torch);
        // Down to one pixel: the centre, the mean of the four.
        assert_eq!(resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 1, (2, 2), (1, 1)), [1.5]);
        // Two channels stay apart; the same size is the identity.
        let two = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(resize_bilinear(&two, 2, (2, 2), (2, 2)), two);
    }

    #[test]
    fn mean_iou_of_hand_computed_cases() {
        // Two classes. Targets 0 0 1 1, predictions 0 1 1 1: class 0 IoU 1/2, class 1 IoU 2/3.
        let mut tally = Tally::new(2, true);
        let logits = [1.0, 0.0, 0.0, 0.0, /* class 1 scores: */ 0.0, 1.0, 1.0, 1.0];
        tally.add_masks(&logits, &[0, 0, 1, 1], 4, 255, 0.0);
        let m = tally.metrics();
        assert!((m.mean_iou.unwrap() - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.class_iou, Some(vec![Some(0.5), Some(2.0 / 3.0)]));
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        // Ignored pixels and classes that never occur do not count.
        let confusion = [5, 0, 0, 0, 0, 0, 0, 0, 3];
        assert!((mean_iou(&confusion, 3) - 1.0).abs() < 1e-12);
        assert_eq!(class_iou(&confusion, 3), [Some(1.0), None, Some(1.0)]);
        let mut ignoring = Tally::new(2, true);
        ignoring.add_masks(&logits, &[0, 255, 255, 1], 4, 255, 0.0);
        assert!((ignoring.metrics().mean_iou.unwrap() - 1.0).abs() < 1e-12);
        // Constant or NaN logits are right nowhere.
        let mut degenerate = Tally::new(2, true);
        degenerate.add_masks(&[0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0], &[0, 1, 0, 1], 4, 255, 0.0);
        assert_eq!(degenerate.metrics().accuracy, 0.0);
    }
}
