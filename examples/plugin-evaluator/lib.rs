//! An evaluator in a shared library: `nice`, worker processes that run at a lower CPU
//! priority, so that a search on a shared workstation yields to interactive work. An
//! unchanged `lossgp` loads it at run time:
//!
//! ```toml
//! [run]
//! evaluator = "nice"
//! workers = 4
//! plugins = ["target/debug/liblossgp_plugin_evaluator.so"]
//!
//! [run.options.nice]
//! niceness = 15     # 1 (a little lower) to 19 (the lowest)
//! ```
//!
//! It is built on `lossgp_exec::ProcessEvaluator` with its own way of starting a worker
//! (`nice -n N lossgp worker DIR --id ID`), and exported through the evaluator ABI of
//! `lossgp-plugin-abi` ([`lossgp_plugin_abi::export_evaluator!`]).

use lossgp_core::evaluation::Evaluator;
use lossgp_exec::{ProcessEvaluator, Queue, WorkerCommand};
use lossgp_plugin_abi::{EvaluatorPlugin, PluginContext};
use serde::Deserialize;

/// `[run.options.nice]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NiceSettings {
    /// How much lower than normal the workers run, 1 to 19.
    niceness: u8,
}

impl Default for NiceSettings {
    fn default() -> Self {
        NiceSettings { niceness: 10 }
    }
}

/// The `nice` evaluator.
pub struct Nice;

impl EvaluatorPlugin for Nice {
    const NAME: &'static str = "nice";
    const SUMMARY: &'static str = "lossgp worker processes at a lower CPU priority ([run.options.nice] niceness, 1-19)";

    fn create(context: PluginContext) -> Result<Box<dyn Evaluator>, String> {
        let settings: NiceSettings = match context.options {
            serde_json::Value::Null => NiceSettings::default(),
            options => serde_json::from_value(options).map_err(|e| format!("[run.options.nice]: {e}"))?,
        };
        if !(1..=19).contains(&settings.niceness) {
            return Err(format!("[run.options.nice] niceness must be 1 to 19, not {}", settings.niceness));
        }
        let queue = Queue::open(&context.dir.join(lossgp_exec::process::QUEUE)).map_err(|e| e.to_string())?;
        let logs = context.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
        let threads = context.threads_per_worker;
        let worker = WorkerCommand { program: context.program, args: context.args };
        let launcher = ["nice".to_owned(), "-n".to_owned(), settings.niceness.to_string()];
        let spawn = move |id: &str| worker.spawn(&launcher, id, &logs, threads);
        let evaluator = ProcessEvaluator::new(queue, context.workers, Box::new(spawn)).map_err(|e| e.to_string())?;
        Ok(Box::new(evaluator))
    }
}

lossgp_plugin_abi::export_evaluator!(Nice);
