//! Looking at data: sample and class counts, pixel statistics, and a PNG grid of samples with
//! their class names (people check data by looking at it).

use std::path::Path;

use image::{Rgb, RgbImage};
use lossgp_core::data::{DataError, Dataset, IGNORE, Image, Skipped, Target, Task};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::formats::voc::voc_colour;

/// What `lossgp data inspect` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The dataset and split.
    pub dataset: String,
    /// Classification or segmentation.
    pub task: Task,
    /// The number of samples.
    pub samples: usize,
    /// Samples per class (classification, over every sample) or labelled pixels per class
    /// (segmentation, over the samples the pixel statistics read).
    pub classes: Vec<ClassCount>,
    /// Pixels labelled as ignored (segmentation).
    pub ignored_pixels: u64,
    /// Statistics of pixel values scaled to [0, 1].
    pub pixels: PixelStats,
    /// Files among the samples that the dataset does not read, with why.
    pub skipped: Vec<Skipped>,
    /// What to know about how the files were read ([`Dataset::notes`]).
    pub notes: Vec<String>,
}

/// One class's count.
#[derive(Clone, Debug, Serialize)]
pub struct ClassCount {
    /// The class index.
    pub index: usize,
    /// The class name.
    pub name: String,
    /// Samples (or pixels) of this class.
    pub count: u64,
}

/// Pixel statistics over some samples.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PixelStats {
    /// How many samples were read.
    pub samples_read: usize,
    /// Channels of the images (the largest seen).
    pub channels: u8,
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Standard deviation per channel.
    pub std: Vec<f64>,
    /// Smallest and largest raw value (0-255).
    pub min: u8,
    /// See `min`.
    pub max: u8,
    /// Smallest and largest image width and height.
    pub width: (u32, u32),
    /// See `width`.
    pub height: (u32, u32),
}

/// Sums over samples, merged across threads.
#[derive(Clone)]
struct Sums {
    samples: usize,
    channels: u8,
    sum: [f64; 3],
    squares: [f64; 3],
    count: [u64; 3],
    min: u8,
    max: u8,
    width: (u32, u32),
    height: (u32, u32),
    class_pixels: Vec<u64>,
    ignored: u64,
}

impl Sums {
    fn new(classes: usize) -> Sums {
        Sums {
            samples: 0,
            channels: 0,
            sum: [0.0; 3],
            squares: [0.0; 3],
            count: [0; 3],
            min: u8::MAX,
            max: 0,
            width: (u32::MAX, 0),
            height: (u32::MAX, 0),
            class_pixels: vec![0; classes],
            ignored: 0,
        }
    }

