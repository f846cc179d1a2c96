//! Segmentation label maps (Pascal VOC's palette PNGs, COCO-Stuff's grey PNGs): any bytes give a
//! mask or an error naming the file, never a panic or unbounded memory. The first byte picks
//! VOC or COCO-Stuff (raw ids or train ids); the rest is the label map. The photo beside it is
//! a valid image of the size the map's PNG header announces (when it announces one up to
//! 256x256), so that the checks after decoding are reached too.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lossgp_core::data::{Dataset, Target};
use lossgp_datasets::formats::coco_stuff::CocoStuff;
use lossgp_datasets::formats::voc::Voc;

/// Width and height from a PNG's IHDR, where the bytes have one.
fn announced(png: &[u8]) -> (u32, u32) {
    let field = |at: usize| png.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
    match (field(16), field(20)) {
        (Some(w), Some(h)) if (1..=256).contains(&w) && (1..=256).contains(&h) => (w, h),
        _ => (4, 4),
    }
}

fn photo(path: &Path, (width, height): (u32, u32)) {
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    image::RgbImage::new(width, height).save_with_format(path, image::ImageFormat::Png).expect("write a photo");
}

fn check(sample: Result<lossgp_core::data::Sample, lossgp_core::data::DataError>, classes: usize) {
    if let Ok(sample) = sample {
        let Target::Mask(mask) = sample.target else { panic!("a segmentation sample has a mask") };
        assert_eq!((mask.width(), mask.height()), (sample.image.width(), sample.image.height()));
        assert!(mask.labels().iter().all(|&l| (l as usize) < classes || l == 255), "labels are classes or ignore");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, map)) = data.split_first() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    let size = announced(map);
    if pick % 3 == 0 {
        let list = root.join("ImageSets/Segmentation");
        std::fs::create_dir_all(&list).expect("mkdir");
        std::fs::write(list.join("val.txt"), "x\n").expect("write");
        photo(&root.join("JPEGImages/x.jpg"), size);
        std::fs::create_dir_all(root.join("SegmentationClass")).expect("mkdir");
        std::fs::write(root.join("SegmentationClass/x.png"), map).expect("write");
        let set = Voc::open("fuzz", root, "val").expect("a complete VOC folder opens");
        check(set.sample(0), 21);
    } else {
        let name = if pick % 3 == 1 { "000000000001.png" } else { "000000000001_labelTrainIds.png" };
        photo(&root.join("images/val2017/000000000001.jpg"), size);
        std::fs::create_dir_all(root.join("annotations/val2017")).expect("mkdir");
        std::fs::write(root.join("annotations/val2017").join(name), map).expect("write");
        let set = CocoStuff::open("fuzz", root, "val2017").expect("a complete COCO-Stuff folder opens");
        check(set.sample(0), 171);
    }
});
