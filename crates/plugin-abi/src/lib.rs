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
//! the `host` feature ([`host::load`]). lossgp's `unsafe` code lives in this crate (and in the
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
pub use plugin::{Plugin, PluginHeader, PluginTable};

/// The plugin ABI version: a host loads only plugins built for its own.
pub const ABI_VERSION: u32 = 1;

/// A hash (64-bit FNV-1a) of what crosses the boundary: the list of operations with their
/// argument and result kinds, the enum codes, and the sizes of the `#[repr(C)]` types.
pub const ABI_FINGERPRINT: u64 = {
    let sizes = [
        std::mem::size_of::<PluginTable>(),
        std::mem::size_of::<PluginHeader>(),
        std::mem::size_of::<FfiConv2d>(),
        std::mem::size_of::<FfiPair>(),
        std::mem::size_of::<FfiBatchNormMode>(),
        std::mem::size_of::<FfiBatchNormOutput>(),
        std::mem::size_of::<FfiProbe>(),
        std::mem::size_of::<FfiError>(),
        std::mem::size_of::<FfiVec<u8>>(),
        std::mem::size_of::<FfiSlice<u8>>(),
    ];
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, ops::LIST.as_bytes());
    hash = fnv1a(hash, ffi::ENUM_CODES.as_bytes());
    let mut i = 0;
    while i < sizes.len() {
        hash = fnv1a(hash, &(sizes[i] as u64).to_le_bytes());
        i += 1;
    }
    hash
};

/// 64-bit FNV-1a over `bytes`, from `hash`.
const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    /// Changing the list of operations, an enum code or a type that crosses changes the
    /// fingerprint. Raise `ABI_VERSION` then, and pin the new pair here: a plugin built before
    /// the change must be refused by its version, not only by its fingerprint. (The sizes in
    /// the hash are those of a 64-bit target, where the pinned value holds.)
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn each_abi_version_has_one_fingerprint() {
        assert_eq!(
            (super::ABI_VERSION, format!("{:#018x}", super::ABI_FINGERPRINT)),
            (1, "0xa456066260c06a85".to_owned()),
            "the plugin ABI changed: raise ABI_VERSION and pin the new fingerprint"
        );
    }
}
