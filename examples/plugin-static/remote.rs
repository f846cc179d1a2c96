//! The `remote` evaluator: `lossgp worker` processes started on other machines through a
//! launcher, `ssh HOST` by default, one per host in turn. The run directory must be at the same
//! path on every host (a shared filesystem), as for Slurm. Its settings are
//! `[run.options.remote]`:
//!
//! ```toml
//! [run]
//! evaluator = "remote"
//! workers = 4                 # spread over the hosts in turn
//!
//! [run.options.remote]
//! hosts = ["gpu1", "gpu2"]
//! launcher = ["ssh", "-o", "BatchMode=yes", "{host}"]   # the worker's command line follows
//! ```
//!
//! Jobs and results cross through the run directory's queue, as with local worker processes;
//! a worker that dies (its launcher exits) fails its job, which the search retries, and is
//! started again.

use lossgp_core::evaluation::Evaluator;
use lossgp_exec::process::QUEUE;
use lossgp_exec::{EvaluatorContext, EvaluatorEntry, ProcessEvaluator, Queue};
use serde::Deserialize;

/// `[run.options.remote]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteSettings {
    /// The machines, used in turn.
    pub hosts: Vec<String>,
    /// The command that runs a command line on `{host}`; the worker's command line is
    /// appended to it.
    pub launcher: Vec<String>,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            hosts: Vec::new(),
            launcher: vec!["ssh".into(), "-o".into(), "BatchMode=yes".into(), "{host}".into()],
        }
    }
}

fn build(context: &EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    let settings: RemoteSettings = context.settings.options("remote")?;
    if settings.hosts.is_empty() {
        return Err(
            "[run.options.remote] hosts is empty: name the machines to run workers on, e.g. hosts = [\"gpu1\"]".into(),
        );
    }
    if settings.launcher.is_empty() {
        return Err("[run.options.remote] launcher is empty: e.g. launcher = [\"ssh\", \"{host}\"]".into());
    }
    let queue = Queue::open(&context.dir.join(QUEUE)).map_err(|e| e.to_string())?;
    let logs = context.dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let worker = context.worker.clone();
    let started = std::sync::atomic::AtomicUsize::new(0);
    let spawn = move |id: &str| {
        let n = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let host = &settings.hosts[n % settings.hosts.len()];
        let launcher: Vec<String> = settings.launcher.iter().map(|a| a.replace("{host}", host)).collect();
        // The hosts' own environment decides their threads.
        worker.spawn(&launcher, id, &logs, 0)
    };
    let evaluator =
        ProcessEvaluator::new(queue, context.settings.workers, Box::new(spawn)).map_err(|e| e.to_string())?;
    Ok(Box::new(evaluator))
}

lossgp_exec::inventory::submit! {
    EvaluatorEntry {
        name: "remote",
        summary: "lossgp worker processes on other machines, started through ssh ([run.options.remote]; a shared filesystem)",
        build,
    }
}
