//! Decoding image files: photos to RGB, label maps to their raw 8-bit values.

use std::io::Cursor;
use std::path::Path;

use lossgp_core::data::{DataError, Image, LabelMap};

/// Decodes a photo (any format this build's `image` crate reads, told by its content) to RGB:
/// grey, CMYK (which ImageNet has), palette and 16-bit images are converted. The `image` crate's default limits refuse decompression bombs.
///
/// A file cut short is refused, as Pillow refuses it ("image file is truncated"): the `image`
/// crate's JPEG decoder fills in what is missing without a word, so a JPEG is first checked to
/// run to its end-of-image marker ([`jpeg_truncation`]); the other formats' decoders fail on
/// their own.
pub fn rgb(path: &Path) -> Result<Image, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if let Some(why) = jpeg_truncation(&bytes) {
        return Err(DataError::corrupt(
            path,
            format!("is truncated: {why}; the file was cut short (an interrupted download or copy)"),
        ));
    }
    let reader =
        image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| DataError::corrupt(path, format!("does not decode as an image: {e}")))?;
    let rgb = decoded.into_rgb8();
    Image::new(rgb.width(), rgb.height(), 3, rgb.into_raw())
}

/// Why a JPEG file (told by its start-of-image marker) is cut short, or `None` for a whole file
/// or one that is not a JPEG.
///
/// The file's segments are walked as ITU T.81 (B.1) lays them out: each marker's segment by its
/// length, each scan's entropy-coded data up to the next marker (a 0xFF byte there is followed
/// by 0x00 or a restart marker). A whole file reaches the end-of-image marker (0xFFD9); what
/// comes after it (camera makers append data) is not looked at. Stray bytes between segments
/// are passed over, as libjpeg does with a warning.
pub fn jpeg_truncation(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let total = bytes.len();
    let cut = |inside: &str| Some(format!("its {total} bytes end inside {inside}, with no end-of-image marker"));
    let mut at = 2;
    loop {
        // The next marker: 0xFF, any fill bytes 0xFF, then the marker's code.
        while at < total && bytes[at] != 0xFF {
            at += 1;
        }
        while at < total && bytes[at] == 0xFF {
            at += 1;
        }
        let Some(&code) = bytes.get(at) else {
            return cut("its segments");
        };
        at += 1;
        match code {
            0xD9 => return None,
            // Markers without a segment: restarts, TEM, and a stuffed zero met between segments.
            0xD0..=0xD7 | 0x01 | 0x00 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return cut("a marker's segment");
        };
        if at + length > total {
            return cut("a marker's segment");
        }
        at += length;
        if code == 0xDA {
            // A scan's entropy-coded data runs to the next marker that is not a restart.
            loop {
                match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7 | 0xFF)) => at += if bytes[at + 1] == 0xFF { 1 } else { 2 },
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => at += 1,
                    (None, _) => return cut("the compressed image data"),
                }
            }
        }
    }
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
    let bits = depth as u8;
    let scale = match (color, bits) {
        (png::ColorType::Indexed, 1 | 2 | 4 | 8) => 1,
        (png::ColorType::Grayscale, 1 | 2 | 4 | 8 | 16) => grey_scale(bits),
        _ => {
            return Err(corrupt(format!(
                "a label map must be a palette PNG (1, 2, 4 or 8 bits) or a grey one (1 to 16 bits), \
                 this one is {color:?} with {bits}-bit samples: save it with a palette, as VOC's are"
            )));
        }
    };
    let (width, height) = (reader.info().width, reader.info().height);
    let size = reader
        .output_buffer_size()
        .filter(|&size| size <= MAX_LABEL_MAP_BYTES)
        .ok_or_else(|| too_large(width, height))?;
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(|e| corrupt(format!("does not decode as a PNG: {e}")))?;
    let (width, height, line) = (info.width as usize, info.height as usize, info.line_size);
    let mut values = Vec::with_capacity(width * height);
    for row in buffer.chunks(line).take(height) {
        values.extend(unpack_row(row, bits, width));
    }
    if bits == 16
        && let Some(&largest) = values.iter().max().filter(|&&v| v > u16::from(u8::MAX))
    {
        return Err(corrupt(format!(
            "holds the label {largest}; lossgp's label maps hold labels 0 to 255 (255 ignored), so a 16-bit map must stay below 256"
        )));
    }
    LabelMap::new(width as u32, height as u32, values.into_iter().map(|v| (v * scale) as u8).collect())
}

