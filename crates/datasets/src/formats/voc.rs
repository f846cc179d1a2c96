//! Pascal VOC 2012 semantic segmentation: `JPEGImages/*.jpg`, palette PNG label maps in
//! `SegmentationClass/`, and the image lists in `ImageSets/Segmentation/{train,val}.txt`.
//! Label 255 marks object boundaries and is ignored.
//!
//! Any folder in VOC's layout reads the same way, such as the output of labelme's
//! `labelme2voc.py` (the annotation tool's own export): its label maps may be in
//! `SegmentationClassPNG/` instead, its classes are listed in `class_names.txt` (one per line,
//! background first), and without `ImageSets/` every image that has a label map is a sample.

use std::path::{Path, PathBuf};

use lossgp_core::data::{DataError, Dataset, IGNORE, LabelMap, Normalization, Sample, Skipped, Target, Task};

use super::decode;

/// The 21 classes, background first.
pub const VOC_CLASSES: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// The colour VOC's palette gives class `index`: the bits of the index spread over the high
/// bits of red, green and blue.
pub fn voc_colour(index: u8) -> [u8; 3] {
    let mut rgb = [0u8; 3];
    let mut i = index;
    for shift in (0..8).rev() {
        for (c, channel) in rgb.iter_mut().enumerate() {
            *channel |= ((i >> c) & 1) << shift;
        }
        i >>= 3;
    }
    rgb
}

/// Writes a label map as an 8-bit palette PNG with VOC's colours, as VOC's own label maps and
/// its evaluation server's submissions are: each pixel's value is its class (255 ignored), and
/// [`decode::labels`] reads it back as it was.
pub fn write_mask(path: &Path, mask: &LabelMap) -> Result<(), DataError> {
    let palette: Vec<u8> = (0..=255).flat_map(voc_colour).collect();
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, mask.width(), mask.height());
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette);
    let encoded = encoder.write_header().and_then(|mut w| {
        w.write_image_data(mask.labels())?;
        w.finish()
    });
    encoded.map_err(|e| DataError::corrupt(path, format!("cannot be encoded as PNG: {e}")))?;
    std::fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

/// A VOC segmentation split.
pub struct Voc {
    name: String,
    root: PathBuf,
    masks: PathBuf,
    ids: Vec<String>,
    /// Each sample's image and label map, where they are not `JPEGImages/ID.jpg` and
    /// `MASKS/ID.png` (a folder without image lists may hold `.JPG`, `.jpeg` or `.png` photos).
    files: Option<Vec<(PathBuf, PathBuf)>>,
    classes: Vec<String>,
    skipped: Vec<Skipped>,
}

/// The folders a VOC-layout folder may keep its label maps in: VOC's, then labelme2voc's.
const MASK_FOLDERS: [&str; 2] = ["SegmentationClass", "SegmentationClassPNG"];

/// Where a VOC-layout folder keeps its PNG label maps: the first of [`MASK_FOLDERS`] that
/// holds a PNG (labelme2voc's `SegmentationClass/` holds NumPy arrays).
fn mask_folder(root: &Path) -> Option<PathBuf> {
    MASK_FOLDERS.iter().map(|f| root.join(f)).find(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
        })
    })
}

/// Whether `root` is a folder in VOC's layout: `JPEGImages/` and PNG label maps.
pub fn is_voc_folder(root: &Path) -> bool {
    root.join("JPEGImages").is_dir() && mask_folder(root).is_some()
}

impl Voc {
    /// The split listed in `root/ImageSets/Segmentation/<list>.txt`, where `root` is the
    /// `VOC2012` folder. Checks now that every listed image and label map exists.
    pub fn open(name: impl Into<String>, root: &Path, list: &str) -> Result<Voc, DataError> {
        let list_path = Voc::list_path(root, list);
        let text = std::fs::read_to_string(&list_path).map_err(|e| DataError::io(&list_path, e))?;
        let ids: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if ids.is_empty() {
            return Err(DataError::corrupt(&list_path, "lists no images"));
        }
        let masks = mask_folder(root).unwrap_or_else(|| root.join(MASK_FOLDERS[0]));
        let voc = Voc {
            name: name.into(),
            root: root.to_owned(),
            masks,
            ids,
            files: None,
            classes: Voc::class_names(root)?,
            skipped: Vec::new(),
        };
        for i in 0..voc.ids.len() {
            let (image, labels) = voc.paths(i);
            for path in [image, labels] {
                if !path.is_file() {
                    return Err(DataError::NotFound {
                        what: format!("`{}`, listed in {},", voc.ids[i], list_path.display()),
                        path,
                        hint: "the folder is incomplete (for VOC2012, fetch it again)".into(),
                    });
                }
            }
        }
        Ok(voc)
    }

