//! lossgp's plugin ABI: a backend of the core
//! [`Backend`](lossgp_core::backend::Backend) trait in a shared library, loaded at run time.
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
//! the `host` feature ([`host::load`]). `unsafe` code in lossgp lives here and in nowhere
//! else but the loader: each use says why it holds in a `// SAFETY:` comment.
//!
//! Versions: [`ABI_VERSION`] is raised whenever the table changes (an operation added,
//! removed or changed in the list, an enum code, a `#[repr(C)]` type).
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod ffi;
#[cfg(feature = "host")]
pub mod host;
mod ops;
mod plugin;

pub use ffi::{
    BackendHandle, FfiBatchNormMode, FfiBatchNormOutput, FfiConv2d, FfiError, FfiPair, FfiProbe, FfiSlice, FfiStr,
    FfiVec, GradientsHandle, Plain, Receive, Status, TensorHandle,
};
pub use ops::{Capabilities, OP_COUNT, Op, OpTable};
pub use plugin::{Plugin, PluginTable};

/// The plugin ABI version: a host loads only plugins built for its own.
pub const ABI_VERSION: u32 = 1;
