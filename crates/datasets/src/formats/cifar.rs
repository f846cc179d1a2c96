//! CIFAR-10 and CIFAR-100, the official binary versions.
//!
//! A CIFAR-10 record is one label byte and 3072 pixel bytes: the 32x32 red plane, then green,
//! then blue, each row-major. A CIFAR-100 record has a coarse (superclass) label byte, then the
//! fine label byte, then the same 3072 bytes. Class names come from the archive's text files.

use std::path::{Path, PathBuf};

use lossgp_core::data::{DataError, Dataset, Image, Normalization, Sample, Target, Task};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// Which CIFAR, and for CIFAR-100 which labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    /// CIFAR-10: 10 classes.
    Ten,
    /// CIFAR-100 with its 100 fine classes.
    Hundred,
    /// CIFAR-100 with its 20 coarse superclasses.
    HundredCoarse,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Ten => 1,
            CifarKind::Hundred | CifarKind::HundredCoarse => 2,
        }
    }

    /// Where in a record the label used lies: CIFAR-100 stores the coarse label first.
    fn label_offset(self) -> usize {
        match self {
            CifarKind::Ten | CifarKind::HundredCoarse => 0,
            CifarKind::Hundred => 1,
        }
    }

    /// The directory the archive unpacks to.
    pub fn directory(self) -> &'static str {
        match self {
            CifarKind::Ten => "cifar-10-batches-bin",
            CifarKind::Hundred | CifarKind::HundredCoarse => "cifar-100-binary",
        }
    }

    /// The batch files of a split, relative to [`directory`](Self::directory).
    pub fn files(self, test: bool) -> Vec<String> {
        match (self, test) {
            (CifarKind::Ten, false) => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            (CifarKind::Ten, true) => vec!["test_batch.bin".into()],
            (_, false) => vec!["train.bin".into()],
            (_, true) => vec!["test.bin".into()],
        }
    }

    /// The file of class names, relative to [`directory`](Self::directory).
    pub fn names_file(self) -> &'static str {
        match self {
            CifarKind::Ten => "batches.meta.txt",
            CifarKind::Hundred => "fine_label_names.txt",
            CifarKind::HundredCoarse => "coarse_label_names.txt",
        }
    }

    fn class_count(self) -> usize {
        match self {
            CifarKind::Ten => 10,
            CifarKind::Hundred => 100,
            CifarKind::HundredCoarse => 20,
        }
    }

    /// The per-channel statistics of the training set, as commonly published.
    pub fn normalization(self) -> Normalization {
        match self {
            CifarKind::Ten => Normalization { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2470, 0.2435, 0.2616] },
            _ => Normalization { mean: vec![0.5071, 0.4865, 0.4409], std: vec![0.2673, 0.2564, 0.2762] },
        }
    }
}

/// A CIFAR split, held in memory (150 MB for CIFAR-10's training set).
pub struct Cifar {
    name: String,
    kind: CifarKind,
    records: Vec<u8>,
    classes: Vec<String>,
}

impl Cifar {
    /// Reads the split's batch files from `dir` (the directory holding `data_batch_1.bin` or
    /// `train.bin`), and the class names beside them.
    pub fn open(name: impl Into<String>, dir: &Path, kind: CifarKind, test: bool) -> Result<Cifar, DataError> {
        let names_path = dir.join(kind.names_file());
        let names = std::fs::read_to_string(&names_path).map_err(|e| DataError::io(&names_path, e))?;
        let classes: Vec<String> = names.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if classes.len() != kind.class_count() {
            return Err(DataError::corrupt(
                &names_path,
                format!("has {} class names, CIFAR needs {}", classes.len(), kind.class_count()),
            ));
        }
        let record = kind.label_bytes() + PIXELS;
        let mut records = Vec::new();
        for file in kind.files(test) {
            let path: PathBuf = dir.join(&file);
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            if bytes.is_empty() || bytes.len() % record != 0 {
                return Err(DataError::corrupt(
                    &path,
                    format!(
                        "{} bytes is not a whole number of {record}-byte records; the file is truncated or not CIFAR",
                        bytes.len()
                    ),
                ));
            }
            let label_at = kind.label_offset();
            if let Some(i) = (0..bytes.len() / record).find(|i| bytes[i * record + label_at] as usize >= classes.len())
            {
                return Err(DataError::corrupt(
                    &path,
                    format!(
                        "record {i} has label {}, but there are {} classes",
                        bytes[i * record + label_at],
                        classes.len()
                    ),
                ));
            }
            records.extend_from_slice(&bytes);
        }
        Ok(Cifar { name: name.into(), kind, records, classes })
    }

    fn record(&self) -> usize {
        self.kind.label_bytes() + PIXELS
    }
}

