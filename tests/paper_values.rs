//! The figures in `paper-facts.md` that the loss language must reproduce, through the facade
//! crate as a user would reach them.

use lossgp::interp::Batch;
use lossgp::{Loss, Reduction};

fn uniform_logits<T: lossgp::expr::Real>(batch: usize, classes: usize) -> Batch<T> {
    let labels: Vec<usize> = (0..batch).map(|b| (7 * b) % classes).collect();
    Batch::from_labels(vec![T::zero(); batch * classes], classes, &labels).expect("a valid batch")
}

#[test]
fn ngl_at_uniform_logits() {
    let ngl = Loss::resolve("ngl").expect("built in").compile();
    for batch in [1, 2, 16, 128] {
        let at_10 = ngl.forward(&uniform_logits::<f64>(batch, 10)).loss();
        let at_100 = ngl.forward(&uniform_logits::<f64>(batch, 100)).loss();
        assert!((at_10 - 9.42609).abs() < 5e-6, "batch {batch}: {at_10}");
        assert!((at_100 - 10.47292).abs() < 5e-6, "batch {batch}: {at_100}");
        let in_f32 = ngl.forward(&uniform_logits::<f32>(batch, 10)).loss();
        assert!((in_f32 - 9.42609).abs() < 1e-4, "batch {batch}, f32: {in_f32}");
    }
}

#[test]
fn cross_entropy_at_uniform_logits_is_log_c() {
    let ce = Loss::resolve("ce").expect("built in").compile();
    for classes in [2, 10, 100, 1000] {
        let loss = ce.forward(&uniform_logits::<f64>(4, classes)).loss();
        assert!((loss - (classes as f64).ln()).abs() < 1e-12);
    }
}

#[test]
fn ngl_keeps_the_true_class_probability_away_from_one() {
    // For one sample, NGL is smallest at p_true near 0.57 for C = 2 and 0.39 for C = 10
    // (paper-facts.md). By symmetry the other classes share one logit, so the minimum lies on the
    // line of logits (t, 0, ..., 0): scan it, and check that the gradient vanishes there.
    let ngl = Loss::resolve("ngl").expect("built in").compile();
    for (classes, expected) in [(2, 0.57), (10, 0.39)] {
        let at = |t: f64| {
            let mut logits = vec![0.0_f64; classes];
            logits[0] = t;
            Batch::from_labels(logits, classes, &[0]).expect("valid")
        };
        let (t, _) = (0..20_000)
            .map(|i| -5.0 + f64::from(i) * 1e-3)
            .map(|t| (t, ngl.forward(&at(t)).loss()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a minimum");
        let batch = at(t);
        let p_true = batch.var(lossgp::expr::Var::P)[0];
        assert!((p_true - expected).abs() < 0.005, "C = {classes}: p_true = {p_true}");
        let slope = ngl.evaluate(&batch).gradient[0];
        assert!(slope.abs() < 1e-3, "C = {classes}: gradient {slope} at the minimum");
    }
}

#[test]
fn losses_travel_as_json() {
    for name in ["ce", "ngl", "focal", "ls-ce", "sce", "poly1", "mse", "ce-l2"] {
        let loss = Loss::resolve(name).expect("built in");
        let json = serde_json::to_string(&loss).expect("serialises");
        let back: Loss = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, loss);
        assert_eq!(back.key(), loss.key());
    }
    let err = serde_json::from_str::<Loss>(r#"{"expr": "exp(p", "reduction": "element-mean"}"#).unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");
}

#[test]
fn builtins_written_differently_share_keys() {
    let ce = Loss::resolve("ce").expect("built in");
    let rewritten: Loss = "sample-mean: y*logsumexp(z) - z*y".parse().expect("valid");
    assert_eq!(ce.key(), rewritten.key());
    let as_element_mean =
        Loss::new("sum(y)*sum(1)*y*(logsumexp(z) - z)".parse().expect("valid"), Reduction::ElementMean);
    assert_eq!(ce.key(), as_element_mean.key());
    assert_ne!(ce.key(), Loss::resolve("focal").expect("built in").key());
}
