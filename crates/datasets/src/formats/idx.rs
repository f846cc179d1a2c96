//! MNIST and Fashion-MNIST: IDX files, gzip-compressed or raw.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
//! dimensions), one big-endian `u32` per dimension, then the data. Images are `[n, rows, cols]`
//! unsigned bytes (type `0x08`), labels `[n]`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use lossgp_core::data::{DataError, Dataset, Image, Normalization, Sample, Target, Task};

/// An IDX file's bytes, decompressed as they are read if the file is gzip (by its magic bytes,
/// not its name). A gzip file of several members (`cat a.gz b.gz`, pigz, bgzip) is read whole,
/// as `gunzip` reads it.
pub(crate) fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let mut file = BufReader::new(File::open(path).map_err(|e| DataError::io(path, e))?);
    let gzip = file.fill_buf().map_err(|e| DataError::io(path, e))?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) })
}

/// The dimensions and data of an IDX file of unsigned bytes. No more is decompressed than the
/// header announces (and one byte to tell trailing data), so a compressed file that expands
/// without end cannot exhaust memory.
pub(crate) fn read_idx(path: &Path, expected_dims: usize) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let corrupt = |message: String| DataError::corrupt(path, message);
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            corrupt(format!("not a valid gzip file ({e}); it may be truncated"))
        }
        _ => DataError::io(path, e),
    };
    let mut reader = open_maybe_gzip(path)?;
    let mut magic = Vec::with_capacity(4);
    reader.by_ref().take(4).read_to_end(&mut magic).map_err(unreadable)?;
    if magic.len() < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(corrupt(format!(
            "not an IDX file: it starts with {magic:02x?}, an IDX magic number starts with two zero bytes"
        )));
    }
    if magic[2] != 0x08 {
        return Err(corrupt(format!("IDX data type 0x{:02x} is not unsigned bytes (0x08)", magic[2])));
    }
    let dims = magic[3] as usize;
    if dims != expected_dims {
        return Err(corrupt(format!("IDX file has {dims} dimensions, expected {expected_dims}")));
    }
    let mut sizes = Vec::with_capacity(4 * dims);
    reader.by_ref().take(4 * dims as u64).read_to_end(&mut sizes).map_err(unreadable)?;
    if sizes.len() < 4 * dims {
        let header = 4 + 4 * dims;
        return Err(corrupt(format!("truncated: {} bytes, shorter than its {header}-byte header", 4 + sizes.len())));
    }
    let shape: Vec<usize> =
        sizes.chunks_exact(4).map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize).collect();
    let Some(expected) = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|n| *n < usize::MAX) else {
        return Err(corrupt(format!("its header {shape:?} describes more data than can exist")));
    };
    // Grows as data arrives: a header announcing more than the file holds costs nothing.
    let mut data = Vec::with_capacity(expected.min(1 << 26));
    reader.take(expected as u64 + 1).read_to_end(&mut data).map_err(unreadable)?;
    let actual = data.len();
    if actual < expected {
        return Err(corrupt(format!("truncated: its header {shape:?} needs {expected} data bytes, it has {actual}")));
    }
    if actual > expected {
        return Err(corrupt(format!(
            "has trailing bytes: its header {shape:?} needs {expected} data bytes, more follow"
        )));
    }
    Ok((shape, data))
}

/// Grey images of one size and their class labels, held in memory: an IDX image file and its
/// label file, or the UCI digits (`optdigits`).
pub struct IdxDataset {
    name: String,
    rows: u32,
    cols: u32,
    images: Vec<u8>,
    labels: Vec<u8>,
    classes: Vec<String>,
    normalization: Normalization,
}

impl IdxDataset {
    /// Reads an image file and a label file (each gzip or raw) and checks that they agree and
    /// that every label names one of `classes`.
    pub fn open(
        name: impl Into<String>,
        images: &Path,
        labels: &Path,
        classes: Vec<String>,
        normalization: Normalization,
    ) -> Result<IdxDataset, DataError> {
        if classes.is_empty() {
            return Err(DataError::Invalid(format!(
                "{}: a classification dataset needs class names",
                images.display()
            )));
        }
        let (image_shape, pixels) = read_idx(images, 3)?;
        let (label_shape, label_bytes) = read_idx(labels, 1)?;
        if image_shape[0] != label_shape[0] {
            return Err(DataError::corrupt(
                labels,
                format!("{} labels for the {} images of {}", label_shape[0], image_shape[0], images.display()),
            ));
        }
        if let Some((i, &label)) = label_bytes.iter().enumerate().find(|&(_, &l)| l as usize >= classes.len()) {
            return Err(DataError::corrupt(
                labels,
                format!("label {label} of sample {i} is not a class (they are 0 to {})", classes.len() - 1),
            ));
        }
        let shape = (image_shape[1] as u32, image_shape[2] as u32);
        Ok(IdxDataset::in_memory(name, shape, pixels, label_bytes, classes, normalization))
    }

    /// A dataset of `labels.len()` grey images of `(rows, cols)`, stored one after another in
    /// `images`, each label an index into `classes` (the caller has checked both): for readers of
    /// other formats of grey images, such as a plugin's.
    pub fn in_memory(
        name: impl Into<String>,
        (rows, cols): (u32, u32),
        images: Vec<u8>,
        labels: Vec<u8>,
        classes: Vec<String>,
        normalization: Normalization,
    ) -> IdxDataset {
        debug_assert_eq!(images.len(), (rows * cols) as usize * labels.len());
        IdxDataset { name: name.into(), rows, cols, images, labels, classes, normalization }
    }

