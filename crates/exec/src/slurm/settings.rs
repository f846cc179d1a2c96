//! `[run.slurm]`: how job arrays are submitted, and the job script they run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The job-script template used when the settings name none. `{{directives}}` becomes the
/// `#SBATCH` lines of the settings, `{{setup}}` their setup lines, `{{command}}` the worker's
/// command; the job name, the array and the log file are given to `sbatch` on its command line.
pub const DEFAULT_TEMPLATE: &str = "#!/bin/bash
{{directives}}
set -euo pipefail
{{setup}}
{{command}}
";

/// `[run.slurm]`: how jobs are submitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmSettings {
    /// A job-script template file (see [`DEFAULT_TEMPLATE`]); none: the default.
    pub template: Option<PathBuf>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--gres`, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// `--time` per task, e.g. `02:00:00`.
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: usize,
    /// `--mem` per task, e.g. `16G`.
    pub mem: Option<String>,
    /// Further `#SBATCH` options, e.g. `--constraint=a100`.
    pub options: Vec<String>,
    /// Shell lines run before the worker: `module load ...`, `source venv/bin/activate`.
    pub setup: Vec<String>,
    /// A prefix of the worker's command, e.g. `apptainer exec --nv lossgp.sif` to run it in a
    /// container.
    pub container: Option<String>,
    /// At most this many tasks per array (the cluster's `MaxArraySize`).
    pub max_array: usize,
    /// Seconds between looks at `squeue`.
    pub poll_seconds: f64,
    /// Seconds `squeue` may keep failing (an overloaded or restarting controller) before the
    /// run stops with its message; meanwhile the last known states stand.
    pub query_patience_seconds: f64,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            template: None,
            partition: None,
            account: None,
            qos: None,
            gres: None,
            time: None,
            cpus_per_task: 1,
            mem: None,
            options: Vec::new(),
            setup: Vec::new(),
            container: None,
            max_array: 1000,
            poll_seconds: 5.0,
            query_patience_seconds: 600.0,
        }
    }
}

impl SlurmSettings {
    /// Checks what can be checked before submitting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_array == 0 || self.cpus_per_task == 0 {
            return Err("[run.slurm] max_array and cpus_per_task must be at least 1".into());
        }
        if !(self.poll_seconds > 0.0 && self.poll_seconds.is_finite()) {
            return Err(format!("[run.slurm] poll_seconds must be a positive number, not {}", self.poll_seconds));
        }
        if !(self.query_patience_seconds >= 0.0 && self.query_patience_seconds.is_finite()) {
            return Err(format!(
                "[run.slurm] query_patience_seconds must be a number of seconds, not {}",
                self.query_patience_seconds
            ));
        }
        if let Some(path) = &self.template {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("[run.slurm] template {}: {e}", path.display()))?;
            if !text.contains("{{command}}") {
                return Err(format!(
                    "[run.slurm] template {} has no {{{{command}}}}: the worker would never run",
                    path.display()
                ));
            }
            // A setting the template has no place for would vanish from every job.
            if !text.contains("{{directives}}") {
                return Err(format!(
                    "[run.slurm] template {} has no {{{{directives}}}}, so the settings' #SBATCH lines ({}) would be \
                     dropped: put {{{{directives}}}} after its first line",
                    path.display(),
                    self.directives().lines().map(|l| l.trim_start_matches("#SBATCH ")).collect::<Vec<_>>().join(" ")
                ));
            }
            if !self.setup.is_empty() && !text.contains("{{setup}}") {
                return Err(format!(
                    "[run.slurm] template {} has no {{{{setup}}}}, so `setup` ({}) would never run: put {{{{setup}}}} before {{{{command}}}}",
                    path.display(),
                    self.setup.join("; ")
                ));
            }
        }
        Ok(())
    }

    /// The `#SBATCH` lines of the settings.
    pub(super) fn directives(&self) -> String {
        let mut lines = vec![format!("#SBATCH --cpus-per-task={}", self.cpus_per_task)];
        for (flag, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
            ("gres", &self.gres),
            ("time", &self.time),
            ("mem", &self.mem),
        ] {
            if let Some(v) = value {
                lines.push(format!("#SBATCH --{flag}={v}"));
            }
        }
        lines.extend(self.options.iter().map(|o| format!("#SBATCH {o}")));
        lines.join("\n")
    }
}
