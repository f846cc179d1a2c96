//! The host's side (feature `host`): plugins loaded from shared libraries with `libloading`,
//! their backends registered by name ([`lossgp_core::backend::register_loaded`]) as a
//! [`PluginBackend`] that forwards every operation through the library's [`PluginTable`].
//!
//! Loading checks, in this order, and refuses with a [`PluginError`] naming the file:
//! the file exists; it is a shared library (`dlopen`, which runs the library's initialisers);
//! it exports `lossgp_plugin_abi_version`; that version is the host's ([`ABI_VERSION`]); it
//! exports `lossgp_plugin`; its table's [`PluginHeader`] (read alone, through the raw pointer)
//! is the host's: the same operations, table size and [fingerprint](crate::ABI_FINGERPRINT);
//! the backend's name is UTF-8 and not taken. A library is loaded once per file and never unloaded,
//! refused or not (unloading Rust libraries is where plugin systems such as Bevy's went wrong:
//! thread-locals, statics and handles that outlive the code).

use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lossgp_core::backend::{
    Availability, BResult, BackendError, BatchNormMode, BatchNormOutput, DynBackend, DynGradients, DynTensor,
    ErasedBackend, LoadedBackend, PluginOrigin, register_loaded,
};
// The plain argument types, named by the list of operations.
#[allow(unused_imports)]
use lossgp_core::backend::{BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp};

use crate::ffi::{
    BackendHandle, FfiBatchNormMode, FfiError, FfiProbe, FfiSlice, GradientsHandle, Plain, Status, TensorHandle,
};
use crate::list::Op;
use crate::ops::Capabilities;
use crate::{ABI_VERSION, PluginHeader, PluginTable};

/// The symbol of the version function, the same in every ABI version.
pub const VERSION_SYMBOL: &str = "lossgp_plugin_abi_version";
/// The symbol of the table function.
pub const ENTRY_SYMBOL: &str = "lossgp_plugin";

/// Why a plugin was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No such file.
    #[error("plugin {}: {source}", file.display())]
    Missing {
        /// The path given.
        file: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a shared library this system can load.
    #[error("plugin {}: not a shared library this system can load ({reason}); give the library a plugin crate builds (crate-type = [\"cdylib\"], e.g. target/debug/liblossgp_plugin_backend.so)", file.display())]
    NotALibrary {
        /// The file.
        file: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// A shared library without one of the plugin ABI's symbols: not a lossgp plugin.
    #[error("plugin {}: the library has no `{symbol}` symbol, so it is not a lossgp plugin; a plugin exports it with lossgp_plugin_abi::export_plugin!", file.display())]
    NoEntrySymbol {
        /// The file.
        file: PathBuf,
        /// The symbol missing.
        symbol: &'static str,
    },
    /// A plugin built for another ABI version.
    #[error("plugin {}: built for plugin ABI version {plugin}, but this lossgp speaks version {host}; rebuild the plugin against lossgp-plugin-abi {host_crate} (ABI {host})", file.display(), host_crate = env!("CARGO_PKG_VERSION"))]
    WrongAbiVersion {
        /// The file.
        file: PathBuf,
        /// The version the plugin was built for.
        plugin: u32,
        /// The host's.
        host: u32,
    },
    /// The table does not match the version it claims.
    #[error("plugin {}: its table {detail}; it is damaged or was not built with lossgp-plugin-abi", file.display())]
    BadTable {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Its backend could not be registered (a name taken).
    #[error("{0}")]
    Register(BackendError),
}

/// A plugin library, loaded for good.
#[derive(Debug)]
pub struct LoadedPlugin {
    /// The library (canonical path).
    pub file: PathBuf,
    /// Its ABI version (the host's).
    pub abi_version: u32,
    /// The backend's name.
    pub name: String,
    /// One line about the backend.
    pub description: String,
    /// The operations it implements.
    pub capabilities: Capabilities,
    table: &'static PluginTable,
}

/// The plugins loaded so far, by file.
static PLUGINS: Mutex<Vec<&'static LoadedPlugin>> = Mutex::new(Vec::new());

/// Every plugin loaded so far, in the order they were loaded.
pub fn loaded() -> Vec<&'static LoadedPlugin> {
    PLUGINS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Loads the plugin in `file` and registers its backend; a file loaded before is not loaded
/// again.
pub fn load(file: &Path) -> Result<&'static LoadedPlugin, PluginError> {
    let file = std::fs::canonicalize(file).map_err(|source| PluginError::Missing { file: file.to_owned(), source })?;
    let mut plugins = PLUGINS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(plugin) = plugins.iter().find(|p| p.file == file) {
        return Ok(plugin);
    }
    let table = open_table(&file)?;
    let text = |s: crate::ffi::FfiStr, what: &str| {
        // SAFETY: the table's strings are `'static` slices of the plugin (PluginTable::of).
        let bytes = unsafe { s.as_slice() };
        String::from_utf8(bytes.to_vec()).map_err(|_| PluginError::BadTable {
            file: file.clone(),
            detail: format!("has a {what} that is not UTF-8"),
        })
    };
    let plugin: &'static LoadedPlugin = Box::leak(Box::new(LoadedPlugin {
        name: text(table.name, "name")?,
        description: text(table.description, "description")?,
        abi_version: table.header.abi_version,
        capabilities: table.capabilities,
        file: file.clone(),
        table,
    }));
    register_loaded(LoadedBackend {
        name: plugin.name.clone(),
        description: plugin.description.clone(),
        origin: PluginOrigin { file, abi_version: plugin.abi_version },
        probe: Box::new(|| plugin.probe()),
        open: Box::new(|| plugin.open().map(DynBackend::new)),
    })
    .map_err(PluginError::Register)?;
    plugins.push(plugin);
    Ok(plugin)
}

