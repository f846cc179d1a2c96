//! Backends chosen at run time: [`ErasedBackend`] is [`Backend`] with its tensor type hidden
//! behind [`DynTensor`], so that any backend (a compiled-in one, or a plugin) fits in a
//! [`DynBackend`], which is itself a [`Backend`]. Models and the trainer are written once,
//! generically, and run on either.
//!
//! The cost is a virtual call and a type check per operation: nanoseconds, against the
//! microseconds to milliseconds of the kernels behind them. All three are generated from the
//! [list of operations](super::operations).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{
    BResult, Backend, BackendError, BatchNormMode, BatchNormOutput, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp,
};

/// A tensor of some backend, type-erased; cloning is cheap.
#[derive(Clone)]
pub struct DynTensor(Arc<dyn Any + Send + Sync>);

impl DynTensor {
    /// Wraps a backend's tensor.
    pub fn new<T: Any + Send + Sync>(tensor: T) -> DynTensor {
        DynTensor(Arc::new(tensor))
    }

    /// The backend tensor inside, if it is a `T`.
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for DynTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynTensor")
    }
}

/// A tensor standing for an operation that failed where [`Backend`]'s signature has no room
/// for the error ([`param`](Backend::param), [`detach`](Backend::detach),
/// [`grad`](Backend::grad) behind [`DynBackend`]): the next operation given it fails with this
/// message.
#[derive(Debug)]
struct Failed(String);

impl DynTensor {
    /// A tensor that carries `error` to the next operation it is given to.
    pub fn failed(error: BackendError) -> DynTensor {
        DynTensor::new(Failed(error.to_string()))
    }
}

/// Gradients of some backend, type-erased.
pub struct DynGradients(Box<dyn Any + Send>);

impl DynGradients {
    /// Wraps a backend's gradients.
    pub fn new<G: Any + Send>(gradients: G) -> DynGradients {
        DynGradients(Box::new(gradients))
    }

    /// The backend gradients inside, if they are a `G`.
    pub fn downcast<G: Any>(&self) -> Option<&G> {
        self.0.downcast_ref::<G>()
    }
}

impl DynTensor {
    /// The backend tensor inside, as operation `op` takes it: a tensor of another backend is
    /// [`BackendError::ForeignTensor`], and one that [failed](DynTensor::failed) gives its
    /// error.
    pub fn get<T: Any>(&self, op: &str) -> BResult<&T> {
        self.downcast::<T>().ok_or_else(|| match self.downcast::<Failed>() {
            Some(Failed(why)) => BackendError::Device(format!("{op}: given the result of a failed operation: {why}")),
            None => BackendError::ForeignTensor(op.to_owned()),
        })
    }
}

/// The backend tensor inside `x`, or the error naming the operation.
fn inner<'a, B: Backend>(x: &'a DynTensor, op: &str) -> BResult<&'a B::Tensor> {
    x.get::<B::Tensor>(op)
}

/// An argument of the erased layer as the backend's own type (`$b` is the backend).
macro_rules! unerase {
    ($b:ty, $op:ident, $arg:ident: plain) => {
        $arg
    };
    ($b:ty, $op:ident, $arg:ident: tensor) => {
        inner::<$b>($arg, stringify!($op))?
    };
    ($b:ty, $op:ident, $arg:ident: owned) => {
        inner::<$b>(&$arg, stringify!($op))?.clone()
    };
    ($b:ty, $op:ident, $arg:ident: optional) => {
        $arg.map(|t| inner::<$b>(t, stringify!($op))).transpose()?
    };
    ($b:ty, $op:ident, $arg:ident: tensors) => {
        &$arg.iter().map(|t| inner::<$b>(t, stringify!($op)).cloned()).collect::<BResult<Vec<_>>>()?
    };
    ($b:ty, $op:ident, $arg:ident: mode) => {
        match $arg {
            BatchNormMode::Train => BatchNormMode::Train,
            BatchNormMode::Eval { mean, variance } => BatchNormMode::Eval {
                mean: inner::<$b>(mean, stringify!($op))?,
                variance: inner::<$b>(variance, stringify!($op))?,
            },
        }
    };
    ($b:ty, $op:ident, $arg:ident: grads) => {
        $arg.downcast::<<$b as Backend>::Gradients>()
            .ok_or_else(|| BackendError::ForeignTensor(stringify!($op).into()))?
    };
}

