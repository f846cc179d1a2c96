//! A backend that watches another: [`Observed`] forwards every operation to the backend inside
//! and lets an [`Observer`] run code around each call (time it, count it, log it, check its
//! result), with the inner backend's tensors, so that it costs one call per operation and no
//! conversion. Generated from the [list of operations](super::operations): a new operation is
//! observed without a line here.

use super::{Backend, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp};

/// What runs around each operation of an [`Observed`] backend.
pub trait Observer: Clone + Send + Sync + 'static {
    /// Runs `call`, the operation `op` (the [`Backend`] method's name), and returns its result.
    fn observe<R>(&self, op: &'static str, call: impl FnOnce() -> R) -> R;
}

/// `backend` with `observer` around each of its operations; a [`Backend`] with the same tensors.
#[derive(Clone, Debug)]
pub struct Observed<B, O> {
    /// The backend that computes.
    pub backend: B,
    /// What runs around each operation.
    pub observer: O,
}

impl<B: Backend, O: Observer> Observed<B, O> {
    /// `backend` watched by `observer`.
    pub fn new(backend: B, observer: O) -> Observed<B, O> {
        Observed { backend, observer }
    }
}

macro_rules! define_observed {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        impl<B: Backend, O: Observer> Backend for Observed<B, O> {
            type Tensor = B::Tensor;
            type Gradients = B::Gradients;
            $(
                fn $op(&self, $($arg: $crate::__backend_arg!(B::Tensor, B::Gradients; $kind $([$($ty)*])?)),*)
                    -> $crate::__backend_result!(B::Tensor, B::Gradients; $ret) {
                    self.observer.observe(stringify!($op), || self.backend.$op($($arg),*))
                }
            )*
        }
    };
}

crate::backend_operations!(define_observed);
