//! The one list of the [`Backend`](super::Backend) operations, from which every layer that
//! forwards them is generated: the `Backend` trait itself, the erased trait
//! ([`ErasedBackend`](super::ErasedBackend)) and its blanket implementation,
//! [`DynBackend`](super::DynBackend), [`Observed`](super::Observed), and outside this crate the
//! plugin ABI's function table with both of its sides. Adding an operation is one entry here,
//! plus its implementation in each backend.
//!
//! [`backend_operations!`](crate::backend_operations) calls a macro with the list. Each entry is
//! a method with its documentation; its arguments and result are written as *kinds*, which each
//! layer maps to its own types (`tensor` is `&Self::Tensor` in the trait, `&DynTensor` in the
//! erased one, a handle in the ABI):
//!
//! | argument kind | in [`Backend`](super::Backend) |
//! |---|---|
//! | `plain[T]` | `T`, a type without tensors, named as `lossgp_core::backend` names it (a layer imports what it uses) |
//! | `tensor` | `&Self::Tensor` |
//! | `owned` | `Self::Tensor` |
//! | `optional` | `Option<&Self::Tensor>` |
//! | `tensors` | `&[Self::Tensor]` |
//! | `mode` | `BatchNormMode<'_, Self::Tensor>` |
//! | `grads` | `&Self::Gradients` |
//!
//! | result kind | in [`Backend`](super::Backend) | erased |
//! |---|---|---|
//! | `text` | `String` | `String` |
//! | `nothing` | `()` | `()` |
//! | `tensor` | `BResult<Self::Tensor>` | `BResult<DynTensor>` |
//! | `bare_tensor` | `Self::Tensor` | `BResult<DynTensor>` |
//! | `values` | `BResult<Vec<f32>>` | the same |
//! | `dims` | `Vec<usize>` | `BResult<Vec<usize>>` |
//! | `gradients` | `BResult<Self::Gradients>` | `BResult<DynGradients>` |
//! | `gradient` | `Option<Self::Tensor>` | `BResult<Option<DynTensor>>` |
//! | `normalized` | `BResult<BatchNormOutput<Self::Tensor>>` | `BResult<BatchNormOutput<DynTensor>>` |
//!
//! Behind the erased trait every call may fail (a tensor of another backend, a plugin's error),
//! so results that cannot fail in [`Backend`](super::Backend) are fallible there;
//! [`DynBackend`](super::DynBackend) turns such a failure into a tensor that carries the error
//! to the next operation ([`DynTensor::failed`](super::DynTensor::failed)).

/// Calls the macro `$callback` (a path) with the list of [`Backend`](crate::backend::Backend)
/// operations, in the syntax the [module documentation](crate::backend::operations) describes:
///
/// ```text
/// $( $(#[doc])* fn op(arg: kind, ...) -> result_kind; )*
/// ```
///
/// The order of the entries is the order of the plugin ABI's function table.
#[macro_export]
macro_rules! backend_operations {
    ($($callback:ident)::+) => {
        $($callback)::+! {
            /// A short description: framework, device kind and index (`burn-flex cpu`).
            fn name() -> text;
            /// Seeds the backend's random number generator (dropout masks).
            fn seed(seed: plain[u64]) -> nothing;
            /// A tensor holding `data` (row-major) with the given shape.
            fn tensor(data: plain[&[f32]], shape: plain[&[usize]]) -> tensor;
            /// A tensor of the given shape filled with `value`.
            fn full(shape: plain[&[usize]], value: plain[f32]) -> tensor;
            /// The values of a tensor, row-major.
            fn to_vec(x: tensor) -> values;
            /// The shape of a tensor.
            fn shape(x: tensor) -> dims;
            /// `x` as a leaf whose gradient [`backward`](Self::backward) keeps: a trainable
            /// parameter.
            fn param(x: owned) -> bare_tensor;
            /// `x` cut off from the graph: no gradient flows through the result.
            fn detach(x: tensor) -> bare_tensor;
            /// Back-propagates from a tensor of one element. A tensor that depends on no
            /// parameter (computed from constants only) is an error.
            fn backward(loss: tensor) -> gradients;
            /// The gradient of a parameter, if it received one (without gradient itself).
            fn grad(grads: grads, param: tensor) -> gradient;
            /// An element-wise function.
            fn unary(op: plain[UnaryOp], x: tensor) -> tensor;
            /// An element-wise function of two tensors, broadcasting.
            fn binary(op: plain[BinaryOp], a: tensor, b: tensor) -> tensor;
            /// `x * scale + shift` with scalars.
            fn affine(x: tensor, scale: plain[f32], shift: plain[f32]) -> tensor;
            /// `x` limited to `[min, max]` (either may be infinite); the gradient is 0 where
            /// clamped.
            fn clamp(x: tensor, min: plain[f32], max: plain[f32]) -> tensor;
            /// 1 where `x >= threshold`, 0 elsewhere; no gradient flows through it.
            fn mask_ge(x: tensor, threshold: plain[f32]) -> tensor;
            /// A reduction along `dim`, keeping it with size 1.
            fn reduce(op: plain[ReduceOp], x: tensor, dim: plain[usize]) -> tensor;
            /// The softmax along `dim`.
            fn softmax(x: tensor, dim: plain[usize]) -> tensor;
            /// The log-softmax along `dim`.
            fn log_softmax(x: tensor, dim: plain[usize]) -> tensor;
            /// The same elements in another shape.
            fn reshape(x: tensor, shape: plain[&[usize]]) -> tensor;
            /// The dimensions in another order: dimension `i` of the result is dimension
            /// `axes[i]`.
            fn permute(x: tensor, axes: plain[&[usize]]) -> tensor;
            /// `len` elements along `dim`, from `start`.
            fn narrow(x: tensor, dim: plain[usize], start: plain[usize], len: plain[usize]) -> tensor;
            /// Tensors joined along `dim`.
            fn cat(xs: tensors, dim: plain[usize]) -> tensor;
            /// Matrix product over the last two dimensions, batched over the others.
            fn matmul(a: tensor, b: tensor) -> tensor;
            /// 2-d convolution of `[n, c_in, h, w]` with `[c_out, c_in / groups, kh, kw]`, plus
            /// an optional bias `[c_out]`.
            fn conv2d(x: tensor, weight: tensor, bias: optional, options: plain[&Conv2d]) -> tensor;
            /// 2-d pooling of `[n, c, h, w]` with the given window, stride and padding.
            fn pool2d(
                pool: plain[Pool],
                x: tensor,
                kernel: plain[[usize; 2]],
                stride: plain[[usize; 2]],
                padding: plain[[usize; 2]]
            ) -> tensor;
            /// Average pooling of `[n, c, h, w]` to exactly `size` (PyTorch's adaptive windows).
            fn adaptive_avg_pool2d(x: tensor, size: plain[[usize; 2]]) -> tensor;
            /// Batch normalisation of `[n, c, ...]` with scale `gamma` and shift `beta` (`[c]`).
            fn batch_norm(x: tensor, gamma: tensor, beta: tensor, mode: mode, epsilon: plain[f32]) -> normalized;
            /// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`.
            fn dropout(x: tensor, p: plain[f32]) -> tensor;
            /// Bilinear resizing of `[n, c, h, w]` to `size` (half-pixel centres, no corner
            /// alignment).
            fn upsample_bilinear(x: tensor, size: plain[[usize; 2]]) -> tensor;
        }
    };
}

