//! Named parameters and buffers of a model, saved and loaded as safetensors files, which
//! PyTorch (`safetensors.torch.load_file`) reads as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{Backend, BackendError};

/// The index of a parameter in its [`Params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(usize);

/// Whether the optimiser trains a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A weight: it receives gradients and the optimiser updates it.
    Trainable,
    /// State the model updates itself, such as batch norm's running statistics.
    Buffer,
}

struct Entry<T> {
    name: String,
    kind: ParamKind,
    shape: Vec<usize>,
    tensor: T,
}

/// A model's tensors by name, in the order they were added.
pub struct Params<B: Backend> {
    entries: Vec<Entry<B::Tensor>>,
}

/// Why saving or loading parameters failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a safetensors file of `f32` tensors.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file lacks a tensor the model has.
    #[error("{}: has no tensor `{name}`, which the model needs", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor of the file has another shape than the model's.
    #[error("{}: tensor `{name}` has shape {found:?}, the model's has {expected:?}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's.
        found: Vec<usize>,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl<B: Backend> Default for Params<B> {
    fn default() -> Self {
        Params { entries: Vec::new() }
    }
}

impl<B: Backend> Params<B> {
    /// No parameters.
    pub fn new() -> Params<B> {
        Params::default()
    }

    /// Adds a tensor; a trainable one becomes a gradient-tracking leaf.
    pub fn add(&mut self, b: &B, name: impl Into<String>, tensor: B::Tensor, kind: ParamKind) -> ParamId {
        let shape = b.shape(&tensor);
        let tensor = match kind {
            ParamKind::Trainable => b.param(tensor),
            ParamKind::Buffer => b.detach(&tensor),
        };
        self.entries.push(Entry { name: name.into(), kind, shape, tensor });
        ParamId(self.entries.len() - 1)
    }

    /// The same tensors cut off from the autodiff graph ([`Backend::detach`]): lossgp's
    /// no-gradient mode. A forward pass through them records nothing for backward, as under
    /// PyTorch's `torch.no_grad()`, which makes evaluation and prediction cheaper.
    pub fn detached(&self, b: &B) -> Params<B> {
        let entries = self
            .entries
            .iter()
            .map(|e| Entry { name: e.name.clone(), kind: e.kind, shape: e.shape.clone(), tensor: b.detach(&e.tensor) })
            .collect();
        Params { entries }
    }

    /// The tensor of a parameter.
    pub fn get(&self, id: ParamId) -> &B::Tensor {
        &self.entries[id.0].tensor
    }

    /// Replaces a parameter's tensor (an optimiser step, a running-statistics update).
    pub fn set(&mut self, b: &B, id: ParamId, tensor: B::Tensor) {
        let entry = &mut self.entries[id.0];
        entry.tensor = match entry.kind {
            ParamKind::Trainable => b.param(tensor),
            ParamKind::Buffer => b.detach(&tensor),
        };
    }

    /// A parameter's name.
    pub fn name(&self, id: ParamId) -> &str {
        &self.entries[id.0].name
    }

    /// A parameter's kind.
    pub fn kind(&self, id: ParamId) -> ParamKind {
        self.entries[id.0].kind
    }

    /// A parameter's shape.
    pub fn shape(&self, id: ParamId) -> &[usize] {
        &self.entries[id.0].shape
    }

