//! Helpers for this crate's tests.

use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/relative`, creating parent directories.
pub(crate) fn write(dir: &Path, relative: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(&path, bytes).expect("write a test file");
    path
}