/// What Pillow multiplies a grey level of `bits` bits by when it reads it ("1" images hold 0 and
/// 255, 2-bit levels become multiples of 85, 4-bit ones of 17), so that a grey label map gives
/// the values it gives in Python; 8 and 16 bits are read as they are.
fn grey_scale(bits: u8) -> u16 {
    match bits {
        1 => 255,
        2 => 85,
        4 => 17,
        _ => 1,
    }
}

/// The first `width` samples of a PNG row packed at `bits` bits each (most significant first,
/// as PNG packs them; 16-bit samples are big-endian).
fn unpack_row(row: &[u8], bits: u8, width: usize) -> Vec<u16> {
    match bits {
        8 => row.iter().take(width).map(|&b| u16::from(b)).collect(),
        16 => row.chunks_exact(2).take(width).map(|b| u16::from_be_bytes([b[0], b[1]])).collect(),
        _ => {
            let per_byte = usize::from(8 / bits);
            let mask = (1u8 << bits) - 1;
            (0..width)
                .map(|i| {
                    let shift = 8 - bits * (1 + (i % per_byte) as u8);
                    u16::from((row[i / per_byte] >> shift) & mask)
                })
                .collect()
        }
    }
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

    /// A PNG of `color` at `bits` bits per sample whose samples are `values` (packed here as PNG
    /// packs them; 16-bit ones big-endian), with a 16-colour palette where it is indexed.
    pub fn packed_png(width: u32, height: u32, color: png::ColorType, bits: u8, values: &[u16]) -> Vec<u8> {
        let depth = png::BitDepth::from_u8(bits).expect("a PNG bit depth");
        let mut data = Vec::new();
        for row in values.chunks(width as usize) {
            match bits {
                16 => data.extend(row.iter().flat_map(|v| v.to_be_bytes())),
                8 => data.extend(row.iter().map(|&v| v as u8)),
                _ => {
                    let per_byte = 8 / bits as usize;
                    for chunk in row.chunks(per_byte) {
                        let byte = chunk
                            .iter()
                            .enumerate()
                            .fold(0u8, |b, (i, &v)| b | ((v as u8) << (8 - bits as usize * (i + 1))));
                        data.push(byte);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == png::ColorType::Indexed {
            encoder.set_palette((0..1usize << bits.min(8)).flat_map(|i| [i as u8, 0, 0]).collect::<Vec<u8>>());
        }
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(&data).expect("PNG data");
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
        let err = labels(&colour).unwrap_err().to_string();
        assert!(err.contains("must be a palette PNG") && err.contains("Rgb with 8-bit"), "{err}");
        let junk = write(dir.path(), "j.png", b"not a png");
        assert!(labels(&junk).unwrap_err().to_string().contains("is not a valid PNG label map"));
    }

    /// What Pillow reads, lossgp reads the same: palette maps at every bit depth give their
    /// indices (VOC maps re-saved by a PNG optimiser are 4-bit), grey ones the levels Pillow
    /// gives (scaled up below 8 bits), 16-bit ones their values where they fit a label.
    #[test]
    fn label_maps_of_every_bit_depth_pillow_reads_give_its_values() {
        use png::ColorType::{Grayscale, GrayscaleAlpha, Indexed};
        let dir = TempDir::new().unwrap();
        // Widths that leave part of the last byte of a row unused.
        let (width, height) = (5u32, 3u32);
        for (color, bits, scale) in [
            (Indexed, 1, 1),
            (Indexed, 2, 1),
            (Indexed, 4, 1),
            (Indexed, 8, 1),
            (Grayscale, 1, 255),
            (Grayscale, 2, 85),
            (Grayscale, 4, 17),
            (Grayscale, 16, 1),
        ] {
            let top = (1u32 << bits.min(8)) - 1;
            let values: Vec<u16> = (0..width * height).map(|i| ((i * 7 + 3) % (top + 1)) as u16).collect();
            let path = write(dir.path(), "m.png", &self::write::packed_png(width, height, color, bits, &values));
            let map = labels(&path).unwrap_or_else(|e| panic!("{color:?} at {bits} bits: {e}"));
            let expected: Vec<u8> = values.iter().map(|&v| (v * scale) as u8).collect();
            assert_eq!(map.labels(), expected.as_slice(), "{color:?} at {bits} bits");
            assert_eq!((map.width(), map.height()), (width, height));
        }
        // The field case's map: 8x6, 4-bit palette, aeroplane (1) on top, then background (0) and person (15).
        let voc: Vec<u16> = (0..48)
            .map(|i| {
                if i < 8 {
                    1
                } else if i % 8 < 4 {
                    0
                } else {
                    15
                }
            })
            .collect();
        let path = write(dir.path(), "voc.png", &self::write::packed_png(8, 6, Indexed, 4, &voc));
        let counts = labels(&path).unwrap().labels().iter().fold([0usize; 16], |mut c, &v| {
            c[usize::from(v)] += 1;
            c
        });
        assert_eq!((counts[0], counts[1], counts[15]), (20, 8, 20));
        let large = write(dir.path(), "l.png", &self::write::packed_png(2, 1, Grayscale, 16, &[3, 1000]));
        let err = labels(&large).unwrap_err().to_string();
        assert!(err.contains("holds the label 1000") && err.contains("l.png"), "{err}");
        let alpha = write(dir.path(), "a.png", &self::write::packed_png(1, 1, GrayscaleAlpha, 8, &[0, 0]));
        let err = labels(&alpha).unwrap_err().to_string();
        assert!(err.contains("GrayscaleAlpha with 8-bit samples") && err.contains("a.png"), "{err}");
    }

    /// A photo cut short is refused by name (Pillow: "image file is truncated"), in every format
    /// and wherever the cut falls; a whole JPEG with data after its end is read.
    #[test]
    fn truncated_photos_are_refused_by_name() {
        let dir = TempDir::new().unwrap();
        let pixels: Vec<u8> = (0..24 * 16 * 3).map(|i| ((i * 37) % 251) as u8).collect();
        for format in [
            image::ImageFormat::Jpeg,
            image::ImageFormat::Png,
            image::ImageFormat::Gif,
            image::ImageFormat::Bmp,
            image::ImageFormat::Tiff,
            image::ImageFormat::WebP,
        ] {
            let whole = self::write::photo(24, 16, &pixels, format);
            let name = format!("whole.{}", format.extensions_str()[0]);
            assert!(rgb(&write(dir.path(), &name, &whole)).is_ok(), "{format:?}");
            for percent in [30, 60, 95] {
                let name = format!("cut{percent}.{}", format.extensions_str()[0]);
                let path = write(dir.path(), &name, &whole[..whole.len() * percent / 100]);
                let err = rgb(&path).err().unwrap_or_else(|| panic!("{format:?} cut at {percent}% was read"));
                assert!(err.to_string().contains(&name), "{err}");
            }
        }
        let jpeg = self::write::photo(24, 16, &pixels, image::ImageFormat::Jpeg);
        let no_end = write(dir.path(), "no-end.jpg", &jpeg[..jpeg.len() - 2]);
        let err = rgb(&no_end).unwrap_err().to_string();
        assert!(err.contains("no-end.jpg: is truncated") && err.contains("no end-of-image marker"), "{err}");
        let trailing = write(dir.path(), "trailing.jpg", &[jpeg.as_slice(), b"maker notes"].concat());
        assert!(rgb(&trailing).is_ok());
        assert_eq!(jpeg_truncation(&jpeg), None);
        assert_eq!(jpeg_truncation(b"\x89PNG not a jpeg"), None);
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
        assert!(rgb(&junk).unwrap_err().to_string().contains("broken.jpg: is truncated"));
        let junk = write(dir.path(), "junk.png", b"\x89PNG\r\n\x1a\n and nothing else");
        assert!(rgb(&junk).unwrap_err().to_string().contains("junk.png: does not decode as an image"));
    }
}
