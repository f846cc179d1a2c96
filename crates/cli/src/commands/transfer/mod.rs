//! `lossgp transfer`: losses trained again on other models, datasets and seeds, next to cross
//! entropy, and compared with it as the paper did, with the statistics the paper left out.
//!
//! A run directory holds:
//!
//! | file | what |
//! |---|---|
//! | `transfer.toml` | the configuration, frozen (see [`config`]) |
//! | `grid.json` | the grid: losses, columns with their fingerprints, seeds |
//! | `cells.jsonl`, `failures.jsonl` | the ledger ([`lossgp_core::transfer::Ledger`]) |
//! | `report.md`, `report.csv`, `report.json` | the table and its statistics |
//! | `delta.png`/`.svg`, `seeds.png`/`.svg` | the plots |

mod config;
mod plot;
mod report;
mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lossgp_core::search::{RunDir, store};
use lossgp_core::transfer::{Analysis, CELLS, CellRecord, Grid, GridEvent, Ledger, analyse, run_grid};

pub use config::{DatasetConfig, EXAMPLE, GridConfig, GridRun, RunConfig as TransferRun, TransferFile};
pub use report::TransferReport;

use crate::commands::train::{TrainOptions, parse_size};
use crate::output::emit;

/// The configuration a transfer run directory keeps.
pub const CONFIG: &str = "transfer.toml";

/// The test subset of a grid given `--train-samples N` alone: N, and at least this many.
const TINY_TEST_SAMPLES: usize = 1000;
/// The grid a run directory keeps, for reports that open no data.
const GRID: &str = "grid.json";

#[derive(Debug, Args)]
#[command(after_long_help = concat!("EXAMPLE CONFIGURATION (lossgp transfer --example > transfer.toml):\n\n", include_str!("example.toml")))]
pub struct TransferArgs {
    /// The configuration file (TOML; `--example` prints a documented one) [default: the
    /// defaults shown there].
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    config: Option<PathBuf>,
    /// The run directory [default: runs/transfer-<time>].
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the grid in this run directory, with its own configuration.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Print the documented example configuration and exit.
    #[arg(long)]
    example: bool,
    /// Overrides [grid] losses: built-in names, found losses (`RUN#K`) or expressions,
    /// comma-separated or repeated
    /// (commas inside an expression's parentheses stay in it); cross entropy is always
    /// included.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "resume")]
    losses: Vec<String>,
    /// Overrides [grid] baselines, comma-separated (`none` for cross entropy alone), e.g.
    /// `ls-tuned,poly1,ngl` or `ls-ce(0.1),ls-ce(0.3)`.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "resume")]
    baselines: Vec<String>,
    /// Overrides [grid] from: search run directories whose best losses join (repeatable).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "resume")]
    from: Vec<PathBuf>,
    /// Overrides [grid] top: how many of each search run's best losses.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    top: Option<usize>,
    /// Overrides [grid] models, comma-separated or repeated, e.g. `small-cnn,resnet20` or
    /// `fcn:backbone=resnet18,width=0.25,resnet20` (a `KEY=VALUE` part belongs to the model
    /// before it).
    #[arg(long, conflicts_with = "resume")]
    models: Vec<String>,
    /// Overrides [grid] datasets, comma-separated, e.g. `fashion-mnist,mnist`.
    #[arg(long, value_delimiter = ',', conflicts_with = "resume")]
    datasets: Option<Vec<String>>,
    /// Overrides [grid] seeds: how many seeds, runs per (loss, model, dataset).
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    seeds: Option<usize>,
    /// Overrides [grid] backend.
    #[arg(long, conflicts_with = "resume")]
    backend: Option<String>,
    /// A stratified subset of each training split of this many samples (overrides the file,
    /// [dataset.NAME] tables included).
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    train_samples: Option<usize>,
    /// A stratified subset of each test split (overrides the file).
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    test_samples: Option<usize>,
    /// Resize images to HEIGHTxWIDTH (overrides the file).
    #[arg(long, value_name = "HxW", value_parser = parse_size, conflicts_with = "resume")]
    image_size: Option<[usize; 2]>,
    #[command(flatten)]
    train: TrainOptions,
    /// Overrides [run] workers: cells at once (also on --resume: it does not change results).
    #[arg(long)]
    workers: Option<usize>,
    /// Overrides [run] evaluator: `threads`, `processes`, `slurm` or one a plugin adds (also
    /// on --resume).
    #[arg(long, value_name = "NAME")]
    evaluator: Option<String>,
    /// Overrides [run] cache: finished cells shared with other transfer runs.
    #[arg(long, value_name = "FILE.jsonl")]
    cache: Option<PathBuf>,
}

