//! Decoding image files: photos to RGB, label maps to their raw 8-bit values.

use std::io::Cursor;
use std::path::Path;

use lossgp_core::data::{DataError, Image, LabelMap};

/// Decodes a photo (any format this build's `image` crate reads, told by its content) to RGB:
/// grey, CMYK (which ImageNet has), palette and 16-bit images are converted. The `image` crate's default limits refuse decompression bombs.
pub fn rgb(path: &Path) -> Result<Image, DataError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| DataError::corrupt(path, format!("does not decode as an image: {e}")))?;
    let rgb = decoded.into_rgb8();
    Image::new(rgb.width(), rgb.height(), 3, rgb.into_raw())
}

/// The most bytes a label map may decode to: 512 MiB, the `image` crate's default allocation
/// limit for photos (a 23,000 x 23,000 map). A header announcing more is refused before any
/// allocation, so a corrupt or hostile file cannot exhaust memory.
pub(crate) const MAX_LABEL_MAP_BYTES: usize = 512 << 20;

/// Decodes a label-map PNG to its raw 8-bit values: palette indices for a palette PNG (Pascal
/// VOC's, whose colours mean nothing to training), grey levels for a grey one (COCO-Stuff's).
pub fn labels(path: &Path) -> Result<LabelMap, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let corrupt = |message: String| DataError::corrupt(path, message);
    let too_large = |width: u32, height: u32| {
        corrupt(format!(
            "its header announces {width}x{height} labels, more than a label map may hold ({} MiB); \
             the file is corrupt or not a label map",
            MAX_LABEL_MAP_BYTES >> 20
        ))
    };
    // The size announced by the header (IHDR, always the first chunk), checked before the
    // decoder allocates anything for it.
    if let (Some(b"IHDR"), Some(width), Some(height)) = (bytes.get(12..16), be_u32(&bytes, 16), be_u32(&bytes, 20))
        && u64::from(width) * u64::from(height) > MAX_LABEL_MAP_BYTES as u64
    {
        return Err(too_large(width, height));
    }
    // The decoder's own allocations (row buffers, chunks) are bounded by the same limit.
    let limits = png::Limits { bytes: 2 * MAX_LABEL_MAP_BYTES };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| corrupt(format!("is not a valid PNG label map: {e}")))?;
    let (color, depth) = reader.output_color_type();
    if !matches!(color, png::ColorType::Indexed | png::ColorType::Grayscale) || depth != png::BitDepth::Eight {
        return Err(corrupt(format!(
            "a label map must be an 8-bit palette or grey PNG, this one is {color:?} with {depth:?}-bit samples"
        )));
    }
    let (width, height) = (reader.info().width, reader.info().height);
    let size = reader
        .output_buffer_size()
        .filter(|&size| size <= MAX_LABEL_MAP_BYTES)
        .ok_or_else(|| too_large(width, height))?;
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(|e| corrupt(format!("does not decode as a PNG: {e}")))?;
    buffer.truncate(info.buffer_size());
    // Rows may be padded to the line size; keep exactly `width` values per row.
    let (width, height, line) = (info.width as usize, info.height as usize, info.line_size);
    let values: Vec<u8> =
        if line == width { buffer } else { buffer.chunks(line).flat_map(|row| row[..width].to_vec()).collect() };
    LabelMap::new(width as u32, height as u32, values[..width * height].to_vec())
}

/// The big-endian `u32` at `at`, if `bytes` reaches that far.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
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

    /// Found by the `mask` fuzz target: a header announcing a huge map made the decoder
    /// allocate what it announced (and abort) before reading any data.
    #[test]
    fn label_maps_whose_header_announces_too_many_labels_are_refused_before_allocating() {
        let dir = TempDir::new().unwrap();
        for (width, height) in [(100_000u32, 100_000u32), (1 << 30, 4), (196_860, 4_278_190_083)] {
            let mut png = self::write::grey_png(1, 1, &[0]);
            // IHDR's data starts at byte 16: width, height, then a CRC over the chunk.
            png[16..20].copy_from_slice(&width.to_be_bytes());
            png[20..24].copy_from_slice(&height.to_be_bytes());
            let crc = crc32(&png[12..29]);
            png[29..33].copy_from_slice(&crc.to_be_bytes());
            let path = write(dir.path(), "huge.png", &png);
            let err = labels(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("announces {width}x{height} labels")), "{err}");
            assert!(err.contains("huge.png"), "{err}");
        }
        let fits = write(dir.path(), "fits.png", &self::write::grey_png(3, 1, &[1, 2, 3]));
        assert_eq!(labels(&fits).unwrap().labels(), &[1, 2, 3]);
    }

    /// PNG's CRC-32 (ISO 3309), for editing a chunk in a test.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
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