    /// Every image of `root/JPEGImages/` that has a label map, in the order of their names:
    /// a VOC-layout folder without image lists, as labelme2voc writes it.
    pub fn open_all(name: impl Into<String>, root: &Path) -> Result<Voc, DataError> {
        let masks = mask_folder(root).ok_or_else(|| DataError::NotFound {
            what: "PNG label maps".into(),
            path: root.join(MASK_FOLDERS[0]),
            hint: format!("a VOC-layout folder keeps them in {}", MASK_FOLDERS.join("/ or ")),
        })?;
        let images = root.join("JPEGImages");
        // Photos and label maps are paired by their names without extension; what has no
        // partner, or is not an image, is named in `skipped`, never dropped without a word.
        let listing = |dir: &Path| -> Result<Vec<PathBuf>, DataError> {
            let mut paths = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
                paths.push(entry.map_err(|e| DataError::io(dir, e))?.path());
            }
            paths.sort();
            Ok(paths)
        };
        let is_image = |p: &Path| {
            p.extension()
                .and_then(|x| x.to_str())
                .and_then(image::ImageFormat::from_extension)
                .is_some_and(|f| f.reading_enabled())
        };
        let hidden = |p: &Path| p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
        let mut maps: std::collections::BTreeMap<std::ffi::OsString, PathBuf> = Default::default();
        let mut skipped = Vec::new();
        for map in listing(&masks)? {
            if map.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")) && !hidden(&map) {
                maps.insert(map.file_stem().unwrap_or_default().to_owned(), map);
            } else {
                skipped.push(Skipped { path: map, reason: "is not a PNG label map, so not read".into() });
            }
        }
        let mut ids = Vec::new();
        let mut files = Vec::new();
        for photo in listing(&images)? {
            let stem = photo.file_stem().unwrap_or_default().to_owned();
            if hidden(&photo) || !is_image(&photo) {
                skipped.push(Skipped { path: photo, reason: "is not an image lossgp reads, so not read".into() });
            } else if let Some(map) = maps.remove(&stem) {
                ids.push(stem.to_string_lossy().into_owned());
                files.push((photo, map));
            } else {
                skipped.push(Skipped {
                    path: photo,
                    reason: format!("has no label map ({}/NAME.png), so not read", masks.display()),
                });
            }
        }
        skipped.extend(
            maps.into_values()
                .map(|map| Skipped { path: map, reason: format!("has no photo in {}, so not read", images.display()) }),
        );
        if ids.is_empty() {
            return Err(DataError::corrupt(&images, format!("has no image with a label map in {}", masks.display())));
        }
        Ok(Voc {
            name: name.into(),
            root: root.to_owned(),
            masks,
            ids,
            files: Some(files),
            classes: Voc::class_names(root)?,
            skipped,
        })
    }

    /// The image list of split `list`: `root/ImageSets/Segmentation/<list>.txt`.
    pub fn list_path(root: &Path, list: &str) -> PathBuf {
        root.join("ImageSets").join("Segmentation").join(format!("{list}.txt"))
    }

    /// The classes in `root/class_names.txt` (labelme2voc's list, background first), else VOC's.
    fn class_names(root: &Path) -> Result<Vec<String>, DataError> {
        let path = root.join("class_names.txt");
        if !path.is_file() {
            return Ok(VOC_CLASSES.map(str::to_owned).to_vec());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        let classes: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        match classes.len() {
            0 => Err(DataError::corrupt(&path, "lists no classes")),
            n if n > usize::from(IGNORE) => Err(DataError::corrupt(
                &path,
                format!("lists {n} classes; label maps hold at most {IGNORE} (255 is the ignore label)"),
            )),
            _ => Ok(classes),
        }
    }

    fn paths(&self, index: usize) -> (PathBuf, PathBuf) {
        if let Some(files) = &self.files {
            return files[index].clone();
        }
        let id = &self.ids[index];
        (self.root.join("JPEGImages").join(format!("{id}.jpg")), self.masks.join(format!("{id}.png")))
    }
}

