//! CIFAR-10/100 binary batches: any bytes give a dataset or an error naming the file, never a
//! panic. The first byte picks the kind (CIFAR-10, CIFAR-100 fine, CIFAR-100 coarse); the rest is
//! the test batch, beside a valid class-name file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_core::data::Dataset;
use lossgp_datasets::formats::cifar::{Cifar, CifarKind};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, batch)) = data.split_first() else { return };
    let (kind, names_file, classes) = match pick % 3 {
        0 => (CifarKind::Ten, "batches.meta.txt", 10),
        1 => (CifarKind::Hundred, "fine_label_names.txt", 100),
        _ => (CifarKind::HundredCoarse, "coarse_label_names.txt", 20),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let names: String = (0..classes).map(|c| format!("class{c}\n")).collect();
    std::fs::write(dir.path().join(names_file), names).expect("write");
    std::fs::write(dir.path().join(&kind.files(true)[0]), batch).expect("write");
    if let Ok(set) = Cifar::open("fuzz", dir.path(), kind, true) {
        assert!(!set.is_empty(), "an opened CIFAR split has records");
        for i in [0, set.len() - 1] {
            let sample = set.sample(i).expect("a record of an opened split decodes");
            assert!(set.label(i).expect("a label").is_some_and(|l| (l as usize) < classes));
            drop(sample);
        }
    }
});
