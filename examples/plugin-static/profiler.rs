//! The `profile` backend: another backend (`LOSSGP_PROFILE_BACKEND`, default `flex`) with the
//! wall time of every operation measured, so that a user sees where a training step goes
//! (convolutions, batch norm, the loss's element-wise operations, reading values back).
//!
//! It is lossgp's [`Observed`] backend with a timing [`Observer`]: the operations are the inner
//! backend's own, with the same tensors, and one clock read on each side. When the backend and
//! all its clones are dropped (a training's end), the profile is printed on stderr as a table, or
//! appended as one JSON line to the file `LOSSGP_PROFILE_OUT` names.
//!
//! Times are from call to return: on a CPU backend the operation's work; on an asynchronous
//! device (a GPU) the time to queue it, with the waiting charged to whatever reads values back
//! (`to_vec`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lossgp_core::backend::{
    Availability, BResult, BackendEntry, DynBackend, Observed, Observer, backends, inventory, open_backend,
};
use serde::Serialize;

/// The registered name.
pub const NAME: &str = "profile";
/// The variable naming the backend to profile.
pub const INNER_VARIABLE: &str = "LOSSGP_PROFILE_BACKEND";
/// The variable naming a file to append profiles to (one JSON line each) instead of stderr.
pub const OUTPUT_VARIABLE: &str = "LOSSGP_PROFILE_OUT";

/// The calls to one operation and the time they took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OpTime {
    /// How many calls.
    pub calls: u64,
    /// Their total wall time, in seconds.
    pub seconds: f64,
}

/// A profile: the backend profiled and each operation's calls and time.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Profile {
    /// The inner backend's description.
    pub backend: String,
    /// Per operation ([`Backend`](lossgp_core::backend::Backend) method name).
    pub operations: BTreeMap<&'static str, OpTime>,
}

impl Profile {
    /// The profile as a table, the costliest operation first.
    pub fn table(&self) -> String {
        let total: f64 = self.operations.values().map(|t| t.seconds).sum();
        let mut rows: Vec<(&&str, &OpTime)> = self.operations.iter().collect();
        rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
        let mut out = format!("profile of {} ({total:.3} s in operations)\n", self.backend);
        let _ = writeln!(out, "{:<22} {:>10} {:>11} {:>12} {:>7}", "operation", "calls", "total s", "mean us", "share");
        for (op, t) in rows {
            let mean = 1e6 * t.seconds / t.calls.max(1) as f64;
            let share = 100.0 * t.seconds / total.max(f64::MIN_POSITIVE);
            let _ = writeln!(out, "{op:<22} {:>10} {:>11.3} {mean:>12.1} {share:>6.1}%", t.calls, t.seconds);
        }
        out
    }
}

/// Where a profile goes when the last clone of its backend is dropped.
struct Recorder {
    profile: Mutex<Profile>,
    output: Option<PathBuf>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let profile = self.profile.get_mut().map(std::mem::take).unwrap_or_default();
        if profile.operations.is_empty() {
            return;
        }
        let written = match &self.output {
            Some(path) => append_line(path, &profile),
            None => {
                eprint!("{}", profile.table());
                Ok(())
            }
        };
        if let Err(e) = written {
            eprintln!("profile: cannot append to {}: {e}\n{}", self.output_name(), profile.table());
        }
    }
}

impl Recorder {
    fn output_name(&self) -> String {
        self.output.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    }
}

fn append_line(path: &std::path::Path, profile: &Profile) -> std::io::Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(profile).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")
}

/// The timing observer; clones share one profile.
#[derive(Clone)]
pub struct Profiler(Arc<Recorder>);

impl Profiler {
    /// A profiler of the backend described as `backend`, reporting to `output` (else stderr).
    pub fn new(backend: String, output: Option<PathBuf>) -> Profiler {
        let profile = Profile { backend, operations: BTreeMap::new() };
        Profiler(Arc::new(Recorder { profile: Mutex::new(profile), output }))
    }

    /// The profile so far.
    pub fn profile(&self) -> Profile {
        self.0.profile.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Observer for Profiler {
    fn observe<R>(&self, op: &'static str, call: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = call();
        let seconds = start.elapsed().as_secs_f64();
        if let Ok(mut profile) = self.0.profile.lock() {
            let time = profile.operations.entry(op).or_default();
            time.calls += 1;
            time.seconds += seconds;
        }
        result
    }
}

/// Opens the backend `LOSSGP_PROFILE_BACKEND` names (default `flex`), profiled.
pub fn open() -> BResult<DynBackend> {
    let inner = std::env::var(INNER_VARIABLE).unwrap_or_else(|_| "flex".to_owned());
    if inner == NAME {
        return Err(lossgp_core::backend::BackendError::Device(format!(
            "{INNER_VARIABLE}={NAME} would profile itself; name another backend (see `lossgp list backends`)"
        )));
    }
    let backend = open_backend(&inner)?;
    let description = lossgp_core::backend::Backend::name(&backend);
    let output = std::env::var_os(OUTPUT_VARIABLE).map(PathBuf::from);
    Ok(DynBackend::new(Observed::new(backend, Profiler::new(description, output))))
}

fn probe() -> Availability {
    let inner = std::env::var(INNER_VARIABLE).unwrap_or_else(|_| "flex".to_owned());
    match backends().into_iter().find(|e| e.name() == inner && e.name() != NAME) {
        Some(entry) => match entry.probe() {
            Availability::Ready(device) => Availability::Ready(format!("{inner}, profiled: {device}")),
            Availability::Missing(why) => Availability::Missing(format!("{inner}: {why}")),
        },
        None => Availability::Missing(format!("{INNER_VARIABLE}={inner} names no backend of this build")),
    }
}

inventory::submit! {
    BackendEntry {
        name: NAME,
        description: "another backend (LOSSGP_PROFILE_BACKEND, default flex) with each operation timed; from the plugin-static example",
        probe,
        open,
    }
}
