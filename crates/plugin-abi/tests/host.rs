//! The host side against real plugin libraries (dev-dependencies, which Cargo builds before the
//! tests): `examples/plugin-backend` (burn-flex in a cdylib) passes the
//! whole conformance suite through the ABI, and `lossgp-plugin-fixture`, which misbehaves on
//! purpose, is refused or contained as the ABI promises. The version refusal is tested through
//! the command line (`crates/cli/tests/plugins.rs`), which can set the fixture's environment.

use std::path::PathBuf;

use lossgp_core::backend::{Backend, UnaryOp, conformance, open_backend};
use lossgp_plugin_abi::host::{self, PluginError};

/// A plugin library of the workspace: a dev-dependency, so Cargo built it into `deps/`, where
/// this test runs from (or `cargo build` put it in the folder above).
fn library(package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let deps = exe.parent().expect("target/PROFILE/deps");
    let name = format!("{}{}{}", std::env::consts::DLL_PREFIX, package.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    let candidates = [deps.join(&name), deps.parent().expect("target/PROFILE").join(&name)];
    let found = candidates.iter().find(|p| p.is_file()).cloned();
    found.unwrap_or_else(|| panic!("{name} is in neither of {candidates:?}: `cargo test` builds the plugin {package}"))
}

#[test]
fn the_flex_plugin_passes_the_whole_conformance_suite_through_the_abi() {
    let plugin = host::load(&library("lossgp-plugin-backend")).unwrap();
    assert_eq!(plugin.name, "plugin-flex");
    assert_eq!(plugin.abi_version, lossgp_plugin_abi::ABI_VERSION);
    assert!(plugin.missing().is_empty(), "{:?}", plugin.missing());
    // Loading again is a no-op, not a second registration.
    assert!(std::ptr::eq(host::load(&library("lossgp-plugin-backend")).unwrap(), plugin));
    let backend = open_backend("plugin-flex").unwrap();
    assert_eq!(backend.name(), "burn-flex cpu");
    conformance::assert_conformant(&backend, &[]);
}

#[test]
fn a_plugin_that_panics_or_fails_gives_errors_and_the_host_lives_on() {
    host::load(&library("lossgp-plugin-fixture")).unwrap();
    let b = open_backend("faulty").unwrap();
    let x = b.tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();

    let panic = b.matmul(&x, &x).unwrap_err().to_string();
    assert!(panic.contains("panicked in matmul") && panic.contains("on purpose"), "{panic}");
    let error = b.softmax(&x, 1).unwrap_err().to_string();
    assert_eq!(error, "the faulty fixture fails softmax on purpose");
    let unsupported = b.reduce(lossgp_core::backend::ReduceOp::Sum, &x, 0).unwrap_err().to_string();
    assert!(unsupported.contains("reduce (not among the capabilities of the plugin"), "{unsupported}");

    // After all that, the plugin still computes, and the same backend again after a panic.
    let y = b.unary(UnaryOp::Neg, &x).unwrap();
    assert_eq!(b.to_vec(&y).unwrap(), [-1.0, -2.0, -3.0, -4.0]);
    assert_eq!(b.shape(&y), [2, 2]);
    assert!(b.matmul(&y, &y).is_err());
    assert_eq!(b.to_vec(&b.binary(lossgp_core::backend::BinaryOp::Add, &x, &y).unwrap()).unwrap(), [0.0; 4]);

    // A shape error keeps its variant and operation across the boundary.
    let shape = b.tensor(&[1.0], &[2]).unwrap_err();
    assert!(matches!(shape, lossgp_core::backend::BackendError::Shape { op: "tensor", .. }), "{shape:?}");

    // A tensor of another plugin is refused by name, not handed to the wrong library.
    host::load(&library("lossgp-plugin-backend")).unwrap();
    let flex = open_backend("plugin-flex").unwrap();
    let theirs = flex.tensor(&[1.0], &[1]).unwrap();
    let foreign = b.unary(UnaryOp::Neg, &theirs).unwrap_err().to_string();
    assert_eq!(foreign, "a tensor of another backend was passed to unary");
}

#[test]
fn files_that_are_not_plugins_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("nowhere.so");
    let err = host::load(&missing).unwrap_err();
    assert!(matches!(err, PluginError::Missing { .. }), "{err}");

    let text = dir.path().join("libnotes.so");
    std::fs::write(&text, "not a library\n").unwrap();
    let err = host::load(&text).unwrap_err();
    assert!(matches!(err, PluginError::NotALibrary { .. }), "{err}");
    assert!(err.to_string().contains("not a shared library"), "{err}");

    // A real shared library that is not a plugin: the C library this test runs on.
    let libc = shared_library_in_this_process("libc.so").expect("a Rust program on Linux maps the C library");
    let err = host::load(&libc).unwrap_err();
    assert!(matches!(err, PluginError::NoEntrySymbol { symbol: "lossgp_plugin_abi_version", .. }), "{err}");
    assert!(err.to_string().contains("is not a lossgp plugin"), "{err}");
}

/// A shared library mapped into this process whose file name starts with `prefix`.
fn shared_library_in_this_process(prefix: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(PathBuf::from)
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
}
