//! Image folders: one folder per class (ImageNet's training set, Caltech-101, a user's own
//! data), and ImageNet's flat validation folder with its label file.

use std::collections::{HashMap, HashSet};
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
    path.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
}

/// A folder's entry: its path and what it is, symbolic links followed (torchvision's
/// `ImageFolder` follows them: subsets of ImageNet are commonly assembled from links).
struct Entry {
    path: PathBuf,
    kind: EntryKind,
}

enum EntryKind {
    Folder,
    File,
    /// Hidden (a name starting with a dot), a link to nothing, or neither file nor folder.
    Unread(&'static str),
}

/// The entries of `dir`, sorted by name. An entry that cannot be listed is an error, never a
/// silent omission.
fn entries(dir: &Path) -> Result<Vec<Entry>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let kind = if is_hidden(&path) {
            EntryKind::Unread("hidden (its name starts with a dot), so not read")
        } else {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => EntryKind::Folder,
                Ok(m) if m.is_file() => EntryKind::File,
                Ok(_) => EntryKind::Unread("neither a file nor a folder"),
                Err(_) if path.is_symlink() => EntryKind::Unread("a symbolic link to nothing (its target is missing)"),
                Err(e) => return Err(DataError::io(&path, e)),
            }
        };
        entries.push(Entry { path, kind });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// A class's name: its folder's name, with any bytes that are not UTF-8 shown as U+FFFD (as
