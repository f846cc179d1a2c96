//! The UCI optical recognition of handwritten digits (Alpaydin & Kaynak, 1998), as
//! scikit-learn's `load_digits` gives it: 8x8 grey images whose values (0 to 16) count the
//! set pixels of 4x4 blocks of a 32x32 bitmap, one sample per line of a CSV file: 64 values in
//! row order, then the class (0 to 9).
//!
//! Reads UCI's `optdigits.tes` (1,797 samples) and `optdigits.tra` (3,823), and
//! scikit-learn's `digits.csv.gz`, a copy of `optdigits.tes` (Debian's `python3-sklearn`
//! installs it). Values are scaled to bytes as `round(v * 255 / 16)`; the digits are held as an
//! [`IdxDataset`], the in-memory store of grey images that MNIST uses.

use std::io::Read;
use std::path::{Path, PathBuf};

use lossgp_core::data::{DataError, Normalization};

use super::idx::{IdxDataset, open_maybe_gzip};

/// Side of the images.
pub const SIDE: usize = 8;
/// The largest value a pixel holds: a count over a 4x4 block.
const MAX_VALUE: u32 = 16;
/// The most bytes a digits file may decompress to: UCI's larger file is 0.6 MB, so this is a
/// corrupt or wrong file long before it is reached.
const MAX_BYTES: u64 = 64 << 20;

/// The pixel statistics of scikit-learn's 1,797 digits, scaled to [0, 1].
const NORMALIZATION: (f32, f32) = (0.3053, 0.3759);

/// Reads the digits' CSV files.
pub struct Optdigits;

impl Optdigits {
    /// The file of the 1,797 digits in `dir`: scikit-learn's `digits.csv.gz` or UCI's
    /// `optdigits.tes`, whichever is there.
    pub fn file(dir: &Path) -> Option<PathBuf> {
        ["digits.csv.gz", "optdigits.tes"].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
    }

    /// Reads a digits file, plain or gzip-compressed (told by its content).
    pub fn open(name: impl Into<String>, path: &Path) -> Result<IdxDataset, DataError> {
        let mut text = String::new();
        open_maybe_gzip(path)?
            .take(MAX_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| DataError::corrupt(path, format!("is not a readable text file: {e}")))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(DataError::corrupt(path, format!("holds more than {} MiB of text", MAX_BYTES >> 20)));
        }
        Self::parse(name, &text).map_err(|message| DataError::corrupt(path, message))
    }

    /// Parses the CSV text; the error says which line and value is wrong.
    fn parse(name: impl Into<String>, text: &str) -> Result<IdxDataset, String> {
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() {
                continue;
            }
            let values: Vec<&str> = line.split(',').map(str::trim).collect();
            if values.len() != SIDE * SIDE + 1 {
                return Err(format!(
                    "line {number} has {} comma-separated values, a digit has {} (64 pixels and the class)",
                    values.len(),
                    SIDE * SIDE + 1
                ));
            }
            let value = |column: usize, max: u32| -> Result<u32, String> {
                let text = values[column];
                // scikit-learn has also written the values as floats ("5.0").
                let parsed = text
                    .parse::<u32>()
                    .ok()
                    .or_else(|| text.parse::<f64>().ok().filter(|v| v.fract() == 0.0 && *v >= 0.0).map(|v| v as u32));
                parsed.filter(|&v| v <= max).ok_or_else(|| {
                    format!("line {number}, value {}: `{text}` is not a whole number from 0 to {max}", column + 1)
                })
            };
            for column in 0..SIDE * SIDE {
                let v = value(column, MAX_VALUE)?;
                pixels.push(((v * 255 + MAX_VALUE / 2) / MAX_VALUE) as u8);
            }
            labels.push(value(SIDE * SIDE, 9)? as u8);
        }
        if labels.is_empty() {
            return Err("holds no digits".into());
        }
        let classes = (0..10).map(|d| d.to_string()).collect();
        let normalization = Normalization { mean: vec![NORMALIZATION.0], std: vec![NORMALIZATION.1] };
        Ok(IdxDataset::in_memory(name, (SIDE as u32, SIDE as u32), pixels, labels, classes, normalization))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write;
    use lossgp_core::data::{Dataset, Target};
    use tempfile::TempDir;

    /// A line of the file: pixel `i` is `i % 17`, then `class`.
    fn line(class: u8) -> String {
        let mut values: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
        values.push(class.to_string());
        values.join(",")
    }

    #[test]
    fn digits_read_plain_and_gzip_with_values_scaled_to_bytes() {
        let dir = TempDir::new().unwrap();
        let text = format!("{}\n{}\n\n", line(3), line(9));
        let plain = write(dir.path(), "optdigits.tes", text.as_bytes());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let packed = write(dir.path(), "digits.csv.gz", &gz.finish().unwrap());
        for path in [plain, packed] {
            let set = Optdigits::open("digits", &path).unwrap();
            assert_eq!((set.len(), set.image_shape()), (2, Some((8, 8, 1))));
            assert_eq!((set.label(0).unwrap(), set.label(1).unwrap()), (Some(3), Some(9)));
            let sample = set.sample(1).unwrap();
            let pixels = sample.image.pixels();
            // 0 -> 0, 8 -> 128 (127.5 rounded up), 16 -> 255.
            assert_eq!((pixels[0], pixels[8], pixels[16]), (0, 128, 255));
            assert!(matches!(sample.target, Target::Class(9)));
        }
        assert_eq!(Optdigits::file(dir.path()), Some(dir.path().join("digits.csv.gz")));
    }

    #[test]
    fn float_values_as_scikit_learn_may_write_them_are_read() {
        let floats: Vec<String> = (0..64).map(|i| format!("{}.0", i % 17)).chain(["4.0".into()]).collect();
        let set = Optdigits::parse("digits", &floats.join(",")).unwrap();
        assert_eq!(set.label(0).unwrap(), Some(4));
    }

    #[test]
    fn malformed_lines_are_named_with_what_is_wrong() {
        let short = "1,2,3";
        assert!(Optdigits::parse("d", short).err().unwrap().contains("line 1 has 3 comma-separated values"));
        let too_bright = format!("{}\n{}", line(1), line(1).replacen("0,", "17,", 1));
        assert!(Optdigits::parse("d", &too_bright).err().unwrap().contains("line 2, value 1: `17`"));
        let class = format!("{},10", line(1).rsplit_once(',').unwrap().0);
        assert!(
            Optdigits::parse("d", &class).err().unwrap().contains("value 65: `10` is not a whole number from 0 to 9")
        );
        assert!(Optdigits::parse("d", &line(1).replacen('0', "x", 1)).err().unwrap().contains("`x`"));
        assert!(Optdigits::parse("d", "\n\n").err().unwrap().contains("holds no digits"));
    }
}
