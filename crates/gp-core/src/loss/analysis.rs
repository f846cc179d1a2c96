//! What a loss *is*, computed numerically from its expression, so that any loss the language
//! can write is read the same way: where its optimum lies, which label smoothing has the same
//! optimum, how strong its gradient is at initialisation, and whether it behaves like label
//! smoothing (learned losses often rediscover it).
//!
//! Every figure is for **one sample whose other classes are equal**: logits `[a, 0, ..., 0]`
//! with the true class first, so that the true class's softmax probability is
//! `q = e^a / (e^a + C - 1)` and the others share `1 - q`. Along that path:
//!
//! - the **optimum** is the `q` that minimises the loss (grid over `logit(q)` in
//!   [−[`LOGIT_RANGE`], +[`LOGIT_RANGE`]], then golden-section refinement); a loss that keeps
//!   falling to the top of the range has its optimum at `q = 1` (cross entropy);
//! - the **label-smoothing ε with the same optimum** is `(1 − q*) · C / (C − 1)`, since
//!   label-smoothed cross entropy's optimum is `q* = 1 − ε + ε / C` (Szegedy et al. 2016);
//! - the **gradient ratio** is `‖∂L/∂z‖` at uniform logits (all 0) over cross entropy's,
//!   `sqrt((C − 1) / C)`, both for one sample with the loss's own reduction: NGL's is about
//!   0.1 at 10 classes, since its mean runs over the `C` classes too.
//!
//! A loss is **LS-like** ([`Analysis::ls_like`]) when label smoothing at one ε (the mean of the
//! per-class-count ε) has its optimum within [`OPTIMUM_TOLERANCE`] of the loss's at every
//! class count analysed, ε is at least [`MIN_EPSILON`] (below it, the loss is cross entropy's
//! kind), and its gradient points the way label smoothing's does on the probe logits (mean
//! cosine similarity at least [`COSINE_TOLERANCE`]).

use serde::{Deserialize, Serialize};

use super::probe;
use super::{Loss, label_smoothing};
use crate::interp::{Batch, Program};

/// The class counts analysed by default.
pub const CLASS_COUNTS: [usize; 3] = [2, 10, 100];
/// The path scans `logit(q)` over ±this (q from 8e-7 to 1 − 8e-7).
pub const LOGIT_RANGE: f64 = 14.0;
/// Steps of the scan over `logit(q)`.
const SCAN_STEPS: usize = 560;
/// LS-like: largest gap between the loss's optimum and label smoothing's, in probability.
pub const OPTIMUM_TOLERANCE: f64 = 0.03;
/// LS-like: smallest mean cosine similarity of the probe gradients.
pub const COSINE_TOLERANCE: f64 = 0.9;
/// LS-like: smallest ε; below it a loss is cross entropy's kind, not label smoothing's.
pub const MIN_EPSILON: f64 = 0.01;
/// The optimum is said to depend on the class count when it moves by more than this.
pub const CLASS_DEPENDENCE: f64 = 0.01;

/// The analysis of one loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// One entry per class count, in the order asked.
    pub classes: Vec<AtClasses>,
    /// Whether the optimum's true-class probability moves by more than [`CLASS_DEPENDENCE`]
    /// between the class counts (label smoothing's does: `1 − ε + ε / C`; cross entropy's does
    /// not).
    pub optimum_depends_on_classes: bool,
    /// The label smoothing nearest in behaviour, where the loss has an optimum below 1 at
    /// every class count.
    pub nearest_label_smoothing: Option<NearestLs>,
    /// Whether it is within the stated tolerances of label smoothing at some ε (see the
    /// module).
    pub ls_like: bool,
}

/// The loss at one class count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtClasses {
    /// `C`.
    pub classes: usize,
    /// The true-class probability that minimises the loss for one sample (others equal); none
    /// for a loss that is flat or not finite along the path.
    pub optimum: Option<f64>,
    /// The label-smoothing ε with the same optimum: `(1 − q*) C / (C − 1)`; above 1 where the
    /// optimum lies below uniform (`1 / C`).
    pub ls_epsilon: Option<f64>,
    /// `‖∂L/∂z‖` at uniform logits over cross entropy's (`sqrt((C − 1) / C)`).
    pub gradient_ratio: Option<f64>,
    /// The cosine of that gradient with cross entropy's (1: it pushes the true class up as
    /// cross entropy does; negative: it pushes it down).
    pub gradient_cosine_ce: Option<f64>,
    /// Whether the loss keeps falling as the true class's probability rises, to the top of
    /// the range (its optimum is then 1).
    pub falls_throughout: bool,
}

