//! The host's side of evaluator plugins (feature `host`): a library's [`EvaluatorTable`]
//! loaded with the same checks as a backend's (the file, the library, the version handshake,
//! the table's version and size, the name), and a running evaluator of it as a
//! [`PluginEvaluator`], which implements the core's [`Evaluator`]. A library is loaded once
//! per file and never unloaded.

use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lossgp_core::evaluation::{EvalError, Evaluator, Job, Scored};

use crate::evaluator::{
    EVALUATOR_ABI_VERSION, EVALUATOR_ENTRY_SYMBOL, EVALUATOR_VERSION_SYMBOL, EvaluatorHandle, EvaluatorTable,
    PluginContext,
};
use crate::ffi::{FfiSlice, FfiVec};
use crate::host::{PluginError, open_library};

/// An evaluator library, loaded.
pub struct LoadedEvaluator {
    /// The file it was loaded from (canonical).
    pub file: PathBuf,
    /// The evaluator's name.
    pub name: String,
    /// Its one-line summary.
    pub summary: String,
    table: &'static EvaluatorTable,
}

impl std::fmt::Debug for LoadedEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedEvaluator").field("file", &self.file).field("name", &self.name).finish_non_exhaustive()
    }
}

static LOADED: Mutex<Vec<&'static LoadedEvaluator>> = Mutex::new(Vec::new());

/// Whether `file` exports an evaluator (without loading it twice: the library is opened once
/// and kept, as every plugin library is).
pub fn exports_evaluator(file: &Path) -> Result<bool, PluginError> {
    let library = open_library(file)?;
    // SAFETY: only the symbol's presence is asked; nothing is called.
    Ok(unsafe { library.get::<unsafe extern "C" fn() -> u32>(EVALUATOR_VERSION_SYMBOL.as_bytes()) }.is_ok())
}

/// Loads the evaluator of `file` (once: a file loaded before gives the same evaluator).
pub fn load_evaluator(file: &Path) -> Result<&'static LoadedEvaluator, PluginError> {
    let canonical =
        std::fs::canonicalize(file).map_err(|source| PluginError::Missing { file: file.to_owned(), source })?;
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = loaded.iter().find(|l| l.file == canonical) {
        return Ok(done);
    }
    let library = open_library(&canonical)?;
    let missing = |symbol| PluginError::NoEntrySymbol { file: canonical.clone(), symbol };
    // SAFETY: in every evaluator ABI version this symbol is `extern "C" fn() -> u32`.
    let version = unsafe { library.get::<unsafe extern "C" fn() -> u32>(EVALUATOR_VERSION_SYMBOL.as_bytes()) }
        .map_err(|_| missing(EVALUATOR_VERSION_SYMBOL))?;
    // SAFETY: the signature above; the function returns a constant.
    let plugin = unsafe { version() };
    if plugin != EVALUATOR_ABI_VERSION {
        return Err(PluginError::WrongAbiVersion { file: canonical, plugin, host: EVALUATOR_ABI_VERSION });
    }
    // SAFETY: the versions match, so the symbol is `extern "C" fn() -> &'static EvaluatorTable`.
    let entry =
        unsafe { library.get::<unsafe extern "C" fn() -> *const EvaluatorTable>(EVALUATOR_ENTRY_SYMBOL.as_bytes()) }
            .map_err(|_| missing(EVALUATOR_ENTRY_SYMBOL))?;
    // SAFETY: as above; the plugin returns a pointer to its static table.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(PluginError::BadTable { file: canonical, detail: "is a null pointer".into() });
    }
    // SAFETY: every table of this version starts with these two fields, read alone.
    let (abi_version, table_size) =
        unsafe { (std::ptr::addr_of!((*table).abi_version).read(), std::ptr::addr_of!((*table).table_size).read()) };
    if abi_version != EVALUATOR_ABI_VERSION || table_size != std::mem::size_of::<EvaluatorTable>() {
        return Err(PluginError::BadTable {
            file: canonical,
            detail: format!(
                "says evaluator ABI version {abi_version} in {table_size} bytes, where this lossgp's is version \
                 {EVALUATOR_ABI_VERSION} in {} bytes",
                std::mem::size_of::<EvaluatorTable>()
            ),
        });
    }
    // SAFETY: the header matches this build's, so the table has this build's layout; it is a
    // static of the library, which is never unloaded.
    let table: &'static EvaluatorTable = unsafe { &*table };
    let text = |s: FfiSlice<u8>, what: &str| {
        // SAFETY: the plugin's name and summary are 'static strings of the library.
        let bytes = unsafe { s.as_slice() };
        String::from_utf8(bytes.to_vec()).map_err(|_| PluginError::BadTable {
            file: canonical.clone(),
            detail: format!("has a {what} that is not UTF-8"),
        })
    };
    let (name, summary) = (text(table.name, "name")?, text(table.summary, "summary")?);
    if let Some(other) = loaded.iter().find(|l| l.name == name) {
        return Err(PluginError::BadTable {
            file: canonical,
            detail: format!("names its evaluator `{name}`, which {} registered first", other.file.display()),
        });
    }
    let done: &'static LoadedEvaluator = Box::leak(Box::new(LoadedEvaluator { file: canonical, name, summary, table }));
    loaded.push(done);
    Ok(done)
}

