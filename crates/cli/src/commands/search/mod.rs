//! `lossgp search`: discover loss functions by genetic programming, each candidate scored by
//! training a network with it; and `lossgp report`, which summarises any run directory.

mod config;
mod plot;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lossgp_core::search::{Baseline, LocalEvaluator, RunDir, RunOptions, SearchEvent, Stage, State, run, store};
use serde::Serialize;

pub use config::{EXAMPLE, SearchFile};

use crate::output::{emit, indent};

/// The configuration a run directory keeps.
const CONFIG: &str = "config.toml";
/// The summary a run directory keeps.
const SUMMARY: &str = "summary.json";

#[derive(Debug, Args)]
#[command(after_long_help = concat!("EXAMPLE CONFIGURATION (lossgp search --example > search.toml):\n\n", include_str!("example.toml")))]
pub struct SearchArgs {
    /// The configuration file (TOML; `--example` prints a documented one) [default: the
    /// defaults shown there].
    #[arg(long, value_name = "FILE.toml", conflicts_with = "resume")]
    config: Option<PathBuf>,
    /// The run directory [default: runs/search-<time>].
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the search in this run directory, with its own configuration.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Print the documented example configuration and exit.
    #[arg(long)]
    example: bool,
    /// Overrides [task] dataset.
    #[arg(long, conflicts_with = "resume")]
    dataset: Option<String>,
    /// Overrides [task] model.
    #[arg(long, conflicts_with = "resume")]
    model: Option<String>,
    /// Overrides [search] population.
    #[arg(long, conflicts_with = "resume")]
    population: Option<usize>,
    /// Overrides [search] generations (also on --resume, to run more of them).
    #[arg(long)]
    generations: Option<usize>,
    /// Overrides [search] seed.
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Overrides [run] workers (also on --resume: it does not change the result).
    #[arg(long)]
    workers: Option<usize>,
    /// Overrides [run] cache: a fitness cache shared with other runs on the same task.
    #[arg(long, value_name = "FILE.jsonl")]
    cache: Option<PathBuf>,
    /// Stop after the generation running when this many minutes have passed; --resume
    /// continues.
    #[arg(long, value_name = "MINUTES")]
    max_minutes: Option<f64>,
}

/// The run directory and the settings of this call.
fn prepare(args: &SearchArgs) -> Result<(RunDir, SearchFile)> {
    let (dir, mut file) = match &args.resume {
        Some(dir) => {
            let path = dir.join(CONFIG);
            if !path.is_file() {
                bail!("{} has no {CONFIG}: it is not a lossgp run directory (start one with --out)", dir.display());
            }
            let mut file = SearchFile::read(&path)?;
            file.search.generations = args.generations.unwrap_or(file.search.generations);
            (dir.clone(), file)
        }
        None => {
            let mut file = match &args.config {
                Some(path) => SearchFile::read(path)?,
                None => SearchFile::default(),
            };
            let task = &mut file.task;
            task.dataset = args.dataset.clone().unwrap_or(task.dataset.clone());
            task.model = args.model.clone().unwrap_or(task.model.clone());
            let search = &mut file.search;
            search.population = args.population.unwrap_or(search.population);
            search.generations = args.generations.unwrap_or(search.generations);
            search.seed = args.seed.unwrap_or(search.seed);
            let dir = args.out.clone().unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                PathBuf::from(format!("runs/search-{now}"))
            });
            if dir.join(store::STATE).exists() || dir.join(store::EVALUATIONS).exists() {
                bail!(
                    "{} already holds a search: continue it with --resume {0}, or choose another --out",
                    dir.display()
                );
            }
            (dir, file)
        }
    };
    file.run.workers = args.workers.unwrap_or(file.run.workers);
    file.run.cache = args.cache.clone().or(file.run.cache.take());
    file.validate()?;
    let run_dir = RunDir::create(&dir)?;
    store::write_atomic(&dir.join(CONFIG), &file.to_toml()?)?;
    Ok((run_dir, file))
}

