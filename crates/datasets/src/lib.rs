//! Dataset loaders for lossgp: the formats of every dataset the method uses, behind
//! `lossgp-core`'s [`Dataset`](lossgp_core::data::Dataset) interface.
//!
//! * [`formats`]: Fashion-MNIST and MNIST (IDX, gzip or raw), CIFAR-10/100 (binary versions),
//!   image folders (ImageNet, Caltech-101, a user's own data, ImageNet's validation layout),
//!   Pascal VOC 2012 segmentation, COCO-Stuff-164k;
//! * [`registry`]: datasets by name ([`DatasetEntry`], registered with `inventory` by this crate's
//!   [`builtin`] and by plugins), where their files come from, how to open a split ([`open`]);
//! * [`location`]: the data directory (`--data-dir`, `LOSSGP_DATA_DIR`, the user's cache) and
//!   system copies such as Debian's Fashion-MNIST;
//! * [`fetch`]: resumable, checksum-verified downloads and safe unpacking;
//! * [`inspect`]: counts, pixel statistics and sample grids.
//!
//! ```no_run
//! use lossgp_core::data::{Augment, Loader, LoaderConfig, Split};
//! use lossgp_datasets::{DataDir, open};
//!
//! let train = open("fashion-mnist", Split::Train, &DataDir::resolve(None)?)?;
//! let config = LoaderConfig { batch_size: 128, augment: Augment::paper(), ..LoaderConfig::default() };
//! for batch in Loader::new(train, config)?.epoch(0) {
//!     let batch = batch?; // batch.images: [128, 1, 28, 28], normalised
//! }
//! # Ok::<(), lossgp_core::data::DataError>(())
//! ```

pub mod builtin;
pub mod fetch;
pub mod formats;
pub mod inspect;
pub mod location;
pub mod registry;

#[cfg(test)]
mod testing;

pub use location::DataDir;
pub use registry::{DatasetEntry, catalogue, entry, info, locate, open};