/// Every evaluator library loaded so far.
pub fn loaded_evaluators() -> Vec<&'static LoadedEvaluator> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl LoadedEvaluator {
    /// Starts an evaluator of this library for a run.
    pub fn start(&'static self, context: &PluginContext) -> Result<PluginEvaluator, String> {
        let json = serde_json::to_vec(context).map_err(|e| e.to_string())?;
        let mut error = MaybeUninit::<FfiVec<u8>>::uninit();
        // SAFETY: the table's function of this version; the slice lives for the call, and the
        // plugin writes `error` only when it returns null.
        let handle = unsafe { (self.table.create)(FfiSlice::new(&json), error.as_mut_ptr()) };
        if handle.0.is_null() {
            // SAFETY: a null handle comes with the error written.
            let error = unsafe { error.assume_init() };
            return Err(format!("{} ({}): {}", self.name, self.file.display(), error.to_string_lossy()));
        }
        Ok(PluginEvaluator { plugin: self, handle, broken: None })
    }
}

/// A running evaluator of a plugin library.
pub struct PluginEvaluator {
    plugin: &'static LoadedEvaluator,
    handle: EvaluatorHandle,
    /// A result that could not be read: the run stops with it ([`Evaluator::fault`]).
    broken: Option<String>,
}

impl PluginEvaluator {
    /// Calls `f(handle, out)`; the text written when it returns 1.
    fn read(&self, f: unsafe extern "C" fn(EvaluatorHandle, *mut FfiVec<u8>) -> u8) -> Option<String> {
        let mut out = MaybeUninit::<FfiVec<u8>>::uninit();
        // SAFETY: a function of the table with this evaluator's live handle; it writes `out`
        // exactly when it returns 1.
        let wrote = unsafe { f(self.handle, out.as_mut_ptr()) };
        // SAFETY: as above.
        (wrote == 1).then(|| unsafe { out.assume_init() }.to_string_lossy())
    }
}

impl Evaluator for PluginEvaluator {
    fn submit(&mut self, jobs: Vec<Job>) {
        let json = lossgp_core::json::to_string(&jobs).unwrap_or_else(|_| "[]".into());
        // SAFETY: the table's function with this evaluator's live handle; the slice lives for
        // the call.
        unsafe { (self.plugin.table.submit)(self.handle, FfiSlice::new(json.as_bytes())) };
    }

    fn next(&mut self) -> Option<(Job, Result<Scored, EvalError>)> {
        let text = self.read(self.plugin.table.next)?;
        match lossgp_core::json::from_str(&text) {
            Ok(pair) => Some(pair),
            Err(e) => {
                self.broken = Some(format!("a result that cannot be read ({e}): {text}"));
                None
            }
        }
    }

    fn fault(&self) -> Option<String> {
        let why = self.broken.clone().or_else(|| self.read(self.plugin.table.fault))?;
        Some(format!("evaluator plugin {} ({}): {why}", self.plugin.name, self.plugin.file.display()))
    }
}

impl Drop for PluginEvaluator {
    fn drop(&mut self) {
        // SAFETY: the handle was made by the table's create and is released once, here.
        unsafe { (self.plugin.table.release)(self.handle) }
    }
}
