//! Image folders: any bytes, under any of the extensions lossgp reads, give an image or an error
//! naming the file, never a panic, a hang or unbounded memory (decompression bombs included).
//! The first byte picks the extension; the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_core::data::Dataset;
use lossgp_datasets::formats::folder::{ImageFolder, image_extensions};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let extensions = image_extensions();
    let extension = &extensions[pick as usize % extensions.len()];
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(dir.path().join("class")).expect("mkdir");
    std::fs::write(dir.path().join("class").join(format!("fuzz{extension}")), bytes).expect("write");
    let set = ImageFolder::open("fuzz", dir.path()).expect("a folder with one image file opens");
    if let Ok(sample) = set.sample(0) {
        let image = sample.image;
        assert_eq!(image.channels(), 3, "photos decode to RGB");
        assert_eq!(image.pixels().len(), image.width() as usize * image.height() as usize * 3);
    }
});