/// A backend's result as the erased layer's.
macro_rules! erase {
    (text, $e:expr) => {
        $e
    };
    (nothing, $e:expr) => {
        $e
    };
    (tensor, $e:expr) => {
        $e.map(DynTensor::new)
    };
    (bare_tensor, $e:expr) => {
        Ok(DynTensor::new($e))
    };
    (values, $e:expr) => {
        $e
    };
    (dims, $e:expr) => {
        Ok($e)
    };
    (gradients, $e:expr) => {
        $e.map(DynGradients::new)
    };
    (gradient, $e:expr) => {
        Ok($e.map(DynTensor::new))
    };
    (normalized, $e:expr) => {
        $e.map(|out| BatchNormOutput {
            output: DynTensor::new(out.output),
            statistics: out.statistics.map(|(m, v)| (DynTensor::new(m), DynTensor::new(v))),
        })
    };
}

/// An erased result as [`Backend`]'s: failures where `Backend` has no error become a tensor
/// that carries the error on, or an empty shape.
macro_rules! settle {
    (bare_tensor, $e:expr) => {
        $e.unwrap_or_else(DynTensor::failed)
    };
    (dims, $e:expr) => {
        $e.unwrap_or_default()
    };
    (gradient, $e:expr) => {
        $e.unwrap_or_else(|err| Some(DynTensor::failed(err)))
    };
    ($other:ident, $e:expr) => {
        $e
    };
}

/// Defines [`ErasedBackend`], implements it for every [`Backend`], and [`Backend`] for
/// [`DynBackend`], from the list of operations.
macro_rules! define_erased {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        /// [`Backend`] with the tensor type hidden: what a backend chosen by name at run time
        /// offers. Every [`Backend`] is one; a plugin's backend implements it directly. Each
        /// method is the `Backend` method of the same name; every call that involves a tensor
        /// may fail here (a tensor of another backend, a plugin's error).
        pub trait ErasedBackend: Send + Sync {
            $(
                $(#[$doc])*
                fn $op(&self, $($arg: $crate::__backend_arg!(DynTensor, DynGradients; $kind $([$($ty)*])?)),*)
                    -> $crate::__erased_result!($ret);
            )*
        }

        impl<B: Backend> ErasedBackend for B {
            $(
                fn $op(&self, $($arg: $crate::__backend_arg!(DynTensor, DynGradients; $kind $([$($ty)*])?)),*)
                    -> $crate::__erased_result!($ret) {
                    $(let $arg = unerase!(B, $op, $arg: $kind);)*
                    erase!($ret, Backend::$op(self, $($arg),*))
                }
            )*
        }

        impl Backend for DynBackend {
            type Tensor = DynTensor;
            type Gradients = DynGradients;
            $(
                fn $op(&self, $($arg: $crate::__backend_arg!(DynTensor, DynGradients; $kind $([$($ty)*])?)),*)
                    -> $crate::__backend_result!(DynTensor, DynGradients; $ret) {
                    settle!($ret, self.0.$op($($arg),*))
                }
            )*
        }
    };
}

crate::backend_operations!(define_erased);

/// A backend chosen at run time (by name, from the command line, or loaded as a plugin): any
/// [`Backend`] with its tensor type erased, itself a [`Backend`], so that models and the
/// trainer written generically run on it. The cost is a virtual call and a type check per
/// operation: nanoseconds, against the microseconds to milliseconds of the kernels.
#[derive(Clone)]
pub struct DynBackend(Arc<dyn ErasedBackend>);

impl DynBackend {
    /// Erases a backend's type.
    pub fn new(backend: impl ErasedBackend + 'static) -> DynBackend {
        DynBackend(Arc::new(backend))
    }
}

impl fmt::Debug for DynBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynBackend({})", self.0.name())
    }
}
