//! Datasets as the trainer and the model zoo see them.
//!
//! A [`Dataset`] hands out [`Sample`]s by index: an 8-bit image (height × width × channels)
//! with a class label, or with a per-pixel label map for segmentation. Datasets come in named
//! [`Split`]s; [`holdout`] carves a seeded, reproducible validation set out of a training split
//! (the paper held out 10%). A [`Loader`] turns a dataset into shuffled batches of normalised
//! `f32` NCHW arrays, decoding and augmenting ([`Augment`]) on worker threads ahead of the
//! trainer, identically for any number of threads.
//!
//! The concrete formats (IDX, CIFAR, image folders, Pascal VOC, COCO-Stuff) live in
//! `lossgp-datasets`; everything here is plain Rust, free of any framework.

mod augment;
mod dataset;
mod error;
mod image;
mod loader;
mod split;

pub use augment::{Augment, Fill, ResizedCrop};
pub use dataset::{Dataset, Normalization, Sample, Skipped, Split, Target, Task};
pub use error::DataError;
pub use image::{IGNORE, Image, LabelMap};
pub use loader::{Batch, Epoch, Loader, LoaderConfig, Targets};
pub use split::{Subset, holdout};

#[cfg(test)]
pub(crate) mod testing;
