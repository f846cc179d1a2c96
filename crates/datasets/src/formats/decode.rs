//! Decoding image files: photos to RGB, label maps to their raw 8-bit values.

use std::io::Cursor;
use std::path::Path;

use lossgp_core::data::{DataError, Image, LabelMap};

/// Decodes a photo (any format this build's `image` crate reads, told by its content) to RGB:
/// grey, CMYK (which ImageNet has), palette and 16-bit images are converted. The `image` crate's default limits refuse decompression bombs.
pub(crate) fn rgb(path: &Path) -> Result<Image, DataError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| DataError::corrupt(path, format!("does not decode as an image: {e}")))?;
    let rgb = decoded.into_rgb8();
    Image::new(rgb.width(), rgb.height(), 3, rgb.into_raw())
}

/// Decodes a label-map PNG to its raw 8-bit values: palette indices for a palette PNG (Pascal
/// VOC's, whose colours mean nothing to training), grey levels for a grey one (COCO-Stuff's).
pub(crate) fn labels(path: &Path) -> Result<LabelMap, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let corrupt = |message: String| DataError::corrupt(path, message);
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| corrupt(format!("is not a valid PNG label map: {e}")))?;
    let (color, depth) = reader.output_color_type();
    if !matches!(color, png::ColorType::Indexed | png::ColorType::Grayscale) || depth != png::BitDepth::Eight {
        return Err(corrupt(format!(
            "a label map must be an 8-bit palette or grey PNG, this one is {color:?} with {depth:?}-bit samples"
        )));
    }
    let size = reader.output_buffer_size().ok_or_else(|| corrupt("its dimensions are too large".into()))?;
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(|e| corrupt(format!("does not decode as a PNG: {e}")))?;
    buffer.truncate(info.buffer_size());
    // Rows may be padded to the line size; keep exactly `width` values per row.
    let (width, height, line) = (info.width as usize, info.height as usize, info.line_size);
    let values: Vec<u8> =
        if line == width { buffer } else { buffer.chunks(line).flat_map(|row| row[..width].to_vec()).collect() };
    LabelMap::new(width as u32, height as u32, values[..width * height].to_vec())
}

/// Writing PNG label maps, for the fixtures of tests.
#[cfg(test)]
pub(crate) mod write {
    /// A palette PNG whose pixel values are `indices`, with `palette` colours.
    pub fn palette_png(width: u32, height: u32, indices: &[u8], palette: &[[u8; 3]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(indices).expect("PNG data");
        writer.finish().expect("PNG end");
        out
    }

    /// A grey 8-bit PNG with the given values.
    pub fn grey_png(width: u32, height: u32, values: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(values).expect("PNG data");
        writer.finish().expect("PNG end");
        out
    }

    /// An RGB photo as JPEG (quality 95) or PNG, chosen by `format`.
    pub fn photo(width: u32, height: u32, pixels: &[u8], format: image::ImageFormat) -> Vec<u8> {
        let buffer = image::RgbImage::from_raw(width, height, pixels.to_vec()).expect("pixel count");
        let mut out = std::io::Cursor::new(Vec::new());
        match format {
            image::ImageFormat::Jpeg => {
                let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
                buffer.write_with_encoder(encoder).expect("JPEG encoding");
            }
            _ => buffer.write_to(&mut out, format).expect("encoding"),
        }
        out.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write;
    use tempfile::TempDir;

    #[test]
    fn palette_pngs_give_their_indices() {
        let dir = TempDir::new().unwrap();
        let indices: Vec<u8> = (0..15).map(|i| if i == 7 { 255 } else { (i % 3) as u8 }).collect();
        let palette: Vec<[u8; 3]> = (0..256).map(|i| [i as u8, 0, 0]).collect();
        let path = write(dir.path(), "m.png", &self::write::palette_png(5, 3, &indices, &palette));
        let map = labels(&path).unwrap();
        assert_eq!((map.width(), map.height()), (5, 3));
        assert_eq!(map.labels(), indices.as_slice());
    }

    #[test]
    fn grey_pngs_give_their_values_and_colour_ones_are_refused() {
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), "g.png", &self::write::grey_png(2, 2, &[0, 181, 255, 9]));
        assert_eq!(labels(&path).unwrap().labels(), &[0, 181, 255, 9]);
        let colour = write(dir.path(), "c.png", &self::write::photo(2, 2, &[0; 12], image::ImageFormat::Png));
        assert!(labels(&colour).unwrap_err().to_string().contains("must be an 8-bit palette or grey PNG"));
        let junk = write(dir.path(), "j.png", b"not a png");
        assert!(labels(&junk).unwrap_err().to_string().contains("is not a valid PNG label map"));
    }

    #[test]
    fn photos_decode_to_rgb_and_junk_is_refused() {
        let dir = TempDir::new().unwrap();
        let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let png = write(dir.path(), "p.png", &self::write::photo(4, 3, &pixels, image::ImageFormat::Png));
        assert_eq!(rgb(&png).unwrap().pixels(), pixels.as_slice());
        let junk = write(dir.path(), "broken.jpg", &[0xff, 0xd8, 0xff, 0x00, 0x01]);
        assert!(rgb(&junk).unwrap_err().to_string().contains("broken.jpg: does not decode as an image"));
    }
}