/// The files named by a search path such as `LOSSGP_PLUGIN_PATH`'s: entries separated as the
/// system's `PATH` is (`:` on Unix), each a plugin library or a folder whose shared libraries
/// (by the system's suffix, `.so`, `.dylib`, `.dll`) are all plugins, in name order.
pub fn search_path(value: &std::ffi::OsStr) -> Result<Vec<PathBuf>, PluginError> {
    let mut files = Vec::new();
    for entry in std::env::split_paths(value).filter(|p| !p.as_os_str().is_empty()) {
        if entry.is_dir() {
            let listing =
                std::fs::read_dir(&entry).map_err(|source| PluginError::Missing { file: entry.clone(), source })?;
            let mut found: Vec<PathBuf> = listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(entry);
        }
    }
    Ok(files)
}

/// The libraries opened so far, by the path they were opened with.
static LIBRARIES: Mutex<Vec<(PathBuf, &'static libloading::Library)>> = Mutex::new(Vec::new());

/// Opens the shared library `file`, once: a library opened before (for its backend or its
/// evaluator) is the same one. Never unloaded, refused or not (see the module documentation).
pub(crate) fn open_library(file: &Path) -> Result<&'static libloading::Library, PluginError> {
    let file = &std::fs::canonicalize(file).map_err(|source| PluginError::Missing { file: file.to_owned(), source })?;
    let mut libraries = LIBRARIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, library)) = libraries.iter().find(|(f, _)| f == file) {
        return Ok(library);
    }
    // SAFETY: loading a library runs its initialisers (a Rust plugin's static constructors,
    // such as inventory's) before any check: that is what loading a shared library means, and
    // it is accepted because the user named this file as a plugin. Nothing the library exports
    // is called before the version check.
    let library = unsafe { libloading::Library::new(file) }
        .map_err(|e| PluginError::NotALibrary { file: file.to_owned(), reason: loader_error(&e) })?;
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    libraries.push((file.to_owned(), library));
    Ok(library)
}

/// Whether the library `file` exports a backend (its version symbol), without calling it.
pub fn exports_backend(file: &Path) -> Result<bool, PluginError> {
    let library = open_library(file)?;
    // SAFETY: only the symbol's presence is asked; nothing is called.
    Ok(unsafe { library.get::<unsafe extern "C" fn() -> u32>(VERSION_SYMBOL.as_bytes()) }.is_ok())
}

