//! lossgp's plugin ABI: a backend of the core
//! [`Backend`](lossgp_core::backend::Backend) trait in a shared library, loaded at run time;
//! and an evaluator (where candidates are scored) the same way ([`EvaluatorTable`]).
//!
//! The model is datafusion-ffi's: everything that crosses is `#[repr(C)]` (function pointers,
//! opaque handles, plain buffers, numeric codes), never a Rust trait object, enum or `Vec`
//! whose layout could change between compilers. A plugin library exports two symbols:
//!
//! - `lossgp_plugin_abi_version() -> u32`, the same in every version: the host calls it first
//!   and refuses a library built for another version, naming both;
//! - `lossgp_plugin() -> &'static PluginTable`: the backend's name, description,
//!   [capabilities](Capabilities) (the operations it implements) and one function per
//!   operation ([`OpTable`]), generated from the core's one list of operations
//!   ([`lossgp_core::backend_operations!`]), as the erased and dynamic layers are.
//!
//! Tensors and gradients cross as opaque handles (a `Box` of the plugin backend's own type),
//! released through the table; owned buffers ([`FfiVec`]) carry their own release function,
//! so each side frees what its allocator made. Errors cross as a [`Status`] code and strings
//! that keep the [`BackendError`](lossgp_core::backend::BackendError) variant. Every exported
//! function catches panics: a plugin that panics in an operation yields an error, and the host
//! lives on. A library is loaded once and never unloaded.
//!
//! The plugin side is [`Plugin`] and [`export_plugin!`]; the host side, with the loader, is
//! the `host` feature (`host::load`). lossgp's `unsafe` code lives in this crate (and in the
//! two `#[unsafe(no_mangle)]` functions each [`export_plugin!`] defines): each use says why it
//! holds in a `// SAFETY:` comment, which `clippy::undocumented_unsafe_blocks` enforces.
//!
//! Versions: [`ABI_VERSION`] is raised whenever what crosses changes (an operation added,
//! removed or changed in the list, an enum code, a `#[repr(C)]` type) or what an operation
//! means changes. [`ABI_FINGERPRINT`], a hash of the list, the codes and the types' sizes,
//! travels in the table's [`PluginHeader`], so a plugin whose table changed without a new
//! version is refused too; a unit test pins the fingerprint of each version, so such a change
//! fails CI until the version is raised.
//!
//! A plugin must be built with `panic = "unwind"` (Cargo's default): with `panic = "abort"`
//! a panic in the plugin ends the host's process before the boundary can catch it.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod evaluator;
mod ffi;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "host")]
pub mod host_evaluator;
mod list;
mod ops;
mod plugin;
mod table;
mod version;

pub use evaluator::{
    EVALUATOR_ABI_VERSION, EVALUATOR_ENTRY_SYMBOL, EVALUATOR_VERSION_SYMBOL, EvaluatorHandle, EvaluatorPlugin,
    EvaluatorTable, PluginContext,
};
pub use ffi::{
    BackendHandle, FfiBatchNormMode, FfiBatchNormOutput, FfiConv2d, FfiError, FfiPair, FfiProbe, FfiSlice, FfiStr,
    FfiVec, GradientsHandle, Plain, Receive, Status, TensorHandle,
};
pub use list::{OP_COUNT, Op};
pub use ops::{Capabilities, OpTable};
pub use plugin::Plugin;
pub use table::{PluginHeader, PluginTable};
pub use version::{ABI_FINGERPRINT, ABI_VERSION};