/// The type of an argument kind, for tensors `$t` and gradients `$g`.
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arg {
    ($t:ty, $g:ty; plain[$($ty:tt)*]) => { $($ty)* };
    ($t:ty, $g:ty; tensor) => { &$t };
    ($t:ty, $g:ty; owned) => { $t };
    ($t:ty, $g:ty; optional) => { Option<&$t> };
    ($t:ty, $g:ty; tensors) => { &[$t] };
    ($t:ty, $g:ty; mode) => { $crate::backend::BatchNormMode<'_, $t> };
    ($t:ty, $g:ty; grads) => { &$g };
}

/// The type of a result kind in [`Backend`](crate::backend::Backend), for tensors `$t` and
/// gradients `$g`.
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_result {
    ($t:ty, $g:ty; text) => { String };
    ($t:ty, $g:ty; nothing) => { () };
    ($t:ty, $g:ty; tensor) => { $crate::backend::BResult<$t> };
    ($t:ty, $g:ty; bare_tensor) => { $t };
    ($t:ty, $g:ty; values) => { $crate::backend::BResult<Vec<f32>> };
    ($t:ty, $g:ty; dims) => { Vec<usize> };
    ($t:ty, $g:ty; gradients) => { $crate::backend::BResult<$g> };
    ($t:ty, $g:ty; gradient) => { Option<$t> };
    ($t:ty, $g:ty; normalized) => { $crate::backend::BResult<$crate::backend::BatchNormOutput<$t>> };
}

/// The type of a result kind behind the erased trait, where every call may fail.
#[doc(hidden)]
#[macro_export]
macro_rules! __erased_result {
    (text) => { String };
    (nothing) => { () };
    (tensor) => { $crate::backend::BResult<$crate::backend::DynTensor> };
    (bare_tensor) => { $crate::backend::BResult<$crate::backend::DynTensor> };
    (values) => { $crate::backend::BResult<Vec<f32>> };
    (dims) => { $crate::backend::BResult<Vec<usize>> };
    (gradients) => { $crate::backend::BResult<$crate::backend::DynGradients> };
    (gradient) => { $crate::backend::BResult<Option<$crate::backend::DynTensor>> };
    (normalized) => { $crate::backend::BResult<$crate::backend::BatchNormOutput<$crate::backend::DynTensor>> };
}

/// Defines the `Backend` trait from the list.
macro_rules! define_backend {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        /// A tensor framework on one device. See the [module documentation](self).
        ///
        /// Tensors are `f32`, row-major when read back. Element-wise binary operations broadcast
        /// dimensions of size 1 between operands of equal rank. Reductions keep the reduced
        /// dimension. The methods are generated from [one list](operations).
        pub trait Backend: Clone + Send + Sync + 'static {
            /// A tensor on this backend.
            type Tensor: Clone + Send + Sync + std::fmt::Debug + 'static;
            /// The gradients [`backward`](Self::backward) computes.
            type Gradients: Send + 'static;
            $(
                $(#[$doc])*
                fn $op(&self, $($arg: $crate::__backend_arg!(Self::Tensor, Self::Gradients; $kind $([$($ty)*])?)),*)
                    -> $crate::__backend_result!(Self::Tensor, Self::Gradients; $ret);
            )*
        }
    };
}
pub(super) use define_backend;
