//! A lossgp backend plugin in a shared library: burn-flex (lossgp's default backend, built into
//! this library with its own copy of burn) exposed through lossgp's plugin C ABI under the name
//! `plugin-flex`. See the README for building, loading and writing one.

use lossgp_backends::burn::BurnBackend;
use lossgp_core::backend::{Availability, BResult};
use lossgp_plugin_abi::{Plugin, export_plugin};

/// burn-flex, as a plugin.
pub struct FlexPlugin;

impl Plugin for FlexPlugin {
    type Backend = BurnBackend;
    const NAME: &'static str = "plugin-flex";
    const DESCRIPTION: &'static str = "burn's pure-Rust CPU backend, loaded from a plugin library";

    fn probe() -> Availability {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Availability::Ready(format!("cpu ({cores} cores)"))
    }

    fn open() -> BResult<BurnBackend> {
        Ok(BurnBackend::flex())
    }
}

export_plugin!(FlexPlugin);