    fn add(mut self, image: &Image, target: &Target) -> Sums {
        self.samples += 1;
        let c = image.channels() as usize;
        self.channels = self.channels.max(image.channels());
        for pixel in image.pixels().chunks(c) {
            for (ch, &v) in pixel.iter().enumerate() {
                let x = f64::from(v) / 255.0;
                self.sum[ch] += x;
                self.squares[ch] += x * x;
                self.count[ch] += 1;
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
        }
        self.width = (self.width.0.min(image.width()), self.width.1.max(image.width()));
        self.height = (self.height.0.min(image.height()), self.height.1.max(image.height()));
        if let Target::Mask(labels) = target {
            for &l in labels.labels() {
                match self.class_pixels.get_mut(l as usize) {
                    Some(n) if l != IGNORE => *n += 1,
                    _ => self.ignored += 1,
                }
            }
        }
        self
    }

    fn merge(mut self, other: Sums) -> Sums {
        self.samples += other.samples;
        self.channels = self.channels.max(other.channels);
        for ch in 0..3 {
            self.sum[ch] += other.sum[ch];
            self.squares[ch] += other.squares[ch];
            self.count[ch] += other.count[ch];
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.width = (self.width.0.min(other.width.0), self.width.1.max(other.width.1));
        self.height = (self.height.0.min(other.height.0), self.height.1.max(other.height.1));
        self.class_pixels.iter_mut().zip(&other.class_pixels).for_each(|(a, b)| *a += b);
        self.ignored += other.ignored;
        self
    }
}

/// Counts and statistics of a dataset. Class counts of a classification dataset cover every
/// sample; pixel statistics (and a segmentation dataset's pixel counts) read at most
/// `max_samples` samples, drawn at random with `seed` when there are more.
pub fn inspect(dataset: &dyn Dataset, max_samples: usize, seed: u64) -> Result<Report, DataError> {
    let classes = dataset.classes().len();
    let mut indices: Vec<usize> = (0..dataset.len()).collect();
    if indices.len() > max_samples {
        indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        indices.truncate(max_samples);
        indices.sort_unstable();
    }
    let sums = indices
        .par_iter()
        .try_fold(
            || Sums::new(classes),
            |sums, &i| {
                let sample = dataset.sample(i)?;
                Ok::<_, DataError>(sums.add(&sample.image, &sample.target))
            },
        )
        .try_reduce(|| Sums::new(classes), |a, b| Ok(a.merge(b)))?;
    let counts: Vec<u64> = match dataset.task() {
        Task::Classification => {
            let mut counts = vec![0u64; classes];
            for i in 0..dataset.len() {
                let label = dataset.label(i)?.unwrap_or(0) as usize;
                *counts.get_mut(label).ok_or_else(|| {
                    DataError::Invalid(format!(
                        "{}: sample {i} has class {label}, past its {classes} classes",
                        dataset.name()
                    ))
                })? += 1;
            }
            counts
        }
        Task::Segmentation => sums.class_pixels.clone(),
    };
    let channels = sums.channels as usize;
    let mean: Vec<f64> = (0..channels).map(|c| sums.sum[c] / sums.count[c].max(1) as f64).collect();
    let std = (0..channels)
        .map(|c| (sums.squares[c] / sums.count[c].max(1) as f64 - mean[c] * mean[c]).max(0.0).sqrt())
        .collect();
    Ok(Report {
        dataset: dataset.name().to_owned(),
        task: dataset.task(),
        samples: dataset.len(),
        classes: dataset
            .classes()
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(index, (name, count))| ClassCount { index, name: name.clone(), count })
            .collect(),
        ignored_pixels: sums.ignored,
        pixels: PixelStats {
            samples_read: sums.samples,
            channels: sums.channels,
            mean,
            std,
            min: if sums.samples > 0 { sums.min } else { 0 },
            max: sums.max,
            width: if sums.samples > 0 { sums.width } else { (0, 0) },
            height: if sums.samples > 0 { sums.height } else { (0, 0) },
        },
        skipped: dataset.skipped().to_vec(),
        notes: dataset.notes(),
    })
}

const CELL: u32 = 64;
const GAP: u32 = 4;
const TEXT: Rgb<u8> = Rgb([235, 235, 235]);
const BACKGROUND: Rgb<u8> = Rgb([32, 32, 32]);

/// Writes a PNG grid of samples: for classification, a row per class (at most `max_classes`,
/// up to 100) with its name and `per_row` samples (up to 64); for segmentation, `per_row` × 4
/// samples, each beside its label map in VOC's colours. Returns the number of samples drawn.
pub fn grid(dataset: &dyn Dataset, per_row: usize, max_classes: usize, path: &Path) -> Result<usize, DataError> {
    let per_row = per_row.clamp(1, 64);
    let max_classes = max_classes.clamp(1, 100);
    let rows: Vec<(String, Vec<usize>)> = match dataset.task() {
        Task::Classification => {
            let classes = dataset.classes().len().min(max_classes);
            let mut rows: Vec<(String, Vec<usize>)> =
                dataset.classes()[..classes].iter().map(|n| (n.clone(), Vec::new())).collect();
            for i in 0..dataset.len() {
                if let Some(row) =
                    dataset.label(i)?.and_then(|c| rows.get_mut(c as usize)).filter(|r| r.1.len() < per_row)
                {
                    row.1.push(i);
                }
                if rows.iter().all(|r| r.1.len() >= per_row) {
                    break;
                }
            }
            rows
        }
        Task::Segmentation => (0..dataset.len().min(per_row * 4))
            .collect::<Vec<_>>()
            .chunks(per_row)
            .map(|c| (String::new(), c.to_vec()))
            .collect(),
    };
    let label_width = rows.iter().map(|(name, _)| name.chars().count().min(16) as u32 * 8 + GAP).max().unwrap_or(0);
    let cell_width = if dataset.task() == Task::Segmentation { 2 * CELL + GAP } else { CELL };
    let width = label_width + per_row as u32 * (cell_width + GAP) + GAP;
    let height = rows.len() as u32 * (CELL + GAP) + GAP;
    let mut canvas = RgbImage::from_pixel(width, height, BACKGROUND);
    let mut drawn = 0;
    for (r, (name, indices)) in rows.iter().enumerate() {
        let y = GAP + r as u32 * (CELL + GAP);
        draw_text(&mut canvas, &name.chars().take(16).collect::<String>(), GAP, y + CELL / 2 - 4);
        for (k, &index) in indices.iter().enumerate() {
            let x = label_width + GAP + k as u32 * (cell_width + GAP);
            let sample = dataset.sample(index)?;
            paste(&mut canvas, &thumbnail(&sample.image), x, y);
            if let Target::Mask(labels) = &sample.target {
                let colours: Vec<u8> = labels.labels().iter().flat_map(|&l| voc_colour(l)).collect();
                let coloured = Image::new(labels.width(), labels.height(), 3, colours)?;
                paste(&mut canvas, &thumbnail(&coloured), x + CELL + GAP, y);
            }
            drawn += 1;
        }
    }
    canvas.save(path).map_err(|e| DataError::Invalid(format!("cannot write {}: {e}", path.display())))?;
    Ok(drawn)
}

/// An image scaled to fit a `CELL × CELL` square, as RGB.
fn thumbnail(image: &Image) -> RgbImage {
    let rgb: Vec<u8> = match image.channels() {
        1 => image.pixels().iter().flat_map(|&v| [v, v, v]).collect(),
        _ => image.pixels().to_vec(),
    };
    let buffer = RgbImage::from_raw(image.width(), image.height(), rgb).unwrap_or_else(|| RgbImage::new(1, 1));
    let scale = (CELL as f32 / image.width().max(image.height()) as f32).min(8.0);
    let (w, h) = (
        ((image.width() as f32 * scale) as u32).clamp(1, CELL),
        ((image.height() as f32 * scale) as u32).clamp(1, CELL),
    );
    let filter =
        if scale >= 1.0 { image::imageops::FilterType::Nearest } else { image::imageops::FilterType::Triangle };
    image::imageops::resize(&buffer, w, h, filter)
}

fn paste(canvas: &mut RgbImage, image: &RgbImage, x: u32, y: u32) {
    image::imageops::overlay(canvas, image, i64::from(x), i64::from(y));
}

/// Draws text in the 8x8 public-domain font of `font8x8`.
fn draw_text(canvas: &mut RgbImage, text: &str, x: u32, y: u32) {
    use font8x8::UnicodeFonts;
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                let (px, py) = (x + i as u32 * 8 + col, y + row as u32);
                if bits >> col & 1 == 1 && px < canvas.width() && py < canvas.height() {
                    canvas.put_pixel(px, py, TEXT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::cifar::{Cifar, CifarKind, tests::cifar10};
    use crate::formats::voc::{Voc, tests::voc};
    use tempfile::TempDir;

    #[test]
    fn counts_and_statistics() {
        let dir = TempDir::new().unwrap();
        cifar10(dir.path(), 4);
        let data = Cifar::open("c", dir.path(), CifarKind::Ten, false).unwrap();
        let report = inspect(&data, usize::MAX, 0).unwrap();
        assert_eq!(report.samples, 20);
        assert_eq!(report.classes.iter().map(|c| c.count).collect::<Vec<_>>(), [5, 5, 5, 5, 0, 0, 0, 0, 0, 0]);
        // Red is the column (0..31), green the row: means 15.5/255.
        assert!((report.pixels.mean[0] - 15.5 / 255.0).abs() < 1e-9);
        assert!((report.pixels.mean[1] - 15.5 / 255.0).abs() < 1e-9);
        assert_eq!((report.pixels.min, report.pixels.max, report.pixels.width), (0, 31, (32, 32)));
        let sampled = inspect(&data, 7, 1).unwrap();
        assert_eq!(sampled.pixels.samples_read, 7);
        assert_eq!(sampled.classes.iter().map(|c| c.count).sum::<u64>(), 20);
    }

    #[test]
    fn grids_are_written() {
        let dir = TempDir::new().unwrap();
        cifar10(dir.path(), 4);
        let data = Cifar::open("c", dir.path(), CifarKind::Ten, false).unwrap();
        let path = dir.path().join("grid.png");
        assert_eq!(grid(&data, 3, 10, &path).unwrap(), 12);
        let written = image::open(&path).unwrap().into_rgb8();
        assert_eq!(written.height(), 10 * (CELL + GAP) + GAP);
        // Some text was drawn in the label column.
        assert!(written.pixels().any(|p| *p == TEXT));

        voc(&dir.path().join("voc"), 3);
        let seg = Voc::open("v", &dir.path().join("voc"), "train").unwrap();
        assert_eq!(grid(&seg, 2, 10, &dir.path().join("seg.png")).unwrap(), 3);
        let report = inspect(&seg, usize::MAX, 0).unwrap();
        assert_eq!(report.ignored_pixels, 3 * 6);
        assert_eq!(report.classes.iter().map(|c| c.count).sum::<u64>() + report.ignored_pixels, 3 * 48);
    }
}