/// where archives made on Windows unpack on Linux; Python keeps such names with escapes).
fn class_name(folder: &Path) -> String {
    folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The class folders of an image folder (links to folders included), sorted, and what else is
/// at its top level, with why it is not read: files there belong to no class.
fn scan_classes(root: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>), DataError> {
    let mut folders = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries(root)? {
        match entry.kind {
            EntryKind::Folder => folders.push(entry.path),
            EntryKind::File => skipped.push(Skipped {
                path: entry.path,
                reason: "is in no class folder (ROOT/<class>/...), so not read".into(),
            }),
            EntryKind::Unread(reason) => skipped.push(Skipped { path: entry.path, reason: reason.into() }),
        }
    }
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for folder in &folders {
        if let Some(other) = seen.insert(class_name(folder), folder) {
            return Err(DataError::corrupt(
                folder,
                format!(
                    "has the same class name as {} once bytes that are not UTF-8 are replaced; rename one of them",
                    other.display()
                ),
            ));
        }
    }
    Ok((folders, skipped))
}

/// The class folders of an image folder: its folders and links to folders, hidden ones
/// excepted, sorted; names that are not UTF-8 are shown as `class_name` shows them.
pub fn class_folders(root: &Path) -> Result<Vec<String>, DataError> {
    Ok(scan_classes(root)?.0.iter().map(|f| class_name(f)).collect())
}

/// Every image file below `dir`, recursively and following links, in sorted order; other
/// files go to `skipped`, as does a link back to a folder already read (which would otherwise
/// list the same images again and again). `visited` holds the folders read, resolved.
fn images_below(
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<PathBuf>, DataError> {
    let resolved = dir.canonicalize().map_err(|e| DataError::io(dir, e))?;
    if !visited.insert(resolved.clone()) {
        skipped.push(Skipped {
            path: dir.to_owned(),
            reason: format!("leads to {}, a folder already read, so not read again", resolved.display()),
        });
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in entries(dir)? {
        match entry.kind {
            EntryKind::Folder => out.extend(images_below(&entry.path, visited, skipped)?),
            EntryKind::File => match image_or_why(&entry.path) {
                Ok(()) => out.push(entry.path),
                Err(reason) => skipped.push(Skipped { path: entry.path, reason }),
            },
            EntryKind::Unread(reason) => skipped.push(Skipped { path: entry.path, reason: reason.into() }),
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
    /// listed by [`Dataset::skipped`], as are hidden files and folders, files outside the class
    /// folders and links to nothing. Links to folders and files are followed; a class folder
    /// whose name is not UTF-8 is a class named with U+FFFD where its bytes are not.
    pub fn open(name: impl Into<String>, root: &Path) -> Result<ImageFolder, DataError> {
        let classes = class_folders(root)?;
        if classes.is_empty() {
            return Err(DataError::NotFound {
                what: "class folders".into(),
                path: root.to_owned(),
                hint: "an image folder holds one folder per class, e.g. ROOT/cat/001.jpg and ROOT/dog/002.png".into(),
            });
        }
        let folder = Self::open_with_classes(name, root, classes)?;
        // A class without an image would be an output the model never sees a sample of;
        // torchvision refuses it too ("Found no valid file for the classes ...").
        let mut counts = vec![0usize; folder.classes.len()];
        for (_, label) in &folder.items {
            counts[*label as usize] += 1;
        }
        let empty: Vec<&str> =
            folder.classes.iter().zip(&counts).filter(|(_, n)| **n == 0).map(|(c, _)| c.as_str()).collect();
        if !empty.is_empty() {
            return Err(DataError::NotFound {
                what: format!("images in the class folders {}", empty.join(", ")),
                path: root.to_owned(),
                hint: "a class needs at least one image; remove the empty folders or fill them (`lossgp data inspect` lists the files that are not read)".into(),
            });
        }
        Ok(folder)
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
        let (folders, mut skipped) = scan_classes(root)?;
        let mut visited = HashSet::new();
        for folder in folders {
            let Some(&label) = index.get(class_name(&folder).as_str()) else {
                return Err(DataError::corrupt(
                    &folder,
                    "is not one of the dataset's classes (those of its training split)",
                ));
            };
            items.extend(images_below(&folder, &mut visited, &mut skipped)?.into_iter().map(|p| (p, label)));
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

    /// The same images, with `more` files named as not read.
    pub fn with_skipped(mut self, more: Vec<Skipped>) -> ImageFolder {
        self.skipped.extend(more);
        self
    }

    /// What lies at the top of `root` that is not a folder: files there belong to no class
    /// (or, beside split folders, to no split), hidden entries and links to nothing.
    pub fn beside_the_classes(root: &Path) -> Result<Vec<Skipped>, DataError> {
        Ok(scan_classes(root)?.1)
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
        assert_eq!(
            skipped,
            [dir.path().join(".hidden"), dir.path().join("cat/notes.txt")],
            "what is not read is named"
        );
        assert!(data.skipped()[0].reason.contains("hidden"), "{:?}", data.skipped());
        assert!(data.skipped()[1].reason.contains(".txt is not an image format"), "{:?}", data.skipped());
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

    /// torchvision's `ImageFolder` follows links (ImageNet subsets are assembled from them); a
    /// link back to a folder already read is named rather than read again and again.
    #[cfg(unix)]
    #[test]
    fn linked_folders_and_files_are_followed_and_cycles_named() {
        use std::os::unix::fs::symlink;
        let dir = TempDir::new().unwrap();
        let (root, elsewhere) = (dir.path().join("root"), dir.path().join("elsewhere"));
        write(&root, "cat/a.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        write(&elsewhere, "dogs/b.png", &photo(6, 4, &solid(2), ImageFormat::Png));
        write(&elsewhere, "dogs/c.png", &photo(6, 4, &solid(3), ImageFormat::Png));
        write(&elsewhere, "more/d.png", &photo(6, 4, &solid(4), ImageFormat::Png));
        write(&elsewhere, "e.png", &photo(6, 4, &solid(5), ImageFormat::Png));
        symlink(elsewhere.join("dogs"), root.join("dog")).unwrap();
        symlink(elsewhere.join("more"), root.join("cat/more")).unwrap();
        symlink(elsewhere.join("e.png"), root.join("cat/e.png")).unwrap();
        symlink(root.join("cat"), root.join("cat/self")).unwrap();
        symlink(elsewhere.join("gone"), root.join("cat/gone.png")).unwrap();
        let data = ImageFolder::open("f", &root).unwrap();
        assert_eq!(data.classes(), ["cat", "dog"]);
        let counts = (0..data.len()).fold([0; 2], |mut c, i| {
            c[data.label(i).unwrap().unwrap() as usize] += 1;
            c
        });
        assert_eq!(counts, [3, 2], "{:?}", data.items());
        let reasons: Vec<String> =
            data.skipped().iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("cat/gone.png: a symbolic link to nothing")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("cat/self: leads to") && r.contains("already read")), "{reasons:?}");
    }

    /// A folder or file whose name is not UTF-8 (archives made on Windows, unpacked on Linux)
    /// is read, never dropped: torchvision lists it too.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_read() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = TempDir::new().unwrap();
        let cafe = dir.path().join(OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir_all(&cafe).unwrap();
        std::fs::write(cafe.join(OsStr::from_bytes(b"cr\xe8me.png")), photo(6, 4, &solid(9), ImageFormat::Png))
            .unwrap();
        write(dir.path(), "cat/a.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert_eq!(data.classes(), ["caf\u{fffd}", "cat"]);
        assert_eq!(data.len(), 2);
        assert_eq!(data.sample(0).unwrap().image.pixels()[0], 9);
        assert_eq!(class_folders(dir.path()).unwrap(), data.classes());
        // Two names that only differ where they are not UTF-8 would be one class: refused.
        std::fs::create_dir_all(dir.path().join(OsStr::from_bytes(b"caf\xe8"))).unwrap();
        let err = ImageFolder::open("f", dir.path()).err().unwrap().to_string();
        assert!(err.contains("has the same class name as") && err.contains("rename one"), "{err}");
    }

    /// Whatever sits beside the class folders is named: a file there belongs to no class.
    #[test]
    fn files_outside_the_class_folders_are_named() {
        let dir = TempDir::new().unwrap();
        write(dir.path(), "cat/a.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        write(dir.path(), "stray.png", &photo(6, 4, &solid(1), ImageFormat::Png));
        write(dir.path(), "labels.csv", b"a,cat");
        let data = ImageFolder::open("f", dir.path()).unwrap();
        assert_eq!(data.len(), 1);
        let named: Vec<String> = data.skipped().iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
        assert_eq!(named.len(), 2, "{named:?}");
        assert!(named.iter().all(|n| n.contains("is in no class folder")), "{named:?}");
        assert!(named[1].contains("stray.png"), "{named:?}");
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