pub fn run_search(args: SearchArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    if args.example {
        print!("{EXAMPLE}");
        return Ok(());
    }
    let (dir, file) = prepare(&args)?;
    let fitness = file.fitness(data_dir)?;
    let task = fitness.task();
    let mut evaluator = LocalEvaluator::new(fitness, file.run.workers);
    eprintln!("search in {}: {}", dir.path().display(), file.describe());

    let bar = ProgressBar::new(file.search.generations as u64).with_style(
        ProgressStyle::with_template("generation {pos}/{len} [{bar:24}] {elapsed} eta {eta} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let mut tally = Tally::default();
    let mut observe = |event: SearchEvent<'_>| tally.observe(&bar, event);
    let options = RunOptions { max_seconds: args.max_minutes.map(|m| m * 60.0), cache: file.run.cache.clone() };
    let state = run(&file.search, &dir, &task, &mut evaluator, &file.baselines()?, options, &mut observe)?;
    bar.finish_and_clear();
    let summary = finish(dir.path(), &state, &file)?;
    emit(json, &summary, render)
}

/// What the progress line shows.
#[derive(Default)]
struct Tally {
    generation: usize,
    trained: usize,
    screened: usize,
    best: Option<f64>,
    baselines: String,
}

impl Tally {
    fn observe(&mut self, bar: &ProgressBar, event: SearchEvent<'_>) {
        match event {
            SearchEvent::GenerationStarted { generation, offspring } => {
                (self.generation, self.trained, self.screened) = (generation, 0, 0);
                bar.set_position(generation as u64);
                bar.set_message(format!("{offspring} offspring{}", self.best_text()));
            }
            SearchEvent::Evaluating { count, rung } => {
                let what = if rung == 0 { "training".to_owned() } else { format!("training (rung {rung})") };
                bar.set_message(format!(
                    "{what} {count} candidates, {} screened out{}",
                    self.screened,
                    self.best_text()
                ));
            }
            SearchEvent::Record(record) => match &record.outcome {
                lossgp_core::search::Outcome::Screened { .. } => self.screened += 1,
                lossgp_core::search::Outcome::Evaluated { scored, .. } if record.generation.is_none() => {
                    let _ = write!(self.baselines, " {} {:.4}", record.loss, scored.fitness);
                }
                _ => {
                    self.trained += 1;
                    bar.set_message(format!(
                        "{} trained, {} screened out{}",
                        self.trained,
                        self.screened,
                        self.best_text()
                    ));
                }
            },
            SearchEvent::GenerationFinished { stats, hall_of_fame } => {
                self.best = hall_of_fame.first().map(|i| i.fitness);
                bar.set_position(stats.generation as u64 + 1);
                let line = format!(
                    "generation {}: best {:.4}, median {:.4}; {} trained, {} cache hits, {} screened out, {:.0}s",
                    stats.generation,
                    stats.best,
                    stats.median,
                    stats.evaluations,
                    stats.cache_hits,
                    stats.screened.values().sum::<usize>(),
                    stats.seconds
                );
                // Without a terminal the bar is hidden, and so would be its lines.
                if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
            }
        }
    }

    fn best_text(&self) -> String {
        self.best.map(|b| format!("; best {b:.4}")).unwrap_or_default()
    }
}

/// What `lossgp search` and `lossgp report` print (and `summary.json` holds).
#[derive(Debug, Serialize)]
struct Summary {
    run_dir: PathBuf,
    task: String,
    finished: bool,
    generations_done: usize,
    generations: usize,
    totals: Totals,
    baselines: Vec<Baseline>,
    best: Vec<Found>,
    plots: Vec<PathBuf>,
}

/// Work done and saved over the whole run.
#[derive(Debug, Default, Serialize)]
struct Totals {
    offspring: usize,
    cache_hits: usize,
    screened: BTreeMap<Stage, usize>,
    evaluations: usize,
    failures: usize,
    seconds: f64,
}

/// A loss of the hall of fame.
#[derive(Debug, Serialize)]
struct Found {
    rank: usize,
    loss: String,
    fitness: f64,
    /// Fitness minus each baseline's.
    versus: BTreeMap<String, f64>,
    generation: usize,
    island: usize,
    size: usize,
    /// The loss simplified (the same function, often shorter).
    simplified: String,
    latex: String,
    pytorch: String,
}

/// Writes the summary and the plots into the run directory and returns the summary.
fn finish(dir: &Path, state: &State, file: &SearchFile) -> Result<Summary> {
    let mut totals = Totals::default();
    for g in &state.history {
        totals.offspring += g.offspring;
        totals.cache_hits += g.cache_hits;
        totals.evaluations += g.evaluations;
        totals.failures += g.failures;
        totals.seconds += g.seconds;
        for (stage, n) in &g.screened {
            *totals.screened.entry(*stage).or_default() += n;
        }
    }
    let best = state
        .hall_of_fame
        .iter()
        .take(file.run.top)
        .enumerate()
        .map(|(i, ind)| {
            let loss = lossgp_core::Loss::new(ind.expr.clone(), file.search.reduction);
            Found {
                rank: i + 1,
                loss: loss.to_string(),
                fitness: ind.fitness,
                versus: state.baselines.iter().map(|b| (b.name.clone(), ind.fitness - b.fitness)).collect(),
                generation: ind.generation,
                island: ind.island,
                size: ind.size,
                simplified: loss.simplify().to_string(),
                latex: loss.to_latex(),
                pytorch: loss.to_pytorch(&format!("found_loss_{}", i + 1)),
            }
        })
        .collect();
    plot::draw(state, dir)?;
    let summary = Summary {
        run_dir: dir.to_owned(),
        task: state.task.clone(),
        finished: state.finished(&file.search),
        generations_done: state.generation,
        generations: file.search.generations,
        totals,
        baselines: state.baselines.clone(),
        best,
        plots: vec![dir.join("progress.png"), dir.join("progress.svg")],
    };
    store::write_atomic(&dir.join(SUMMARY), &serde_json::to_string_pretty(&summary)?)?;
    Ok(summary)
}

fn render(s: &Summary) -> String {
    let mut out = String::new();
    let state = if s.finished {
        "finished".to_owned()
    } else {
        format!("stopped after generation {} (continue with --resume)", s.generations_done)
    };
    let _ = writeln!(out, "{}: {} generations of {}, {state}", s.run_dir.display(), s.generations_done, s.generations);
    let t = &s.totals;
    let screened: Vec<String> = t.screened.iter().map(|(stage, n)| format!("{n} {}", stage.name())).collect();
    let _ = writeln!(
        out,
        "{} offspring: {} cache hits, {} screened out ({}), {} trainings, {} failed; {:.0}s",
        t.offspring,
        t.cache_hits,
        t.screened.values().sum::<usize>(),
        if screened.is_empty() { "none".into() } else { screened.join(", ") },
        t.evaluations,
        t.failures,
        t.seconds
    );
    for b in &s.baselines {
        let _ = writeln!(out, "baseline {:<6} {:.4}  {}", b.name, b.fitness, b.loss);
    }
    if !s.best.is_empty() {
        let _ = writeln!(
            out,
            "\n{:>4} {:>8}  {:<28} {:>4} {:>5}  loss",
            "rank", "fitness", "versus baselines", "gen", "nodes"
        );
    }
    for f in &s.best {
        let versus: Vec<String> = f.versus.iter().map(|(name, d)| format!("{d:+.4} {name}")).collect();
        let _ = writeln!(
            out,
            "{:>4} {:>8.4}  {:<28} {:>4} {:>5}  {}",
            f.rank,
            f.fitness,
            versus.join(", "),
            f.generation,
            f.size,
            f.loss
        );
        if f.simplified != f.loss {
            let _ = writeln!(out, "{:>54}  = {}", "", f.simplified);
        }
    }
    if let Some(f) = s.best.first() {
        let _ = write!(out, "\nthe best, in LaTeX:\n  {}\nand in PyTorch:\n{}", f.latex, indent(&f.pytorch, 2));
        let _ = writeln!(
            out,
            "(every loss listed, with its LaTeX and PyTorch code, is in {})",
            s.run_dir.join(SUMMARY).display()
        );
    }
    let _ = writeln!(out, "plots: {}", s.plots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    out
}

/// `lossgp report DIR`: the summary and plots of a run, finished or not.
pub fn report(dir: &Path, json: bool) -> Result<()> {
    let path = dir.join(CONFIG);
    if !path.is_file() {
        bail!("{} has no {CONFIG}: it is not a lossgp run directory", dir.display());
    }
    let file = SearchFile::read(&path)?;
    let Some(state) = RunDir::create(dir)?.load_state()? else {
        bail!("{} has no finished generation yet: nothing to report", dir.display());
    };
    let summary = finish(dir, &state, &file)?;
    emit(json, &summary, render)
}
