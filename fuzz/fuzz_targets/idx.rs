//! IDX image and label files, raw or gzip (`fashion-mnist`, `mnist`): any bytes give a dataset
//! or an error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_core::data::{Dataset, Normalization};
use lossgp_datasets::formats::idx::IdxDataset;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let split = data.len() / 2;
    let (images, labels) = (dir.path().join("images"), dir.path().join("labels"));
    std::fs::write(&images, &data[..split]).expect("write");
    std::fs::write(&labels, &data[split..]).expect("write");
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    if let Ok(set) = IdxDataset::open("fuzz", &images, &labels, classes, Normalization::unit(1)) {
        for i in 0..set.len().min(4) {
            let _ = set.sample(i);
        }
    }
});
