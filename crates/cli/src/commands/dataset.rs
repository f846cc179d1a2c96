//! Opening a dataset for a command: one path for `train`, `search` (and its workers and
//! `confirm`) and `data inspect`, so that a dataset and its options mean the same everywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use lossgp_core::data::{Dataset, Split, Task, holdout};
use lossgp_datasets::{DataDir, open};

/// Opens a split, warning on standard error about files it does not read.
pub fn open_split(spec: &str, split: Split, dirs: &DataDir) -> Result<Arc<dyn Dataset>> {
    let dataset = open(spec, split, dirs)?;
    warn_skipped(dataset.as_ref());
    for note in dataset.notes() {
        eprintln!("warning: {note}");
    }
    Ok(dataset)
}

/// Says, in one line, how many files `dataset` does not read, by reason.
fn warn_skipped(dataset: &dyn Dataset) {
    let skipped = dataset.skipped();
    let Some(first) = skipped.first() else { return };
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for file in skipped {
        let kind = file.path.extension().and_then(|e| e.to_str()).map_or("no extension".into(), |e| format!(".{e}"));
        *kinds.entry(kind).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.into_iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    eprintln!(
        "warning: {}: {} files are not read ({}), e.g. {}: {}; `lossgp data inspect` lists them",
        dataset.name(),
        skipped.len(),
        kinds.join(", "),
        first.path.display(),
        first.reason
    );
}

/// A training split, ready for a model.
pub struct TrainingSet {
    /// The samples trained on (a stratified subset when one was asked for).
    pub data: Arc<dyn Dataset>,
    /// The model's input, `[channels, height, width]`.
    pub input: [usize; 3],
}

/// What a command that trains asks of its dataset.
pub struct TrainingRequest<'a> {
    /// A catalogue name or an image folder.
    pub dataset: &'a str,
    /// The task of the model that will train on it.
    pub task: Task,
    /// The model's name, for messages.
    pub model: &'a str,
    /// Resize images to `[height, width]`.
    pub image_size: Option<[usize; 2]>,
    /// A stratified subset of this many samples.
    pub samples: Option<usize>,
    /// Seeds the subset.
    pub seed: u64,
}

/// Opens the training split of a request, checks that the model can train on it, takes the
/// subset, and finds the model's input shape.
pub fn open_training(request: &TrainingRequest<'_>, dirs: &DataDir) -> Result<TrainingSet> {
    let mut data = open_split(request.dataset, Split::Train, dirs)?;
    if request.task != data.task() {
        let (model, wanted) = (request.task, data.task());
        bail!(
            "model `{}` is for {model}, and {} is a {wanted} dataset: choose a {wanted} model (see `lossgp list models`)",
            request.model,
            data.name()
        );
    }
    let full = data.len();
    if let Some(n) = request.samples.filter(|&n| n < full) {
        let (_, subset) = holdout(data, n as f64 / full as f64, request.seed)?;
        data = Arc::new(subset);
    }
    let input = input_shape(data.as_ref(), request.image_size)?;
    let [_, height, width] = input;
    if height.max(width) > MAX_SIDE {
        let asked = if request.image_size.is_some() { "asked for" } else { "of the dataset's images" };
        bail!(
            "an image size of {height}x{width} ({asked}) is beyond what lossgp trains on (sides up to {MAX_SIDE}): \
             choose a smaller one with --image-size or [task] image_size, e.g. 224"
        );
    }
    Ok(TrainingSet { data, input })
}

/// The longest image side a model is built for: the networks' weights grow with the input
/// (small-cnn's last layer has 40 weights per input pixel), so larger sizes would exhaust
/// memory while the model is built.
const MAX_SIDE: usize = 2048;

/// The model's input: the dataset's channels at `size`, else at the size all its images have,
/// else (an image folder, whose images may differ) at its first image's size.
fn input_shape(dataset: &dyn Dataset, size: Option<[usize; 2]>) -> Result<[usize; 3]> {
    if let Some((h, w, c)) = dataset.image_shape() {
        return Ok([usize::from(c), size.map_or(h as usize, |s| s[0]), size.map_or(w as usize, |s| s[1])]);
    }
    let first = dataset.sample(0)?.image;
    let [height, width] = size.unwrap_or_else(|| {
        let (h, w) = (first.height() as usize, first.width() as usize);
        eprintln!(
            "note: {} does not fix one image size; training at {h}x{w}, its first image's (choose with --image-size, or [task] image_size)",
            dataset.name()
        );
        [h, w]
    });
    Ok([usize::from(first.channels()), height, width])
}
