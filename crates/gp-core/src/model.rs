//! The model interface: what the trainer trains and the model zoo provides.
//!
//! A model of the zoo is registered by name ([`ModelEntry`]) with the options it takes, and
//! built for a [`ModelSpec`]: the input size, the number of classes, a seed and the options
//! (`resnet18:stem=cifar,head=paper` on the command line).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::backend::{BResult, Backend, BackendError, DynBackend, Params, inventory};
use crate::data::Task;

/// A network: parameters, and a forward pass from images to logits.
///
/// Models are written once against [`Backend`] and run on every backend. `forward` takes
/// `&mut self` because training mode updates state such as batch norm's running statistics.
pub trait Model<B: Backend>: Send {
    /// Logits for a batch of images `[n, channels, height, width]`: `[n, classes]` for
    /// classification, `[n, classes, height, width]` for segmentation. With `train` false
    /// (evaluation), the pass should build no autodiff graph: run it on
    /// [`Params::detached`](crate::backend::Params::detached).
    fn forward(&mut self, b: &B, images: &B::Tensor, train: bool) -> BResult<B::Tensor>;

    /// Logits of an auxiliary classifier from the last training forward pass, and the weight
    /// of their loss in the total (InceptionV3's auxiliary head: 0.4). The trainer adds
    /// `weight * loss(auxiliary logits)` to the loss. Most models have none.
    fn take_auxiliary(&mut self) -> Option<(B::Tensor, f32)> {
        None
    }

    /// The parameters and buffers.
    fn params(&self) -> &Params<B>;

    /// The parameters and buffers, for the optimiser and for loading weights.
    fn params_mut(&mut self) -> &mut Params<B>;

    /// The input it was built for, `[channels, height, width]`: the loader makes batches of it.
    fn input_shape(&self) -> [usize; 3];

    /// A short description, e.g. `small-cnn (1x28x28 -> 10 classes)`.
    fn describe(&self) -> String;
}

/// Why a model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model of that name is registered.
    #[error("no model named `{name}`; this build has {known} (see `lossgp list models`)")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// An option the model does not take, or a value it cannot use.
    #[error("model `{model}`: {message}")]
    Option {
        /// The model.
        model: String,
        /// What is wrong and what would work.
        message: String,
    },
    /// The input or class count does not suit the model.
    #[error("model `{model}`: {message}")]
    Spec {
        /// The model.
        model: String,
        /// What is wrong and what would work.
        message: String,
    },
    /// The backend failed while creating the weights.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A model's options, `key=value` pairs, as written after its name:
/// `resnet18:stem=cifar,head=paper`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOptions {
    values: BTreeMap<String, String>,
}

impl ModelOptions {
    /// No options: every model's defaults.
    pub fn new() -> ModelOptions {
        ModelOptions::default()
    }

    /// Splits `name:key=value,key=value` into the name and its options.
    pub fn parse(text: &str) -> Result<(String, ModelOptions), ModelError> {
        let (name, rest) = text.split_once(':').unwrap_or((text, ""));
        let name = name.trim().to_owned();
        let mut options = ModelOptions::new();
        for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |message: String| ModelError::Option { model: name.clone(), message };
            let (key, value) = match pair.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => (key.trim(), value.trim()),
                _ => {
                    return Err(bad(format!(
                        "`{pair}` is not key=value; write options as `{name}:key=value,key=value`"
                    )));
                }
            };
            if options.get(key).is_some() {
                return Err(bad(format!("option `{key}` is given twice")));
            }
            options = options.with(key, value);
        }
        Ok((name, options))
    }

    /// The same options with `key` set to `value`.
    pub fn with(mut self, key: &str, value: impl ToString) -> ModelOptions {
        self.values.insert(key.to_owned(), value.to_string());
        self
    }

    /// The keys given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The value of `key` as text, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

impl fmt::Display for ModelOptions {
    /// `key=value,key=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&pairs.join(","))
    }
}

/// An option a model takes, for `lossgp list models` and for checking what is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionDoc {
    /// Its key.
    pub key: &'static str,
    /// Its default, as text.
    pub default: &'static str,
    /// What it does and the values it takes.
    pub help: &'static str,
}

/// What a model of the zoo is built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// The input, `[channels, height, width]`.
    pub input: [usize; 3],
    /// Classes to predict.
    pub classes: usize,
    /// Seeds the initial weights.
    pub seed: u64,
    /// The model's options.
    pub options: ModelOptions,
}

impl ModelSpec {
    /// A spec with default options.
    pub fn new(input: [usize; 3], classes: usize, seed: u64) -> ModelSpec {
        ModelSpec { input, classes, seed, options: ModelOptions::new() }
    }

    /// The same spec with an option set.
    pub fn with(mut self, key: &str, value: impl ToString) -> ModelSpec {
        self.options = self.options.with(key, value);
        self
    }

