//! COCO-Stuff-164k: COCO 2017 images with per-pixel labels for 80 thing and 91 stuff classes.
//!
//! The layout is that of mmsegmentation and the COCO-Stuff README:
//! `images/{train2017,val2017}/*.jpg` and `annotations/{train2017,val2017}/*.png`, the PNGs
//! being the grey `stuffthingmaps` whose values are COCO category ids minus one (0 to 181) and
//! 255 for unlabelled pixels. Eleven of those ids are COCO thing categories that were never
//! annotated; like the common benchmarks (mmsegmentation's `coco_stuff164k.py`), lossgp drops
//! them and numbers the remaining 171 classes contiguously, in id order. Maps already converted
//! to those 171 train ids (`*_labelTrainIds.png`) are read as they are.

use std::path::{Path, PathBuf};

use lossgp_core::data::{DataError, Dataset, IGNORE, Normalization, Sample, Target, Task};

use super::decode;

/// The raw label values of the eleven never-annotated COCO thing categories.
pub const UNUSED_IDS: [u8; 11] = [11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90];

/// The 171 classes, in train-id order.
pub const COCO_STUFF_CLASSES: [&str; 171] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
    "banner",
    "blanket",
    "branch",
    "bridge",
    "building-other",
    "bush",
    "cabinet",
    "cage",
    "cardboard",
    "carpet",
    "ceiling-other",
    "ceiling-tile",
    "cloth",
    "clothes",
    "clouds",
    "counter",
    "cupboard",
    "curtain",
    "desk-stuff",
    "dirt",
    "door-stuff",
    "fence",
    "floor-marble",
    "floor-other",
    "floor-stone",
    "floor-tile",
    "floor-wood",
    "flower",
    "fog",
    "food-other",
    "fruit",
    "furniture-other",
    "grass",
    "gravel",
    "ground-other",
    "hill",
    "house",
    "leaves",
    "light",
    "mat",
    "metal",
    "mirror-stuff",
    "moss",
    "mountain",
    "mud",
    "napkin",
    "net",
    "paper",
    "pavement",
    "pillow",
    "plant-other",
    "plastic",
    "platform",
    "playingfield",
    "railing",
    "railroad",
    "river",
    "road",
    "rock",
    "roof",
    "rug",
    "salad",
    "sand",
    "sea",
    "shelf",
    "sky-other",
    "skyscraper",
    "snow",
    "solid-other",
    "stairs",
    "stone",
    "straw",
    "structural-other",
    "table",
    "tent",
    "textile-other",
    "towel",
    "tree",
    "vegetable",
    "wall-brick",
    "wall-concrete",
    "wall-other",
    "wall-panel",
    "wall-stone",
    "wall-tile",
    "wall-wood",
    "water-other",
    "waterdrops",
    "window-blind",
    "window-other",
    "wood",
];

/// Raw label value to train id: the used ids 0..=181 in order, everything else ignored. `None`
/// marks values that may not occur in a raw map at all.
pub fn train_ids() -> [Option<u8>; 256] {
    let mut table = [None; 256];
    let mut next = 0u8;
    for raw in 0..=181u8 {
        table[raw as usize] = Some(if UNUSED_IDS.contains(&raw) {
            IGNORE
        } else {
            next += 1;
            next - 1
        });
    }
    table[IGNORE as usize] = Some(IGNORE);
    table
}

/// A COCO-Stuff-164k split.
pub struct CocoStuff {
    name: String,
    items: Vec<(PathBuf, PathBuf)>,
    /// Whether the maps hold raw ids (mapped on reading) rather than train ids.
    raw: bool,
    table: [Option<u8>; 256],
    classes: Vec<String>,
}

