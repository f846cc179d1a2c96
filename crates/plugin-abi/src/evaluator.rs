//! Evaluators in shared libraries: where candidates are scored (a cluster's scheduler, a
//! cloud's job service), added to an unchanged `lossgp` at run time, as backends are.
//!
//! A library exports two symbols of its own, beside or instead of a backend's:
//!
//! - `lossgp_evaluator_abi_version() -> u32`: the host calls it first and refuses a library
//!   built for another [`EVALUATOR_ABI_VERSION`], naming both;
//! - `lossgp_evaluator_plugin() -> &'static EvaluatorTable`: the evaluator's name, its one-line
//!   summary, and five functions over an opaque handle.
//!
//! What an evaluator exchanges is data, so it crosses as JSON (lossgp's own, which writes NaN
//! and infinities by name): the context it starts from ([`PluginContext`]), batches of jobs,
//! and each finished job with its result or typed failure. A plugin implements
//! [`EvaluatorPlugin`] (a constructor returning any [`Evaluator`]) and exports it with
//! [`export_evaluator!`](crate::export_evaluator); every exported function catches panics.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use lossgp_core::evaluation::{EvalError, Evaluator, Job, Scored};
use serde::{Deserialize, Serialize};

use crate::ffi::{FfiSlice, FfiStr, FfiVec};

/// The evaluator ABI's version: raised whenever [`EvaluatorTable`], [`PluginContext`] or the
/// JSON forms of jobs and results change.
pub const EVALUATOR_ABI_VERSION: u32 = 1;

/// The symbol of the version function.
pub const EVALUATOR_VERSION_SYMBOL: &str = "lossgp_evaluator_abi_version";
/// The symbol of the table function.
pub const EVALUATOR_ENTRY_SYMBOL: &str = "lossgp_evaluator_plugin";

/// An opaque handle on a plugin's running evaluator (a `Box` of it on the plugin's side).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct EvaluatorHandle(pub *mut c_void);

/// What an evaluator library exports.
#[repr(C)]
pub struct EvaluatorTable {
    /// [`EVALUATOR_ABI_VERSION`] of the library's build.
    pub abi_version: u32,
    /// `size_of::<EvaluatorTable>()` of the library's build.
    pub table_size: usize,
    /// The name `[run] evaluator` takes (UTF-8, `'static` in the library).
    pub name: FfiStr,
    /// One line for `lossgp list evaluators`.
    pub summary: FfiStr,
    /// Starts an evaluator from a [`PluginContext`] as JSON. Null with `error` written when it
    /// cannot start.
    pub create: unsafe extern "C" fn(context: FfiSlice<u8>, error: *mut FfiVec<u8>) -> EvaluatorHandle,
    /// Hands it jobs: a JSON array of [`Job`]s.
    pub submit: unsafe extern "C" fn(handle: EvaluatorHandle, jobs: FfiSlice<u8>),
    /// The next finished job, waiting for one: writes `[job, result]` as JSON into `out` and
    /// returns 1, or returns 0 when nothing is pending.
    pub next: unsafe extern "C" fn(handle: EvaluatorHandle, out: *mut FfiVec<u8>) -> u8,
    /// Why the engine cannot go on: writes it into `out` and returns 1, or returns 0.
    pub fault: unsafe extern "C" fn(handle: EvaluatorHandle, out: *mut FfiVec<u8>) -> u8,
    /// Stops the evaluator and frees its handle.
    pub release: unsafe extern "C" fn(handle: EvaluatorHandle),
}

// SAFETY: the table holds `'static` strings of the library and function pointers; nothing in
// it is mutated after it is built.
unsafe impl Sync for EvaluatorTable {}

/// What a plugin's evaluator starts from: the run's settings and where its workers run from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginContext {
    /// The evaluator's name, as `[run] evaluator` gave it.
    pub evaluator: String,
    /// The whole `[run]` table, as JSON.
    pub settings: serde_json::Value,
    /// The evaluator's own settings, `[run.options.NAME]` (null where absent).
    pub options: serde_json::Value,
    /// `[run] workers`.
    pub workers: usize,
    /// `[run] threads_per_worker` (0: the backend's default).
    pub threads_per_worker: usize,
    /// The run directory (its queue is `DIR/queue`).
    pub dir: PathBuf,
    /// The program that runs a worker of this run (lossgp itself).
    pub program: PathBuf,
    /// Its arguments (`[--data-dir D] worker DIR`), to which a worker adds `--id NAME`.
    pub args: Vec<String>,
}

/// An evaluator a library exports.
pub trait EvaluatorPlugin {
    /// The name `[run] evaluator` takes.
    const NAME: &'static str;
    /// One line for `lossgp list evaluators`.
    const SUMMARY: &'static str;
    /// Starts one for a run; an `Err` names what is wrong with its settings.
    fn create(context: PluginContext) -> Result<Box<dyn Evaluator>, String>;
}

impl EvaluatorTable {
    /// The table of plugin `P`.
    pub const fn of<P: EvaluatorPlugin>() -> EvaluatorTable {
        EvaluatorTable {
            abi_version: EVALUATOR_ABI_VERSION,
            table_size: std::mem::size_of::<EvaluatorTable>(),
            name: FfiSlice::new(P::NAME.as_bytes()),
            summary: FfiSlice::new(P::SUMMARY.as_bytes()),
            create: create::<P>,
            submit,
            next,
            fault,
            release,
        }
    }
}

