//! The zoo learns: the CIFAR-scale networks on a real Fashion-MNIST subset, and a segmentation
//! network on synthetic shapes, each in a short CPU run through the trainer.

use std::sync::Arc;

use lossgp::Loss;
use lossgp::backends::burn::BurnBackend;
use lossgp::core::backend::DynBackend;
use lossgp::core::data::{DataError, Dataset, Image, LabelMap, Normalization, Sample, Split, Subset, Target, Task};
use lossgp::core::model::{ModelOptions, ModelSpec, build_model};
use lossgp::core::train::{Schedule, Status, TrainConfig, TrainData, TrainReport, train};
use lossgp::datasets::location::SYSTEM_COPIES;
use lossgp::datasets::{DataDir, open};

fn backend() -> DynBackend {
    lossgp::backends::link();
    lossgp::models::link();
    DynBackend::new(BurnBackend::flex())
}

/// The first `n` samples of a split of the real Fashion-MNIST (Debian's package).
fn fashion(split: Split, n: usize) -> Arc<dyn Dataset> {
    let (_, system) = SYSTEM_COPIES.iter().find(|(name, _)| *name == "fashion-mnist").expect("a system location");
    assert!(
        std::path::Path::new(system).is_dir(),
        "{system} is missing: install Debian's dataset-fashion-mnist package (scripts/setup does)"
    );
    let empty = tempfile::TempDir::new().unwrap();
    let data = open("fashion-mnist", split, &DataDir::at(empty.path())).expect("Fashion-MNIST opens");
    Arc::new(Subset::new(data, (0..n).collect(), format!("fashion-mnist {split:?} 0..{n}")).unwrap())
}

fn run(model: &str, data: &TrainData, input: [usize; 3], classes: usize, config: &TrainConfig) -> TrainReport {
    let b = backend();
    let (name, options) = ModelOptions::parse(model).unwrap();
    let spec = ModelSpec { options, ..ModelSpec::new(input, classes, 3) };
    let mut net = build_model(&name, &b, &spec).unwrap();
    let report = train(&b, net.as_mut(), &Loss::resolve("ce").unwrap(), data, config, &mut |_| {}).unwrap();
    assert_eq!(report.status, Status::Completed, "{model}");
    report
}

#[test]
fn cifar_scale_networks_learn_fashion_mnist() {
    let data =
        TrainData { train: fashion(Split::Train, 2_560), validation: Some(fashion(Split::Test, 1_000)), test: None };
    let config =
        TrainConfig { epochs: 2, batch_size: 32, schedule: Schedule::Constant, seed: 5, ..TrainConfig::default() };
    for model in ["inception-cifar:width=0.25", "resnet20"] {
        let report = run(model, &data, [1, 28, 28], 10, &config);
        let accuracy = report.fitness();
        eprintln!(
            "{model}: {:.1}% on 1000 test images after {} steps, {:.1} s",
            100.0 * accuracy,
            report.steps,
            report.seconds
        );
        // Chance is 10%; 2 epochs of 2560 images reach about 67%.
        assert!(accuracy > 0.6, "{model} reached only {accuracy}");
    }
}

/// 32x32 colour images of noise with a red square (class 1) and a blue disk (class 2) at
/// places and sizes drawn from the index; the rest is background (class 0).
struct Shapes {
    len: usize,
    classes: Vec<String>,
}

impl Dataset for Shapes {
    fn name(&self) -> &str {
        "shapes"
    }
    fn len(&self) -> usize {
        self.len
    }
    fn task(&self) -> Task {
        Task::Segmentation
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len)?;
        const SIDE: usize = 32;
        let draw = |k: usize, range: usize| (index.wrapping_mul(2_654_435_761).wrapping_add(k * 40_503) >> 7) % range;
        let (sx, sy, ss) = (draw(1, 20), draw(2, 20), 6 + draw(3, 7));
        let (cx, cy, r) = (6 + draw(4, 20), 6 + draw(5, 20), 3 + draw(6, 4));
        let mut labels = vec![0u8; SIDE * SIDE];
        let mut pixels = vec![0u8; SIDE * SIDE * 3];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let noise = ((x * 131 + y * 71 + index * 17) % 90) as u8;
                let i = y * SIDE + x;
                let in_square = (sx..sx + ss).contains(&x) && (sy..sy + ss).contains(&y);
                let in_disk = (x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2) <= (r * r) as i64;
                let (label, rgb) = match (in_disk, in_square) {
                    (true, _) => (2, [noise, noise, 160 + noise]),
                    (false, true) => (1, [160 + noise, noise, noise]),
                    _ => (0, [noise + 40, noise + 40, noise + 40]),
                };
                labels[i] = label;
                pixels[i * 3..i * 3 + 3].copy_from_slice(&rgb);
            }
        }
        Ok(Sample {
            image: Image::new(SIDE as u32, SIDE as u32, 3, pixels)?,
            target: Target::Mask(LabelMap::new(SIDE as u32, SIDE as u32, labels)?),
        })
    }
    fn normalization(&self) -> Normalization {
        Normalization::unit(3)
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((32, 32, 3))
    }
}

#[test]
fn a_segmentation_network_learns_synthetic_shapes() {
    let classes: Vec<String> = ["background", "square", "disk"].map(String::from).to_vec();
    let data = TrainData {
        train: Arc::new(Shapes { len: 480, classes: classes.clone() }),
        validation: Some(Arc::new(
            Subset::new(Arc::new(Shapes { len: 600, classes }), (480..600).collect(), "held out").unwrap(),
        )),
        test: None,
    };
    let config =
        TrainConfig { epochs: 6, batch_size: 16, schedule: Schedule::Constant, seed: 1, ..TrainConfig::default() };
    let report = run("fcn:backbone=resnet18,width=0.25", &data, [3, 32, 32], 3, &config);
    let (_, best) = report.best_validation.clone().expect("validated");
    let miou = best.mean_iou.expect("segmentation reports mIoU");
    eprintln!(
        "fcn: mIoU {:.3}, pixel accuracy {:.3} after {} steps, {:.1} s",
        miou, best.accuracy, report.steps, report.seconds
    );
    // Predicting background everywhere scores about 0.28 (its IoU ~0.85, the shapes' 0).
    assert!(miou > 0.6, "mIoU only {miou}");
}
