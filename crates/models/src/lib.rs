//! The lossgp model zoo, written once against `lossgp-core`'s [`Backend`] so that every model
//! runs on every backend. Each model registers itself by name ([`ModelEntry`]) with its options;
//! the command line and the search build them with [`lossgp_core::model::build_model`], e.g.
//! `resnet18:stem=cifar,head=paper`.
//!
//! | name              | what                                                                      |
//! |-------------------|---------------------------------------------------------------------------|
//! | `small-cnn`       | two conv blocks and two linear layers ([`SmallCnn`])                      |
//! | `inception-cifar` | the small Inception of Zhang et al. for 28x28/32x32 images ([`InceptionSmall`]) |
//! | `inception-v3`    | torchvision's InceptionV3 ([`InceptionV3`])                               |
//! | `resnet18` ... `resnet101` | torchvision's ResNets ([`ResNet::imagenet`])                     |
//! | `resnet20`, `resnet56` | He et al.'s CIFAR ResNets ([`ResNet::cifar`])                        |
//! | `fcn`, `deeplabv3` | segmentation heads on a dilated ResNet ([`Segmentation`])                |
//!
//! Every classifier but `small-cnn` takes `head=paper` for the paper's evaluation head ([`Head::Paper`]) and
//! `width` to scale its channels. Parameter names and layouts are torchvision's, so checkpoints
//! move between lossgp and PyTorch.
//!
//! [`Backend`]: lossgp_core::backend::Backend

pub mod head;
mod inception;
pub mod layers;
mod network;
mod resnet;
mod segmentation;
mod small_cnn;

pub use head::Head;
pub use inception::{InceptionSmall, InceptionV3};
pub use network::{Layers, Network, Output};
pub use resnet::{Backbone, Depth, ResNet, Stem};
pub use segmentation::Segmentation;
pub use small_cnn::SmallCnn;

use lossgp_core::backend::inventory;
use lossgp_core::data::Task;
use lossgp_core::model::{ModelEntry, OptionDoc};

/// Makes sure a program that names no item of this crate still links its registrations (see
/// `lossgp_backends::link`).
#[inline(never)]
pub fn link() {}

/// The `head` option every classification backbone takes.
const HEAD_OPTION: OptionDoc = OptionDoc {
    key: "head",
    default: "linear",
    help: "linear: global average pooling + fully connected layer (the backbone's reference head); \
           paper: Flatten + 3 x (BatchNorm, Dense 128/64/classes) with ReLU and Dropout 0.5 between \
           (the paper's Keras head)",
};

/// `small-cnn`'s options.
const SMALL_CNN: &[OptionDoc] = &[
    OptionDoc {
        key: "batch_norm",
        default: "true",
        help: "false: no batch norm, and biased convolutions (with hidden=0: the plain network of published loss-search comparisons)",
    },
    OptionDoc { key: "hidden", default: "128", help: "units of the hidden linear layer; 0 drops it" },
];

/// The `width` option: channel counts scaled by it.
const WIDTH_OPTION: OptionDoc = OptionDoc {
    key: "width",
    default: "1",
    help: "multiplies every channel count (0.25 for a quick, small network); 1 is the reference network",
};

/// The `backbone` option of the segmentation networks.
const BACKBONE_OPTION: OptionDoc = OptionDoc {
    key: "backbone",
    default: "resnet50",
    help: "resnet50 | resnet101 (torchvision's) | resnet18 | resnet34 (lighter; their basic blocks are dilated too); \
           the last two stages are dilated instead of strided, for output stride 8",
};

const STEM_OPTION: OptionDoc = OptionDoc {
    key: "stem",
    default: "imagenet",
    help: "imagenet: 7x7 stride-2 convolution and max pool; cifar: 3x3 stride-1 convolution, no pool (for 32x32 images)",
};

const AUX_OPTION: OptionDoc = OptionDoc {
    key: "aux",
    default: "false",
    help: "true adds torchvision's auxiliary classifier (loss weight 0.4; needs 299x299 inputs); the paper's Keras model has none",
};

const CLASSIFIER: &[OptionDoc] = &[HEAD_OPTION, WIDTH_OPTION];
const IMAGENET_RESNET: &[OptionDoc] = &[STEM_OPTION, HEAD_OPTION, WIDTH_OPTION];
/// The `aux` option of the segmentation networks.
const SEGMENTATION_AUX_OPTION: OptionDoc = OptionDoc {
    key: "aux",
    default: "false",
    help: "true adds torchvision's auxiliary FCN head on the backbone's third stage (aux_loss; its loss weighted 0.5, \
           training only)",
};

