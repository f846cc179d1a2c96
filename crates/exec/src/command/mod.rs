//! A user's own training command as the fitness ([`CommandFitness`]): the objective is
//! whatever the user can run (Optuna's objective, Ray Tune's trainable), here a PyTorch, JAX
//! or Keras script that trains their network on their data with the candidate loss.
//!
//! For each job lossgp makes a job folder, writes the candidate into it, runs the command
//! there with a time limit, and reads the score the command wrote:
//!
//! | file in the job folder (`{out}`) | what |
//! |---|---|
//! | `loss.py` | the candidate as a PyTorch function `loss_fn(logits, target)` (lossgp's export) |
//! | `loss.txt`, `loss.tex` | its expression and its formula |
//! | `job.json` | the job: expression, reduction, seed, budget, replicate, attempt, task |
//! | `result.json` | written by the command: `{"fitness": ...}` and any metrics ([`result`]) |
//! | `stdout.log`, `stderr.log` | the command's output |
//!
//! Job folders are `RUN/commands/TASK/KEY-bBUDGET-rREPLICATE/attempt-N`, kept with the run.
//!
//! **Failures.** A command that is not found or not executable, a result that is missing,
//! malformed or not a finite number, and a run past the time limit are permanent failures
//! (another attempt would repeat them); a command that exits non-zero or is killed by a
//! signal (a crash, the out-of-memory killer, a preempted node) is transient, retried as any
//! failed evaluation. Each failure's message names its cause, the job folder, and the last
//! lines the command wrote to its standard error.
//!
//! **The fitness cache** is keyed on the task ([`Fitness::task`]): the command, its time
//! limit, its environment and the SHA-256 of every file it names (the script, and the
//! `files` given), so that a changed script never reuses an old score.

pub mod child;
pub mod result;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lossgp_core::evaluation::{EvalError, Fitness, Job, Scored};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The name of the function in each job's `loss.py`.
pub const FUNCTION: &str = "loss_fn";

/// Lines of the command's standard error a failure keeps.
const TAIL_LINES: usize = 20;

/// How the command is run: `[task]`'s `command`, `timeout_minutes`, `files` and `env`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The program and its arguments, with placeholders ([`template::PLACEHOLDERS`]).
    pub command: Vec<String>,
    /// The time limit of one run, in minutes.
    pub timeout_minutes: f64,
    /// Further files the result depends on (modules the script imports, a data list), whose
    /// content is part of the task: changing one starts a new fitness cache.
    pub files: Vec<PathBuf>,
    /// Environment variables set for the command.
    pub env: BTreeMap<String, String>,
}

impl CommandSpec {
    /// Makes relative paths absolute, from `base` (the configuration file's folder): `files`,
    /// and each argument without placeholders that names a file there (the script). The run
    /// directory's copy of the configuration then names the same files from any folder.
    pub fn resolve(&mut self, base: &Path) {
        let absolute = |p: &Path| {
            let joined = base.join(p);
            std::path::absolute(&joined).unwrap_or(joined)
        };
        for file in self.files.iter_mut().filter(|f| f.is_relative()) {
            *file = absolute(file);
        }
        for arg in self.command.iter_mut().filter(|a| !a.contains('{') && !a.starts_with('-')) {
            let path = Path::new(arg.as_str());
            if path.is_relative() && base.join(path).is_file() {
                *arg = absolute(path).display().to_string();
            }
        }
    }

    /// Checks the settings: the template, the limit, the files.
    pub fn validate(&self) -> Result<(), String> {
        template::check(&self.command)?;
        if !(self.timeout_minutes > 0.0 && self.timeout_minutes.is_finite()) {
            return Err(format!("timeout_minutes must be a positive number of minutes, not {}", self.timeout_minutes));
        }
        for file in &self.files {
            if !file.is_file() {
                return Err(format!("`files`: {} is not a file", file.display()));
            }
        }
        Ok(())
    }