impl CocoStuff {
    /// The split `split` (`train2017` or `val2017`) under `root`, which holds `images/` and
    /// `annotations/`.
    pub fn open(name: impl Into<String>, root: &Path, split: &str) -> Result<CocoStuff, DataError> {
        let images = root.join("images").join(split);
        let labels = root.join("annotations").join(split);
        let mut maps: Vec<PathBuf> = std::fs::read_dir(&labels)
            .map_err(|e| DataError::io(&labels, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        maps.sort();
        let converted =
            |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_labelTrainIds.png"));
        // Prefer the raw maps where both are present: they are what the archive contains.
        let raw = maps.iter().any(|p| !converted(p));
        maps.retain(|p| converted(p) != raw);
        let mut items = Vec::with_capacity(maps.len());
        for map in maps {
            let stem = map.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let id = stem.trim_end_matches(".png").trim_end_matches("_labelTrainIds");
            let image = images.join(format!("{id}.jpg"));
            if !image.is_file() {
                return Err(DataError::NotFound {
                    what: format!("the image of label map {}", map.display()),
                    path: image,
                    hint: "images/ and annotations/ must come from the same COCO 2017 split; fetch coco-stuff again"
                        .into(),
                });
            }
            items.push((image, map));
        }
        if items.is_empty() {
            return Err(DataError::NotFound {
                what: "label maps (.png)".into(),
                path: labels,
                hint: "unpack stuffthingmaps_trainval2017.zip into annotations/".into(),
            });
        }
        Ok(CocoStuff {
            name: name.into(),
            items,
            raw,
            table: train_ids(),
            classes: COCO_STUFF_CLASSES.map(str::to_owned).to_vec(),
        })
    }
}

impl Dataset for CocoStuff {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task(&self) -> Task {
        Task::Segmentation
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        let (image_path, map_path) = &self.items[index];
        let image = decode::rgb(image_path)?;
        let map = decode::labels(map_path)?;
        if (map.width(), map.height()) != (image.width(), image.height()) {
            return Err(DataError::corrupt(
                map_path,
                format!("is {}x{} but its image is {}x{}", map.width(), map.height(), image.width(), image.height()),
            ));
        }
        let mut labels = map.labels().to_vec();
        for (i, label) in labels.iter_mut().enumerate() {
            let mapped = if self.raw {
                self.table[*label as usize]
            } else {
                Some(*label).filter(|&l| (l as usize) < 171 || l == IGNORE)
            };
            *label = mapped.ok_or_else(|| {
                let (x, y) = (i as u32 % map.width(), i as u32 / map.width());
                DataError::corrupt(map_path, format!("label {label} at ({x}, {y}) is not a COCO-Stuff class"))
            })?;
        }
        let labels = lossgp_core::data::LabelMap::new(map.width(), map.height(), labels)?;
        Ok(Sample { image, target: Target::Mask(labels) })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(None)
    }
    fn normalization(&self) -> Normalization {
        Normalization::imagenet()
    }
    fn sample_id(&self, index: usize) -> Option<String> {
        Some(self.items.get(index)?.0.file_stem()?.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::formats::decode::write::{grey_png, photo};
    use crate::testing::write;
    use tempfile::TempDir;

    /// A COCO-Stuff root with `n` 4x4 images per split, labelled with raw ids `values`.
    pub fn coco_stuff(root: &Path, n: usize, values: &[u8; 16]) {
        for split in ["train2017", "val2017"] {
            for i in 0..n {
                let id = format!("{:012}", i + 1);
                write(root, &format!("images/{split}/{id}.jpg"), &photo(4, 4, &[90; 48], image::ImageFormat::Jpeg));
                write(root, &format!("annotations/{split}/{id}.png"), &grey_png(4, 4, values));
            }
        }
    }

    #[test]
    fn the_mapping_drops_eleven_ids() {
        let table = train_ids();
        let used: Vec<u8> = (0..=181).filter_map(|raw| table[raw].filter(|&t| t != IGNORE)).collect();
        assert_eq!(used, (0..171).collect::<Vec<u8>>());
        assert_eq!(table[0], Some(0));
        assert_eq!(table[12], Some(11));
        assert_eq!(table[91], Some(80));
        assert_eq!(table[181], Some(170));
        assert_eq!(table[11], Some(IGNORE));
        assert_eq!(table[200], None);
        assert_eq!(COCO_STUFF_CLASSES[80], "banner");
    }

    #[test]
    fn raw_maps_are_mapped_to_train_ids() {
        let dir = TempDir::new().unwrap();
        let mut values = [0u8; 16];
        values[..5].copy_from_slice(&[0, 12, 91, 181, 255]);
        values[5] = 11;
        coco_stuff(dir.path(), 2, &values);
        let data = CocoStuff::open("c", dir.path(), "val2017").unwrap();
        assert_eq!((data.len(), data.classes().len()), (2, 171));
        let Target::Mask(mask) = data.sample(1).unwrap().target else { panic!("a mask") };
        assert_eq!(&mask.labels()[..6], &[0, 11, 80, 170, IGNORE, IGNORE]);
    }

    #[test]
    fn converted_maps_and_bad_values() {
        let dir = TempDir::new().unwrap();
        coco_stuff(dir.path(), 1, &[3; 16]);
        std::fs::remove_file(dir.path().join("annotations/train2017/000000000001.png")).unwrap();
        write(dir.path(), "annotations/train2017/000000000001_labelTrainIds.png", &grey_png(4, 4, &[170; 16]));
        let data = CocoStuff::open("c", dir.path(), "train2017").unwrap();
        let Target::Mask(mask) = data.sample(0).unwrap().target else { panic!("a mask") };
        assert!(mask.labels().iter().all(|&l| l == 170));
        write(dir.path(), "annotations/val2017/000000000001.png", &grey_png(4, 4, &[200; 16]));
        let val = CocoStuff::open("c", dir.path(), "val2017").unwrap();
        assert!(val.sample(0).unwrap_err().to_string().contains("label 200 at (0, 0) is not a COCO-Stuff class"));
        std::fs::remove_file(dir.path().join("images/val2017/000000000001.jpg")).unwrap();
        assert!(
            CocoStuff::open("c", dir.path(), "val2017").err().unwrap().to_string().contains("the image of label map")
        );
    }
}
