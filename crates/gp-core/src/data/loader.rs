//! Batches for training: shuffled, augmented, normalised, prepared ahead on worker threads.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::augment::{Augment, Pipeline};
use super::{DataError, Dataset, Normalization, Target, Task};

/// How a [`Loader`] makes batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Visit the samples in a new random order every epoch.
    pub shuffle: bool,
    /// Leave out the last batch of an epoch if it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Seeds the order and the augmentations; the same seed gives the same batches, on any
    /// number of threads.
    pub seed: u64,
    /// Random augmentations.
    pub augment: Augment,
    /// Output `(height, width)`; by default the dataset's own, which must then be fixed.
    pub size: Option<(u32, u32)>,
    /// Output channels (1 or 3); by default the dataset's. Grey images are repeated into RGB,
    /// RGB images averaged to grey (luminance weights).
    pub channels: Option<u8>,
    /// Normalisation; by default the dataset's published statistics.
    pub normalization: Option<Normalization>,
    /// How many batches are prepared ahead of the consumer (1 to 64).
    pub prefetch: usize,
    /// Worker threads that decode and augment; by default one per core. The loader has its
    /// own thread pool, so a trainer's parallel work never waits behind it or it behind that.
    pub workers: Option<usize>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 128,
            shuffle: true,
            drop_last: false,
            seed: 0,
            augment: Augment::none(),
            size: None,
            channels: None,
            normalization: None,
            prefetch: 2,
            workers: None,
        }
    }
}

/// The targets of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class per sample.
    Classes(Vec<u32>),
    /// One label per pixel, `batch × height × width`, [`IGNORE`](super::IGNORE) where no class
    /// applies.
    Masks(Vec<u8>),
}

/// A batch: normalised images as one `f32` array and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[batch, channels, height, width]`, row-major.
    pub images: Vec<f32>,
    /// The images' shape, `[batch, channels, height, width]`.
    pub shape: [usize; 4],
    /// Classes or label maps.
    pub targets: Targets,
    /// The dataset index of each sample.
    pub indices: Vec<usize>,
}

impl Batch {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch is empty (a loader never yields one).
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }
}

/// Turns a dataset into batches, epoch after epoch.
#[derive(Clone)]
pub struct Loader {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
    pipeline: Arc<Pipeline>,
    pool: Arc<rayon::ThreadPool>,
}

