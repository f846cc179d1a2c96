//! Helpers shared by the command-line tests: run the real binary, read its JSON or its error.

// Each test file uses some of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `lossgp ARGS`, with `--data-dir DIR` first if given.
pub fn lossgp(data_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lossgp"));
    // A developer's own plugins stay out of the tests.
    command.env_remove("LOSSGP_PLUGIN_PATH");
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    command.args(args).output().expect("the lossgp binary runs")
}

/// The JSON a successful command prints on stdout.
pub fn json(data_dir: Option<&Path>, args: &[&str]) -> Value {
    let out = lossgp(data_dir, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Whether the UCI digits can be read; if not, the caller's test says it is skipped, and fails
/// where `LOSSGP_REQUIRE_DATA=1` (set by `scripts/setup`) says the data must be there.
pub fn digits_present(test: &str) -> bool {
    let list = json(None, &["data", "list", "--json"]);
    let present = list["datasets"].as_array().unwrap().iter().any(|d| d["name"] == "digits" && d["present"] == true);
    available(
        present,
        &format!("{test}: skipped: the UCI digits are not installed (Debian's python3-sklearn)"),
        "LOSSGP_REQUIRE_DATA",
    )
}

/// `present`, saying `why` the check is skipped where it is not, and failing where the
/// environment variable `require` is `1` (set by the script that installs what it needs).
pub fn available(present: bool, why: &str, require: &str) -> bool {
    if !present {
        eprintln!("{why}");
        assert_ne!(std::env::var(require).as_deref(), Ok("1"), "{why}, and {require}=1 requires it");
    }
    present
}

/// Whether an idle Slurm node answers `sinfo` (`scripts/slurm-local` starts one); required
/// where `LOSSGP_REQUIRE_SLURM=1`.
pub fn slurm_is_up() -> bool {
    let up = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("idle"));
    available(
        up,
        "skipped: no idle Slurm node answers `sinfo` (start one with scripts/slurm-local)",
        "LOSSGP_REQUIRE_SLURM",
    )
}

/// The stderr of a command that must fail.
pub fn failure(data_dir: Option<&Path>, args: &[&str]) -> String {
    let out = lossgp(data_dir, args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout while failing");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

/// A grey 8-bit PNG.
pub fn grey_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("a header");
    writer.write_image_data(pixels).expect("data");
    writer.finish().expect("end");
    out
}

/// A grey 8x8-style PNG of noise around `level`.
pub fn png(side: u32, level: u8, seed: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..side * side)
        .map(|i| {
            level.saturating_add((i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 27) as u8)
        })
        .collect();
    grey_png(side, side, &pixels)
}

/// `root/{train,test}/{dark,bright}/*.png`: two classes any network separates.
pub fn two_class_folder(root: &Path) {
    for (split, count) in [("train", 24), ("test", 8)] {
        for (class, level) in [("dark", 20u8), ("bright", 200u8)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).expect("a class folder");
            for i in 0..count {
                std::fs::write(dir.join(format!("{i}.png")), png(8, level, i)).expect("an image");
            }
        }
    }
}