/// Opens the library, checks the handshake and returns its table.
fn open_table(file: &Path) -> Result<&'static PluginTable, PluginError> {
    let library = open_library(file)?;
    let missing = |symbol| PluginError::NoEntrySymbol { file: file.to_owned(), symbol };
    // SAFETY: in every ABI version this symbol is `extern "C" fn() -> u32` (export_plugin!).
    let version = unsafe { library.get::<unsafe extern "C" fn() -> u32>(VERSION_SYMBOL.as_bytes()) }
        .map_err(|_| missing(VERSION_SYMBOL))?;
    // SAFETY: the signature above; the function only returns a constant.
    let plugin = unsafe { version() };
    if plugin != ABI_VERSION {
        return Err(PluginError::WrongAbiVersion { file: file.to_owned(), plugin, host: ABI_VERSION });
    }
    // SAFETY: the versions match, so the symbol is this version's `extern "C" fn() -> &'static
    // PluginTable` (a reference and a pointer share their representation).
    let entry = unsafe { library.get::<unsafe extern "C" fn() -> *const PluginTable>(ENTRY_SYMBOL.as_bytes()) }
        .map_err(|_| missing(ENTRY_SYMBOL))?;
    // SAFETY: as above; the plugin returns a pointer to its `static` table.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(PluginError::BadTable { file: file.to_owned(), detail: "is a null pointer".into() });
    }
    // SAFETY: the versions match, and every table of this version starts with a PluginHeader,
    // which is read alone through the raw pointer (no reference to the whole table yet).
    let header = unsafe { std::ptr::addr_of!((*table).header).read() };
    if header != PluginHeader::CURRENT {
        let current = PluginHeader::CURRENT;
        return Err(PluginError::BadTable {
            file: file.to_owned(),
            detail: format!(
                "says ABI version {} with {} operations in {} bytes and fingerprint {:#x}, where version \
                 {} has {} operations in {} bytes and fingerprint {:#x} (built from a changed lossgp-plugin-abi?)",
                header.abi_version,
                header.op_count,
                header.table_size,
                header.fingerprint,
                current.abi_version,
                current.op_count,
                current.table_size,
                current.fingerprint
            ),
        });
    }
    // SAFETY: the header matches this build's, so the table has this build's layout; it is a
    // static of the library, which is never unloaded.
    let table = unsafe { &*table };
    Ok(table)
}

/// The dynamic loader's error with its causes (libloading keeps `dlerror`'s words in the
/// source): "dlopen failed: /tmp/x.so: invalid ELF header".
fn loader_error(error: &libloading::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// An output and an error for one call into the plugin.
struct Call<T> {
    out: MaybeUninit<T>,
    error: MaybeUninit<FfiError>,
}

impl<T> Call<T> {
    fn new() -> Call<T> {
        Call { out: MaybeUninit::uninit(), error: MaybeUninit::uninit() }
    }

    /// The output, or the error the status announces.
    fn finish(self, status: Status, op: &'static str, plugin: &LoadedPlugin) -> BResult<T> {
        if status == Status::OK {
            // SAFETY: on OK the plugin wrote the output (and not the error).
            Ok(unsafe { self.out.assume_init() })
        } else {
            // SAFETY: on any other status the plugin wrote the error (and not the output).
            let error = unsafe { self.error.assume_init() };
            Err(error.into_backend(status, op, &plugin.file.display().to_string()))
        }
    }
}

impl LoadedPlugin {
    fn probe(&'static self) -> Availability {
        let mut call = Call::<FfiProbe>::new();
        // SAFETY: the table's function with pointers to an output and an error this call owns.
        let status = unsafe { (self.table.probe)(call.out.as_mut_ptr(), call.error.as_mut_ptr()) };
        match call.finish(status, "probe", self) {
            Ok(p) if p.ready == 1 => Availability::Ready(p.detail.to_string_lossy()),
            Ok(p) => Availability::Missing(p.detail.to_string_lossy()),
            Err(e) => Availability::Missing(format!("its probe failed: {e}")),
        }
    }

    fn open(&'static self) -> BResult<PluginBackend> {
        let mut call = Call::<BackendHandle>::new();
        // SAFETY: as in probe.
        let status = unsafe { (self.table.open)(call.out.as_mut_ptr(), call.error.as_mut_ptr()) };
        let handle = call.finish(status, "open", self)?;
        Ok(PluginBackend { plugin: self, handle })
    }

    /// The operations this plugin does not implement.
    pub fn missing(&self) -> Vec<&'static str> {
        self.capabilities.missing().into_iter().map(|op| op.name()).collect()
    }
}

/// A plugin's backend, forwarding every operation through its table.
pub struct PluginBackend {
    plugin: &'static LoadedPlugin,
    handle: BackendHandle,
}

