//! Every model of the zoo: output shapes at its input sizes, forward and backward on a tiny
//! batch, and parameter names, shapes and counts against the reference implementations.

use std::collections::BTreeSet;

use lossgp_backends::burn::BurnBackend;
use lossgp_core::backend::{Backend, BinaryOp, DynBackend, ReduceOp};
use lossgp_core::data::Task;
use lossgp_core::model::{DynModel, ModelSpec, build_model, find_model, models};

/// Every model at a real input size, with its channels cut down so the test stays quick.
fn tiny(name: &str) -> ModelSpec {
    let spec = |input| ModelSpec::new(input, 5, 1);
    match name {
        "small-cnn" => spec([1, 28, 28]),
        "inception-cifar" => spec([1, 28, 28]).with("width", 0.125),
        "inception-v3" => spec([3, 299, 299]).with("width", 0.0625).with("aux", true),
        "resnet18" | "resnet34" | "resnet50" | "resnet101" => spec([3, 224, 224]).with("width", 0.0625),
        "resnet20" | "resnet56" => spec([3, 32, 32]).with("width", 0.25),
        // An odd size: the logits must be upsampled back to exactly the input.
        "fcn" | "deeplabv3" => spec([3, 67, 45]).with("width", 0.0625).with("backbone", "resnet50"),
        other => panic!("no tiny configuration for `{other}`: add one to this table"),
    }
}

fn backend() -> DynBackend {
    lossgp_backends::link();
    lossgp_models::link();
    DynBackend::new(BurnBackend::flex())
}

/// A batch of two images, not constant (batch norm needs variety).
fn batch(b: &DynBackend, [c, h, w]: [usize; 3]) -> lossgp_core::backend::DynTensor {
    let n = 2 * c * h * w;
    let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    b.tensor(&values, &[2, c, h, w]).unwrap()
}

/// A scalar that depends on every logit differently.
fn weighted_sum(b: &DynBackend, x: &lossgp_core::backend::DynTensor) -> lossgp_core::backend::DynTensor {
    let shape = b.shape(x);
    let n: usize = shape.iter().product();
    let weights = b.tensor(&(0..n).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(), &shape).unwrap();
    let mut y = b.binary(BinaryOp::Mul, x, &weights).unwrap();
    while b.shape(&y).len() > 1 {
        let last = b.shape(&y).len() - 1;
        let reduced = b.reduce(ReduceOp::Sum, &y, last).unwrap();
        let keep = b.shape(&reduced)[..last].to_vec();
        y = b.reshape(&reduced, &keep).unwrap();
    }
    b.reduce(ReduceOp::Sum, &y, 0).unwrap()
}

/// Forward in training mode, backward, and a gradient for every trainable parameter; then
/// inference. Returns the output shape.
fn forward_and_backward(b: &DynBackend, name: &str, model: &mut DynModel, spec: &ModelSpec) -> Vec<usize> {
    let x = batch(b, spec.input);
    let logits = model.forward(b, &x, true).unwrap();
    let shape = b.shape(&logits);
    let expected = match find_model(name).unwrap().task {
        Task::Classification => vec![2, spec.classes],
        Task::Segmentation => vec![2, spec.classes, spec.input[1], spec.input[2]],
    };
    assert_eq!(shape, expected, "{name}: output shape");
    let mut loss = weighted_sum(b, &logits);
    if let Some((auxiliary, weight)) = model.take_auxiliary() {
        assert_eq!((b.shape(&auxiliary), weight), (vec![2, spec.classes], 0.4), "{name}: auxiliary logits");
        loss = b.binary(BinaryOp::Add, &loss, &weighted_sum(b, &auxiliary)).unwrap();
    }
    let grads = b.backward(&loss).unwrap();
    let params = model.params();
    for id in params.trainable() {
        let grad =
            b.grad(&grads, params.get(id)).unwrap_or_else(|| panic!("{name}: no gradient for {}", params.name(id)));
        let values = b.to_vec(&grad).unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name}: {} has a non-finite gradient", params.name(id));
    }
    let eval = model.forward(b, &x, false).unwrap();
    assert_eq!(b.shape(&eval), expected, "{name}: inference shape");
    assert!(b.to_vec(&eval).unwrap().iter().all(|v| v.is_finite()), "{name}: inference gives non-finite logits");
    assert!(model.take_auxiliary().is_none(), "{name}: no auxiliary logits in inference");
    shape
}

