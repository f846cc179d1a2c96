//! The dataset interface.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::image::{Image, LabelMap};

/// What a sample's target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// One class per image.
    Classification,
    /// One class per pixel.
    Segmentation,
}

impl Task {
    /// `classification` or `segmentation`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Segmentation => "segmentation",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The target of a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A class index.
    Class(u32),
    /// A class per pixel, the size of the image.
    Mask(LabelMap),
}

/// One sample: an image and its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The image.
    pub image: Image,
    /// Its class or label map.
    pub target: Target,
}

/// A named part of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Val,
    /// Test data.
    Test,
}

impl Split {
    /// All splits.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "val" | "valid" | "validation" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(DataError::Invalid(format!("unknown split `{s}`; the splits are train, val and test"))),
        }
    }
}

/// Per-channel mean and standard deviation of pixel values scaled to `[0, 1]`; batches are
/// normalised as `(x/255 - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

impl Normalization {
    /// ImageNet's statistics, the usual choice for natural RGB images.
    pub fn imagenet() -> Normalization {
        Normalization { mean: vec![0.485, 0.456, 0.406], std: vec![0.229, 0.224, 0.225] }
    }

    /// No normalisation beyond scaling to `[0, 1]`, for `channels` channels.
    pub fn unit(channels: u8) -> Normalization {
        Normalization { mean: vec![0.0; channels as usize], std: vec![1.0; channels as usize] }
    }

    /// The same statistics for `channels` channels: a grey mean and std repeated for RGB, or
    /// RGB ones combined with the luminance weights the loader converts RGB to grey with.
    pub fn for_channels(&self, channels: u8) -> Normalization {
        const LUMINANCE: [f32; 3] = [0.299, 0.587, 0.114];
        let grey = |v: &[f32]| match v {
            [r, g, b] => LUMINANCE[0] * r + LUMINANCE[1] * g + LUMINANCE[2] * b,
            _ => v.iter().sum::<f32>() / v.len().max(1) as f32,
        };
        match (self.mean.len(), channels) {
            (n, c) if n == c as usize => self.clone(),
            (_, c) => {
                Normalization { mean: vec![grey(&self.mean); c as usize], std: vec![grey(&self.std); c as usize] }
            }
        }
    }
}

/// A file where a dataset's samples live that it does not read: a loader never drops data
/// silently, so `data inspect` lists these and training warns about them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it is not read, e.g. `.heic is not an image format this build decodes`.
    pub reason: String,
}

/// A dataset: samples by index, with their classes' names.
///
/// Implementations decode lazily or hold everything in memory as suits the format; `sample`
/// is called from many threads at once.
pub trait Dataset: Send + Sync {
    /// A short name for messages, e.g. `fashion-mnist/train`.
    fn name(&self) -> &str;

    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Classification or segmentation.
    fn task(&self) -> Task;

    /// The class names, in class-index order; their number is the number of classes.
    fn classes(&self) -> &[String];

    /// Sample `index`, decoded.
    fn sample(&self, index: usize) -> Result<Sample, DataError>;

    /// The class of sample `index` for classification, without decoding its image where the
    /// format allows; `None` for segmentation. Class counts and stratified hold-outs use it.
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        Ok(match self.sample(index)?.target {
            Target::Class(c) => Some(c),
            Target::Mask(_) => None,
        })
    }

    /// The published per-channel statistics that batches are normalised with.
    fn normalization(&self) -> Normalization;

    /// `(height, width, channels)` if every image has that shape.
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        None
    }

    /// Files found among the samples that the dataset does not read, with why.
    fn skipped(&self) -> &[Skipped] {
        &[]
    }

    /// What a reader should know about how the files were read, one sentence each: that a
    /// split holds fewer samples than the official one, say. `data inspect` shows them and
    /// commands that train warn with them.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// A sample's own name where the dataset has one, such as VOC's image id (`2007_000032`)
    /// or an image file's path: what a prediction written for it is named after.
    fn sample_id(&self, index: usize) -> Option<String> {
        let _ = index;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_follows_the_channel_count() {
        let grey = Normalization { mean: vec![0.286], std: vec![0.353] };
        assert_eq!(grey.for_channels(3).mean, vec![0.286; 3]);
        let rgb = Normalization::imagenet().for_channels(1);
        assert!((rgb.mean[0] - (0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406)).abs() < 1e-5);
        assert_eq!(Normalization::imagenet().for_channels(3), Normalization::imagenet());
    }

    #[test]
    fn splits_parse() {
        assert_eq!("validation".parse::<Split>().unwrap(), Split::Val);
        assert!("dev".parse::<Split>().unwrap_err().to_string().contains("train, val and test"));
    }
}