// SAFETY: the handle is a Box of the plugin's backend, a `lossgp_core::backend::Backend`,
// which is Send + Sync by that trait's bounds; the table is immutable.
unsafe impl Send for PluginBackend {}
// SAFETY: as for Send.
unsafe impl Sync for PluginBackend {}

impl Drop for PluginBackend {
    fn drop(&mut self) {
        // SAFETY: the handle `open` gave, released once.
        unsafe { (self.plugin.table.release_backend)(self.handle) }
    }
}

/// A tensor of a plugin, released through its table when the last clone is dropped.
struct PluginTensor {
    plugin: &'static LoadedPlugin,
    handle: TensorHandle,
}

// SAFETY: the handle is a Box of the plugin backend's tensor type, Send + Sync by the Backend
// trait's bounds.
unsafe impl Send for PluginTensor {}
// SAFETY: as for Send.
unsafe impl Sync for PluginTensor {}

impl Drop for PluginTensor {
    fn drop(&mut self) {
        // SAFETY: a handle an operation gave, released once (DynTensor shares it behind an Arc).
        unsafe { (self.plugin.table.release_tensor)(self.handle) }
    }
}

/// Gradients of a plugin.
struct PluginGradients {
    plugin: &'static LoadedPlugin,
    handle: GradientsHandle,
}

// SAFETY: a Box of the plugin backend's gradients, Send by the Backend trait's bounds.
unsafe impl Send for PluginGradients {}

impl Drop for PluginGradients {
    fn drop(&mut self) {
        // SAFETY: the handle backward gave, released once.
        unsafe { (self.plugin.table.release_gradients)(self.handle) }
    }
}

impl PluginBackend {
    /// The plugin's handle on `x`, which must be one of its tensors.
    fn handle(&self, x: &DynTensor, op: &str) -> BResult<TensorHandle> {
        let t = x.get::<PluginTensor>(op)?;
        if std::ptr::eq(t.plugin, self.plugin) { Ok(t.handle) } else { Err(BackendError::ForeignTensor(op.to_owned())) }
    }

    /// A tensor the plugin handed out; a null one breaks the table's contract.
    fn adopt(&self, handle: TensorHandle, op: &str) -> BResult<DynTensor> {
        if handle.is_null() {
            return Err(BackendError::Device(format!(
                "the plugin {} returned no tensor from {op}, breaking the plugin ABI's contract",
                self.plugin.file.display()
            )));
        }
        Ok(DynTensor::new(PluginTensor { plugin: self.plugin, handle }))
    }

    fn unsupported(&self, op: Op) -> BackendError {
        BackendError::Unsupported {
            backend: self.plugin.name.clone(),
            what: format!("{} (not among the capabilities of the plugin {})", op.name(), self.plugin.file.display()),
        }
    }
}

/// An erased argument in its form across the boundary.
macro_rules! lend {
    ($self:ident, $op:ident, $arg:ident: plain[$($ty:tt)*]) => {
        <$($ty)* as Plain>::to_abi(&$arg)
    };
    ($self:ident, $op:ident, $arg:ident: tensor) => {
        $self.handle($arg, stringify!($op))?
    };
    ($self:ident, $op:ident, $arg:ident: owned) => {
        $self.handle(&$arg, stringify!($op))?
    };
    ($self:ident, $op:ident, $arg:ident: optional) => {
        match $arg {
            Some(t) => $self.handle(t, stringify!($op))?,
            None => TensorHandle::NULL,
        }
    };
    ($self:ident, $op:ident, $arg:ident: tensors) => {
        $arg.iter().map(|t| $self.handle(t, stringify!($op))).collect::<BResult<Vec<TensorHandle>>>()?
    };
    ($self:ident, $op:ident, $arg:ident: mode) => {
        match $arg {
            BatchNormMode::Train => FfiBatchNormMode { train: 1, mean: TensorHandle::NULL, variance: TensorHandle::NULL },
            BatchNormMode::Eval { mean, variance } => FfiBatchNormMode {
                train: 0,
                mean: $self.handle(mean, stringify!($op))?,
                variance: $self.handle(variance, stringify!($op))?,
            },
        }
    };
    ($self:ident, $op:ident, $arg:ident: grads) => {
        match $arg.downcast::<PluginGradients>() {
            Some(g) if std::ptr::eq(g.plugin, $self.plugin) => g.handle,
            _ => return Err(BackendError::ForeignTensor(stringify!($op).to_owned())),
        }
    };
}

