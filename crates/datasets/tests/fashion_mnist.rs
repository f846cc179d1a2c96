//! The real Fashion-MNIST, as Debian's `dataset-fashion-mnist` package installs it
//! (`scripts/setup` installs the package).

use std::sync::Arc;

use lossgp_core::data::{Dataset, Loader, LoaderConfig, Split, Target, Targets};
use lossgp_datasets::inspect::inspect;
use lossgp_datasets::location::SYSTEM_COPIES;
use lossgp_datasets::{DataDir, open};
use sha2::{Digest, Sha256};

/// Opens a split from the system copy, with an empty data directory so that nothing else can
/// be found instead.
fn split(split: Split) -> Arc<dyn Dataset> {
    let (_, system) = SYSTEM_COPIES.iter().find(|(n, _)| *n == "fashion-mnist").expect("a system location");
    assert!(
        std::path::Path::new(system).is_dir(),
        "{system} is missing: install Debian's dataset-fashion-mnist package (scripts/setup does)"
    );
    let empty = tempfile::TempDir::new().expect("a temporary directory");
    open("fashion-mnist", split, &DataDir::at(empty.path())).expect("Fashion-MNIST opens")
}

#[test]
fn counts_per_split_and_class() {
    for (which, total, per_class) in [(Split::Train, 60_000, 6_000), (Split::Test, 10_000, 1_000)] {
        let data = split(which);
        let report = inspect(data.as_ref(), 2_000, 0).expect("inspectable");
        assert_eq!(report.samples, total);
        assert_eq!(report.classes.len(), 10);
        assert!(report.classes.iter().all(|c| c.count == per_class), "{:?}", report.classes);
        assert_eq!(report.classes[9].name, "Ankle boot");
        assert_eq!((report.pixels.width, report.pixels.height, report.pixels.channels), ((28, 28), (28, 28), 1));
    }
}

#[test]
fn pixels_are_those_of_the_files() {
    let train = split(Split::Train);
    let mut hash = Sha256::new();
    let mut sum = 0u64;
    let mut labels = Vec::new();
    for i in 0..train.len() {
        let sample = train.sample(i).expect("a sample");
        hash.update(sample.image.pixels());
        sum += sample.image.pixels().iter().map(|&p| u64::from(p)).sum::<u64>();
        if i < 10 {
            let Target::Class(c) = sample.target else { panic!("a class") };
            labels.push(c);
        }
    }
    // Computed independently from the decompressed IDX file (Python's gzip, pixels after the
    // 16-byte header).
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest, "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012");
    assert_eq!(sum, 3_431_114_169);
    assert_eq!(labels, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(train.sample(0).expect("a sample").image.get(14, 14, 0), 217);
}

#[test]
fn the_loader_batches_them_normalised() {
    let train = split(Split::Train);
    let first = train.sample(0).expect("a sample").image;
    let config = LoaderConfig { batch_size: 256, shuffle: false, ..LoaderConfig::default() };
    let batch = Loader::new(train, config).expect("a loader").epoch(0).next().expect("a batch").expect("no error");
    assert_eq!(batch.shape, [256, 1, 28, 28]);
    let Targets::Classes(classes) = &batch.targets else { panic!("classes") };
    assert_eq!(classes[..3], [9, 0, 0]);
    for (v, &p) in batch.images[..784].iter().zip(first.pixels()) {
        assert!((v - (f32::from(p) / 255.0 - 0.2860) / 0.3530).abs() < 1e-5);
    }
}