impl Dataset for Voc {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn task(&self) -> Task {
        Task::Segmentation
    }
    fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        let (image_path, labels_path) = self.paths(index);
        let image = decode::rgb(&image_path)?;
        let labels = decode::labels(&labels_path)?;
        if (labels.width(), labels.height()) != (image.width(), image.height()) {
            return Err(DataError::corrupt(
                &labels_path,
                format!(
                    "is {}x{} but its image is {}x{}",
                    labels.width(),
                    labels.height(),
                    image.width(),
                    image.height()
                ),
            ));
        }
        let classes = self.classes.len();
        if let Some(i) = labels.labels().iter().position(|&l| l as usize >= classes && l != IGNORE) {
            let (x, y) = (i as u32 % labels.width(), i as u32 / labels.width());
            return Err(DataError::corrupt(
                &labels_path,
                format!("label {} at ({x}, {y}) is not one of the {classes} classes", labels.get(x, y)),
            ));
        }
        Ok(Sample { image, target: Target::Mask(labels) })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(None)
    }
    fn sample_id(&self, index: usize) -> Option<String> {
        self.ids.get(index).cloned()
    }
    fn normalization(&self) -> Normalization {
        Normalization::imagenet()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::formats::decode::write::{palette_png, photo};
    use crate::testing::write;
    use tempfile::TempDir;

    /// A VOC2012 folder with `n` 8x6 images in `train` and one in `val`.
    pub fn voc(root: &Path, n: usize) {
        let palette: Vec<[u8; 3]> = (0..=255).map(voc_colour).collect();
        let mut train = String::new();
        for i in 0..=n {
            let id = format!("2007_{i:06}");
            let pixels: Vec<u8> = (0..8 * 6 * 3).map(|p| (p * 5 + i) as u8).collect();
            write(root, &format!("JPEGImages/{id}.jpg"), &photo(8, 6, &pixels, image::ImageFormat::Jpeg));
            let labels: Vec<u8> = (0..48).map(|p| if p % 8 == 7 { 255 } else { ((p / 8 + i) % 21) as u8 }).collect();
            write(root, &format!("SegmentationClass/{id}.png"), &palette_png(8, 6, &labels, &palette));
            if i < n {
                train.push_str(&format!("{id}\n"));
            } else {
                write(root, "ImageSets/Segmentation/val.txt", format!("{id}\n").as_bytes());
            }
        }
        write(root, "ImageSets/Segmentation/train.txt", train.as_bytes());
    }

    /// A folder without image lists pairs photos and maps by name, whatever the photo's image
    /// format, and names what has no partner or is not an image.
    #[test]
    fn a_folder_without_lists_reads_every_pair_and_names_the_rest() {
        let dir = TempDir::new().unwrap();
        let palette: Vec<[u8; 3]> = (0..=255).map(voc_colour).collect();
        let map = palette_png(8, 6, &[1; 48], &palette);
        let pixels = vec![120u8; 8 * 6 * 3];
        for (photo, format) in [
            ("a.jpg", image::ImageFormat::Jpeg),
            ("b.JPG", image::ImageFormat::Jpeg),
            ("c.jpeg", image::ImageFormat::Jpeg),
            ("d.png", image::ImageFormat::Png),
            ("e.jpg", image::ImageFormat::Jpeg),
        ] {
            write(dir.path(), &format!("JPEGImages/{photo}"), &photo_bytes(&pixels, format));
        }
        write(dir.path(), "JPEGImages/notes.txt", b"not a photo");
        for id in ["a", "b", "c", "d", "z"] {
            write(dir.path(), &format!("SegmentationClassPNG/{id}.png"), &map);
        }
        let voc = Voc::open_all("v", dir.path()).unwrap();
        assert_eq!(voc.len(), 4, "a, b, c and d have their maps");
        for i in 0..voc.len() {
            assert_eq!(voc.sample(i).unwrap().image.width(), 8);
        }
        let named: Vec<String> = voc.skipped().iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
        assert_eq!(named.len(), 3, "{named:?}");
        assert!(named.iter().any(|n| n.contains("e.jpg: has no label map")), "{named:?}");
        assert!(named.iter().any(|n| n.contains("notes.txt: is not an image")), "{named:?}");
        assert!(named.iter().any(|n| n.contains("z.png: has no photo")), "{named:?}");
    }

    fn photo_bytes(pixels: &[u8], format: image::ImageFormat) -> Vec<u8> {
        photo(8, 6, pixels, format)
    }

    #[test]
    fn written_masks_read_back_as_they_were() {
        let dir = TempDir::new().unwrap();
        let labels: Vec<u8> = (0..35).map(|i| if i == 4 { IGNORE } else { (i % 21) as u8 }).collect();
        let mask = LabelMap::new(7, 5, labels).unwrap();
        let path = dir.path().join("m.png");
        write_mask(&path, &mask).unwrap();
        assert_eq!(decode::labels(&path).unwrap(), mask);
    }

    #[test]
    fn the_palette_rule_gives_voc_colours() {
        assert_eq!(voc_colour(0), [0, 0, 0]);
        assert_eq!(voc_colour(1), [128, 0, 0]);
        assert_eq!(voc_colour(2), [0, 128, 0]);
        assert_eq!(voc_colour(15), [192, 128, 128]);
        assert_eq!(voc_colour(20), [0, 64, 128]);
        assert_eq!(voc_colour(255), [224, 224, 192]);
    }

    #[test]
    fn samples_are_images_with_palette_index_masks() {
        let dir = TempDir::new().unwrap();
        voc(dir.path(), 3);
        let train = Voc::open("v", dir.path(), "train").unwrap();
        assert_eq!(train.len(), 3);
        assert_eq!(train.classes().len(), 21);
        let sample = train.sample(2).unwrap();
        let Target::Mask(mask) = sample.target else { panic!("a mask") };
        assert_eq!((mask.width(), mask.height()), (sample.image.width(), sample.image.height()));
        assert_eq!(mask.get(0, 1), 3);
        assert_eq!(mask.get(7, 0), IGNORE);
        assert_eq!(Voc::open("v", dir.path(), "val").unwrap().len(), 1);
    }

    #[test]
    fn bad_folders_are_explained() {
        let dir = TempDir::new().unwrap();
        voc(dir.path(), 2);
        std::fs::remove_file(dir.path().join("SegmentationClass/2007_000001.png")).unwrap();
        let err = Voc::open("v", dir.path(), "train").err().unwrap().to_string();
        assert!(err.contains("`2007_000001`, listed in") && err.contains("not found"), "{err}");
        let err = Voc::open("v", dir.path(), "trainval").err().unwrap().to_string();
        assert!(err.starts_with("cannot read") && err.contains("trainval.txt"), "{err}");
        let palette: Vec<[u8; 3]> = (0..=255).map(voc_colour).collect();
        write(dir.path(), "SegmentationClass/2007_000001.png", &palette_png(8, 6, &[30; 48], &palette));
        let train = Voc::open("v", dir.path(), "train").unwrap();
        assert!(train.sample(1).unwrap_err().to_string().contains("label 30 at (0, 0) is not one of the 21 classes"));
        write(dir.path(), "SegmentationClass/2007_000001.png", &palette_png(4, 6, &[1; 24], &palette));
        assert!(train.sample(1).unwrap_err().to_string().contains("is 4x6 but its image is 8x6"));
    }

    #[test]
    fn labelme_exports_read_with_their_own_classes_and_without_lists() {
        let dir = TempDir::new().unwrap();
        voc(dir.path(), 2);
        let root = dir.path();
        std::fs::rename(root.join("SegmentationClass"), root.join("SegmentationClassPNG")).unwrap();
        std::fs::remove_dir_all(root.join("ImageSets")).unwrap();
        // labelme2voc keeps NumPy arrays where VOC keeps its PNGs, and an image without a
        // label map is not a sample.
        write(root, "SegmentationClass/2007_000000.npy", b"not a label map");
        write(root, "JPEGImages/unlabelled.jpg", b"never read");
        write(root, "class_names.txt", "_background_\na\nb\nc\nd\ne\n".as_bytes());
        assert!(is_voc_folder(root));
        let all = Voc::open_all("v", root).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all.classes()[..2], ["_background_", "a"]);
        assert_eq!(all.sample_id(2).as_deref(), Some("2007_000002"));
        // Its own 6 classes, not VOC's 21: labels 6 and up are refused.
        assert_eq!(all.sample(0).unwrap().image.width(), 8);
        let err = all.sample(2).unwrap_err().to_string();
        assert!(err.contains("label 6 at (0, 4) is not one of the 6 classes"), "{err}");
        std::fs::remove_dir_all(root.join("SegmentationClassPNG")).unwrap();
        assert!(!is_voc_folder(root));
        assert!(Voc::open_all("v", root).err().unwrap().to_string().contains("SegmentationClassPNG"));
    }
}