/// The run directory and the frozen configuration (nothing is written yet).
fn prepare(args: &TransferArgs) -> Result<(PathBuf, TransferFile)> {
    let (dir, mut file) = match &args.resume {
        Some(dir) => {
            if args.train != TrainOptions::default() {
                bail!("training options cannot change on --resume: the finished cells were trained without them");
            }
            let path = dir.join(CONFIG);
            if !path.is_file() {
                bail!("{} has no {CONFIG}: it is not a transfer run directory (start one with --out)", dir.display());
            }
            (dir.clone(), TransferFile::read_frozen(&path)?)
        }
        None => {
            let mut file = match &args.config {
                Some(path) => TransferFile::read(path)?,
                None => TransferFile::default(),
            };
            let grid = &mut file.grid;
            if !args.losses.is_empty() {
                grid.losses = args.losses.iter().flat_map(|l| split_list(l)).map(config::LossSpec::Plain).collect();
            }
            if !args.baselines.is_empty() {
                grid.baselines = args
                    .baselines
                    .iter()
                    .flat_map(|l| split_list(l))
                    .filter(|b| b.trim() != "none")
                    .map(config::LossSpec::Plain)
                    .collect();
            }
            if !args.from.is_empty() {
                grid.from = args.from.clone();
            }
            grid.top = args.top.unwrap_or(grid.top);
            if !args.models.is_empty() {
                grid.models = args.models.iter().flat_map(|m| split_models(m)).collect();
            }
            grid.datasets = args.datasets.clone().unwrap_or(grid.datasets.clone());
            grid.seeds = args.seeds.unwrap_or(grid.seeds);
            grid.backend = args.backend.clone().unwrap_or(grid.backend.clone());
            let dir = args.out.clone().unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                PathBuf::from(format!("runs/transfer-{now}"))
            });
            if dir.join(CONFIG).exists() {
                bail!(
                    "{} already holds a transfer grid: continue it with --resume {0}, or choose another --out",
                    dir.display()
                );
            }
            // One run directory holds one kind of run: a grid written into a search's would
            // leave `report` unable to read either.
            if dir.join(store::STATE).exists() || dir.join(store::EVALUATIONS).exists() {
                bail!(
                    "{} holds a search: give the grid a directory of its own with --out (and the search with --from {0})",
                    dir.display()
                );
            }
            file.validate()?;
            // A grid made small with --train-samples is tested on a subset in proportion, not on
            // a test split that may take longer to score than the training took.
            let set_in_file =
                file.grid.test_samples.is_some() || file.dataset.values().any(|d| d.test_samples.is_some());
            let test_samples = match (args.train_samples, args.test_samples) {
                (Some(train), None) if !set_in_file => {
                    let test = train.max(TINY_TEST_SAMPLES);
                    eprintln!(
                        "note: --train-samples {train} without --test-samples: each cell is tested on a stratified \
                         {test} of its test split (--test-samples N sets it)"
                    );
                    Some(test)
                }
                (_, given) => given,
            };
            let data =
                config::DataSettings { train_samples: args.train_samples, test_samples, image_size: args.image_size };
            file.freeze(&args.train, data)?;
            (dir, file)
        }
    };
    file.run.workers = args.workers.unwrap_or(file.run.workers);
    file.run.evaluator = args.evaluator.clone().unwrap_or(file.run.evaluator.clone());
    file.run.cache = args.cache.clone().or(file.run.cache.take());
    crate::plugins::record(&mut file.run.plugins);
    file.validate()?;
    Ok((dir, file))
}

pub fn run_transfer(args: TransferArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    if args.example {
        print!("{EXAMPLE}");
        return Ok(());
    }
    let (dir, file) = prepare(&args)?;
    let report = run_in(&dir, &file, data_dir)?;
    emit(json, &report, table::render)
}

/// A new grid in `dir` from a configuration file not frozen yet: frozen with no option of the
/// command line (a search's held-out grid), or the frozen file already there (resumed).
pub(crate) fn run_file(dir: &Path, mut file: TransferFile, data_dir: Option<&Path>) -> Result<TransferReport> {
    let path = dir.join(CONFIG);
    if path.is_file() {
        let frozen = TransferFile::read_frozen(&path)?;
        file = TransferFile { run: file.run, ..frozen };
    } else {
        file.validate()?;
        let data = config::DataSettings { train_samples: None, test_samples: None, image_size: None };
        file.freeze(&TrainOptions::default(), data)?;
    }
    crate::plugins::record(&mut file.run.plugins);
    file.validate()?;
    run_in(dir, &file, data_dir)
}

