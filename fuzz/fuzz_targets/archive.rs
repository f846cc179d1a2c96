//! Archives from a download (`lossgp data fetch`): any bytes as a zip, tar or tar.gz unpack or
//! are refused, never panic, and never write outside their folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_datasets::fetch::unpack;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    let name = ["a.zip", "a.tar", "a.tar.gz"][usize::from(kind) % 3];
    let dir = tempfile::tempdir().expect("a temporary directory");
    let archive = dir.path().join(name);
    std::fs::write(&archive, bytes).expect("write");
    let into = dir.path().join("inside").join("out");
    let _ = unpack(&archive, &into, false);
    // Nothing may appear beside the target folder but the archive itself.
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let name = entry.expect("entry").file_name();
        assert!(name == "inside" || name == std::ffi::OsStr::new(archive.file_name().unwrap()), "{name:?} escaped");
    }
    for entry in std::fs::read_dir(dir.path().join("inside")).into_iter().flatten() {
        assert_eq!(entry.expect("entry").file_name(), "out", "an entry escaped into inside/");
    }
});