    /// Option `key` parsed as a `T`, or `default` if it is not given.
    pub fn option<T: std::str::FromStr>(&self, model: &str, key: &str, default: T) -> Result<T, ModelError> {
        match self.options.get(key) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| ModelError::Option {
                model: model.to_owned(),
                message: format!("option `{key}={text}` is not a valid {}", std::any::type_name::<T>()),
            }),
        }
    }

    /// Option `key`, which must be one of `choices` (the first is the default).
    pub fn choice<'a>(&'a self, model: &str, key: &str, choices: &[&'a str]) -> Result<&'a str, ModelError> {
        match self.options.get(key) {
            None => Ok(choices[0]),
            Some(text) => choices.iter().find(|c| **c == text).copied().ok_or_else(|| ModelError::Option {
                model: model.to_owned(),
                message: format!("option `{key}={text}`: choose one of {}", choices.join(", ")),
            }),
        }
    }

    /// The `width` option: the factor that scales every channel count (1 by default).
    pub fn width(&self, model: &str) -> Result<f64, ModelError> {
        let width: f64 = self.option(model, "width", 1.0)?;
        if width > 0.0 && width <= 16.0 {
            Ok(width)
        } else {
            Err(ModelError::Option {
                model: model.to_owned(),
                message: format!("option `width={width}` must be in (0, 16]"),
            })
        }
    }
}

/// A model on a backend chosen at run time.
pub type DynModel = Box<dyn Model<DynBackend>>;

/// A model of the zoo, registered by name with [`inventory`] by the crate that defines it:
///
/// ```ignore
/// lossgp_core::backend::inventory::submit! {
///     ModelEntry {
///         name: "my-net",
///         description: "...",
///         task: Task::Classification,
///         options: &[],
///         build: |b, spec| Ok(Box::new(MyNet::new(b, spec)?)),
///     }
/// }
/// ```
pub struct ModelEntry {
    /// The name `--model` takes.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Whether it classifies images or segments them.
    pub task: Task,
    /// The options it takes.
    pub options: &'static [OptionDoc],
    /// Builds it, with fresh weights, on a backend chosen at run time.
    pub build: fn(&DynBackend, &ModelSpec) -> Result<DynModel, ModelError>,
}

inventory::collect!(ModelEntry);

/// Every registered model, sorted by name.
pub fn models() -> Vec<&'static ModelEntry> {
    let mut all: Vec<&'static ModelEntry> = inventory::iter::<ModelEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    all
}

/// The registered model called `name`.
pub fn find_model(name: &str) -> Result<&'static ModelEntry, ModelError> {
    let all = models();
    all.iter().find(|e| e.name == name).copied().ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|e| e.name).collect();
        ModelError::Unknown { name: name.to_owned(), known: names.join(", ") }
    })
}

/// Checks that `entry` takes every option given (their values are checked when it is built).
pub fn check_options(entry: &ModelEntry, options: &ModelOptions) -> Result<(), ModelError> {
    match options.keys().find(|k| !entry.options.iter().any(|o| o.key == *k)) {
        None => Ok(()),
        Some(key) => {
            let takes: Vec<&str> = entry.options.iter().map(|o| o.key).collect();
            let takes = if takes.is_empty() { "no options".to_owned() } else { format!("only {}", takes.join(", ")) };
            Err(ModelError::Option {
                model: entry.name.to_owned(),
                message: format!("no option `{key}`; it takes {takes}"),
            })
        }
    }
}

/// Builds a registered model by name, after checking that it takes every option given.
pub fn build_model(name: &str, b: &DynBackend, spec: &ModelSpec) -> Result<DynModel, ModelError> {
    let entry = find_model(name)?;
    check_options(entry, &spec.options)?;
    (entry.build)(b, spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_options_parse() {
        let (name, options) = ModelOptions::parse("resnet18:stem=cifar, head=paper").unwrap();
        assert_eq!(name, "resnet18");
        assert_eq!((options.get("stem"), options.get("head")), (Some("cifar"), Some("paper")));
        assert_eq!(options.to_string(), "head=paper,stem=cifar");
        assert_eq!(ModelOptions::parse("small-cnn").unwrap(), ("small-cnn".to_owned(), ModelOptions::new()));
        assert!(ModelOptions::parse("resnet18:cifar").unwrap_err().to_string().contains("key=value"));
        assert!(ModelOptions::parse("resnet18:=1").unwrap_err().to_string().contains("key=value"));
        assert!(ModelOptions::parse("resnet18:width=1,width=2").unwrap_err().to_string().contains("given twice"));
    }

    #[test]
    fn options_are_typed_and_checked() {
        let spec = ModelSpec::new([3, 32, 32], 10, 0).with("width", "0.5").with("head", "paper").with("aux", "yes");
        assert_eq!(spec.width("m").unwrap(), 0.5);
        assert_eq!(spec.choice("m", "head", &["linear", "paper"]).unwrap(), "paper");
        assert_eq!(spec.choice("m", "stem", &["imagenet", "cifar"]).unwrap(), "imagenet");
        assert!(spec.option::<bool>("m", "aux", false).unwrap_err().to_string().contains("aux=yes"));
        assert!(spec.clone().with("width", "-1").width("m").is_err());
        let err = spec.with("head", "mlp").choice("m", "head", &["linear", "paper"]).unwrap_err().to_string();
        assert!(err.contains("linear, paper"), "{err}");
    }
}
