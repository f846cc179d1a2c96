//! Datasets stored as CSV: one image per row, its class first, then its grey pixels (0-255)
//! row by row, with or without a header row. It is the format of Kaggle's MNIST ("MNIST in
//! CSV") and Fashion-MNIST (`fashion-mnist_train.csv`, `fashion-mnist_test.csv`), which lossgp's
//! loaders (IDX, CIFAR binaries, image folders) do not read. Two are registered:
//!
//! | name | folder in the data directory | files |
//! |---|---|---|
//! | `fashion-mnist-csv` | `fashion-mnist-csv/` | `fashion-mnist_train.csv`, `fashion-mnist_test.csv` |
//! | `mnist-csv` | `mnist-csv/` | `mnist_train.csv`, `mnist_test.csv` |
//!
//! Images are square: a row of `1 + n` values holds a `sqrt(n) x sqrt(n)` image.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lossgp_core::data::{DataError, Dataset, Normalization, Split, Task};
use lossgp_datasets::formats::idx::IdxDataset;
use lossgp_datasets::registry::{DatasetEntry, Info, Source, inventory, lacking};

/// Reads CSV files of labelled grey images into lossgp's in-memory grey-image dataset.
pub struct PixelCsv;

impl PixelCsv {
    /// Reads `path`; every label must be below `classes.len()` (at most 256 classes). Errors
    /// name the line and value at fault.
    pub fn open(
        name: impl Into<String>,
        path: &Path,
        classes: Vec<String>,
        normalization: Normalization,
    ) -> Result<IdxDataset, DataError> {
        let corrupt = |message: String| DataError::corrupt(path, message);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(path)
            .map_err(|e| DataError::io(path, std::io::Error::other(e)))?;
        let (mut pixels, mut labels, mut width) = (Vec::new(), Vec::new(), None::<usize>);
        let classes_allowed = classes.len().min(256);
        for (index, record) in reader.records().enumerate() {
            let line = index + 1;
            let record = record.map_err(|e| corrupt(format!("line {line}: {e}")))?;
            let first = record.get(0).unwrap_or_default().trim();
            if line == 1 && first.parse::<u32>().is_err() {
                continue; // the header row
            }
            let n = record.len().saturating_sub(1);
            match width {
                None => width = Some(n),
                Some(w) if w != n => {
                    return Err(corrupt(format!("line {line} has {n} pixels where the first image had {w}")));
                }
                Some(_) => {}
            }
            let label = first.parse::<u8>().ok().filter(|&l| (l as usize) < classes_allowed).ok_or_else(|| {
                corrupt(format!("line {line}: the class `{first}` is not one of 0..{}", classes.len()))
            })?;
            labels.push(label);
            for (column, value) in record.iter().enumerate().skip(1) {
                let value = value.trim();
                let v = value.parse::<u8>().map_err(|_| {
                    corrupt(format!("line {line}, column {}: `{value}` is not a pixel value from 0 to 255", column + 1))
                })?;
                pixels.push(v);
            }
        }
        let n = width.ok_or_else(|| corrupt("holds no images".into()))?;
        let side = (n as f64).sqrt().round() as u32;
        if (side * side) as usize != n || n == 0 {
            return Err(corrupt(format!("rows have {n} pixels, which is not a square image")));
        }
        Ok(IdxDataset::in_memory(name, (side, side), pixels, labels, classes, normalization))
    }
}

/// The file of a split in a folder: `<prefix>_train.csv` or `<prefix>_test.csv`.
fn file(root: &Path, prefix: &str, split: Split) -> PathBuf {
    root.join(format!("{prefix}_{split}.csv"))
}

fn open_split(
    root: &Path,
    split: Split,
    dataset: &str,
    prefix: &str,
    classes: Vec<String>,
    normalization: Normalization,
) -> Result<Arc<dyn Dataset>, DataError> {
    let path = file(root, prefix, split);
    Ok(Arc::new(PixelCsv::open(format!("{dataset}/{split}"), &path, classes, normalization)?))
}

/// Fashion-MNIST's class names, in label order.
const FASHION: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

inventory::submit! {
    DatasetEntry {
        info: Info {
            name: "fashion-mnist-csv",
            title: "Fashion-MNIST as CSV (Kaggle's, 28x28 grey)",
            task: Task::Classification,
            classes: 10,
            splits: &[Split::Train, Split::Test],
            source: Source::Manual(
                "download fashion-mnist_train.csv and fashion-mnist_test.csv from Kaggle's zalando-research/fashionmnist \
                 into DATA_DIR/fashion-mnist-csv/",
            ),
            note: "from the plugin-static example",
        },
        folder: "fashion-mnist-csv",
        missing: |root, split| lacking(root, &[&format!("fashion-mnist_{}.csv", split.name())]),
        open: |root, split| {
            let normalization = Normalization { mean: vec![0.2860], std: vec![0.3530] };
            open_split(root, split, "fashion-mnist-csv", "fashion-mnist", FASHION.map(str::to_owned).to_vec(), normalization)
        },
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
            name: "mnist-csv",
            title: "MNIST as CSV (\"MNIST in CSV\", 28x28 grey)",
            task: Task::Classification,
            classes: 10,
            splits: &[Split::Train, Split::Test],
            source: Source::Manual(
                "download mnist_train.csv and mnist_test.csv from Kaggle's oddrationale/mnist-in-csv into DATA_DIR/mnist-csv/",
            ),
            note: "from the plugin-static example",
        },
        folder: "mnist-csv",
        missing: |root, split| lacking(root, &[&format!("mnist_{}.csv", split.name())]),
        open: |root, split| {
            let normalization = Normalization { mean: vec![0.1307], std: vec![0.3081] };
            open_split(root, split, "mnist-csv", "mnist", (0..10).map(|d| d.to_string()).collect(), normalization)
        },
    }
}