/// Runs (or resumes) the grid of the frozen `file` in `dir` and writes its report, also when
/// cells failed (their error comes after).
fn run_in(dir: &Path, file: &TransferFile, data_dir: Option<&Path>) -> Result<TransferReport> {
    let dir = dir.to_owned();
    // The data is opened before anything is written, so that a grid that cannot start leaves
    // no run directory behind.
    let fitness = file.fitness(data_dir)?;
    let grid = fitness.grid().clone();
    let _lock = RunDir::create(&dir)?.lock()?;
    store::write_atomic(&dir.join(CONFIG), &file.to_toml()?)?;
    store::write_atomic(&dir.join(GRID), &lossgp_core::json::to_string_pretty(&grid)?)?;
    let ledger = Ledger::open(&dir, file.run.cache.as_deref())?;
    let mut evaluator = crate::run_table::evaluator(&file.run, &dir, Arc::new(fitness), data_dir)?;
    if file.run.evaluator == "threads" && file.run.workers > 1 {
        eprintln!(
            "note: cells on {} threads share the backend's random generator, so a model with dropout (head=paper, \
             inception-v3) draws its masks in an order that depends on timing, and its cells are not reproducible; \
             --evaluator processes gives each cell its own",
            file.run.workers
        );
    }
    eprintln!(
        "transfer in {}: {} losses x {} columns x {} seeds = {} cells on {}",
        dir.display(),
        grid.contenders.len(),
        grid.columns.len(),
        grid.seeds,
        grid.len(),
        file.grid.backend
    );
    let bar = ProgressBar::new(grid.len() as u64).with_style(
        ProgressStyle::with_template("cells {pos}/{len} [{bar:24}] {elapsed} eta {eta} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let mut progress = Progress { grid: &grid, results: Vec::new(), bar: &bar };
    let outcome = run_grid(&grid, &ledger, evaluator.as_mut(), file.run.own.retries, &mut |e| progress.observe(e));
    bar.finish_and_clear();
    drop(evaluator);
    // What finished is reported, and written, whether or not every cell did; a failed cell's
    // error comes first.
    let report = finish(&dir, &grid, &ledger.recorded(&grid)?);
    outcome?;
    report
}

/// `ngl, max(p, 0.5) - y` as `["ngl", "max(p, 0.5) - y"]`: split at the commas outside
/// parentheses, each part trimmed, empty parts dropped.
fn split_list(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
}

/// `small-cnn,fcn:backbone=resnet18,width=0.25` as `["small-cnn",
/// "fcn:backbone=resnet18,width=0.25"]`: split at commas, a `KEY=VALUE` part (an option, not
/// a model) kept with the model before it.
fn split_models(text: &str) -> Vec<String> {
    let mut models: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match models.last_mut() {
            Some(model) if part.contains('=') && !part.contains(':') => {
                model.push(',');
                model.push_str(part);
            }
            _ => models.push(part.to_owned()),
        }
    }
    models
}

/// The live line: cells done, ETA, and the current leader.
struct Progress<'a> {
    grid: &'a Grid,
    /// The results so far, by cell index.
    results: Vec<Option<CellRecord>>,
    bar: &'a ProgressBar,
}

impl Progress<'_> {
    fn observe(&mut self, event: GridEvent<'_>) {
        match event {
            GridEvent::Started { results, total, done, cached } => {
                self.results = results.to_vec();
                self.bar.set_position(done as u64);
                self.bar.reset_eta();
                let line = format!("{done} of {total} cells already finished ({cached} from the shared cache)");
                self.println(line);
            }
            GridEvent::Finished { cell, record, done, total } => {
                self.bar.set_position(done as u64);
                let line = format!(
                    "cell {done}/{total}: {} on {} / {}, seed {}: {:.2}% ({}, {:.1}s)",
                    record.loss,
                    record.model,
                    record.dataset,
                    record.seed,
                    100.0 * record.scored.fitness,
                    record.scored.status,
                    record.scored.metrics.get("seconds").copied().unwrap_or(0.0)
                );
                self.println(line);
                self.results[cell.index] = Some(record.clone());
                self.bar.set_message(leader(&analyse(self.grid, &self.results)));
            }
            GridEvent::Failed { cell, attempt, error } => {
                let c = &self.grid.columns[cell.column];
                let loss = &self.grid.contenders[cell.contender].name;
                self.println(format!(
                    "warning: {loss} on {} / {}, seed {}: attempt {attempt} failed: {error}",
                    c.model, c.dataset, cell.seed
                ));
            }
        }
    }

    fn println(&self, line: String) {
        // Without a terminal the bar is hidden, and so would be its lines.
        if self.bar.is_hidden() { eprintln!("{line}") } else { self.bar.println(line) }
    }
}

