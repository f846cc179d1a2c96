//! The plugin's side: a backend of the core [`Backend`] trait exposed as a [`PluginTable`].
//!
//! ```ignore
//! struct MyPlugin;
//!
//! impl lossgp_plugin_abi::Plugin for MyPlugin {
//!     type Backend = MyBackend; // any lossgp_core::backend::Backend
//!     const NAME: &'static str = "my-backend";
//!     const DESCRIPTION: &'static str = "My framework on the CPU";
//!     fn probe() -> Availability { Availability::Ready("cpu".into()) }
//!     fn open() -> BResult<MyBackend> { MyBackend::new() }
//! }
//!
//! lossgp_plugin_abi::export_plugin!(MyPlugin);
//! ```
//!
//! in a crate built as a `cdylib`. Every exported function catches panics: a plugin that
//! panics in an operation gives the host an error, and the host lives on.

use std::ffi::c_void;

use lossgp_core::backend::{Availability, BResult, Backend, BatchNormMode, BatchNormOutput, Conv2d};
// The plain argument types, named by the list of operations.
use lossgp_core::backend::{BinaryOp, Pool, ReduceOp, UnaryOp};

use crate::ffi::{
    BackendHandle, FfiBatchNormOutput, FfiError, FfiProbe, FfiSlice, FfiVec, GradientsHandle, Receive, Status,
    TensorHandle, guard,
};
use crate::ops::{Capabilities, OpTable};
use crate::table::{PluginHeader, PluginTable};

/// A backend offered by a plugin library.
pub trait Plugin: 'static {
    /// The backend.
    type Backend: Backend;
    /// The name `--backend` takes. It must not be one the host already has.
    const NAME: &'static str;
    /// One line about it.
    const DESCRIPTION: &'static str;
    /// The operations it implements (all, unless it says otherwise): the host refuses the
    /// others with `BackendError::Unsupported` without calling it.
    const CAPABILITIES: Capabilities = Capabilities::ALL;
    /// Whether it can run here, without side effects: the device, or what is missing.
    fn probe() -> Availability;
    /// Opens it on its default device.
    fn open() -> BResult<Self::Backend>;
}

impl PluginTable {
    /// The table of plugin `P`: what [`export_plugin!`](crate::export_plugin) puts in the
    /// library's `static`.
    pub const fn of<P: Plugin>() -> PluginTable {
        PluginTable {
            header: PluginHeader::CURRENT,
            name: FfiSlice::new(P::NAME.as_bytes()),
            description: FfiSlice::new(P::DESCRIPTION.as_bytes()),
            capabilities: P::CAPABILITIES,
            probe: probe::<P>,
            open: open::<P>,
            release_backend: release::<P::Backend>,
            release_tensor: release_tensor::<P::Backend>,
            release_gradients: release_gradients::<P::Backend>,
            ops: exported::table::<P::Backend>(),
        }
    }
}

/// Exports plugin `P` (a type implementing [`Plugin`]) from a `cdylib`: defines the two
/// symbols the host looks up, `lossgp_plugin_abi_version` (called first: the host refuses
/// another version) and `lossgp_plugin` (the [`PluginTable`]).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The plugin ABI version this library was built for.
        // SAFETY: the symbol's name is reserved for this function by the plugin ABI, and its
        // signature (no arguments, a u32) is the same in every ABI version.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn lossgp_plugin_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        /// This library's plugin table.
        // SAFETY: the symbol's name is reserved for this function by the plugin ABI; the host
        // calls it only after lossgp_plugin_abi_version() matched its own version, so both
        // sides agree on the table's layout.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn lossgp_plugin() -> &'static $crate::PluginTable {
            static TABLE: $crate::PluginTable = $crate::PluginTable::of::<$plugin>();
            &TABLE
        }
    };
}

unsafe extern "C" fn probe<P: Plugin>(out: *mut FfiProbe, error: *mut FfiError) -> Status {
    guard(error, || {
        let probe = match P::probe() {
            Availability::Ready(device) => FfiProbe { ready: 1, detail: FfiVec::from_string(device) },
            Availability::Missing(why) => FfiProbe { ready: 0, detail: FfiVec::from_string(why) },
        };
        // SAFETY: the host passes a pointer to an uninitialised FfiProbe it owns.
        unsafe { out.write(probe) };
        Ok(())
    })
}

unsafe extern "C" fn open<P: Plugin>(out: *mut BackendHandle, error: *mut FfiError) -> Status {
    guard(error, || {
        let backend = P::open()?;
        // SAFETY: the host passes a pointer to an uninitialised handle it owns.
        unsafe { out.write(BackendHandle(Box::into_raw(Box::new(backend)).cast())) };
        Ok(())
    })
}

/// Drops a box the plugin handed out, catching a panic in a destructor (which must not unwind
/// into the host).
fn release_box<T>(pointer: *mut c_void) {
    let released = std::panic::catch_unwind(|| {
        // SAFETY: the pointer came from Box::into_raw of a T in this library (a handle), and
        // the host releases each handle once.
        drop(unsafe { Box::from_raw(pointer.cast::<T>()) });
    });
    if let Err(payload) = released {
        crate::ffi::discard(payload);
    }
}

unsafe extern "C" fn release<B: Backend>(handle: BackendHandle) {
    release_box::<B>(handle.0);
}

unsafe extern "C" fn release_tensor<B: Backend>(handle: TensorHandle) {
    release_box::<B::Tensor>(handle.0);
}