impl Loader {
    /// A loader over `dataset`; fails if the configuration cannot work with it (no fixed image
    /// size and none given, statistics for the wrong number of channels, an empty dataset).
    pub fn new(dataset: Arc<dyn Dataset>, config: LoaderConfig) -> Result<Loader, DataError> {
        if config.batch_size == 0 {
            return Err(DataError::Invalid("the batch size must be at least 1".into()));
        }
        if dataset.is_empty() {
            return Err(DataError::Invalid(format!("{} has no samples to load", dataset.name())));
        }
        let native = dataset.image_shape();
        let (height, width) = match (config.size, native) {
            (Some(size), _) => size,
            (None, Some((h, w, _))) => (h, w),
            (None, None) => {
                return Err(DataError::Invalid(format!(
                    "{} has no fixed image size; set the loader's `size` to the (height, width) batches should have",
                    dataset.name()
                )));
            }
        };
        let channels = match (config.channels, native) {
            (Some(c), _) => c,
            (None, Some((_, _, c))) => c,
            (None, None) => dataset.sample(0)?.image.channels(),
        };
        if channels != 1 && channels != 3 {
            return Err(DataError::Invalid(format!("batches have 1 or 3 channels, not {channels}")));
        }
        if height == 0 || width == 0 {
            return Err(DataError::Invalid(format!("the batch image size {height}x{width} is empty")));
        }
        let normalization =
            config.normalization.clone().unwrap_or_else(|| dataset.normalization().for_channels(channels));
        if normalization.mean.len() != channels as usize || normalization.std.len() != channels as usize {
            return Err(DataError::Invalid(format!(
                "the normalisation has {} means and {} standard deviations for {channels} channels",
                normalization.mean.len(),
                normalization.std.len()
            )));
        }
        if let Some(bad) = normalization.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DataError::Invalid(format!("a normalisation standard deviation must be positive, not {bad}")));
        }
        if let Some(bad) = normalization.mean.iter().find(|m| !m.is_finite()) {
            return Err(DataError::Invalid(format!("a normalisation mean must be a finite number, not {bad}")));
        }
        let augment = &config.augment;
        if !(0.0..1.0).contains(&augment.zoom) {
            return Err(DataError::Invalid(format!("the zoom range must be in [0, 1), not {}", augment.zoom)));
        }
        if !(0.0..=1.0).contains(&augment.shift) {
            return Err(DataError::Invalid(format!("the shift range must be in [0, 1], not {}", augment.shift)));
        }
        if !(1..=64).contains(&config.prefetch) {
            return Err(DataError::Invalid(format!(
                "prefetch must be between 1 and 64 batches, not {}",
                config.prefetch
            )));
        }
        let workers = config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers.max(1))
            .thread_name(|i| format!("lossgp-loader-{i}"))
            .build()
            .map_err(|e| DataError::Invalid(format!("cannot start the loader's {workers} worker threads: {e}")))?;
        let pipeline =
            Pipeline::new(config.augment.clone(), (width, height, channels), &normalization.mean, &normalization.std);
        Ok(Loader { dataset, config, pipeline: Arc::new(pipeline), pool: Arc::new(pool) })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The shape of one sample in a batch, `[channels, height, width]`.
    pub fn sample_shape(&self) -> [usize; 3] {
        [self.pipeline.channels as usize, self.pipeline.height as usize, self.pipeline.width as usize]
    }

    /// The number of batches an epoch yields.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.config.batch_size);
        if self.config.drop_last { n / b } else { n.div_ceil(b) }
    }

    /// The dataset indices of each batch of `epoch`.
    pub fn plan(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.config.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(self.config.seed, epoch, u64::MAX)));
        }
        let mut batches: Vec<Vec<usize>> = order.chunks(self.config.batch_size).map(<[usize]>::to_vec).collect();
        if self.config.drop_last && batches.last().is_some_and(|b| b.len() < self.config.batch_size) {
            batches.pop();
        }
        batches
    }

    /// The batches of `epoch`, prepared on a background thread (which spreads each batch over
    /// rayon's workers) up to [`LoaderConfig::prefetch`] batches ahead. The first error stops
    /// the epoch.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from its batch `first` on (counting from 0): the rest of an epoch
    /// a checkpoint stopped in, the same batches an uninterrupted epoch gives there.
    pub fn epoch_from(&self, epoch: u64, first: usize) -> Epoch {
        let plan: Vec<Vec<usize>> = self.plan(epoch).into_iter().skip(first).collect();
        let total = plan.len();
        let (sender, receiver) = sync_channel(self.config.prefetch);
        let loader = self.clone();
        let producer = sender.clone();
        let worker = std::thread::Builder::new().name("lossgp-loader".into()).spawn(move || {
            for indices in plan {
                // A panicking dataset must end the epoch with an error, not quietly.
                let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loader.batch(epoch, indices)))
                    .unwrap_or_else(|panic| {
                        Err(DataError::Invalid(format!(
                            "{}: reading a batch panicked: {}",
                            loader.dataset.name(),
                            crate::panic::message(&*panic).unwrap_or_else(|| "(no message)".into())
                        )))
                    });
                let failed = batch.is_err();
                if producer.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        let worker = match worker {
            Ok(handle) => Some(handle),
            Err(e) => {
                let _ = sender.send(Err(DataError::Invalid(format!("cannot start the loader thread: {e}"))));
                None
            }
        };
        Epoch { receiver: Some(receiver), worker, remaining: total }
    }

    /// One batch of the given samples, with each sample's augmentation seeded by `(seed,
    /// epoch, index)` so that the result does not depend on how work is split among threads.
    pub fn batch(&self, epoch: u64, indices: Vec<usize>) -> Result<Batch, DataError> {
        let [c, h, w] = self.sample_shape();
        let plane = h * w;
        let mut images = vec![0f32; indices.len() * c * plane];
        let segmentation = self.dataset.task() == Task::Segmentation;
        let mut masks = vec![0u8; if segmentation { indices.len() * plane } else { 0 }];
        let mut mask_chunks: Vec<Option<&mut [u8]>> = if segmentation {
            masks.chunks_mut(plane).map(Some).collect()
        } else {
            (0..indices.len()).map(|_| None).collect()
        };
        let classes: Vec<u32> = self.pool.install(|| {
            images
                .par_chunks_mut(c * plane)
                .zip(mask_chunks.par_iter_mut())
                .zip(indices.par_iter())
                .map(|((out, mask_out), &index)| {
                    let sample = self.dataset.sample(index)?;
                    let mut rng = ChaCha8Rng::seed_from_u64(mix(self.config.seed, epoch, index as u64));
                    match (&sample.target, mask_out.as_deref_mut()) {
                        (Target::Class(class), None) => {
                            self.pipeline.run(&mut rng, &sample.image, None, out);
                            Ok(*class)
                        }
                        (Target::Mask(labels), Some(mask_out)) => {
                            self.pipeline.run(&mut rng, &sample.image, Some((labels, mask_out)), out);
                            Ok(0)
                        }
                        (target, _) => Err(DataError::Invalid(format!(
                            "{}: sample {index} has a {}, but the dataset says it is for {:?}",
                            self.dataset.name(),
                            if matches!(target, Target::Class(_)) { "class" } else { "label map" },
                            self.dataset.task()
                        ))),
                    }
                })
                .collect::<Result<_, DataError>>()
        })?;
        let targets = if segmentation { Targets::Masks(masks) } else { Targets::Classes(classes) };
        Ok(Batch { images, shape: [indices.len(), c, h, w], targets, indices })
    }
}