    /// The files of a split in `dir`: `train-images-idx3-ubyte(.gz)` and the like; the
    /// compressed or the raw name, whichever is there.
    pub fn files(dir: &Path, test: bool) -> Option<(PathBuf, PathBuf)> {
        let prefix = if test { "t10k" } else { "train" };
        let find =
            |stem: &str| [format!("{stem}.gz"), stem.to_owned()].into_iter().map(|f| dir.join(f)).find(|p| p.is_file());
        Some((find(&format!("{prefix}-images-idx3-ubyte"))?, find(&format!("{prefix}-labels-idx1-ubyte"))?))
    }
}

impl Dataset for IdxDataset {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn task(&self) -> Task {
        Task::Classification
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        let size = (self.rows * self.cols) as usize;
        let pixels = self.images[index * size..(index + 1) * size].to_vec();
        Ok(Sample {
            image: Image::new(self.cols, self.rows, 1, pixels)?,
            target: Target::Class(u32::from(self.labels[index])),
        })
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        Ok(Some(u32::from(self.labels[index])))
    }
    fn normalization(&self) -> Normalization {
        self.normalization.clone()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((self.rows, self.cols, 1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::write;
    use std::io::Write;
    use tempfile::TempDir;

    /// An IDX file of unsigned bytes.
    pub fn idx(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, shape.len() as u8];
        shape.iter().for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
        out.extend_from_slice(data);
        out
    }

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn classes() -> Vec<String> {
        (0..10).map(|c| c.to_string()).collect()
    }

    fn open(dir: &TempDir) -> Result<IdxDataset, DataError> {
        IdxDataset::open("t", &dir.path().join("images"), &dir.path().join("labels"), classes(), Normalization::unit(1))
    }

    #[test]
    fn reads_gzip_and_raw() {
        let dir = TempDir::new().unwrap();
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        write(dir.path(), "images", &gzip(&idx(&[2, 3, 4], &pixels)));
        write(dir.path(), "labels", &idx(&[2], &[7, 1]));
        let data = open(&dir).unwrap();
        assert_eq!(data.len(), 2);
        let sample = data.sample(1).unwrap();
        assert_eq!((sample.image.width(), sample.image.height()), (4, 3));
        assert_eq!(sample.image.pixels(), &pixels[12..]);
        assert_eq!(sample.target, Target::Class(1));
        assert!(matches!(data.sample(2), Err(DataError::IndexOutOfRange { .. })));
    }

    #[test]
    fn a_gzip_file_of_several_members_is_read_whole() {
        let dir = TempDir::new().unwrap();
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let file = idx(&[2, 3, 4], &pixels);
        // As `cat a.gz b.gz` or pigz write it: the split falls inside the data.
        write(dir.path(), "images", &[gzip(&file[..10]), gzip(&file[10..20]), gzip(&file[20..])].concat());
        write(dir.path(), "labels", &[gzip(&idx(&[2], &[7])), gzip(&[1])].concat());
        let data = open(&dir).unwrap();
        assert_eq!(data.sample(1).unwrap().image.pixels(), &pixels[12..]);
        assert_eq!(data.sample(1).unwrap().target, Target::Class(1));
    }

    #[test]
    fn a_compressed_file_expanding_past_its_header_is_stopped_there() {
        let dir = TempDir::new().unwrap();
        write(dir.path(), "labels", &idx(&[2], &[7, 1]));
        // 8 data bytes announced, 64 MiB of zeros compressed to a few kilobytes.
        let mut bomb = idx(&[2, 2, 2], &[]);
        bomb.resize(bomb.len() + (64 << 20), 0);
        write(dir.path(), "images", &gzip(&bomb));
        let err = open(&dir).err().unwrap().to_string();
        assert!(err.contains("has trailing bytes"), "{err}");
    }

    #[test]
    fn bad_files_are_explained() {
        let dir = TempDir::new().unwrap();
        write(dir.path(), "labels", &idx(&[2], &[7, 1]));
        let error = |images: &[u8]| {
            write(dir.path(), "images", images);
            open(&dir).err().unwrap().to_string()
        };
        let good = idx(&[2, 2, 2], &[0; 8]);
        assert!(
            error(&good[..good.len() - 3]).ends_with("truncated: its header [2, 2, 2] needs 8 data bytes, it has 5")
        );
        assert!(error(&[good.clone(), vec![0]].concat()).contains("has trailing bytes"));
        assert!(error(b"GIF89a").contains("not an IDX file"));
        assert!(error(&[0, 0, 0x0d, 3, 0, 0, 0, 1]).contains("0x0d is not unsigned bytes"));
        assert!(error(&idx(&[2, 4], &[0; 8])).contains("2 dimensions, expected 3"));
        assert!(error(&idx(&[u32::MAX; 3], &[0; 8])).contains("describes more data than can exist"));
        let gz = gzip(&good);
        assert!(error(&gz[..gz.len() / 2]).contains("not a valid gzip file"));
        // A header that announces far more than the file holds allocates nothing up front.
        assert!(error(&gzip(&idx(&[60_000, 4096, 4096], &[0; 8]))).contains("truncated"));
        write(dir.path(), "images", &good);
        write(dir.path(), "labels", &idx(&[2], &[7, 10]));
        assert!(
            open(&dir).err().unwrap().to_string().contains("label 10 of sample 1 is not a class (they are 0 to 9)")
        );
        write(dir.path(), "labels", &idx(&[3], &[1, 2, 3]));
        assert!(open(&dir).err().unwrap().to_string().contains("3 labels for the 2 images"));
        std::fs::remove_file(dir.path().join("labels")).unwrap();
        assert!(open(&dir).err().unwrap().to_string().starts_with("cannot read"));
    }
}
