//! Image folders: one folder per class (ImageNet's training set, Caltech-101, a user's own
//! data), and ImageNet's flat validation folder with its label file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::ImageFormat;
use lossgp_core::data::{DataError, Dataset, Normalization, Sample, Skipped, Target, Task};

use super::decode;

/// Whether a file is read as an image, by its extension (without case): every format this
/// build's `image` crate decodes (JPEG, PNG, BMP, GIF, WebP, TIFF, ...; see its features in
/// the workspace's `Cargo.toml`). Otherwise, why not.
fn image_or_why(path: &Path) -> Result<(), String> {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return Err("no file extension, so not read as an image".into());
    };
    match ImageFormat::from_extension(extension) {
        Some(format) if format.reading_enabled() => Ok(()),
        Some(format) => Err(format!("{format:?} images are not decoded by this build of lossgp")),
        None => Err(format!(".{extension} is not an image format lossgp reads")),
    }
}

/// The image extensions this build reads, with their dots, for messages.
pub fn image_extensions() -> Vec<String> {
    ImageFormat::all()
        .filter(|f| f.reading_enabled())
        .flat_map(|f| f.extensions_str().iter().map(|e| format!(".{e}")))
        .collect()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// The entries of `dir` that are not hidden, sorted, each with whether it is a real directory
/// (symbolic links to directories are not followed, so a link cycle cannot make a scan loop).
fn entries(dir: &Path) -> Result<Vec<(PathBuf, bool)>, DataError> {
    let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
        .filter(|(p, _)| !is_hidden(p))
        .collect();
    entries.sort();
    Ok(entries)
}

/// The class folders of an image folder: its directories, hidden ones excepted, sorted.
pub fn class_folders(root: &Path) -> Result<Vec<String>, DataError> {
    Ok(entries(root)?
        .into_iter()
        .filter(|(_, is_dir)| *is_dir)
        .filter_map(|(p, _)| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .collect())
}

/// Every image file below `dir`, recursively, in sorted order; other files go to `skipped`.
fn images_below(dir: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for (path, is_dir) in entries(dir)? {
        if is_dir {
            out.extend(images_below(&path, skipped)?);
        } else {
            match image_or_why(&path) {
                Ok(()) => out.push(path),
                Err(reason) => skipped.push(Skipped { path, reason }),
            }
        }
    }
    Ok(out)
}

/// Images with their classes, decoded when asked for.
pub struct ImageFolder {
    name: String,
    classes: Vec<String>,
    items: Vec<(PathBuf, u32)>,
    skipped: Vec<Skipped>,
    normalization: Normalization,
}

impl ImageFolder {
    /// Every image under `root/<class>/` (any format this build decodes, at any depth), with
    /// the class folders in sorted order as the classes. Other files are not read, and are
    /// listed by [`Dataset::skipped`]; hidden files and folders are ignored.
    pub fn open(name: impl Into<String>, root: &Path) -> Result<ImageFolder, DataError> {
        let classes = class_folders(root)?;
        if classes.is_empty() {
            return Err(DataError::NotFound {
                what: "class folders".into(),
                path: root.to_owned(),
                hint: "an image folder holds one folder per class, e.g. ROOT/cat/001.jpg and ROOT/dog/002.png".into(),
            });
        }
        Self::open_with_classes(name, root, classes)
    }

    /// Like [`open`](Self::open), with the class list given (a validation folder must use its
    /// training folder's classes); a folder that is not a class is an error.
    pub fn open_with_classes(
        name: impl Into<String>,
        root: &Path,
        classes: Vec<String>,
    ) -> Result<ImageFolder, DataError> {
        let index: HashMap<&str, u32> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        let folders: Vec<PathBuf> = class_folders(root)?.into_iter().map(|c| root.join(c)).collect();
        for folder in folders {
            let class = folder.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let Some(&label) = index.get(class) else {
                return Err(DataError::corrupt(
                    &folder,
                    "is not one of the dataset's classes (those of its training split)",
                ));
            };
            items.extend(images_below(&folder, &mut skipped)?.into_iter().map(|p| (p, label)));
        }
        if items.is_empty() {
            let found = match skipped.first() {
                Some(first) => format!(
                    "; {} other files are there, e.g. {}: {}",
                    skipped.len(),
                    first.path.display(),
                    first.reason
                ),
                None => String::new(),
            };
            return Err(DataError::NotFound {
                what: format!("images ({})", image_extensions().join(", ")),
                path: root.to_owned(),
                hint: format!("put each class's images in a folder named after the class{found}"),
            });
        }
        Ok(ImageFolder { name: name.into(), classes, items, skipped, normalization: Normalization::imagenet() })
    }

    /// ImageNet's validation images as published, in one flat folder, labelled by a
    /// `LOC_val_solution.csv` (Kaggle's layout: `ImageId,PredictionString`, the first word of
    /// the prediction string being the class's WordNet id); `classes` are the WordNet ids of
    /// the training folders.
    pub fn imagenet_val(
        name: impl Into<String>,
        dir: &Path,
        solution: &Path,
        classes: Vec<String>,
    ) -> Result<ImageFolder, DataError> {
        let text = std::fs::read_to_string(solution).map_err(|e| DataError::io(solution, e))?;
        let index: HashMap<&str, u32> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let mut items = Vec::new();
        for (line_number, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
            let corrupt =
                |what: &str| DataError::corrupt(solution, format!("line {}: {what}: `{line}`", line_number + 1));
            let (image, prediction) =
                line.split_once(',').ok_or_else(|| corrupt("expected `ImageId,PredictionString`"))?;
            let wnid = prediction.split_whitespace().next().ok_or_else(|| corrupt("no class"))?;
            let label = *index.get(wnid).ok_or_else(|| corrupt("class is not one of the training folders"))?;
            items.push((dir.join(format!("{}.JPEG", image.trim())), label));
        }
        items.sort();
        if items.is_empty() {
            return Err(DataError::corrupt(solution, "lists no images"));
        }
        Ok(ImageFolder {
            name: name.into(),
            classes,
            items,
            skipped: Vec::new(),
            normalization: Normalization::imagenet(),
        })
    }

    /// The image files and their classes.
    pub fn items(&self) -> &[(PathBuf, u32)] {
        &self.items
    }
}

impl Dataset for ImageFolder {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task(&self) -> Task {
        Task::Classification
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        let (path, label) = &self.items[index];
        Ok(Sample { image: decode::rgb(path)?, target: Target::Class(*label) })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(Some(self.items[index].1))
    }
    fn normalization(&self) -> Normalization {
        self.normalization.clone()
    }
    fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
    fn sample_id(&self, index: usize) -> Option<String> {
        Some(self.items.get(index)?.0.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode::write::photo;
    use crate::testing::write;
    use image::ImageFormat;
    use tempfile::TempDir;

    fn solid(value: u8) -> Vec<u8> {
        vec![value; 6 * 4 * 3]
    }

    #[test]
    fn classes_are_sorted_folders_and_images_decode() {
        let dir = TempDir::new().unwrap();
        write(dir.path(), "dog/b.png", &photo(6, 4, &solid(200), ImageFormat::Png));
        write(dir.path(), "dog/a.JPG", &photo(6, 4, &solid(100), ImageFormat::Jpeg));
        write(dir.path(), "cat/nested/c.jpeg", &photo(6, 4, &solid(50), ImageFormat::Jpeg));
        write(dir.path(), "cat/notes.txt", b"not an image");
        write(dir.path(), ".hidden/x.png", &photo(6, 4, &solid(0), ImageFormat::Png));
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert_eq!(data.classes(), ["cat", "dog"]);
        assert_eq!(data.len(), 3);
        assert_eq!(data.label(0).unwrap(), Some(0));
        let png = data.sample(2).unwrap();
        assert_eq!(png.target, Target::Class(1));
        assert_eq!(png.image.pixels(), solid(200).as_slice());
        let jpeg = data.sample(1).unwrap().image;
        assert!(jpeg.pixels().iter().all(|&p| p.abs_diff(100) <= 2), "JPEG pixels drift");
        let skipped: Vec<&Path> = data.skipped().iter().map(|s| s.path.as_path()).collect();
        assert_eq!(skipped, [dir.path().join("cat/notes.txt")], "the text file is named, the hidden folder is not");
        assert!(data.skipped()[0].reason.contains(".txt is not an image format"), "{:?}", data.skipped());
    }

    #[test]
    fn every_format_the_build_decodes_is_read_and_nothing_is_dropped_silently() {
        let dir = TempDir::new().unwrap();
        let formats = [
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
            ImageFormat::Gif,
            ImageFormat::Png,
            ImageFormat::Jpeg,
        ];
        for (i, format) in formats.into_iter().enumerate() {
            let extension = format.extensions_str()[0];
            write(dir.path(), &format!("dog/{i}.{extension}"), &photo(6, 4, &solid(120), format));
        }
        write(dir.path(), "dog/z.heic", b"unknown to the image crate");
        write(dir.path(), "dog/README", b"no extension");
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert_eq!(data.len(), formats.len(), "{:?}", data.items());
        for i in 0..data.len() {
            let image = data.sample(i).unwrap().image;
            assert_eq!((image.width(), image.height()), (6, 4));
            assert!(image.pixels().iter().all(|&p| p.abs_diff(120) <= 3), "sample {i} decodes wrong");
        }
        let reasons: Vec<&str> = data.skipped().iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("no file extension")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains(".heic is not an image format")), "{reasons:?}");
        let only_skipped = TempDir::new().unwrap();
        write(only_skipped.path(), "cat/a.heic", b"x");
        let err = ImageFolder::open("f", only_skipped.path()).err().unwrap().to_string();
        assert!(err.contains("1 other files are there") && err.contains(".bmp"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn linked_folders_are_not_followed() {
        let dir = TempDir::new().unwrap();
        write(dir.path(), "cat/a.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        // A link back to the folder itself would otherwise list every image again and again.
        std::os::unix::fs::symlink(dir.path().join("cat"), dir.path().join("cat/self")).unwrap();
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert_eq!(data.len(), 1);
    }

    #[test]
    fn imagenet_validation_layout() {
        let dir = TempDir::new().unwrap();
        for (id, value) in [("ILSVRC2012_val_00000001", 10), ("ILSVRC2012_val_00000002", 20)] {
            write(dir.path(), &format!("val/{id}.JPEG"), &photo(6, 4, &solid(value), ImageFormat::Jpeg));
        }
        let csv = "ImageId,PredictionString\nILSVRC2012_val_00000002,n02 1 2 3 4 n02 5 6 7 8\nILSVRC2012_val_00000001,n01 1 2 3 4\n";
        let solution = write(dir.path(), "LOC_val_solution.csv", csv.as_bytes());
        let classes = vec!["n01".to_owned(), "n02".to_owned()];
        let val = ImageFolder::imagenet_val("v", &dir.path().join("val"), &solution, classes.clone()).unwrap();
        assert_eq!(val.len(), 2);
        assert_eq!((val.label(0).unwrap(), val.label(1).unwrap()), (Some(0), Some(1)));
        assert!(val.sample(1).unwrap().image.pixels()[0].abs_diff(20) <= 2);
        write(dir.path(), "LOC_val_solution.csv", b"ImageId,PredictionString\nILSVRC2012_val_00000001,n99 1 2 3 4\n");
        let err = ImageFolder::imagenet_val("v", &dir.path().join("val"), &solution, classes).err().unwrap();
        assert!(err.to_string().contains("line 2: class is not one of the training folders"), "{err}");
    }

    #[test]
    fn bad_folders_are_explained() {
        let dir = TempDir::new().unwrap();
        assert!(ImageFolder::open("f", dir.path()).err().unwrap().to_string().contains("class folders not found"));
        write(dir.path(), "cat/readme.txt", b"no images");
        let err = ImageFolder::open("f", dir.path()).err().unwrap().to_string();
        assert!(err.contains("not found") && err.contains(".jpeg") && err.contains(".webp"), "{err}");
        assert!(err.contains("readme.txt: .txt is not an image format"), "{err}");
        write(dir.path(), "cat/x.jpg", b"not really a jpeg");
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert!(data.sample(0).unwrap_err().to_string().contains("x.jpg: does not decode as an image"));
        write(dir.path(), "bird/y.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        let err = ImageFolder::open_with_classes("v", dir.path(), vec!["cat".into()]).err().unwrap();
        assert!(err.to_string().contains("bird: is not one of the dataset's classes"), "{err}");
    }
}