/// A seed for one purpose from the loader seed, the epoch and a sample index (SplitMix64
/// finalisation, so nearby inputs give unrelated seeds).
fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let mut z =
        seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The batches of one epoch, in order, while later ones are being prepared.
pub struct Epoch {
    receiver: Option<Receiver<Result<Batch, DataError>>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Iterator for Epoch {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.receiver.as_ref()?.recv() {
            Ok(item) => item,
            // The producer is gone with batches still owed: never let an epoch end short quietly.
            Err(_) if self.remaining > 0 => {
                Err(DataError::Invalid(format!("the loader stopped with {} batches of the epoch left", self.remaining)))
            }
            Err(_) => return None,
        };
        match &item {
            Ok(_) => self.remaining = self.remaining.saturating_sub(1),
            Err(_) => {
                self.remaining = 0;
                self.receiver = None;
            }
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl Drop for Epoch {
    /// Stops the background thread: with the receiver gone its next send fails.
    fn drop(&mut self) {
        self.receiver.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testing::{Broken, Synthetic};

    fn loader(dataset: Synthetic, config: LoaderConfig) -> Loader {
        Loader::new(Arc::new(dataset), config).unwrap()
    }

    #[test]
    fn an_epoch_visits_every_sample_once() {
        let l =
            loader(Synthetic::classification(103, 5, 6, 3), LoaderConfig { batch_size: 10, ..LoaderConfig::default() });
        assert_eq!(l.batches_per_epoch(), 11);
        let batches: Vec<Batch> = l.epoch(0).map(Result::unwrap).collect();
        assert_eq!(batches.len(), 11);
        assert_eq!(batches[10].shape, [3, 3, 6, 6]);
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..103).collect::<Vec<_>>());
        for b in &batches {
            let Targets::Classes(classes) = &b.targets else { panic!("classification batch") };
            assert_eq!(classes, &b.indices.iter().map(|&i| (i % 5) as u32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn batches_are_reproducible_and_independent_of_threads() {
        let config = LoaderConfig { batch_size: 16, augment: Augment::paper(), seed: 3, ..LoaderConfig::default() };
        let l = loader(Synthetic::classification(64, 4, 12, 3), config);
        let first: Vec<Batch> = l.epoch(1).map(Result::unwrap).collect();
        let again: Vec<Batch> = l.epoch(1).map(Result::unwrap).collect();
        assert_eq!(first, again);
        let config = LoaderConfig { workers: Some(1), ..l.config().clone() };
        let serial = Loader::new(Arc::clone(l.dataset()), config).unwrap();
        assert_eq!(first, serial.epoch(1).map(Result::unwrap).collect::<Vec<_>>());
        let next: Vec<Batch> = l.epoch(2).map(Result::unwrap).collect();
        assert_ne!(first[0].indices, next[0].indices);
    }

    #[test]
    fn unshuffled_unaugmented_batches_hold_the_normalised_pixels() {
        let data = Synthetic::classification(4, 2, 2, 1);
        let expected = data.sample(1).unwrap().image;
        let norm = Normalization { mean: vec![0.5], std: vec![0.25] };
        let config =
            LoaderConfig { batch_size: 2, shuffle: false, normalization: Some(norm), ..LoaderConfig::default() };
        let batch = loader(data, config).epoch(0).next().unwrap().unwrap();
        let second = &batch.images[4..8];
        for (v, &p) in second.iter().zip(expected.pixels()) {
            assert!((v - (f32::from(p) / 255.0 - 0.5) / 0.25).abs() < 1e-6);
        }
    }

    #[test]
    fn segmentation_batches_carry_masks() {
        let config = LoaderConfig { batch_size: 4, augment: Augment::cifar(), ..LoaderConfig::default() };
        let batch = loader(Synthetic::segmentation(8, 3, 10), config).epoch(0).next().unwrap().unwrap();
        let Targets::Masks(masks) = &batch.targets else { panic!("segmentation batch") };
        assert_eq!(masks.len(), 4 * 10 * 10);
        assert!(masks.iter().all(|&m| m < 3 || m == crate::data::IGNORE));
    }

    #[test]
    fn drop_last_and_resizing() {
        let config = LoaderConfig {
            batch_size: 4,
            drop_last: true,
            size: Some((5, 7)),
            channels: Some(1),
            ..LoaderConfig::default()
        };
        let l = loader(Synthetic::classification(10, 2, 8, 3), config);
        let batches: Vec<Batch> = l.epoch(0).map(Result::unwrap).collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].shape, [4, 1, 5, 7]);
    }

    #[test]
    fn errors_stop_the_epoch_and_bad_configs_are_explained() {
        let broken: Arc<dyn Dataset> = Arc::new(Broken { at: 5, len: 20 });
        let l = Loader::new(broken, LoaderConfig { batch_size: 4, shuffle: false, ..LoaderConfig::default() }).unwrap();
        let results: Vec<_> = l.epoch(0).collect();
        assert_eq!(results.len(), 2);
        assert!(results[1].as_ref().unwrap_err().to_string().contains("sample 5 is corrupt"));

        let data = || Arc::new(Synthetic::classification(4, 2, 4, 3)) as Arc<dyn Dataset>;
        let err = |config: LoaderConfig| Loader::new(data(), config).err().unwrap().to_string();
        assert!(err(LoaderConfig { batch_size: 0, ..LoaderConfig::default() }).contains("at least 1"));
        let bad = Normalization { mean: vec![0.5], std: vec![0.5] };
        assert!(err(LoaderConfig { normalization: Some(bad), ..LoaderConfig::default() }).contains("1 means"));
        assert!(err(LoaderConfig { channels: Some(2), ..LoaderConfig::default() }).contains("1 or 3 channels"));
        let zoom = Augment { zoom: 1.5, ..Augment::none() };
        assert!(
            err(LoaderConfig { augment: zoom, ..LoaderConfig::default() }).contains("zoom range must be in [0, 1)")
        );
        let shift = Augment { shift: f32::NAN, ..Augment::none() };
        assert!(err(LoaderConfig { augment: shift, ..LoaderConfig::default() }).contains("shift range"));
        assert!(err(LoaderConfig { prefetch: 1_000_000, ..LoaderConfig::default() }).contains("prefetch"));
        let varying: Arc<dyn Dataset> = Arc::new(Synthetic::varying(3));
        let message = Loader::new(varying, LoaderConfig::default()).err().unwrap().to_string();
        assert!(message.contains("has no fixed image size; set the loader's `size`"), "{message}");
    }

    #[test]
    fn a_panicking_dataset_ends_the_epoch_with_an_error() {
        let panicking: Arc<dyn Dataset> = Arc::new(Broken { at: usize::MAX, len: 8 });
        let l =
            Loader::new(panicking, LoaderConfig { batch_size: 4, shuffle: false, ..LoaderConfig::default() }).unwrap();
        // Sample 6 panics: the second batch fails and says so; nothing is silently dropped.
        let results: Vec<_> = l.epoch(0).map(|r| r.map(|b| b.indices)).collect();
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("reading a batch panicked: sample 6 panics"), "{err}");
    }

    #[test]
    fn targets_must_match_the_task() {
        let lying: Arc<dyn Dataset> = Arc::new(Synthetic::lying_segmentation(4));
        let l = Loader::new(lying, LoaderConfig { batch_size: 4, ..LoaderConfig::default() }).unwrap();
        let err = l.epoch(0).next().unwrap().unwrap_err().to_string();
        assert!(err.contains("has a class, but the dataset says it is for Segmentation"), "{err}");
    }

    #[test]
    fn dropping_an_epoch_early_stops_its_thread() {
        let l = loader(
            Synthetic::classification(1000, 2, 8, 3),
            LoaderConfig { batch_size: 10, ..LoaderConfig::default() },
        );
        let mut epoch = l.epoch(0);
        assert!(epoch.next().is_some());
        drop(epoch);
    }
}
