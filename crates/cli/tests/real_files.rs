//! `lossgp train` on real files in the layouts of the paper's last two steps, installed into
//! the data directory by `scripts/setup`:
//!
//! - `labelme-voc`: the VOC-layout sample of Debian's `labelme-examples` (3 real photos of
//!   500x338 and 500x375, palette PNG masks with the ignore label 255, labelme2voc's layout);
//! - `imagenet-sample`: the 20 ImageNet validation JPEGs of PyPI's foolbox 3.3.4 wheel (19
//!   classes), in ImageNet's layout (`train/<class>/`, flat `val/` with `LOC_val_solution.csv`).
//!
//! Where a fixture is missing the test says so, and fails where `LOSSGP_REQUIRE_DATA=1`.

mod common;

use std::path::{Path, PathBuf};

use common::{json, two_class_folder};
use lossgp_datasets::DataDir;
use lossgp_datasets::formats::decode::labels;
use serde_json::Value;

/// The fixture's folder in the data directory, if `scripts/setup` put it there.
fn fixture(name: &str, marker: &str, test: &str) -> Option<PathBuf> {
    let root = DataDir::resolve(None).expect("a data directory").root().join(name);
    if root.join(marker).exists() {
        return Some(root);
    }
    let why = format!("{test}: skipped: {} is missing (scripts/setup installs it)", root.display());
    eprintln!("{why}");
    assert_ne!(
        std::env::var("LOSSGP_REQUIRE_DATA").as_deref(),
        Ok("1"),
        "{why}, and LOSSGP_REQUIRE_DATA=1 requires it"
    );
    None
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The confusion matrix of predicted against true label maps, ignored pixels left out.
fn confusion(truth: &[u8], predicted: &[u8], classes: usize) -> Vec<u64> {
    let mut m = vec![0u64; classes * classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t != 255 {
            m[t as usize * classes + p as usize] += 1;
        }
    }
    m
}

#[test]
fn voc_layout_photos_train_fcn_and_deeplabv3_and_score_at_their_own_size() {
    let Some(voc) = fixture("labelme-voc", "JPEGImages", "voc_layout_photos") else { return };
    let classes = 21;
    // A classifier's weights to start the backbones from, as an ImageNet ResNet's would be.
    let work = tempfile::tempdir().unwrap();
    let (images, classifier) = (work.path().join("images"), work.path().join("resnet18.safetensors"));
    two_class_folder(&images);
    #[rustfmt::skip]
    json(None, &[
        "train", "--dataset", arg(&images), "--model", "resnet18:width=0.25", "--image-size", "32",
        "--max-steps", "2", "--save", arg(&classifier), "--json",
    ]);
    for model in
        ["fcn:backbone=resnet18,width=0.25,aux=true", "deeplabv3:backbone=resnet18,width=0.25,output_stride=16"]
    {
        let out = tempfile::tempdir().unwrap();
        let predictions = out.path().join("predictions");
        #[rustfmt::skip]
        let report = json(None, &[
            "train", "--dataset", arg(&voc), "--model", model, "--image-size", "96",
            "--pretrained", arg(&classifier),
            "--augment", "segmentation", "--optimizer", "sgd:0.9", "--lr", "0.01", "--weight-decay", "1e-4",
            "--schedule", "poly", "--epochs", "3", "--batch-size", "2", "--validation-fraction", "0",
            "--predictions", arg(&predictions), "--json",
        ]);
        assert_eq!(report["status"]["kind"], "completed", "{model}: {report}");
        // The backbone came from the classifier (all 102 tensors of ResNet-18 but its last layer).
        let pretrained = &report["pretrained"];
        assert_eq!(pretrained["loaded"], 100, "{model}: {pretrained}");
        assert_eq!(pretrained["unused"], serde_json::json!(["fc.bias", "fc.weight"]), "{model}");
        assert!(pretrained["missing"].as_array().unwrap().iter().all(|n| n.as_str().unwrap().contains("classifier.")));
        let test = &report["test"];
        // Without image lists, 20% of the 3 photos (seed 2024) is the test split: one photo.
        assert_eq!(test["samples"], 1, "{model}");
        let files: Vec<PathBuf> = std::fs::read_dir(&predictions).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "{model}: {files:?}");
        let id = files[0].file_stem().unwrap().to_str().unwrap();
        let truth = labels(&voc.join("SegmentationClassPNG").join(format!("{id}.png"))).unwrap();
        let predicted = labels(&files[0]).unwrap();
        // Scored at the photo's own size (500 wide), not the network's 96x96.
        assert_eq!((predicted.width(), predicted.height()), (truth.width(), truth.height()), "{model}");
        assert_eq!(truth.width(), 500);
        assert!(truth.labels().contains(&255), "the held-out photo has ignored pixels");

        // The report's figures, computed again by hand from the two label maps.
        let m = confusion(truth.labels(), predicted.labels(), classes);
        let counted: u64 = m.iter().sum();
        let ignored = truth.labels().iter().filter(|&&l| l == 255).count() as u64;
        assert_eq!(counted + ignored, u64::from(truth.width() * truth.height()));
        let correct: u64 = (0..classes).map(|k| m[k * classes + k]).sum();
        let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-9;
        assert!(close(correct as f64 / counted as f64, &test["accuracy"]), "{model}: {test}");
        let ious: Vec<Option<f64>> = (0..classes)
            .map(|k| {
                let row: u64 = (0..classes).map(|j| m[k * classes + j]).sum();
                let column: u64 = (0..classes).map(|i| m[i * classes + k]).sum();
                let union = row + column - m[k * classes + k];
                (union > 0).then(|| m[k * classes + k] as f64 / union as f64)
            })
            .collect();
        for (k, iou) in ious.iter().enumerate() {
            match iou {
                Some(v) => assert!(close(*v, &test["class_iou"][k]), "{model}: class {k}: {test}"),
                None => assert!(test["class_iou"][k].is_null(), "{model}: class {k}: {test}"),
            }
        }
        let present: Vec<f64> = ious.into_iter().flatten().collect();
        assert!(close(present.iter().sum::<f64>() / present.len() as f64, &test["mean_iou"]), "{model}: {test}");
    }
}