/// The label smoothing closest in behaviour to a loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearestLs {
    /// ε: the mean of the per-class-count ε.
    pub epsilon: f64,
    /// The largest gap between the loss's optimum and label smoothing's at ε, over the class
    /// counts.
    pub optimum_gap: f64,
    /// The mean cosine similarity of the two losses' gradients on the probe logits.
    pub gradient_cosine: f64,
}

/// Why a loss cannot be analysed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    /// No class count, or one below 2.
    #[error("class counts must be at least 2 and at most {MAX_CLASSES} (got {0:?}); e.g. 2,10,100")]
    Classes(Vec<usize>),
}

/// The most classes an analysis takes: ImageNet-21k's count rounded up, far below what would
/// exhaust memory (each probe holds a row of logits per class).
pub const MAX_CLASSES: usize = 100_000;

/// Analyses `loss` at each of `classes` (see the module).
pub fn analyze(loss: &Loss, classes: &[usize]) -> Result<Analysis, AnalysisError> {
    if classes.is_empty() || classes.iter().any(|&c| !(2..=MAX_CLASSES).contains(&c)) {
        return Err(AnalysisError::Classes(classes.to_vec()));
    }
    let program = loss.compile();
    let ce = Program::compile(&super::builtin("ce").expect("ce is built in").loss());
    let at: Vec<AtClasses> = classes.iter().map(|&c| at_classes(&program, &ce, c)).collect();
    let optima: Vec<f64> = at.iter().filter_map(|a| a.optimum).collect();
    let optimum_depends_on_classes = optima.len() == at.len()
        && optima.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - optima.iter().copied().fold(f64::INFINITY, f64::min)
            > CLASS_DEPENDENCE;
    let epsilons: Option<Vec<f64>> = at.iter().map(|a| a.ls_epsilon.filter(|e| (0.0..=1.0).contains(e))).collect();
    let nearest_label_smoothing = epsilons.map(|epsilons| {
        let epsilon = epsilons.iter().sum::<f64>() / epsilons.len() as f64;
        let optimum_gap = at
            .iter()
            .map(|a| (a.optimum.unwrap_or(f64::NAN) - ls_optimum(epsilon, a.classes)).abs())
            .fold(0.0, f64::max);
        let gradient_cosine = probe_cosine(&program, &label_smoothing(epsilon).compile());
        NearestLs { epsilon, optimum_gap, gradient_cosine }
    });
    let ls_like = nearest_label_smoothing.as_ref().is_some_and(|n| {
        n.epsilon >= MIN_EPSILON && n.optimum_gap <= OPTIMUM_TOLERANCE && n.gradient_cosine >= COSINE_TOLERANCE
    });
    Ok(Analysis { classes: at, optimum_depends_on_classes, nearest_label_smoothing, ls_like })
}

/// Label-smoothed cross entropy's optimum at ε: `1 − ε + ε / C`.
pub fn ls_optimum(epsilon: f64, classes: usize) -> f64 {
    1.0 - epsilon + epsilon / classes as f64
}

/// The loss of one sample at `logit(q) = u` (true class first, the others equal).
fn along_path(program: &Program, classes: usize, u: f64) -> f64 {
    // q = e^a / (e^a + C - 1), so logit(q) = a - ln(C - 1).
    let a = u + ((classes - 1) as f64).ln();
    let mut logits = vec![0.0; classes];
    logits[0] = a;
    match Batch::from_labels(logits, classes, &[0]) {
        Ok(batch) => program.forward(&batch).loss(),
        Err(_) => f64::NAN,
    }
}

