//! Starting from pretrained weights (`Params::load_pretrained`, `lossgp train --pretrained`):
//! an ImageNet classification network's file fills a segmentation network's backbone, or the
//! same network for another number of classes, as torchvision's `weights_backbone` does.

use lossgp::backends::burn::BurnBackend;
use lossgp::core::backend::{Backend, DynBackend, Params, Pretrained};
use lossgp::core::model::{Model, ModelOptions, ModelSpec, build_model};

fn backend() -> DynBackend {
    lossgp::backends::link();
    lossgp::models::link();
    DynBackend::new(BurnBackend::flex())
}

fn model(b: &DynBackend, text: &str, classes: usize, seed: u64) -> Box<dyn Model<DynBackend>> {
    let (name, options) = ModelOptions::parse(text).unwrap();
    build_model(&name, b, &ModelSpec { options, ..ModelSpec::new([3, 32, 32], classes, seed) }).unwrap()
}

fn tensor(b: &DynBackend, params: &Params<DynBackend>, name: &str) -> Vec<f32> {
    let id = params.ids().find(|&id| params.name(id) == name).unwrap_or_else(|| panic!("no tensor {name}"));
    b.to_vec(params.get(id)).unwrap()
}

/// A safetensors file written byte by byte, as PyTorch writes one: any dtype, zeros.
fn raw_safetensors(path: &std::path::Path, tensors: &[(&str, &str, &[usize])]) {
    let size = |dtype: &str| {
        if dtype == "I64" {
            8
        } else if dtype == "F16" {
            2
        } else {
            4
        }
    };
    let (mut header, mut offset) = (Vec::new(), 0);
    for (name, dtype, shape) in tensors {
        let bytes = shape.iter().product::<usize>() * size(dtype);
        header.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{offset},{}]}}"#,
            offset + bytes
        ));
        offset += bytes;
    }
    let header = format!("{{{}}}", header.join(","));
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header.as_bytes());
    file.extend(vec![0u8; offset]);
    std::fs::write(path, file).unwrap();
}

#[test]
fn an_imagenet_classifier_fills_a_segmentation_backbone() {
    let b = backend();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resnet18-imagenet.safetensors");
    let imagenet = model(&b, "resnet18", 1000, 1);
    imagenet.params().save(&b, &file).unwrap();

    let mut seg = model(&b, "deeplabv3:backbone=resnet18", 21, 2);
    let initial_head = tensor(&b, seg.params(), "classifier.4.weight");
    let report = seg.params_mut().load_pretrained(&b, &file, 21).unwrap();
    let backbone = seg.params().ids().filter(|&id| seg.params().name(id).starts_with("backbone.")).count();
    assert_eq!(report.loaded, backbone);
    assert!(report.reshaped.is_empty());
    assert!(!report.missing.is_empty() && report.missing.iter().all(|n| n.starts_with("classifier.")), "{report:?}");
    assert_eq!(report.unused, ["fc.bias", "fc.weight"]);
    for name in ["conv1.weight", "layer4.1.bn2.running_var", "layer3.0.downsample.0.weight"] {
        assert_eq!(
            tensor(&b, seg.params(), &format!("backbone.{name}")),
            tensor(&b, imagenet.params(), name),
            "{name}"
        );
    }
    assert_eq!(tensor(&b, seg.params(), "classifier.4.weight"), initial_head, "the new head stays as initialised");
}

#[test]
fn a_classifier_for_other_classes_keeps_its_own_last_layer() {
    let b = backend();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("imagenet.safetensors");
    let imagenet = model(&b, "resnet18", 1000, 1);
    imagenet.params().save(&b, &file).unwrap();
    let mut ten = model(&b, "resnet18", 10, 2);
    let total = ten.params().ids().count();
    let report = ten.params_mut().load_pretrained(&b, &file, 10).unwrap();
    assert_eq!(
        report,
        Pretrained {
            loaded: total - 2,
            missing: vec![],
            reshaped: vec!["fc.weight".into(), "fc.bias".into()],
            unused: vec![]
        }
    );
    assert_eq!(
        tensor(&b, ten.params(), "layer1.0.conv1.weight"),
        tensor(&b, imagenet.params(), "layer1.0.conv1.weight")
    );
}

#[test]
fn files_that_do_not_fit_are_refused_with_the_reason() {
    let b = backend();
    let dir = tempfile::tempdir().unwrap();
    let half = dir.path().join("half-width.safetensors");
    model(&b, "resnet18:width=0.5", 10, 1).params().save(&b, &half).unwrap();
    let mut net = model(&b, "resnet18", 10, 2);
    let err = net.params_mut().load_pretrained(&b, &half, 10).unwrap_err().to_string();
    assert!(err.contains("tensor `conv1.weight` has shape [32, 3, 7, 7], the model's has [64, 3, 7, 7]"), "{err}");

    let other = dir.path().join("small-cnn.safetensors");
    model(&b, "small-cnn", 10, 1).params().save(&b, &other).unwrap();
    let err = net.params_mut().load_pretrained(&b, &other, 10).unwrap_err().to_string();
    assert!(err.contains("tensor `conv1.weight` has shape [32, 3, 3, 3], the model's has [64, 3, 7, 7]"), "{err}");

    let vgg = dir.path().join("vgg.safetensors");
    raw_safetensors(&vgg, &[("features.0.weight", "F32", &[64, 3, 3, 3]), ("features.0.bias", "F32", &[64])]);
    let err = net.params_mut().load_pretrained(&b, &vgg, 10).unwrap_err().to_string();
    assert!(err.contains("none of its tensors fits the model (it has `features.0.bias`, `features.0.weight`"), "{err}");

    // PyTorch's int64 batch counters are passed over; a half-precision weight is refused.
    let raw = dir.path().join("raw.safetensors");
    raw_safetensors(&raw, &[("conv1.weight", "F32", &[64, 3, 7, 7]), ("bn1.num_batches_tracked", "I64", &[])]);
    let report = net.params_mut().load_pretrained(&b, &raw, 10).unwrap();
    assert_eq!((report.loaded, report.unused.len()), (1, 0));
    assert_eq!(tensor(&b, net.params(), "conv1.weight"), vec![0.0; 64 * 3 * 49]);
    raw_safetensors(&raw, &[("conv1.weight", "F16", &[64, 3, 7, 7])]);
    let err = net.params_mut().load_pretrained(&b, &raw, 10).unwrap_err().to_string();
    assert!(err.contains("tensor `conv1.weight` is F16, not F32: save the weights as float32"), "{err}");
}
