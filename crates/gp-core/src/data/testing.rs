//! Small in-memory datasets for the tests of this module.

use super::{DataError, Dataset, Image, LabelMap, Normalization, Sample, Target, Task};

/// Images whose pixels encode their index, with class `index % classes`.
pub(crate) struct Synthetic {
    len: usize,
    side: u32,
    channels: u8,
    task: Task,
    classes: Vec<String>,
    varying: bool,
    /// Claims segmentation but returns classes.
    lying: bool,
}

impl Synthetic {
    pub fn classification(len: usize, classes: usize, side: u32, channels: u8) -> Synthetic {
        let classes = (0..classes).map(|c| format!("class {c}")).collect();
        Synthetic { len, side, channels, task: Task::Classification, classes, varying: false, lying: false }
    }

    pub fn segmentation(len: usize, classes: usize, side: u32) -> Synthetic {
        Synthetic { task: Task::Segmentation, ..Synthetic::classification(len, classes, side, 3) }
    }

    /// A dataset that says it is for segmentation but returns classes.
    pub fn lying_segmentation(len: usize) -> Synthetic {
        Synthetic { task: Task::Segmentation, lying: true, ..Synthetic::classification(len, 2, 4, 1) }
    }

    /// Images of different sizes.
    pub fn varying(len: usize) -> Synthetic {
        Synthetic { varying: true, ..Synthetic::classification(len, 2, 8, 3) }
    }
}

impl Dataset for Synthetic {
    fn name(&self) -> &str {
        "synthetic"
    }
    fn len(&self) -> usize {
        self.len
    }
    fn task(&self) -> Task {
        self.task
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len)?;
        let side = if self.varying { self.side + index as u32 } else { self.side };
        let n = (side * side) as usize * self.channels as usize;
        let pixels = (0..n).map(|i| ((i * 7 + index * 13) % 256) as u8).collect();
        let image = Image::new(side, side, self.channels, pixels)?;
        let class = (index % self.classes.len()) as u32;
        let target = match self.task {
            _ if self.lying => Target::Class(class),
            Task::Classification => Target::Class(class),
            Task::Segmentation => {
                let labels = (0..side * side).map(|i| ((i as usize + index) % self.classes.len()) as u8).collect();
                Target::Mask(LabelMap::new(side, side, labels)?)
            }
        };
        Ok(Sample { image, target })
    }
    fn normalization(&self) -> Normalization {
        Normalization::unit(self.channels)
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        (!self.varying).then_some((self.side, self.side, self.channels))
    }
}

/// A dataset whose sample `at` cannot be read; with `at` past its end, sample 6 panics.
pub(crate) struct Broken {
    pub at: usize,
    pub len: usize,
}

impl Dataset for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn len(&self) -> usize {
        self.len
    }
    fn task(&self) -> Task {
        Task::Classification
    }
    fn classes(&self) -> &[String] {
        &[]
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        if index == self.at {
            return Err(DataError::corrupt("broken.bin", format!("sample {index} is corrupt")));
        }
        // With `at` out of range, the dataset panics instead, at sample 6.
        assert!(!(self.at >= self.len && index == 6), "sample {index} panics");
        Ok(Sample { image: Image::new(2, 2, 1, vec![0; 4])?, target: Target::Class(0) })
    }
    fn normalization(&self) -> Normalization {
        Normalization::unit(1)
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((2, 2, 1))
    }
}