#[test]
fn imagenet_layout_jpegs_train_with_the_imagenet_recipe() {
    let Some(sample) = fixture("imagenet-sample", "LOC_val_solution.csv", "imagenet_layout_jpegs") else { return };
    // The catalogue's `imagenet` reads the sample through a data directory of its own.
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&sample, data.path().join("imagenet")).unwrap();
    let predictions = data.path().join("predictions");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/imagenet-resnet50.toml");
    // The recipe as it is (SGD 0.1, momentum 0.9, weight decay 1e-4, random-resized crops to
    // 224, evaluation at 256 then the centre 224), on a quarter-width ResNet-18 for this CPU,
    // with the newer recipe's warm-up, cosine schedule and label smoothing.
    #[rustfmt::skip]
    let report = json(Some(data.path()), &[
        "train", "--config", arg(&recipe), "--model", "resnet18:width=0.25", "--backend", "flex",
        "--epochs", "2", "--batch-size", "10", "--schedule", "cosine", "--warmup-epochs", "1",
        "--label-smoothing", "0.1", "--predictions", arg(&predictions), "--json",
    ]);
    assert_eq!(report["status"]["kind"], "completed", "{report}");
    assert_eq!(report["config"]["eval_resize"], 256);
    let test = &report["test"];
    assert_eq!(test["samples"], 20, "{test}");
    let (top1, top5) = (test["accuracy"].as_f64().unwrap(), test["top5"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&top1) && top1 <= top5 && top5 <= 1.0, "{test}");
    // predictions.csv holds one row per validation image, and its hits are the top-1.
    let csv = std::fs::read_to_string(predictions.join("predictions.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r[1].contains("ILSVRC2012_val_") && r[1].ends_with(".JPEG")), "{csv}");
    let hits = rows.iter().filter(|r| r[2] == r[3]).count();
    assert!((hits as f64 / 20.0 - top1).abs() < 1e-9, "{hits} hits, top-1 {top1}");
}
