//! Backends by name. Each backend crate registers its backends with [`inventory`]; a
//! third-party crate linked into the program registers the same way.
//!
//! ```ignore
//! lossgp_core::backend::inventory::submit! {
//!     lossgp_core::backend::BackendEntry {
//!         name: "my-backend",
//!         description: "My framework on the CPU",
//!         probe: || Availability::Ready("cpu".into()),
//!         open: || Ok(DynBackend::new(MyBackend::new()?)),
//!     }
//! }
//! ```

use super::{BResult, BackendError, DynBackend};

/// Whether a backend can run on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// It can; the device it will use.
    Ready(String),
    /// It cannot; what is missing and how to get it.
    Missing(String),
}

/// A backend registered by name.
pub struct BackendEntry {
    /// The name `--backend` takes.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Checks, without side effects, whether it can run here.
    pub probe: fn() -> Availability,
    /// Opens it on its default device.
    pub open: fn() -> BResult<DynBackend>,
}

inventory::collect!(BackendEntry);

/// Every registered backend, sorted by name.
pub fn backends() -> Vec<&'static BackendEntry> {
    let mut all: Vec<&'static BackendEntry> = inventory::iter::<BackendEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    all
}

/// Opens a registered backend by name, after checking that it can run here.
pub fn open_backend(name: &str) -> BResult<DynBackend> {
    let all = backends();
    let Some(entry) = all.iter().find(|e| e.name == name) else {
        let names: Vec<&str> = all.iter().map(|e| e.name).collect();
        let known = if names.is_empty() {
            "none: build with a backend's Cargo feature (flex is the default)".to_owned()
        } else {
            format!("{} (more come with Cargo features; see `lossgp list backends`)", names.join(", "))
        };
        return Err(BackendError::Unknown { kind: "backend", name: name.to_owned(), known });
    };
    match (entry.probe)() {
        Availability::Ready(_) => (entry.open)(),
        Availability::Missing(why) => Err(BackendError::Device(format!("backend `{name}` cannot run here: {why}"))),
    }
}
