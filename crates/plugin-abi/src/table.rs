//! The `#[repr(C)]` table a plugin library exports: [`PluginTable`], led by its
//! [`PluginHeader`]. The types alone: what fills them is the plugin side's (`plugin`), the
//! header of this build is the version's (`version`), and the host reads them (`host`).

use crate::ffi::{BackendHandle, FfiError, FfiProbe, FfiStr, GradientsHandle, Status, TensorHandle};
use crate::ops::{Capabilities, OpTable};

/// What the host reads first of a [`PluginTable`], through a raw pointer, before it trusts
/// the rest of the table's layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginHeader {
    /// The ABI version it was built for ([`ABI_VERSION`](crate::ABI_VERSION)).
    pub abi_version: u32,
    /// The number of operations in the table.
    pub op_count: u32,
    /// The table's size in bytes.
    pub table_size: u64,
    /// [`ABI_FINGERPRINT`](crate::ABI_FINGERPRINT): a hash of the list of operations, the
    /// enum codes and the sizes of the types that cross, so that a table that changed without a
    /// new version number is refused rather than called.
    pub fingerprint: u64,
}

/// What a plugin library exports (`lossgp_plugin()` returns it): its backend's name and
/// description, its capabilities, and its functions. `'static` and immutable.
#[repr(C)]
pub struct PluginTable {
    /// What the table is: checked before anything else in it is read.
    pub header: PluginHeader,
    /// The backend's name (UTF-8).
    pub name: FfiStr,
    /// One line about it (UTF-8).
    pub description: FfiStr,
    /// The operations it implements.
    pub capabilities: Capabilities,
    /// Whether it can run here.
    pub probe: unsafe extern "C" fn(*mut FfiProbe, *mut FfiError) -> Status,
    /// Opens the backend: the handle goes to the output.
    pub open: unsafe extern "C" fn(*mut BackendHandle, *mut FfiError) -> Status,
    /// Releases a backend `open` gave.
    pub release_backend: unsafe extern "C" fn(BackendHandle),
    /// Releases a tensor an operation gave.
    pub release_tensor: unsafe extern "C" fn(TensorHandle),
    /// Releases gradients `backward` gave.
    pub release_gradients: unsafe extern "C" fn(GradientsHandle),
    /// The operations.
    pub ops: OpTable,
}

// SAFETY: a table holds `'static` strings and function pointers, and nothing in it is ever
// written after it is built (it lives in a `static` of the plugin).
unsafe impl Sync for PluginTable {}

impl std::fmt::Debug for PluginTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginTable").field("header", &self.header).finish_non_exhaustive()
    }
}
