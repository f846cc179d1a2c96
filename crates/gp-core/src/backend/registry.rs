//! Backends by name. Each backend crate registers its backends with [`inventory`]; a
//! third-party crate linked into the program registers the same way:
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
//!
//! A plugin loaded from a shared library at run time (`lossgp-plugin-abi`'s host) registers
//! with [`register_loaded`] instead: its functions hold the library's function table, which a
//! `fn` pointer cannot. Both kinds are listed and opened alike ([`backends`], [`open_backend`]).

use std::path::PathBuf;
use std::sync::RwLock;

use super::{BResult, BackendError, DynBackend};

/// Whether a backend can run on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// It can; the device it will use.
    Ready(String),
    /// It cannot; what is missing and how to get it.
    Missing(String),
}

/// A backend linked into the program, registered by name with [`inventory`].
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

/// Where a backend loaded at run time came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginOrigin {
    /// The shared library, as loaded (canonical path).
    pub file: PathBuf,
    /// The plugin ABI version it was built for (the host's: a plugin of another is refused).
    pub abi_version: u32,
}

/// A backend registered at run time by a plugin loaded from a shared library.
pub struct LoadedBackend {
    /// The name `--backend` takes.
    pub name: String,
    /// One line about it.
    pub description: String,
    /// The library it came from.
    pub origin: PluginOrigin,
    /// Checks, without side effects, whether it can run here.
    pub probe: Box<dyn Fn() -> Availability + Send + Sync>,
    /// Opens it on its default device.
    pub open: Box<dyn Fn() -> BResult<DynBackend> + Send + Sync>,
}

/// Backends loaded at run time. Plugins are never unloaded, so their entries live as long as
/// the program.
static LOADED: RwLock<Vec<&'static LoadedBackend>> = RwLock::new(Vec::new());

/// Registers a backend loaded at run time. A name already taken (by a linked backend or an
/// earlier plugin) is refused: `--backend NAME` must mean one backend.
pub fn register_loaded(backend: LoadedBackend) -> BResult<()> {
    let mut loaded = LOADED.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(taken) = backends_in(&loaded).into_iter().find(|b| b.name() == backend.name) {
        let by = match taken.plugin() {
            Some(origin) => format!("the plugin {}", origin.file.display()),
            None => "a backend linked into this program".to_owned(),
        };
        return Err(BackendError::Device(format!(
            "the plugin {} registers a backend `{}`, a name {by} has already taken; rename one of them",
            backend.origin.file.display(),
            backend.name
        )));
    }
    loaded.push(Box::leak(Box::new(backend)));
    Ok(())
}

/// A registered backend: linked in, or loaded from a plugin.
#[derive(Clone, Copy)]
pub enum Registered {
    /// Linked into the program ([`inventory`]).
    Linked(&'static BackendEntry),
    /// Loaded at run time from a plugin ([`register_loaded`]).
    Loaded(&'static LoadedBackend),
}

impl Registered {
    /// The name `--backend` takes.
    pub fn name(&self) -> &'static str {
        match self {
            Registered::Linked(e) => e.name,
            Registered::Loaded(e) => &e.name,
        }
    }

    /// One line about it.
    pub fn description(&self) -> &'static str {
        match self {
            Registered::Linked(e) => e.description,
            Registered::Loaded(e) => &e.description,
        }
    }

    /// Checks, without side effects, whether it can run here.
    pub fn probe(&self) -> Availability {
        match self {
            Registered::Linked(e) => (e.probe)(),
            Registered::Loaded(e) => (e.probe)(),
        }
    }

    /// Opens it on its default device.
    pub fn open(&self) -> BResult<DynBackend> {
        match self {
            Registered::Linked(e) => (e.open)(),
            Registered::Loaded(e) => (e.open)(),
        }
    }

    /// The plugin it came from, if it was loaded at run time.
    pub fn plugin(&self) -> Option<&'static PluginOrigin> {
        match self {
            Registered::Linked(_) => None,
            Registered::Loaded(e) => Some(&e.origin),
        }
    }
}

fn backends_in(loaded: &[&'static LoadedBackend]) -> Vec<Registered> {
    let mut all: Vec<Registered> = inventory::iter::<BackendEntry>.into_iter().map(Registered::Linked).collect();
    all.extend(loaded.iter().copied().map(Registered::Loaded));
    all.sort_by_key(|e| e.name());
    all
}

/// Every registered backend, linked or loaded, sorted by name.
pub fn backends() -> Vec<Registered> {
    backends_in(&LOADED.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Opens a registered backend by name, after checking that it can run here.
pub fn open_backend(name: &str) -> BResult<DynBackend> {
    let all = backends();
    let Some(entry) = all.iter().find(|e| e.name() == name) else {
        let names: Vec<&str> = all.iter().map(|e| e.name()).collect();
        let known = if names.is_empty() {
            "none: build with a backend's Cargo feature (flex is the default) or load a plugin (--plugin)".to_owned()
        } else {
            format!("{} (more come with Cargo features and plugins; see `lossgp list backends`)", names.join(", "))
        };
        return Err(BackendError::Unknown { kind: "backend", name: name.to_owned(), known });
    };
    match entry.probe() {
        Availability::Ready(_) => entry.open(),
        Availability::Missing(why) => Err(BackendError::Device(format!("backend `{name}` cannot run here: {why}"))),
    }
}
