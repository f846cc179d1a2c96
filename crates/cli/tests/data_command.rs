//! `lossgp data ...` end to end. Fashion-MNIST comes from Debian's `dataset-fashion-mnist`
//! package (installed by `scripts/setup`); everything else is generated here.

mod common;

use common::{failure, grey_png, json, lossgp};

/// A grey PNG of one value.
fn png(width: u32, height: u32, value: u8) -> Vec<u8> {
    grey_png(width, height, &vec![value; (width * height) as usize])
}

#[test]
fn list_shows_what_is_present_and_where() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let list = json(Some(dir.path()), &["data", "list", "--json"]);
    assert_eq!(list["data_dir"], dir.path().to_str().expect("utf-8 path"));
    assert_eq!(list["origin"], "option");
    let datasets = list["datasets"].as_array().expect("an array");
    let names: Vec<&str> = datasets.iter().map(|d| d["name"].as_str().expect("a name")).collect();
    // The registry's datasets, by name.
    assert_eq!(
        names,
        [
            "caltech101",
            "cifar10",
            "cifar100",
            "cifar100-coarse",
            "coco-stuff",
            "digits",
            "fashion-mnist",
            "imagenet",
            "mnist",
            "voc2012"
        ]
    );
    let entry = |name: &str| &datasets[names.iter().position(|n| *n == name).expect("listed")];
    let fashion = entry("fashion-mnist");
    assert_eq!(fashion["present"], true);
    assert_eq!(fashion["path"], "/usr/share/datasets/fashion-mnist");
    assert!(fashion["bytes_on_disk"].as_u64().expect("a size") > 30_000_000);
    assert_eq!(entry("cifar10")["present"], false);
    assert_eq!(entry("cifar10")["download_bytes"], 170_052_171);
    assert!(entry("imagenet")["manual"].as_str().expect("instructions").contains("image-net.org"));
    // Debian's python3-sklearn holds the digits, where scripts/setup has installed it.
    if entry("digits")["present"] == true {
        assert_eq!(entry("digits")["path"], "/usr/lib/python3/dist-packages/sklearn/datasets/data");
    } else {
        let why = "skipped: python3-sklearn is not installed, so the digits' system copy is not checked";
        eprintln!("{why}");
        assert_ne!(
            std::env::var("LOSSGP_REQUIRE_DATA").as_deref(),
            Ok("1"),
            "{why}, and LOSSGP_REQUIRE_DATA=1 requires it"
        );
    }
}

#[test]
fn inspect_counts_classes_and_draws_a_grid() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let grid = dir.path().join("grid.png");
    let report = json(
        Some(dir.path()),
        &[
            "data",
            "inspect",
            "fashion-mnist",
            "--split",
            "test",
            "--max-samples",
            "500",
            "--grid",
            grid.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert_eq!(report["dataset"], "fashion-mnist/test");
    assert_eq!(report["samples"], 10_000);
    let counts: Vec<u64> =
        report["classes"].as_array().expect("classes").iter().map(|c| c["count"].as_u64().expect("a count")).collect();
    assert_eq!(counts, [1_000; 10]);
    assert_eq!(report["pixels"]["samples_read"], 500);
    assert_eq!(report["grid"]["samples"], 80);
    assert!(std::fs::read(&grid).expect("the grid was written").starts_with(b"\x89PNG"));

    let text = String::from_utf8(
        lossgp(Some(dir.path()), &["data", "inspect", "fashion-mnist", "--split", "test", "--max-samples", "100"])
            .stdout,
    )
    .expect("utf-8");
    assert!(text.starts_with("fashion-mnist/test: 10000 samples, 10 classes (classification)"), "{text}");
    assert!(text.contains("Ankle boot") && text.contains("1000"), "{text}");
}

#[test]
fn inspect_reads_a_users_image_folder() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    for (class, n) in [("cats", 3), ("dogs", 2)] {
        std::fs::create_dir_all(dir.path().join("photos").join(class)).expect("a folder");
        for i in 0..n {
            std::fs::write(dir.path().join(format!("photos/{class}/{i}.png")), png(5, 4, 40 * i as u8))
                .expect("a file");
        }
    }
    let folder = dir.path().join("photos");
    let report = json(Some(dir.path()), &["data", "inspect", folder.to_str().expect("utf-8"), "--json"]);
    assert_eq!(report["samples"], 5);
    assert_eq!(report["classes"][1]["name"], "dogs");
    assert_eq!(report["classes"][1]["count"], 2);
    assert_eq!(report["pixels"]["width"], serde_json::json!([5, 5]));
}

#[test]
fn missing_data_and_bad_requests_are_explained() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let err = failure(Some(dir.path()), &["data", "inspect", "cifar10"]);
    assert!(err.contains("not found") && err.contains("run `lossgp data fetch cifar10`"), "{err}");
    let err = failure(Some(dir.path()), &["data", "inspect", "fashion-mnist", "--split", "val"]);
    assert!(err.contains("fashion-mnist has no `val` split, only train and test"), "{err}");
    let err = failure(Some(dir.path()), &["data", "fetch", "imagenet"]);
    assert!(
        err.contains("imagenet cannot be downloaded automatically") && err.contains("imagenet/train/<wnid>/*.JPEG"),
        "{err}"
    );
    let err = failure(Some(dir.path()), &["data", "fetch", "cifar-10"]);
    assert!(err.contains("unknown dataset `cifar-10`"), "{err}");
    let err = failure(Some(dir.path()), &["data", "inspect", "mnist", "--split", "dev"]);
    assert!(err.contains("unknown split `dev`"), "{err}");
    // A corrupt file is named, with what is wrong with it.
    std::fs::create_dir_all(dir.path().join("mnist")).expect("a folder");
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    {
        std::fs::write(dir.path().join("mnist").join(f), b"\x00\x00\x08\x03\x00\x00").expect("a file");
    }
    let err = failure(Some(dir.path()), &["data", "inspect", "mnist"]);
    assert!(err.contains("train-images-idx3-ubyte: truncated"), "{err}");
}
