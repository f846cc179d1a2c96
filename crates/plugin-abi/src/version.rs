//! The plugin ABI's version: [`ABI_VERSION`], [`ABI_FINGERPRINT`] (a hash of what crosses the
//! boundary) and this build's [`PluginHeader::CURRENT`], which carries both in every table.

use crate::ffi::{
    ENUM_CODES, FfiBatchNormMode, FfiBatchNormOutput, FfiConv2d, FfiError, FfiPair, FfiProbe, FfiSlice, FfiVec,
};
use crate::list::{LIST, OP_COUNT};
use crate::table::{PluginHeader, PluginTable};

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
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, LIST.as_bytes());
    hash = fnv1a(hash, ENUM_CODES.as_bytes());
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

impl PluginHeader {
    /// This build's header.
    pub const CURRENT: PluginHeader = PluginHeader {
        abi_version: ABI_VERSION,
        op_count: OP_COUNT,
        table_size: std::mem::size_of::<PluginTable>() as u64,
        fingerprint: ABI_FINGERPRINT,
    };
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