/// Exports an [`EvaluatorPlugin`] from a `cdylib`: `lossgp_plugin_abi::export_evaluator!(MyEvaluator);`
#[macro_export]
macro_rules! export_evaluator {
    ($plugin:ty) => {
        /// The evaluator ABI version this library was built for.
        // SAFETY: the symbol's name is reserved for this function by the evaluator ABI, and its
        // signature (no arguments, a u32) is the same in every version.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn lossgp_evaluator_abi_version() -> u32 {
            $crate::EVALUATOR_ABI_VERSION
        }

        /// This library's evaluator table.
        // SAFETY: the symbol's name is reserved for this function by the evaluator ABI; the
        // host calls it only after the versions matched, so both sides agree on the layout.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn lossgp_evaluator_plugin() -> &'static $crate::EvaluatorTable {
            static TABLE: $crate::EvaluatorTable = $crate::EvaluatorTable::of::<$plugin>();
            &TABLE
        }
    };
}

/// `f`'s value, or the text of its panic.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let text = lossgp_core::panic::message(&*panic).unwrap_or_default();
        Err(format!("the evaluator plugin panicked: {text}"))
    })
}

/// What a handle holds: the evaluator, and why it broke if a call into it failed (a panic,
/// jobs that could not be read), which [`fault`] then reports, so that no job is lost silently.
struct Running {
    evaluator: Box<dyn Evaluator>,
    broken: Option<String>,
}

/// The evaluator behind a handle.
///
/// # Safety
///
/// `handle` came from [`create`] and was not released.
unsafe fn running<'a>(handle: EvaluatorHandle) -> &'a mut Running {
    // SAFETY: create made the handle from a Box<Running>, alive until release.
    unsafe { &mut *handle.0.cast::<Running>() }
}

unsafe extern "C" fn create<P: EvaluatorPlugin>(context: FfiSlice<u8>, error: *mut FfiVec<u8>) -> EvaluatorHandle {
    let made = guarded(|| {
        // SAFETY: the host passes a slice of its JSON, alive for the call.
        let text = unsafe { context.as_slice() };
        let context: PluginContext = serde_json::from_slice(text)
            .map_err(|e| format!("the evaluator's context is not what this plugin reads: {e}"))?;
        P::create(context)
    });
    match made {
        Ok(evaluator) => EvaluatorHandle(Box::into_raw(Box::new(Running { evaluator, broken: None })).cast()),
        Err(message) => {
            // SAFETY: the host passes a pointer to an uninitialised FfiVec it owns.
            unsafe { error.write(FfiVec::from_string(message)) };
            EvaluatorHandle(std::ptr::null_mut())
        }
    }
}

unsafe extern "C" fn submit(handle: EvaluatorHandle, jobs: FfiSlice<u8>) {
    // SAFETY: the host passes its handle and a slice of its JSON, alive for the call.
    let (running, text) = unsafe { (running(handle), jobs.as_slice()) };
    let submitted = guarded(|| {
        let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
        let jobs: Vec<Job> = lossgp_core::json::from_str(text).map_err(|e| format!("jobs it cannot read: {e}"))?;
        running.evaluator.submit(jobs);
        Ok(())
    });
    if let Err(why) = submitted {
        running.broken.get_or_insert(why);
    }
}

unsafe extern "C" fn next(handle: EvaluatorHandle, out: *mut FfiVec<u8>) -> u8 {
    // SAFETY: the host passes its handle.
    let running = unsafe { running(handle) };
    if running.broken.is_some() {
        return 0;
    }
    let finished = guarded(|| {
        let next: Option<(Job, Result<Scored, EvalError>)> = running.evaluator.next();
        next.map(|pair| lossgp_core::json::to_string(&pair).map_err(|e| e.to_string())).transpose()
    });
    match finished {
        Ok(Some(text)) => {
            // SAFETY: the host passes a pointer to an uninitialised FfiVec it owns.
            unsafe { out.write(FfiVec::from_string(text)) };
            1
        }
        Ok(None) => 0,
        Err(why) => {
            running.broken = Some(why);
            0
        }
    }
}

unsafe extern "C" fn fault(handle: EvaluatorHandle, out: *mut FfiVec<u8>) -> u8 {
    // SAFETY: the host passes its handle.
    let running = unsafe { running(handle) };
    let fault = match running.broken.clone() {
        Some(why) => Some(why),
        None => guarded(|| Ok(running.evaluator.fault())).unwrap_or_else(Some),
    };
    match fault {
        Some(text) => {
            // SAFETY: the host passes a pointer to an uninitialised FfiVec it owns.
            unsafe { out.write(FfiVec::from_string(text)) };
            1
        }
        None => 0,
    }
}

unsafe extern "C" fn release(handle: EvaluatorHandle) {
    if handle.0.is_null() {
        return;
    }
    // SAFETY: create made the handle from a Box<Running>; the host releases it once.
    let boxed = unsafe { Box::from_raw(handle.0.cast::<Running>()) };
    let _ = catch_unwind(AssertUnwindSafe(|| drop(boxed)));
}
