//! The model interface: what the trainer trains and the model zoo provides.

use crate::backend::{BResult, Backend, BackendError, DynBackend, Params, inventory};

/// A network: parameters, and a forward pass from images to logits.
///
/// Models are written once against [`Backend`] and run on every backend. `forward` takes
/// `&mut self` because training mode updates state such as batch norm's running statistics.
pub trait Model<B: Backend>: Send {
    /// Logits for a batch of images `[n, channels, height, width]`: `[n, classes]` for
    /// classification, `[n, classes, height, width]` for segmentation.
    fn forward(&mut self, b: &B, images: &B::Tensor, train: bool) -> BResult<B::Tensor>;

    /// The parameters and buffers.
    fn params(&self) -> &Params<B>;

    /// The parameters and buffers, for the optimiser and for loading weights.
    fn params_mut(&mut self) -> &mut Params<B>;

    /// The input it was built for, `[channels, height, width]`: the loader makes batches of it.
    fn input_shape(&self) -> [usize; 3];

    /// A short description, e.g. `small-cnn (1x28x28 -> 10 classes)`.
    fn describe(&self) -> String;
}

/// What a model of the zoo is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// The input, `[channels, height, width]`.
    pub input: [usize; 3],
    /// Classes to predict.
    pub classes: usize,
    /// Seeds the initial weights.
    pub seed: u64,
}

/// A model on a backend chosen at run time.
pub type DynModel = Box<dyn Model<DynBackend>>;

/// A model of the zoo, registered by name with [`inventory`] by the crate that defines it.
pub struct ModelEntry {
    /// The name `--model` takes.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Builds it, with fresh weights, on a backend chosen at run time.
    pub build: fn(&DynBackend, &ModelSpec) -> BResult<DynModel>,
}

inventory::collect!(ModelEntry);

/// Every registered model, sorted by name.
pub fn models() -> Vec<&'static ModelEntry> {
    let mut all: Vec<&'static ModelEntry> = inventory::iter::<ModelEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    all
}

/// Builds a registered model by name.
pub fn build_model(name: &str, b: &DynBackend, spec: &ModelSpec) -> BResult<DynModel> {
    let all = models();
    match all.iter().find(|e| e.name == name) {
        Some(entry) => (entry.build)(b, spec),
        None => {
            let names: Vec<&str> = all.iter().map(|e| e.name).collect();
            Err(BackendError::Unknown {
                kind: "model",
                name: name.to_owned(),
                known: format!("{} (see `lossgp list models`)", names.join(", ")),
            })
        }
    }
}