#[test]
fn every_model_runs_forward_and_backward_at_its_input_size() {
    let b = backend();
    let all = models();
    assert!(all.len() >= 11, "the zoo lost models: {:?}", all.iter().map(|m| m.name).collect::<Vec<_>>());
    for entry in all {
        let spec = tiny(entry.name);
        let mut model = build_model(entry.name, &b, &spec).unwrap();
        let shape = forward_and_backward(&b, entry.name, &mut model, &spec);
        eprintln!("{:<16} {:?} -> {shape:?}  {}", entry.name, spec.input, model.describe());
        if entry.options.iter().any(|o| o.key == "head") {
            let spec = spec.with("head", "paper");
            let mut model = build_model(entry.name, &b, &spec).unwrap();
            forward_and_backward(&b, entry.name, &mut model, &spec);
            let p = model.params();
            let fc3 = p.ids().find(|&id| p.name(id) == "head.fc3.weight").expect("the paper head's last layer");
            assert_eq!(p.shape(fc3), [spec.classes, 64], "{}", entry.name);
        }
    }
}

/// `(model, name, shape)` of torchvision's networks, from `scripts/torchvision_shapes.py`.
fn torchvision_shapes(model: &str) -> BTreeSet<(String, Vec<usize>)> {
    let text = include_str!("data/torchvision-shapes.tsv");
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (m, name, shape) = (fields.next()?, fields.next()?, fields.next()?);
            let shape = if shape == "-" { vec![] } else { shape.split('x').map(|d| d.parse().unwrap()).collect() };
            (m == model).then(|| (name.to_owned(), shape))
        })
        .collect()
}

fn build_full(b: &DynBackend, with_options: &str, input: [usize; 3], classes: usize) -> DynModel {
    let (name, options) = lossgp_core::model::ModelOptions::parse(with_options).unwrap();
    build_model(&name, b, &ModelSpec { options, ..ModelSpec::new(input, classes, 0) }).unwrap()
}

#[test]
fn names_and_shapes_are_torchvisions() {
    let b = backend();
    for (model, input, classes) in [
        ("resnet18", [3, 224, 224], 1000),
        ("resnet50", [3, 224, 224], 1000),
        ("inception-v3:aux=true", [3, 299, 299], 1000),
        ("fcn", [3, 224, 224], 21),
        ("deeplabv3", [3, 224, 224], 21),
    ] {
        let reference = torchvision_shapes(model);
        assert!(reference.len() > 100, "{model}: reference file incomplete");
        let built = build_full(&b, model, input, classes);
        let p = built.params();
        let ours: BTreeSet<(String, Vec<usize>)> =
            p.ids().map(|id| (p.name(id).to_owned(), p.shape(id).to_vec())).collect();
        let missing: Vec<_> = reference.difference(&ours).take(5).collect();
        let extra: Vec<_> = ours.difference(&reference).take(5).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{model}: missing {missing:?}, extra {extra:?}");
    }
}

#[test]
fn parameter_counts_equal_the_references() {
    let b = backend();
    // torchvision 0.24's counts (`sum(p.numel() for p in net.parameters())`), He et al.'s
    // CIFAR ResNets (option A shortcuts have no parameters), and Zhang et al.'s small Inception:
    // 1,649,402 in their paper, whose batch norm (TensorFlow's default) has no scale; PyTorch's
    // has one per channel, 1,712 more.
    for (model, input, classes, count) in [
        ("resnet18", [3, 224, 224], 1000, 11_689_512),
        ("resnet34", [3, 224, 224], 1000, 21_797_672),
        ("resnet50", [3, 224, 224], 1000, 25_557_032),
        ("resnet101", [3, 224, 224], 1000, 44_549_160),
        ("inception-v3:aux=true", [3, 299, 299], 1000, 27_161_264),
        ("inception-v3", [3, 299, 299], 1000, 23_834_568),
        ("fcn", [3, 224, 224], 21, 32_957_013),
        ("deeplabv3", [3, 224, 224], 21, 39_638_869),
        ("resnet20", [3, 32, 32], 10, 269_722),
        ("resnet56", [3, 32, 32], 10, 853_018),
        ("inception-cifar", [3, 32, 32], 10, 1_649_402 + 1_712),
    ] {
        assert_eq!(build_full(&b, model, input, classes).params().count(), count, "{model}");
    }
}