unsafe extern "C" fn release_gradients<B: Backend>(handle: GradientsHandle) {
    release_box::<B::Gradients>(handle.0);
}

/// A new handle on a tensor.
fn hand_out<T>(tensor: T) -> TensorHandle {
    TensorHandle(Box::into_raw(Box::new(tensor)).cast())
}

/// The tensor behind a handle the host passed.
///
/// # Safety
///
/// `handle` is one this library handed out for a `T`, not yet released.
unsafe fn borrow<'a, T>(handle: TensorHandle) -> &'a T {
    // SAFETY: as the caller guarantees.
    unsafe { &*handle.0.cast::<T>() }
}

/// An argument as the backend takes it (`$b` is the backend type).
macro_rules! receive {
    ($b:ty, $arg:ident: plain[&Conv2d]) => {
        // SAFETY: the host made it with to_abi for this call.
        &unsafe { <Conv2d as Receive>::receive($arg) }?
    };
    ($b:ty, $arg:ident: plain[$($ty:tt)*]) => {
        // SAFETY: the host made it with to_abi from values alive during this call.
        unsafe { <$($ty)* as Receive>::receive($arg) }?
    };
    ($b:ty, $arg:ident: tensor) => {
        // SAFETY: the host passes handles this library handed out and it still holds.
        unsafe { borrow::<<$b as Backend>::Tensor>($arg) }
    };
    ($b:ty, $arg:ident: owned) => {
        // SAFETY: as for `tensor`; the backend takes its own clone.
        unsafe { borrow::<<$b as Backend>::Tensor>($arg) }.clone()
    };
    ($b:ty, $arg:ident: optional) => {
        // SAFETY: as for `tensor`; null stands for none.
        (!$arg.is_null()).then(|| unsafe { borrow::<<$b as Backend>::Tensor>($arg) })
    };
    ($b:ty, $arg:ident: tensors) => {
        // SAFETY: the slice and its handles are the host's, alive during this call.
        &unsafe { $arg.as_slice() }
            .iter()
            .map(|h| {
                // SAFETY: each is a handle this library handed out, as for `tensor`.
                unsafe { borrow::<<$b as Backend>::Tensor>(*h) }.clone()
            })
            .collect::<Vec<_>>()
    };
    ($b:ty, $arg:ident: mode) => {
        if $arg.train == 1 {
            BatchNormMode::Train
        } else if $arg.mean.is_null() || $arg.variance.is_null() {
            return Err(lossgp_core::backend::BackendError::Device(
                "batch_norm: evaluation mode without both running statistics".into(),
            ));
        } else {
            BatchNormMode::Eval {
                // SAFETY: in evaluation the host passes both statistics' handles, as for `tensor`.
                mean: unsafe { borrow::<<$b as Backend>::Tensor>($arg.mean) },
                // SAFETY: as for the mean.
                variance: unsafe { borrow::<<$b as Backend>::Tensor>($arg.variance) },
            }
        }
    };
    ($b:ty, $arg:ident: grads) => {
        // SAFETY: the host passes a gradients handle this library handed out.
        unsafe { &*$arg.0.cast::<<$b as Backend>::Gradients>() }
    };
}

/// A backend's result as the output of the table's function.
macro_rules! send {
    (text, $e:expr) => {
        FfiVec::from_string($e)
    };
    (nothing, $e:expr) => {{
        $e;
        0u8
    }};
    (tensor, $e:expr) => {
        hand_out($e?)
    };
    (bare_tensor, $e:expr) => {
        hand_out($e)
    };
    (values, $e:expr) => {
        FfiVec::new($e?)
    };
    (dims, $e:expr) => {
        FfiVec::new($e)
    };
    (gradients, $e:expr) => {
        GradientsHandle(Box::into_raw(Box::new($e?)).cast())
    };
    (gradient, $e:expr) => {
        $e.map_or(TensorHandle::NULL, hand_out)
    };
    (normalized, $e:expr) => {{
        let BatchNormOutput { output, statistics } = $e?;
        let (mean, variance) =
            statistics.map_or((TensorHandle::NULL, TensorHandle::NULL), |(m, v)| (hand_out(m), hand_out(v)));
        FfiBatchNormOutput { output: hand_out(output), mean, variance }
    }};
}

/// The exported function of each operation, generic over the backend.
macro_rules! define_exports {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        mod exported {
            use super::*;

            /// The table of backend `B`'s operations.
            pub(super) const fn table<B: Backend>() -> OpTable {
                OpTable { $($op: $op::<B>,)* }
            }

            $(
                #[allow(clippy::too_many_arguments)]
                pub(super) unsafe extern "C" fn $op<B: Backend>(
                    backend: BackendHandle,
                    $($arg: $crate::__abi_arg!($kind $([$($ty)*])?),)*
                    out: *mut $crate::__abi_out!($ret),
                    error: *mut FfiError,
                ) -> Status {
                    guard(error, || {
                        // SAFETY: the host passes the handle `open` gave, until it releases it.
                        let this = unsafe { &*backend.0.cast::<B>() };
                        $(let $arg = receive!(B, $arg: $kind $([$($ty)*])?);)*
                        let result = send!($ret, Backend::$op(this, $($arg),*));
                        // SAFETY: the host passes a pointer to an uninitialised output it owns.
                        unsafe { out.write(result) };
                        Ok(())
                    })
                }
            )*
        }
    };
}

lossgp_core::backend_operations!(define_exports);