impl Dataset for Cifar {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.records.len() / self.record()
    }
    fn task(&self) -> Task {
        Task::Classification
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        let label = self.label(index)?.unwrap_or(0);
        let start = index * self.record() + self.kind.label_bytes();
        let planes = &self.records[start..start + PIXELS];
        let plane = SIDE * SIDE;
        let pixels = (0..plane).flat_map(|i| [planes[i], planes[plane + i], planes[2 * plane + i]]).collect();
        Ok(Sample { image: Image::new(SIDE as u32, SIDE as u32, 3, pixels)?, target: Target::Class(label) })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(Some(u32::from(self.records[index * self.record() + self.kind.label_offset()])))
    }
    fn normalization(&self) -> Normalization {
        self.kind.normalization()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((SIDE as u32, SIDE as u32, 3))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::write;
    use tempfile::TempDir;

    /// A CIFAR record whose pixel `(x, y)` has red `x`, green `y` and blue `seed`.
    pub fn record(labels: &[u8], seed: u8) -> Vec<u8> {
        let mut out = labels.to_vec();
        out.extend((0..SIDE * SIDE).map(|i| (i % SIDE) as u8));
        out.extend((0..SIDE * SIDE).map(|i| (i / SIDE) as u8));
        out.extend(std::iter::repeat_n(seed, SIDE * SIDE));
        out
    }

    /// A CIFAR-10 directory with `per_file` records in each of its five training batches.
    pub fn cifar10(dir: &Path, per_file: usize) {
        let names: String = (0..10).map(|c| format!("class{c}\n")).collect();
        write(dir, "batches.meta.txt", format!("{names}\n").as_bytes());
        for f in CifarKind::Ten.files(false).into_iter().chain(CifarKind::Ten.files(true)) {
            let bytes: Vec<u8> = (0..per_file).flat_map(|i| record(&[(i % 10) as u8], i as u8)).collect();
            write(dir, &f, &bytes);
        }
    }

    #[test]
    fn cifar10_planes_become_rgb_pixels() {
        let dir = TempDir::new().unwrap();
        cifar10(dir.path(), 3);
        let train = Cifar::open("c", dir.path(), CifarKind::Ten, false).unwrap();
        assert_eq!(train.len(), 15);
        assert_eq!(train.classes()[3], "class3");
        let sample = train.sample(4).unwrap();
        assert_eq!(sample.target, Target::Class(1));
        let image = sample.image;
        assert_eq!((image.get(5, 0, 0), image.get(5, 7, 1), image.get(9, 9, 2)), (5, 7, 1));
        assert_eq!(Cifar::open("c", dir.path(), CifarKind::Ten, true).unwrap().len(), 3);
    }

    #[test]
    fn cifar100_fine_and_coarse_labels() {
        let dir = TempDir::new().unwrap();
        write(
            dir.path(),
            "fine_label_names.txt",
            (0..100).map(|c| format!("fine{c}\n")).collect::<String>().as_bytes(),
        );
        write(
            dir.path(),
            "coarse_label_names.txt",
            (0..20).map(|c| format!("coarse{c}\n")).collect::<String>().as_bytes(),
        );
        let bytes: Vec<u8> = [record(&[3, 42], 9), record(&[19, 99], 8)].concat();
        write(dir.path(), "train.bin", &bytes);
        let fine = Cifar::open("f", dir.path(), CifarKind::Hundred, false).unwrap();
        assert_eq!((fine.label(0).unwrap(), fine.label(1).unwrap()), (Some(42), Some(99)));
        assert_eq!(fine.classes()[99], "fine99");
        let coarse = Cifar::open("c", dir.path(), CifarKind::HundredCoarse, false).unwrap();
        assert_eq!((coarse.label(0).unwrap(), coarse.label(1).unwrap()), (Some(3), Some(19)));
        assert_eq!(coarse.sample(1).unwrap().image, fine.sample(1).unwrap().image);
    }

    #[test]
    fn bad_files_are_explained() {
        let dir = TempDir::new().unwrap();
        cifar10(dir.path(), 2);
        let open = || Cifar::open("c", dir.path(), CifarKind::Ten, true).err().unwrap().to_string();
        write(dir.path(), "test_batch.bin", &record(&[1], 0)[..3000]);
        assert!(open().contains("test_batch.bin: 3000 bytes is not a whole number of 3073-byte records"), "{}", open());
        write(dir.path(), "test_batch.bin", &record(&[10], 0));
        assert!(open().contains("record 0 has label 10, but there are 10 classes"), "{}", open());
        write(dir.path(), "batches.meta.txt", b"a\nb\n");
        assert!(open().contains("has 2 class names, CIFAR needs 10"), "{}", open());
        std::fs::remove_file(dir.path().join("batches.meta.txt")).unwrap();
        assert!(open().starts_with("cannot read"), "{}", open());
    }
}