/// What is passed for a lent argument.
macro_rules! pass {
    ($arg:ident: tensors) => {
        FfiSlice::new(&$arg)
    };
    ($arg:ident: $kind:ident $([$($ty:tt)*])?) => {
        $arg
    };
}

/// The plugin's output as the erased layer's value.
macro_rules! adopt {
    ($self:ident, $op:ident, text, $out:expr) => {
        $out.to_string_lossy()
    };
    ($self:ident, $op:ident, nothing, $out:expr) => {{
        let _ = $out;
    }};
    ($self:ident, $op:ident, tensor, $out:expr) => {
        $self.adopt($out, stringify!($op))?
    };
    ($self:ident, $op:ident, bare_tensor, $out:expr) => {
        $self.adopt($out, stringify!($op))?
    };
    ($self:ident, $op:ident, values, $out:expr) => {
        $out.to_vec()
    };
    ($self:ident, $op:ident, dims, $out:expr) => {
        $out.to_vec()
    };
    ($self:ident, $op:ident, gradients, $out:expr) => {
        DynGradients::new(PluginGradients { plugin: $self.plugin, handle: $out })
    };
    ($self:ident, $op:ident, gradient, $out:expr) => {{
        let handle: TensorHandle = $out;
        if handle.is_null() { None } else { Some($self.adopt(handle, stringify!($op))?) }
    }};
    ($self:ident, $op:ident, normalized, $out:expr) => {{
        let out = $out;
        // Each handle is adopted (and so released) even if another breaks the contract.
        let (output, mean, variance) = (
            $self.adopt(out.output, stringify!($op)),
            (!out.mean.is_null()).then(|| $self.adopt(out.mean, stringify!($op))),
            (!out.variance.is_null()).then(|| $self.adopt(out.variance, stringify!($op))),
        );
        let statistics = match (mean, variance) {
            (Some(m), Some(v)) => Some((m?, v?)),
            (None, None) => None,
            _ => {
                return Err(BackendError::Device(format!(
                    "the plugin {} returned one batch statistic without the other",
                    $self.plugin.file.display()
                )));
            }
        };
        BatchNormOutput { output: output?, statistics }
    }};
}

/// The erased result: the two kinds that cannot fail there are settled here (a name that
/// could not be read is the plugin's registered name; a failed seed is reported on stderr).
macro_rules! settle {
    ($self:ident, text, $result:expr) => {
        $result.unwrap_or_else(|e| format!("{} (its name failed: {e})", $self.plugin.name))
    };
    ($self:ident, nothing, $result:expr) => {
        if let Err(e) = $result {
            eprintln!("warning: the plugin {}: {e}", $self.plugin.file.display());
        }
    };
    ($self:ident, $other:ident, $result:expr) => {
        $result
    };
}

/// Implements the erased trait for [`PluginBackend`] from the list of operations.
macro_rules! define_host {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        impl ErasedBackend for PluginBackend {
            $(
                #[allow(unused_variables)]
                fn $op(&self, $($arg: lossgp_core::__backend_arg!(DynTensor, DynGradients; $kind $([$($ty)*])?)),*)
                    -> lossgp_core::__erased_result!($ret) {
                    let attempt = || -> BResult<_> {
                        if !self.plugin.capabilities.contains(Op::$op) {
                            return Err(self.unsupported(Op::$op));
                        }
                        $(let $arg = lend!(self, $op, $arg: $kind $([$($ty)*])?);)*
                        let mut call = Call::<$crate::__abi_out!($ret)>::new();
                        // SAFETY: the table's function for this operation, with the handle `open`
                        // gave, arguments in the forms the table declares (borrowed for this
                        // call only), and pointers to an output and an error this call owns.
                        let status = unsafe {
                            (self.plugin.table.ops.$op)(
                                self.handle,
                                $(pass!($arg: $kind $([$($ty)*])?),)*
                                call.out.as_mut_ptr(),
                                call.error.as_mut_ptr(),
                            )
                        };
                        let out = call.finish(status, stringify!($op), self.plugin)?;
                        Ok(adopt!(self, $op, $ret, out))
                    };
                    settle!(self, $ret, attempt())
                }
            )*
        }
    };
}

lossgp_core::backend_operations!(define_host);