fn sigmoid(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

fn at_classes(program: &Program, ce: &Program, classes: usize) -> AtClasses {
    let step = 2.0 * LOGIT_RANGE / SCAN_STEPS as f64;
    let us: Vec<f64> = (0..=SCAN_STEPS).map(|i| -LOGIT_RANGE + step * i as f64).collect();
    let values: Vec<f64> = us.iter().map(|&u| along_path(program, classes, u)).collect();
    let finite = values.iter().all(|v| v.is_finite());
    let (low, high) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let flat = high - low <= 1e-12 * high.abs().max(1.0);
    // Falling throughout: no step rises by more than rounding.
    let falls_throughout = finite && !flat && values.windows(2).all(|w| w[1] <= w[0] + 1e-12 * w[0].abs().max(1.0));
    let optimum = (finite && !flat).then(|| {
        let best = values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        if falls_throughout || best == SCAN_STEPS {
            return 1.0;
        }
        if best == 0 {
            return 0.0;
        }
        sigmoid(golden_section(|u| along_path(program, classes, u), us[best - 1], us[best + 1]))
    });
    let ls_epsilon = optimum.map(|q| (1.0 - q) * classes as f64 / (classes - 1) as f64);
    let uniform = Batch::from_labels(vec![0.0; classes], classes, &[0]).expect("a valid batch");
    let gradient = program.evaluate(&uniform).gradient;
    let reference = ce.evaluate(&uniform).gradient;
    let norm = |g: &[f64]| g.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (size, reference_size) = (norm(&gradient), norm(&reference));
    let gradient_ratio = size.is_finite().then(|| size / reference_size);
    let gradient_cosine_ce = (size.is_finite() && size > 0.0)
        .then(|| gradient.iter().zip(&reference).map(|(a, b)| a * b).sum::<f64>() / (size * reference_size));
    AtClasses { classes, optimum, ls_epsilon, gradient_ratio, gradient_cosine_ce, falls_throughout }
}

/// The minimum of a unimodal `f` on `[a, b]`, to 1e-10.
fn golden_section(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > 1e-10 {
        if fc <= fd {
            (b, d, fd) = (d, c, fc);
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

/// The mean cosine similarity of two losses' gradients on the probe logits (random logits
/// at scales 1 and 5, 10 classes): 1 where they push every logit the same way.
fn probe_cosine(a: &Program, b: &Program) -> f64 {
    let (labels, noise) = probe::labels_and_noise();
    let scales = [1.0, 5.0];
    let cosines: Vec<f64> = scales
        .iter()
        .map(|scale| {
            let logits: Vec<f64> = noise.iter().map(|x| x * scale).collect();
            let batch = Batch::from_labels(logits, probe::CLASSES, &labels).expect("a valid probe batch");
            let (ga, gb) = (a.evaluate(&batch).gradient, b.evaluate(&batch).gradient);
            let dot: f64 = ga.iter().zip(&gb).map(|(x, y)| x * y).sum();
            let norms = ga.iter().map(|x| x * x).sum::<f64>().sqrt() * gb.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norms > 0.0 && norms.is_finite() { dot / norms } else { 0.0 }
        })
        .collect();
    cosines.iter().sum::<f64>() / cosines.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(name: &str) -> Analysis {
        analyze(&Loss::resolve(name).unwrap(), &CLASS_COUNTS).unwrap()
    }

    /// A class count beyond the limit is refused before a row of logits is allocated for it.
    #[test]
    fn class_counts_beyond_the_limit_are_refused() {
        let ce = crate::loss::Loss::resolve("ce").unwrap();
        for classes in [[2, 1_000_000_000], [usize::MAX, 10]] {
            let err = analyze(&ce, &classes).unwrap_err().to_string();
            assert!(err.contains("at most 100000"), "{err}");
        }
    }

    #[test]
    fn cross_entropy_falls_to_one_with_the_reference_gradient() {
        let ce = of("ce");
        for a in &ce.classes {
            assert_eq!(a.optimum, Some(1.0), "C = {}", a.classes);
            assert!(a.falls_throughout);
            assert_eq!(a.ls_epsilon, Some(0.0));
            assert!((a.gradient_ratio.unwrap() - 1.0).abs() < 1e-12);
            assert!((a.gradient_cosine_ce.unwrap() - 1.0).abs() < 1e-12);
        }
        assert!(!ce.optimum_depends_on_classes);
        assert!(!ce.ls_like, "cross entropy is label smoothing at ε = 0, not LS-like");
    }

    #[test]
    fn label_smoothing_has_its_closed_form_optimum_and_is_ls_like() {
        for epsilon in [0.1, 0.3, 0.68] {
            let a = analyze(&label_smoothing(epsilon), &CLASS_COUNTS).unwrap();
            for at in &a.classes {
                let expected = ls_optimum(epsilon, at.classes);
                assert!((at.optimum.unwrap() - expected).abs() < 1e-6, "ε {epsilon}, C {}: {at:?}", at.classes);
                assert!((at.ls_epsilon.unwrap() - epsilon).abs() < 1e-5);
                assert!(!at.falls_throughout);
            }
            let nearest = a.nearest_label_smoothing.unwrap();
            assert!((nearest.epsilon - epsilon).abs() < 1e-5 && nearest.gradient_cosine > 0.999_999);
            assert!(a.ls_like && a.optimum_depends_on_classes);
        }
    }

    #[test]
    fn ngl_has_its_published_optima_and_a_tenth_of_the_gradient() {
        // paper-facts: for one sample NGL keeps p_true near 0.57 (C = 2) and 0.39 (C = 10).
        let ngl = of("ngl");
        let optimum = |c: usize| ngl.classes.iter().find(|a| a.classes == c).unwrap().optimum.unwrap();
        assert!((optimum(2) - 0.57).abs() < 0.005, "{}", optimum(2));
        assert!((optimum(10) - 0.39).abs() < 0.005, "{}", optimum(10));
        // ε ≈ 0.68 at 10 classes, as the analysis says.
        let at10 = &ngl.classes[1];
        assert!((at10.ls_epsilon.unwrap() - 0.68).abs() < 0.01, "{at10:?}");
        assert!(at10.gradient_ratio.unwrap() < 0.2 && at10.gradient_cosine_ce.unwrap() > 0.9, "{at10:?}");
        assert!(ngl.optimum_depends_on_classes);
        // Its optimum moves with C far more than label smoothing's at one ε would.
        assert!(!ngl.ls_like, "{:?}", ngl.nearest_label_smoothing);
    }

    #[test]
    fn losses_that_are_flat_or_push_the_wrong_way_are_read_as_such() {
        let flat = analyze(&"y".parse().unwrap(), &[10]).unwrap();
        assert_eq!(flat.classes[0].optimum, None);
        assert!(!flat.ls_like && flat.nearest_label_smoothing.is_none());
        // Rewarding the wrong classes: the optimum is q = 0, ε above 1.
        let wrong = analyze(&"p*y".parse().unwrap(), &[10]).unwrap();
        assert_eq!(wrong.classes[0].optimum, Some(0.0));
        assert!(wrong.classes[0].ls_epsilon.unwrap() > 1.0);
        assert!(wrong.classes[0].gradient_cosine_ce.unwrap() < 0.0);
        assert!(wrong.nearest_label_smoothing.is_none());
        // Mean squared error on probabilities falls all the way to one-hot, like CE.
        let mse = of("mse");
        assert!(mse.classes.iter().all(|a| a.optimum == Some(1.0) && a.falls_throughout));
        assert!(matches!(analyze(&"p".parse().unwrap(), &[1]), Err(AnalysisError::Classes(_))));
    }

    #[test]
    fn a_rescaled_label_smoothing_is_still_ls_like_and_a_shifted_optimum_is_not() {
        let scaled: Loss = "sample-mean: 3*(logsumexp(z) - z)*(0.8*y + 0.2*mean(y))".parse().unwrap();
        let a = analyze(&scaled, &CLASS_COUNTS).unwrap();
        assert!(a.ls_like, "{:?}", a.nearest_label_smoothing);
        // At uniform logits label smoothing's gradient is (1 - ε) times cross entropy's.
        assert!((a.classes[0].gradient_ratio.unwrap() - 3.0 * 0.8).abs() < 1e-9);
        // An optimum fixed at q = 0.6 whatever C: label smoothing at one ε cannot match it.
        let fixed: Loss = "sample-mean: y*square(p - 0.6)".parse().unwrap();
        let b = analyze(&fixed, &CLASS_COUNTS).unwrap();
        assert!(b.classes.iter().all(|a| (a.optimum.unwrap() - 0.6).abs() < 1e-6), "{b:?}");
        assert!(!b.optimum_depends_on_classes && !b.ls_like);
    }
}