/// The loss with the best mean rank so far, with its mean difference to the reference.
fn leader(analysis: &Analysis) -> String {
    let best = analysis.losses.iter().filter_map(|l| l.mean_rank.map(|r| (r, l))).min_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((rank, loss)) => {
            let delta = loss.mean_difference.map(|d| format!(", mean Δ {:+.2}", 100.0 * d)).unwrap_or_default();
            format!("leader {} (mean rank {rank:.2}{delta})", loss.name)
        }
        None => String::new(),
    }
}

/// Writes the report of `results` (by cell index) and its plots into `dir`, and returns it.
fn finish(dir: &Path, grid: &Grid, results: &[Option<CellRecord>]) -> Result<TransferReport> {
    let report = assemble(dir, grid, results);
    store::write_atomic(&dir.join("report.md"), &table::markdown(&report))?;
    store::write_atomic(&dir.join("report.csv"), &table::csv(&report))?;
    store::write_atomic(&dir.join("report.json"), &lossgp_core::json::to_string_pretty(&report)?)?;
    plot::draw(&report, dir)?;
    Ok(report)
}

/// A transfer run's report as it stands, finished or not, read only: nothing is written (the
/// dashboard's view of a grid that may be running).
pub fn snapshot(dir: &Path) -> Result<TransferReport> {
    let grid = read_grid(dir)?;
    let ledger = Ledger::open(dir, None)?;
    Ok(assemble(dir, &grid, &ledger.recorded(&grid)?))
}

/// The report of what `results` holds.
fn assemble(dir: &Path, grid: &Grid, results: &[Option<CellRecord>]) -> TransferReport {
    let analysis = analyse(grid, results);
    let training_seconds =
        results.iter().flatten().filter(|r| !r.cached).filter_map(|r| r.scored.metrics.get("seconds")).sum();
    TransferReport {
        run_dir: dir.to_owned(),
        finished: analysis.cells_finished == analysis.cells,
        training_seconds,
        grid: grid.clone(),
        analysis,
        files: ["report.md", "report.csv", "report.json", "delta.png", "delta.svg", "seeds.png", "seeds.svg"]
            .iter()
            .map(|f| dir.join(f))
            .collect(),
    }
}

/// Whether `dir` is a transfer run directory.
pub fn is_transfer_run(dir: &Path) -> bool {
    dir.join(CONFIG).is_file()
}

/// The grid a run directory keeps (`grid.json`, written when the grid starts).
fn read_grid(dir: &Path) -> Result<Grid> {
    let path = dir.join(GRID);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("{} has no {GRID}: the grid never started (run it with lossgp transfer --resume)", dir.display())
    })?;
    lossgp_core::json::from_str(&text).with_context(|| format!("{} is not a transfer grid", path.display()))
}

/// `lossgp report DIR` on a transfer run: the table and plots of what has finished.
pub fn report(dir: &Path, json: bool) -> Result<()> {
    let grid = read_grid(dir)?;
    if !dir.join(CELLS).is_file() {
        eprintln!("note: {} has no finished cell yet", dir.display());
    }
    // Read only: the grid may be running.
    let ledger = Ledger::open(dir, None)?;
    let report = finish(dir, &grid, &ledger.recorded(&grid)?)?;
    emit(json, &report, table::render)
}

/// The grid's fitness for a worker process of the transfer run in `dir`. The worker rebuilds
/// the grid from the run's files and its own view of the data; a job names a cell by its index,
/// so a grid that differs from the coordinator's (other data on this machine) is refused.
pub fn worker_fitness(dir: &Path, data_dir: Option<&Path>) -> Result<lossgp_core::transfer::GridFitness> {
    let fitness = TransferFile::read_frozen(&dir.join(CONFIG))?.fitness(data_dir)?;
    let coordinator = read_grid(dir)?;
    if let Some((mine, theirs)) = fitness.grid().columns.iter().zip(&coordinator.columns).find(|(a, b)| a != b) {
        bail!(
            "this worker's data differs from the coordinator's: it sees `{}` where the coordinator has `{}`; give both \
             the same data directory (--data-dir)",
            mine.fingerprint,
            theirs.fingerprint
        );
    }
    if fitness.grid() != &coordinator {
        bail!(
            "this worker's grid differs from the coordinator's ({}): is it another lossgp version?",
            dir.join(GRID).display()
        );
    }
    Ok(fitness)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loss_lists_split_at_commas_outside_parentheses() {
        assert_eq!(super::split_list("ngl, max(p, 0.5) - y,focal,"), ["ngl", "max(p, 0.5) - y", "focal"]);
        assert_eq!(super::split_list("-sum(y * log(p))"), ["-sum(y * log(p))"]);
        assert_eq!(
            super::split_models("small-cnn, fcn:backbone=resnet18,width=0.25,aux=true,resnet20:width=0.5,"),
            ["small-cnn", "fcn:backbone=resnet18,width=0.25,aux=true", "resnet20:width=0.5"]
        );
    }
}
