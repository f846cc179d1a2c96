//! Implementations of `lossgp-core`'s tensor [`Backend`](lossgp_core::backend::Backend) on
//! deep-learning frameworks, each behind a Cargo feature and registered by name:
//!
//! | name          | feature       | framework and device                                    |
//! |---------------|---------------|---------------------------------------------------------|
//! | `flex`        | `flex`        | burn's pure-Rust CPU backend (the default)              |
//! | `ndarray`     | `ndarray`     | burn's ndarray CPU backend (for comparison)             |
//! | `candle`      | `candle`      | candle's CPU device, on `candle-core` directly          |
//! | `candle-cuda` | `candle-cuda` | candle on CUDA GPU 0                                    |
//! | `tch`         | `tch`         | burn's libtorch backend: CUDA GPU 0, else libtorch's CPU |
//! | `tch-cuda`    | `tch`         | burn's libtorch backend on CUDA GPU 0 only              |
//! | `tch-cpu`     | `tch`         | burn's libtorch backend on libtorch's CPU               |
//! | `wgpu`        | `wgpu`        | burn's wgpu backend: Vulkan, Metal or DX12              |
//!
//! A program picks one by name with [`lossgp_core::backend::open_backend`]; `lossgp list
//! backends` shows those compiled in and whether each can run on the machine. burn users who
//! only want lossgp's losses use [`burn::BurnLoss`].

#[cfg(any(feature = "flex", feature = "ndarray", feature = "tch", feature = "wgpu"))]
pub mod burn;
#[cfg(feature = "candle")]
pub mod candle;

#[cfg(any(feature = "flex", feature = "ndarray", feature = "candle", feature = "tch", feature = "wgpu"))]
use lossgp_core::backend::{Availability, BackendEntry, DynBackend, inventory};

/// Makes sure a program that names no item of this crate still links its registrations:
/// `inventory` entries live in the object code of the crate, which the linker drops if
/// nothing refers to it. The `lossgp` facade and the command line call this once.
#[inline(never)]
pub fn link() {}

#[cfg(feature = "flex")]
inventory::submit! {
    BackendEntry {
        name: "flex",
        description: "burn's pure-Rust CPU backend (multi-threaded, SIMD)",
        probe: || Availability::Ready(format!("cpu ({} cores)", cpu_cores())),
        open: || Ok(DynBackend::new(burn::BurnBackend::flex())),
    }
}

#[cfg(feature = "ndarray")]
inventory::submit! {
    BackendEntry {
        name: "ndarray",
        description: "burn's ndarray CPU backend",
        probe: || Availability::Ready(format!("cpu ({} cores)", cpu_cores())),
        open: || Ok(DynBackend::new(burn::BurnBackend::ndarray())),
    }
}

#[cfg(feature = "candle")]
inventory::submit! {
    BackendEntry {
        name: "candle",
        description: "candle's CPU backend (candle-core)",
        probe: || Availability::Ready(format!("cpu ({} cores)", cpu_cores())),
        open: || Ok(DynBackend::new(candle::CandleBackend::cpu())),
    }
}

#[cfg(feature = "candle-cuda")]
inventory::submit! {
    BackendEntry {
        name: "candle-cuda",
        description: "candle on the first CUDA GPU",
        probe: || match candle::CandleBackend::cuda(0) {
            Ok(_) => Availability::Ready("cuda:0".into()),
            Err(e) => Availability::Missing(e.to_string()),
        },
        open: || Ok(DynBackend::new(candle::CandleBackend::cuda(0)?)),
    }
}

#[cfg(feature = "tch")]
inventory::submit! {
    BackendEntry {
        name: "tch",
        description: "burn's libtorch backend: CUDA GPU 0 where libtorch sees one, else libtorch's CPU",
        probe: || match burn::libtorch_cuda_devices() {
            0 => Availability::Ready(format!("cpu ({} cores; libtorch sees no CUDA GPU)", cpu_cores())),
            n => Availability::Ready(format!("cuda:0 (libtorch sees {n} CUDA GPUs)")),
        },
        open: || Ok(DynBackend::new(burn::BurnBackend::tch())),
    }
}

#[cfg(feature = "tch")]
inventory::submit! {
    BackendEntry {
        name: "tch-cuda",
        description: "burn's libtorch backend on CUDA GPU 0, and nowhere else",
        probe: || match burn::BurnBackend::tch_cuda(0) {
            Ok(_) => Availability::Ready("cuda:0".into()),
            Err(e) => Availability::Missing(e.to_string()),
        },
        open: || Ok(DynBackend::new(burn::BurnBackend::tch_cuda(0)?)),
    }
}

#[cfg(feature = "tch")]
inventory::submit! {
    BackendEntry {
        name: "tch-cpu",
        description: "burn's libtorch backend on libtorch's CPU",
        probe: || Availability::Ready(format!("cpu ({} cores)", cpu_cores())),
        open: || Ok(DynBackend::new(burn::BurnBackend::tch_cpu())),
    }
}

#[cfg(feature = "wgpu")]
inventory::submit! {
    BackendEntry {
        name: "wgpu",
        description: "burn's wgpu backend on the preferred GPU adapter (Vulkan, Metal or DX12)",
        probe: || match burn::BurnBackend::wgpu() {
            Ok(b) => Availability::Ready(lossgp_core::backend::Backend::name(&b).trim_start_matches("burn-wgpu ").to_string()),
            Err(e) => Availability::Missing(e.to_string()),
        },
        open: || Ok(DynBackend::new(burn::BurnBackend::wgpu()?)),
    }
}

/// The cores a CPU backend can use.
#[cfg(any(feature = "flex", feature = "ndarray", feature = "candle", feature = "tch"))]
fn cpu_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    #[test]
    fn the_default_backend_is_registered_and_opens() {
        let names: Vec<&str> = lossgp_core::backend::backends().iter().map(|e| e.name()).collect();
        assert!(names.contains(&"flex"), "{names:?}");
        let b = lossgp_core::backend::open_backend("flex").unwrap();
        assert_eq!(lossgp_core::backend::Backend::name(&b), "burn-flex cpu");
        let err = lossgp_core::backend::open_backend("flux").unwrap_err().to_string();
        assert!(err.contains("flex"), "{err}");
    }

    #[derive(Clone, Default)]
    struct Calls(std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl lossgp_core::backend::Observer for Calls {
        fn observe<R>(&self, op: &'static str, call: impl FnOnce() -> R) -> R {
            self.0.lock().unwrap().push(op);
            call()
        }
    }

    #[test]
    fn an_observed_backend_passes_every_operation_through_its_observer() {
        use lossgp_core::backend::{Backend, DynBackend, Observed, UnaryOp};
        let calls = Calls::default();
        let b = DynBackend::new(Observed::new(crate::burn::BurnBackend::flex(), calls.clone()));
        let x = b.tensor(&[1.0, -2.0], &[2]).unwrap();
        let y = b.unary(UnaryOp::Abs, &x).unwrap();
        assert_eq!(b.to_vec(&y).unwrap(), [1.0, 2.0]);
        assert_eq!(*calls.0.lock().unwrap(), ["tensor", "unary", "to_vec"]);
        // What the erased layer cannot say through `Backend` reaches the next operation.
        let foreign = lossgp_core::backend::DynTensor::new(0_u8);
        let detached = b.detach(&foreign);
        let err = b.to_vec(&detached).unwrap_err().to_string();
        assert!(err.contains("to_vec: given the result of a failed operation") && err.contains("detach"), "{err}");
    }
}