/// The `output_stride` option of the segmentation networks.
const OUTPUT_STRIDE_OPTION: OptionDoc = OptionDoc {
    key: "output_stride",
    default: "8",
    help: "8: the last two backbone stages dilated (torchvision's; ASPP rates 12/24/36); 16: only the last (DeepLabV3's \
           training setting, ASPP rates 6/12/18; a quarter of the compute of the head)",
};

const SEGMENTATION: &[OptionDoc] = &[BACKBONE_OPTION, WIDTH_OPTION, SEGMENTATION_AUX_OPTION, OUTPUT_STRIDE_OPTION];

inventory::submit! {
    ModelEntry {
        name: "small-cnn",
        description: "2 conv blocks (32, 64 channels, batch norm, max pool) + 2 linear layers; quick screening",
        task: Task::Classification,
        options: SMALL_CNN,
        build: |b, spec| Ok(Box::new(SmallCnn::build(b, spec)?)),
    }
}

inventory::submit! {
    ModelEntry {
        name: "inception-cifar",
        description: "small Inception of Zhang et al. (2017) for 28x28/32x32 images, 1.65M parameters; the search's fitness model",
        task: Task::Classification,
        options: CLASSIFIER,
        build: |b, spec| Ok(Box::new(InceptionSmall::build(b, spec)?)),
    }
}

inventory::submit! {
    ModelEntry {
        name: "inception-v3",
        description: "InceptionV3 (torchvision's topology and names), inputs >= 75x75 (299 by design)",
        task: Task::Classification,
        options: &[AUX_OPTION, HEAD_OPTION, WIDTH_OPTION],
        build: |b, spec| Ok(Box::new(InceptionV3::build(b, spec)?)),
    }
}

macro_rules! imagenet_resnet {
    ($($name:literal: $description:literal),*) => {$(
        inventory::submit! {
            ModelEntry {
                name: $name,
                description: $description,
                task: Task::Classification,
                options: IMAGENET_RESNET,
                build: |b, spec| Ok(Box::new(ResNet::imagenet(b, $name, spec)?)),
            }
        }
    )*};
}

imagenet_resnet!(
    "resnet18": "ResNet-18 (torchvision), basic blocks 2-2-2-2, 11.7M parameters at 1000 classes",
    "resnet34": "ResNet-34 (torchvision), basic blocks 3-4-6-3, 21.8M parameters at 1000 classes",
    "resnet50": "ResNet-50 (torchvision, v1.5), bottlenecks 3-4-6-3, 25.6M parameters at 1000 classes",
    "resnet101": "ResNet-101 (torchvision, v1.5), bottlenecks 3-4-23-3, 44.5M parameters at 1000 classes"
);

inventory::submit! {
    ModelEntry {
        name: "resnet20",
        description: "CIFAR ResNet-20 of He et al. (3x3 stem, 16-32-64 channels, option A shortcuts), 0.27M parameters",
        task: Task::Classification,
        options: CLASSIFIER,
        build: |b, spec| Ok(Box::new(ResNet::cifar(b, "resnet20", spec)?)),
    }
}

inventory::submit! {
    ModelEntry {
        name: "resnet56",
        description: "CIFAR ResNet-56 of He et al., 0.85M parameters",
        task: Task::Classification,
        options: CLASSIFIER,
        build: |b, spec| Ok(Box::new(ResNet::cifar(b, "resnet56", spec)?)),
    }
}

inventory::submit! {
    ModelEntry {
        name: "fcn",
        description: "FCN segmentation head (torchvision's) on a dilated ResNet, bilinear upsampling to the input",
        task: Task::Segmentation,
        options: SEGMENTATION,
        build: |b, spec| Ok(Box::new(Segmentation::build(b, "fcn", spec)?)),
    }
}

