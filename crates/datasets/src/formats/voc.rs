//! Pascal VOC 2012 semantic segmentation: `JPEGImages/*.jpg`, palette PNG label maps in
//! `SegmentationClass/`, and the image lists in `ImageSets/Segmentation/{train,val}.txt`.
//! Label 255 marks object boundaries and is ignored.

use std::path::{Path, PathBuf};

use lossgp_core::data::{DataError, Dataset, IGNORE, Normalization, Sample, Target, Task};

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

/// A VOC segmentation split.
pub struct Voc {
    name: String,
    root: PathBuf,
    ids: Vec<String>,
    classes: Vec<String>,
}

impl Voc {
    /// The split listed in `root/ImageSets/Segmentation/<list>.txt`, where `root` is the
    /// `VOC2012` folder. Checks now that every listed image and label map exists.
    pub fn open(name: impl Into<String>, root: &Path, list: &str) -> Result<Voc, DataError> {
        let list_path = root.join("ImageSets").join("Segmentation").join(format!("{list}.txt"));
        let text = std::fs::read_to_string(&list_path).map_err(|e| DataError::io(&list_path, e))?;
        let ids: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if ids.is_empty() {
            return Err(DataError::corrupt(&list_path, "lists no images"));
        }
        let voc =
            Voc { name: name.into(), root: root.to_owned(), ids, classes: VOC_CLASSES.map(str::to_owned).to_vec() };
        for i in 0..voc.ids.len() {
            let (image, labels) = voc.paths(i);
            for path in [image, labels] {
                if !path.is_file() {
                    return Err(DataError::NotFound {
                        what: format!("`{}`, listed in {},", voc.ids[i], list_path.display()),
                        path,
                        hint: "the VOC2012 folder is incomplete; fetch it again".into(),
                    });
                }
            }
        }
        Ok(voc)
    }

    fn paths(&self, index: usize) -> (PathBuf, PathBuf) {
        let id = &self.ids[index];
        (
            self.root.join("JPEGImages").join(format!("{id}.jpg")),
            self.root.join("SegmentationClass").join(format!("{id}.png")),
        )
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
        if let Some(i) = labels.labels().iter().position(|&l| l as usize >= VOC_CLASSES.len() && l != IGNORE) {
            let (x, y) = (i as u32 % labels.width(), i as u32 / labels.width());
            return Err(DataError::corrupt(
                &labels_path,
                format!("label {} at ({x}, {y}) is not a VOC class", labels.get(x, y)),
            ));
        }
        Ok(Sample { image, target: Target::Mask(labels) })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(None)
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
        assert!(train.sample(1).unwrap_err().to_string().contains("label 30 at (0, 0) is not a VOC class"));
        write(dir.path(), "SegmentationClass/2007_000001.png", &palette_png(4, 6, &[1; 24], &palette));
        assert!(train.sample(1).unwrap_err().to_string().contains("is 4x6 but its image is 8x6"));
    }
}
