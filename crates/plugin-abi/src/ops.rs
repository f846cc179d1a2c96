//! The function table of a plugin's operations, generated from
//! [`lossgp_core::backend_operations!`]: one `extern "C"` function pointer per
//! [`Backend`](lossgp_core::backend::Backend) method, in the list's order ([`OpTable`]), and
//! which of them a plugin implements ([`Capabilities`], one bit per [`Op`]).

#[allow(unused_imports)] // some are named only inside the generated items
use lossgp_core::backend::{BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp};

#[allow(unused_imports)]
use crate::ffi::{
    BackendHandle, FfiBatchNormMode, FfiBatchNormOutput, FfiError, FfiPair, FfiSlice, FfiVec, GradientsHandle, Plain,
    Status, TensorHandle,
};
use crate::list::Op;

/// The `#[repr(C)]` type of an argument kind.
#[doc(hidden)]
#[macro_export]
macro_rules! __abi_arg {
    (plain[$($ty:tt)*]) => { <$($ty)* as $crate::Plain>::Abi };
    (tensor) => { $crate::TensorHandle };
    (owned) => { $crate::TensorHandle };
    (optional) => { $crate::TensorHandle };
    (tensors) => { $crate::FfiSlice<$crate::TensorHandle> };
    (mode) => { $crate::FfiBatchNormMode };
    (grads) => { $crate::GradientsHandle };
}

/// The `#[repr(C)]` type of a result kind's output.
#[doc(hidden)]
#[macro_export]
macro_rules! __abi_out {
    (text) => { $crate::FfiVec<u8> };
    (nothing) => { u8 };
    (tensor) => { $crate::TensorHandle };
    (bare_tensor) => { $crate::TensorHandle };
    (values) => { $crate::FfiVec<f32> };
    (dims) => { $crate::FfiVec<usize> };
    (gradients) => { $crate::GradientsHandle };
    (gradient) => { $crate::TensorHandle };
    (normalized) => { $crate::FfiBatchNormOutput };
}

/// Defines [`OpTable`] from the list of operations.
macro_rules! define_table {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        /// A plugin's operations: one function per `Backend` method, in the list's order.
        ///
        /// Each function takes the backend's handle, the operation's arguments in their `#[repr(C)]`
        /// forms, a pointer to the output and a pointer to an error, and returns a [`Status`]: the
        /// output is written on [`Status::OK`], the error otherwise.
        ///
        /// | argument kind | across the boundary |
        /// |---|---|
        /// | `plain[T]` | `<T as Plain>::Abi` (numbers as they are, slices as [`FfiSlice`], enums as `u32` codes, `[usize; 2]` as [`FfiPair`], `&Conv2d` as [`FfiConv2d`](crate::FfiConv2d)) |
        /// | `tensor`, `owned` | [`TensorHandle`] (borrowed; the plugin clones an `owned` one) |
        /// | `optional` | [`TensorHandle`], null for none |
        /// | `tensors` | [`FfiSlice`] of [`TensorHandle`] |
        /// | `mode` | [`FfiBatchNormMode`] |
        /// | `grads` | [`GradientsHandle`] |
        ///
        /// | result kind | output |
        /// |---|---|
        /// | `text` | [`FfiVec<u8>`](FfiVec) (UTF-8) |
        /// | `nothing` | a `u8`, unused |
        /// | `tensor`, `bare_tensor` | [`TensorHandle`], a new tensor the host releases |
        /// | `values` | [`FfiVec<f32>`](FfiVec) |
        /// | `dims` | [`FfiVec<usize>`](FfiVec) |
        /// | `gradients` | [`GradientsHandle`] |
        /// | `gradient` | [`TensorHandle`], null for none |
        /// | `normalized` | [`FfiBatchNormOutput`] |
        ///
        /// The contract, for both sides: handles and outputs are never null except where a row
        /// above says null stands for none (the host refuses a null tensor as an error); the
        /// output is written only on [`Status::OK`] and the error only otherwise; every function
        /// may be called at once from several threads on one backend handle, and any handle may
        /// be released from any thread (what the `Backend` trait's `Send + Sync` bounds promise).
        #[repr(C)]
        pub struct OpTable {
            $(
                #[doc = concat!("[`Backend::", stringify!($op), "`](lossgp_core::backend::Backend::", stringify!($op), ")")]
                pub $op: unsafe extern "C" fn(
                    BackendHandle,
                    $($crate::__abi_arg!($kind $([$($ty)*])?),)*
                    *mut $crate::__abi_out!($ret),
                    *mut FfiError,
                ) -> Status,
            )*
        }
    };
}

lossgp_core::backend_operations!(define_table);

// Capabilities are a 64-bit mask, one bit per operation.
const _: () = assert!(Op::ALL.len() <= 64, "more operations than capability bits");

/// Which operations a plugin implements, one bit per [`Op`]. The host answers an operation
/// outside them with `BackendError::Unsupported`, without calling the plugin.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// Every operation.
    pub const ALL: Capabilities = Capabilities(if Op::ALL.len() == 64 { u64::MAX } else { (1 << Op::ALL.len()) - 1 });

    /// Exactly these operations.
    pub const fn only(ops: &[Op]) -> Capabilities {
        let mut bits = 0;
        let mut i = 0;
        while i < ops.len() {
            bits |= 1 << ops[i] as u32;
            i += 1;
        }
        Capabilities(bits)
    }

    /// Whether `op` is among them.
    pub const fn contains(self, op: Op) -> bool {
        self.0 & (1 << op as u32) != 0
    }

    /// The operations not among them.
    pub fn missing(self) -> Vec<Op> {
        Op::ALL.iter().copied().filter(|op| !self.contains(*op)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_list() {
        // One pointer per operation, nothing else.
        assert_eq!(std::mem::size_of::<OpTable>(), Op::ALL.len() * std::mem::size_of::<usize>());
    }

    #[test]
    fn capabilities_name_what_is_missing() {
        assert!(Op::ALL.iter().all(|op| Capabilities::ALL.contains(*op)));
        let some = Capabilities::only(&[Op::tensor, Op::to_vec]);
        assert!(some.contains(Op::to_vec) && !some.contains(Op::matmul));
        assert_eq!(some.missing().len(), Op::ALL.len() - 2);
    }
}