inventory::submit! {
    ModelEntry {
        name: "deeplabv3",
        description: "DeepLabV3 (ASPP, rates 12/24/36; torchvision's) on a dilated ResNet, bilinear upsampling to the input",
        task: Task::Segmentation,
        options: SEGMENTATION,
        build: |b, spec| Ok(Box::new(Segmentation::build(b, "deeplabv3", spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use lossgp_backends::burn::BurnBackend;
    use lossgp_core::backend::{Backend, DynBackend, Params};
    use lossgp_core::model::{Model, ModelSpec, build_model, models};

    use super::*;

    fn spec() -> ModelSpec {
        ModelSpec::new([1, 12, 12], 3, 7)
    }

    #[test]
    fn the_plain_small_cnn_is_the_comparisons_network() {
        // PyTorch: Conv2d(1, 32, 3, padding=1), Conv2d(32, 64, 3, padding=1), Linear(64*7*7, 10).
        let b = BurnBackend::flex();
        let spec = ModelSpec::new([1, 28, 28], 10, 7).with("batch_norm", false).with("hidden", 0);
        let mut model = SmallCnn::build(&b, &spec).unwrap();
        let p = model.params();
        let names: Vec<&str> = p.ids().map(|id| p.name(id)).collect();
        assert_eq!(names, ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc2.weight", "fc2.bias"]);
        let total: usize = p.ids().map(|id| p.shape(id).iter().product::<usize>()).sum();
        assert_eq!(total, 320 + 18_496 + 31_370);
        let logits = model.forward(&b, &b.full(&[2, 1, 28, 28], 0.5).unwrap(), true).unwrap();
        assert_eq!(b.shape(&logits), [2, 10]);
        let bad = spec.with("hidden", "many");
        assert!(SmallCnn::build(&BurnBackend::flex(), &bad).is_err());
    }

    #[test]
    fn small_cnn_has_pytorch_names_and_shapes() {
        let b = BurnBackend::flex();
        let model = SmallCnn::build(&b, &spec()).unwrap();
        let p = model.params();
        let listed: Vec<(String, Vec<usize>)> =
            p.ids().map(|id| (p.name(id).to_owned(), p.shape(id).to_vec())).collect();
        let expect = |name: &str, shape: &[usize]| {
            assert!(listed.contains(&(name.to_owned(), shape.to_vec())), "{name} {shape:?} missing from {listed:?}")
        };
        expect("conv1.weight", &[32, 1, 3, 3]);
        expect("bn1.running_var", &[32]);
        expect("conv2.weight", &[64, 32, 3, 3]);
        expect("fc1.weight", &[128, 64 * 3 * 3]);
        expect("fc2.bias", &[3]);
        // conv 288 + bn 64 + conv 18432 + bn 128 + fc1 73728+128 + fc2 384+3
        assert_eq!(p.count(), 288 + 64 + 18432 + 128 + 73728 + 128 + 384 + 3);
    }

    #[test]
    fn segmentation_options_aux_and_output_stride_are_torchvisions_and_deeplabs() {
        // torchvision's deeplabv3_resnet50(aux_loss=True): aux_classifier = FCNHead(1024, classes)
        // on layer3, i.e. Conv2d(1024, 256, 3) + BatchNorm2d(256) + Conv2d(256, classes, 1).
        let b = BurnBackend::flex();
        let spec = ModelSpec::new([3, 32, 32], 5, 0).with("aux", true);
        let mut model = Segmentation::build(&b, "deeplabv3", &spec).unwrap();
        let p = model.params();
        let shape = |name: &str| p.ids().find(|&id| p.name(id) == name).map(|id| p.shape(id).to_vec());
        assert_eq!(shape("aux_classifier.0.weight"), Some(vec![256, 1024, 3, 3]));
        assert_eq!(shape("aux_classifier.1.running_mean"), Some(vec![256]));
        assert_eq!(shape("aux_classifier.4.weight"), Some(vec![5, 256, 1, 1]));
        assert_eq!(shape("aux_classifier.4.bias"), Some(vec![5]));
        let x = b.full(&[2, 3, 32, 32], 0.3).unwrap();
        model.forward(&b, &x, true).unwrap();
        let (aux, weight) = model.take_auxiliary().expect("training gives auxiliary logits");
        assert_eq!((b.shape(&aux), weight), (vec![2, 5, 32, 32], 0.5));
        model.forward(&b, &x, false).unwrap();
        assert!(model.take_auxiliary().is_none(), "evaluation does not");
        // Output stride 16: layer4 at 1/16 of the input, dilated ASPP at 6/12/18.
        let sixteen = ModelSpec::new([3, 64, 64], 5, 0).with("width", 0.25).with("output_stride", 16);
        let eight = sixteen.clone().with("output_stride", 8);
        let features =
            |spec: &ModelSpec| Segmentation::build(&b, "deeplabv3", spec).unwrap().layers().backbone.features();
        assert_eq!(features(&sixteen)[1..], [4, 4]);
        assert_eq!(features(&eight)[1..], [8, 8]);
        let mut os16 = Segmentation::build(&b, "deeplabv3", &sixteen).unwrap();
        let out = os16.forward(&b, &b.full(&[2, 3, 64, 64], 0.3).unwrap(), true).unwrap();
        assert_eq!(b.shape(&out), [2, 5, 64, 64]);
        assert!(Segmentation::build(&b, "deeplabv3", &sixteen.clone().with("output_stride", 32)).is_err());
        let plain = Segmentation::build(&b, "fcn", &ModelSpec::new([3, 32, 32], 5, 0)).unwrap();
        assert!(plain.params().ids().all(|id| !plain.params().name(id).starts_with("aux_")));
    }

    #[test]
    fn the_same_seed_gives_the_same_network() {
        let b = BurnBackend::flex();
        let values = |seed| {
            let m = SmallCnn::build(&b, &ModelSpec { seed, ..spec() }).unwrap();
            let id = m.params().ids().next().unwrap();
            b.to_vec(m.params().get(id)).unwrap()
        };
        assert_eq!(values(1), values(1));
        assert_ne!(values(1), values(2));
    }

    #[test]
    fn batch_norm_updates_running_statistics_only_in_training() {
        let b = BurnBackend::flex();
        let mut model = SmallCnn::build(&b, &spec()).unwrap();
        let x = b.tensor(&(0..288).map(|i| (i % 17) as f32 / 4.0).collect::<Vec<_>>(), &[2, 1, 12, 12]).unwrap();
        let running = |m: &Network<BurnBackend, SmallCnn>| {
            let p = m.params();
            let id = p.ids().find(|&id| p.name(id) == "bn1.running_mean").unwrap();
            b.to_vec(p.get(id)).unwrap()
        };
        let before = running(&model);
        let logits = model.forward(&b, &x, false).unwrap();
        assert_eq!(b.shape(&logits), [2, 3]);
        assert_eq!(running(&model), before, "inference must not touch the running statistics");
        model.forward(&b, &x, true).unwrap();
        assert_ne!(running(&model), before, "training updates them");
    }

    #[test]
    fn a_checkpoint_round_trips() {
        let b = BurnBackend::flex();
        let dir = std::env::temp_dir().join(format!("lossgp-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small-cnn.safetensors");
        let a = SmallCnn::build(&b, &spec()).unwrap();
        a.params().save(&b, &path).unwrap();
        let mut c = SmallCnn::build(&b, &ModelSpec { seed: 99, ..spec() }).unwrap();
        c.params_mut().load(&b, &path).unwrap();
        let all = |p: &Params<BurnBackend>| p.ids().map(|id| b.to_vec(p.get(id)).unwrap()).collect::<Vec<_>>();
        assert_eq!(all(a.params()), all(c.params()));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_zoo_builds_by_name_and_refuses_bad_requests() {
        lossgp_backends::link();
        assert!(models().iter().any(|m| m.name == "small-cnn"));
        let b = DynBackend::new(BurnBackend::flex());
        let model = build_model("small-cnn", &b, &spec()).unwrap();
        assert!(model.describe().starts_with("small-cnn (1x12x12 -> 3 classes"), "{}", model.describe());
        let message = |name: &str, spec: ModelSpec| build_model(name, &b, &spec).err().unwrap().to_string();
        assert!(message("big-cnn", spec()).contains("small-cnn"));
        assert!(message("small-cnn", ModelSpec { input: [1, 2, 2], ..spec() }).contains("4x4"));
        let err = message("small-cnn", spec().with("width", "2"));
        assert!(err.contains("no option `width`") && err.contains("batch_norm, hidden"), "{err}");
        let err = message("resnet18", spec().with("depth", "3"));
        assert!(err.contains("no option `depth`") && err.contains("stem, head, width"), "{err}");
        let err = message("resnet20", ModelSpec::new([3, 32, 32], 10, 0).with("head", "mlp"));
        assert!(err.contains("linear, paper"), "{err}");
        let err = message("inception-v3", ModelSpec::new([3, 64, 64], 10, 0));
        assert!(err.contains("75x75") && err.contains("--image-size"), "{err}");
        let err = message("inception-v3", ModelSpec::new([3, 224, 224], 10, 0).with("aux", "true"));
        assert!(err.contains("299x299 with aux=true"), "{err}");
        let err = message("fcn", ModelSpec::new([3, 64, 64], 21, 0).with("backbone", "vgg16"));
        assert!(err.contains("resnet50, resnet101"), "{err}");
        assert!(message("resnet20", ModelSpec::new([3, 32, 32], 1, 0)).contains("2 classes"));
    }
}
