//! 8-bit images and per-pixel label maps.

use super::error::DataError;

/// The label of pixels that count for nothing (boundaries, unlabelled regions, padding), as in
/// Pascal VOC and COCO-Stuff.
pub const IGNORE: u8 = 255;

/// An 8-bit image, `height × width × channels`, row-major with interleaved channels (HWC), 1
/// (grey) or 3 (RGB) channels.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    channels: u8,
    pixels: Vec<u8>,
}

impl Image {
    /// An image from its pixels; fails if their number is not `width × height × channels` or
    /// `channels` is not 1 or 3.
    pub fn new(width: u32, height: u32, channels: u8, pixels: Vec<u8>) -> Result<Image, DataError> {
        if channels != 1 && channels != 3 {
            return Err(DataError::Invalid(format!("images have 1 or 3 channels, not {channels}")));
        }
        if width == 0 || height == 0 {
            return Err(DataError::Invalid(format!("a {width}x{height} image has no pixels")));
        }
        let expected = width as usize * height as usize * channels as usize;
        if pixels.len() != expected {
            return Err(DataError::Invalid(format!(
                "a {width}x{height} image with {channels} channels has {expected} pixel values, not {}",
                pixels.len()
            )));
        }
        Ok(Image { width, height, channels, pixels })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// The pixel values, HWC.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Channel `c` of the pixel at column `x`, row `y`.
    pub fn get(&self, x: u32, y: u32, c: u8) -> u8 {
        self.pixels[(y as usize * self.width as usize + x as usize) * self.channels as usize + c as usize]
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{}x{})", self.width, self.height, self.channels)
    }
}

/// A class per pixel, `height × width`, row-major; [`IGNORE`] marks pixels without a class.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelMap {
    width: u32,
    height: u32,
    labels: Vec<u8>,
}

impl LabelMap {
    /// A label map from its labels; fails if their number is not `width × height`.
    pub fn new(width: u32, height: u32, labels: Vec<u8>) -> Result<LabelMap, DataError> {
        if width == 0 || height == 0 {
            return Err(DataError::Invalid(format!("a {width}x{height} label map has no pixels")));
        }
        if labels.len() != width as usize * height as usize {
            return Err(DataError::Invalid(format!(
                "a {width}x{height} label map has {} labels, not {}",
                width as usize * height as usize,
                labels.len()
            )));
        }
        Ok(LabelMap { width, height, labels })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The labels, row-major.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The label at column `x`, row `y`.
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.labels[y as usize * self.width as usize + x as usize]
    }
}

impl std::fmt::Debug for LabelMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LabelMap({}x{})", self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(Image::new(2, 2, 3, vec![0; 12]).is_ok());
        let err = Image::new(2, 2, 3, vec![0; 11]).unwrap_err().to_string();
        assert_eq!(err, "a 2x2 image with 3 channels has 12 pixel values, not 11");
        assert!(Image::new(2, 2, 2, vec![0; 8]).is_err());
        assert!(LabelMap::new(3, 2, vec![0; 5]).is_err());
        assert_eq!(Image::new(0, 5, 1, vec![]).unwrap_err().to_string(), "a 0x5 image has no pixels");
        assert!(LabelMap::new(4, 0, vec![]).is_err());
    }

    #[test]
    fn pixels_are_hwc() {
        let image = Image::new(2, 1, 3, vec![1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!((image.get(1, 0, 0), image.get(1, 0, 2)), (4, 6));
    }
}