    /// Every parameter, in the order added.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        (0..self.entries.len()).map(ParamId)
    }

    /// The trainable parameters.
    pub fn trainable(&self) -> impl Iterator<Item = ParamId> + '_ {
        self.ids().filter(|&id| self.kind(id) == ParamKind::Trainable)
    }

    /// The number of trainable values.
    pub fn count(&self) -> usize {
        self.trainable().map(|id| self.shape(id).iter().product::<usize>()).sum()
    }

    /// Writes every tensor to a safetensors file, under its name.
    pub fn save(&self, b: &B, path: &Path) -> Result<(), StoreError> {
        let tensors = self
            .entries
            .iter()
            .map(|e| Ok((e.name.clone(), b.to_vec(&e.tensor)?, e.shape.clone())))
            .collect::<Result<Vec<_>, BackendError>>()?;
        write_tensors(path, &tensors, HashMap::new())
    }

    /// Reads every tensor back from a safetensors file written by [`save`](Self::save) (or by
    /// PyTorch with the same names and shapes).
    pub fn load(&mut self, b: &B, path: &Path) -> Result<(), StoreError> {
        let mut file = read_tensors(path)?;
        let mut loaded = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            if let Some(dtype) = file.other.get(&entry.name) {
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    message: format!("tensor `{}` is {dtype}, not F32", entry.name),
                });
            }
            let (values, shape) = file
                .tensors
                .remove(&entry.name)
                .ok_or_else(|| StoreError::Missing { path: path.to_owned(), name: entry.name.clone() })?;
            if shape != entry.shape {
                return Err(StoreError::Shape {
                    path: path.to_owned(),
                    name: entry.name.clone(),
                    expected: entry.shape.clone(),
                    found: shape,
                });
            }
            loaded.push(b.tensor(&values, &entry.shape)?);
        }
        for (i, tensor) in loaded.into_iter().enumerate() {
            self.set(b, ParamId(i), tensor);
        }
        Ok(())
    }

    /// Starts from pretrained weights, as torchvision's `weights_backbone` does: every tensor
    /// of the model that the file has under the same name (or, for a `backbone.` tensor, under
    /// the name without that prefix: a torchvision classification network's file, such as
    /// `resnet50-*.safetensors`, for a segmentation network's backbone) is loaded. What the
    /// file lacks, and a classifier it has for another number of classes (a tensor whose
    /// first dimension is the model's `classes` there, and differs only in it), stays as
    /// initialised and is listed.
    ///
    /// Errors: no tensor of the file fits the model (another network, or another naming);
    /// a tensor whose shape differs otherwise (another width or depth); a tensor stored in
    /// another type than `f32`.
    pub fn load_pretrained(&mut self, b: &B, path: &Path, classes: usize) -> Result<Pretrained, StoreError> {
        let file = read_tensors(path)?;
        let mut report = Pretrained::default();
        let mut used = std::collections::HashSet::new();
        let mut loaded = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let candidates = [Some(entry.name.as_str()), entry.name.strip_prefix("backbone.")];
            let Some(name) =
                candidates.into_iter().flatten().find(|n| file.tensors.contains_key(*n) || file.other.contains_key(*n))
            else {
                report.missing.push(entry.name.clone());
                continue;
            };
            let Some((values, shape)) = file.tensors.get(name) else {
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    message: format!(
                        "tensor `{name}` is {}, not F32: save the weights as float32 (in PyTorch, `{{k: v.float() for k, v in state_dict.items()}}`)",
                        file.other[name]
                    ),
                });
            };
            used.insert(name);
            if *shape == entry.shape {
                loaded.push((i, b.tensor(values, shape)?));
            } else if entry.shape.first() == Some(&classes)
                && shape.len() == entry.shape.len()
                && shape[1..] == entry.shape[1..]
            {
                report.reshaped.push(entry.name.clone());
            } else {
                return Err(StoreError::Shape {
                    path: path.to_owned(),
                    name: name.to_owned(),
                    expected: entry.shape.clone(),
                    found: shape.clone(),
                });
            }
        }
        if loaded.is_empty() {
            let mut names: Vec<&String> = file.tensors.keys().collect();
            names.sort();
            let sample =
                |names: Vec<&String>| names.iter().take(3).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            return Err(StoreError::Format {
                path: path.to_owned(),
                message: format!(
                    "none of its tensors fits the model (it has {}..., the model {}...): pretrained weights must come from \
                     the same network with torchvision's names",
                    sample(names),
                    sample(self.entries.iter().map(|e| &e.name).take(3).collect())
                ),
            });
        }
        report.loaded = loaded.len();
        let mut unused: Vec<String> = file.tensors.keys().filter(|n| !used.contains(n.as_str())).cloned().collect();
        unused.extend(
            file.other.keys().filter(|n| !n.ends_with("num_batches_tracked") && !used.contains(n.as_str())).cloned(),
        );
        unused.sort();
        report.unused = unused;
        for (i, tensor) in loaded {
            self.set(b, ParamId(i), tensor);
        }
        Ok(report)
    }
}

/// What [`Params::load_pretrained`] did with a file's tensors.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Pretrained {
    /// How many of the model's tensors were loaded.
    pub loaded: usize,
    /// The model's tensors the file lacks, kept as initialised (a new head, such as a
    /// segmentation network's classifier over an ImageNet backbone).
    pub missing: Vec<String>,
    /// The model's tensors the file has for another number of outputs, kept as initialised (a
    /// classifier for another number of classes, such as ImageNet's 1,000).
    pub reshaped: Vec<String>,
    /// The file's tensors the model has no use for (another head), PyTorch's
    /// `num_batches_tracked` counters aside.
    pub unused: Vec<String>,
}

/// A named `f32` tensor: its name, values (row-major) and shape.
pub type NamedTensor = (String, Vec<f32>, Vec<usize>);

/// Writes `tensors` as a safetensors file of `f32` tensors with `metadata` (and `format: pt`,
/// so that PyTorch reads it), beside `path` first and renamed over it, so that a crash never
/// leaves a half-written file where a good one was.
pub fn write_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    mut metadata: HashMap<String, String>,
) -> Result<(), StoreError> {
    let data: Vec<(&str, Vec<u8>, &[usize])> = tensors
        .iter()
        .map(|(name, values, shape)| {
            (name.as_str(), values.iter().flat_map(|v| v.to_le_bytes()).collect(), shape.as_slice())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(name, bytes, shape)| {
            let view = TensorView::new(Dtype::F32, shape.to_vec(), bytes)
                .map_err(|e| StoreError::Format { path: path.to_owned(), message: format!("tensor `{name}`: {e}") })?;
            Ok((name.to_string(), view))
        })
        .collect::<Result<_, StoreError>>()?;
    metadata.insert("format".to_owned(), "pt".to_owned());
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| StoreError::Format { path: path.to_owned(), message: e.to_string() })?;
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name().map_or_else(|| "weights".into(), |n| n.to_string_lossy())
    ));
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    std::fs::write(&partial, bytes).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}

/// The `f32` tensors of a safetensors file by name, the names and types of the others (such
/// as PyTorch's `int64` `num_batches_tracked`), and the file's metadata.
pub fn read_tensors(path: &Path) -> Result<TensorFile, StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| StoreError::Format { path: path.to_owned(), message: format!("not a safetensors file: {e}") })?;
    let metadata = SafeTensors::read_metadata(&bytes).ok().and_then(|(_, m)| m.metadata().clone()).unwrap_or_default();
    let (mut tensors, mut other) = (HashMap::new(), HashMap::new());
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            other.insert(name, format!("{:?}", view.dtype()));
            continue;
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        tensors.insert(name, (values, view.shape().to_vec()));
    }
    Ok(TensorFile { tensors, other, metadata })
}

/// A safetensors file read back.
pub struct TensorFile {
    /// The `f32` tensors by name: values (row-major) and shape.
    pub tensors: HashMap<String, (Vec<f32>, Vec<usize>)>,
    /// The other tensors' names and types.
    pub other: HashMap<String, String>,
    /// The file's metadata.
    pub metadata: HashMap<String, String>,
}