    /// The files the result depends on: `files`, and every argument that names a file.
    fn hashed_files(&self) -> Vec<PathBuf> {
        let named = self.command.iter().map(PathBuf::from).filter(|p| p.is_absolute() && p.is_file());
        let mut all: Vec<PathBuf> = self.files.iter().cloned().chain(named).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Scores a candidate by running the user's command on it ([module docs](self)).
pub struct CommandFitness {
    spec: CommandSpec,
    name: String,
    seed: u64,
    folder: PathBuf,
    data_dir: Option<PathBuf>,
    fingerprint: String,
}

impl CommandFitness {
    /// The fitness of task `name`, with training seed `seed` for the task's own run, its job
    /// folders under `run_dir/commands/`. `data_dir` fills `{data_dir}`.
    pub fn new(
        spec: CommandSpec,
        name: &str,
        seed: u64,
        run_dir: &Path,
        data_dir: Option<&Path>,
    ) -> Result<CommandFitness, String> {
        spec.validate()?;
        // Placeholders are paths the command is given in its own folder: absolute, whatever
        // folder lossgp was started from.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let run_dir = absolute(run_dir);
        let mut hashes = Vec::new();
        for file in spec.hashed_files() {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let digest = Sha256::digest(&bytes);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            hashes.push(format!("{}={hex}", file.file_name().unwrap_or_default().to_string_lossy()));
        }
        if find_program(&spec.command[0]).is_none() {
            tracing::warn!(
                "`{}` is not found here (PATH); each job will fail unless the machines that run it have it",
                spec.command[0]
            );
        }
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let fingerprint = format!(
            "command: {} / limit {} min / files {} / env {} / seed {seed}",
            lossgp_core::json::to_string(&spec.command).map_err(|e| e.to_string())?,
            spec.timeout_minutes,
            hashes.join(", "),
            env.join(" "),
        );
        let data_dir = data_dir
            .map(Path::to_owned)
            .or_else(|| std::env::var_os("LOSSGP_DATA_DIR").map(PathBuf::from))
            .map(|d| absolute(&d));
        let slug: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        Ok(CommandFitness {
            spec,
            name: name.to_owned(),
            seed,
            folder: run_dir.join("commands").join(slug),
            data_dir,
            fingerprint,
        })
    }

    /// The job folder of `job`.
    pub fn job_folder(&self, job: &Job) -> PathBuf {
        let key = job.loss.training_key().to_string();
        self.folder
            .join(format!("{}-b{}-r{}", &key[..12], job.budget, job.replicate))
            .join(format!("attempt-{}", job.attempt))
    }

    /// The training seed of a job: the task's for replicate 0, another one for each
    /// confirmation seed.
    pub fn seed(&self, job: &Job) -> u64 {
        self.seed.wrapping_add(job.replicate as u64)
    }

    /// Writes the candidate's files into its job folder, and the placeholders' values.
    fn prepare(&self, job: &Job, folder: &Path) -> Result<BTreeMap<&'static str, String>, EvalError> {
        let transient = |e: std::io::Error| EvalError::transient(format!("{}: {e}", folder.display()));
        std::fs::create_dir_all(folder).map_err(transient)?;
        // A coordinator started again may rerun an attempt: its old result must not count.
        let _ = std::fs::remove_file(folder.join(result::RESULT));
        let loss_py = folder.join("loss.py");
        let expression = job.loss.expr.to_string();
        let reduction = job.loss.reduction.to_string();
        let values: BTreeMap<&'static str, String> = [
            ("loss_py", loss_py.display().to_string()),
            ("loss", expression.clone()),
            ("reduction", reduction.clone()),
            ("out", folder.display().to_string()),
            ("seed", self.seed(job).to_string()),
            ("budget", job.budget.to_string()),
            ("replicate", job.replicate.to_string()),
            ("attempt", job.attempt.to_string()),
            ("task", self.name.clone()),
            ("data_dir", self.data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default()),
        ]
        .into();
        let described = serde_json::json!({
            "loss": expression, "reduction": reduction, "function": FUNCTION, "seed": self.seed(job),
            "budget": job.budget, "replicate": job.replicate, "attempt": job.attempt, "task": self.name,
        });
        let write = |name: &str, text: &str| std::fs::write(folder.join(name), text).map_err(transient);
        write("loss.py", &job.loss.to_pytorch(FUNCTION))?;
        write("loss.txt", &format!("{expression}\n"))?;
        write("loss.tex", &format!("{}\n", job.loss.to_latex()))?;
        write("job.json", &format!("{described:#}\n"))?;
        Ok(values)
    }
}

impl Fitness for CommandFitness {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let folder = self.job_folder(job);
        let values = self.prepare(job, &folder)?;
        let argv: Vec<String> = self.spec.command.iter().map(|a| template::fill(a, &values)).collect();
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).envs(&self.spec.env);
        if let Some(data) = &self.data_dir {
            command.env("LOSSGP_DATA_DIR", data);
        }
        let limit = Duration::from_secs_f64(self.spec.timeout_minutes * 60.0);
        let started = std::time::Instant::now();
        let ended = child::run(&mut command, &folder, limit).map_err(|child::NotStarted(e)| {
            let cause = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "is not found: install it, or give its full path in `command`".to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "is not executable (chmod +x, or run it through its interpreter)".to_owned()
                }
                _ => format!("could not start: {e}"),
            };
            let message = format!("the command `{}` {cause} (job folder {})", argv[0], folder.display());
            match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => EvalError::permanent(message),
                _ => EvalError::transient(message),
            }
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let with_output = |error: EvalError| {
            let stderr = child::tail(&folder.join(child::STDERR), TAIL_LINES);
            let (what, text) = if stderr.is_empty() {
                ("stdout.log", child::tail(&folder.join(child::STDOUT), TAIL_LINES))
            } else {
                ("stderr.log", stderr)
            };
            let output = if text.is_empty() {
                "; it printed nothing".to_owned()
            } else {
                format!(
                    "; the last lines of its {what}:\n{}",
                    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                )
            };
            let message = format!("{} (job folder {}){output}", error.message(), folder.display());
            if error.is_retryable() { EvalError::transient(message) } else { EvalError::permanent(message) }
        };
        match ended {
            child::Ended::TimedOut => Err(with_output(EvalError::permanent(format!(
                "the command ran past its limit of {} minutes ([task] timeout_minutes) and was stopped",
                self.spec.timeout_minutes
            )))),
            child::Ended::Exited(status) if !status.success() => {
                Err(with_output(EvalError::transient(format!("the command failed: {}", child::describe(status)))))
            }
            child::Ended::Exited(_) => {
                let mut scored = result::read(&folder).map_err(with_output)?;
                scored.metrics.entry("seconds".to_owned()).or_insert(seconds);
                Ok(scored)
            }
        }
    }

    fn task(&self) -> String {
        self.fingerprint.clone()
    }
}

/// Where `program` is: itself if it names a path, else the first match on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests;
