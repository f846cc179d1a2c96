//! `lossgp data`: which datasets are present, fetching them, and looking at them.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use lossgp_core::data::{Split, Task};
use lossgp_datasets::fetch::{FetchOptions, FetchReport, fetch};
use lossgp_datasets::inspect::{Report, grid, inspect};
use lossgp_datasets::location::Origin;
use lossgp_datasets::registry::Source;
use lossgp_datasets::{DataDir, catalogue, info, locate};

use super::dataset::open_split;
use serde::Serialize;

use crate::output::emit;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show which datasets are present, where, and their size on disk.
    List,
    /// Download a dataset from its official address, verify it and unpack it.
    Fetch {
        /// The dataset (see `lossgp data list`).
        name: String,
        /// Download from `URL/<file name>` instead of the official addresses.
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// Keep the downloaded archives after unpacking them.
        #[arg(long)]
        keep_archives: bool,
    },
    /// Count samples and classes, compute pixel statistics, and draw a grid of samples.
    Inspect {
        /// A dataset name, or the path of an image folder (one folder per class).
        name: String,
        /// The split to inspect.
        #[arg(long, default_value = "train")]
        split: Split,
        /// Write a PNG grid of samples with their class names to this file.
        #[arg(long, value_name = "FILE.png")]
        grid: Option<PathBuf>,
        /// Samples per row of the grid.
        #[arg(long, default_value_t = 8)]
        per_class: usize,
        /// Read at most this many samples (chosen at random) for the pixel statistics.
        #[arg(long, default_value_t = 20_000)]
        max_samples: usize,
    },
}

pub fn run(command: DataCommand, data_dir: Option<&Path>, json: bool) -> Result<()> {
    let dirs = DataDir::resolve(data_dir)?;
    match command {
        DataCommand::List => list(&dirs, json),
        DataCommand::Fetch { name, mirror, keep_archives } => {
            let info = info(&name).with_context(|| {
                let names: Vec<&str> = catalogue().iter().map(|e| e.info.name).collect();
                format!("unknown dataset `{name}`; the known ones are {}", names.join(", "))
            })?;
            let options = FetchOptions { mirror, keep_archives, ..FetchOptions::default() };
            eprintln!("fetching {} into {}", info.name, dirs.dataset(info.name).display());
            let report = fetch(info, &dirs, &options)?;
            emit(json, &report, render_fetch)
        }
        DataCommand::Inspect { name, split, grid: grid_path, per_class, max_samples } => {
            if !(1..=64).contains(&per_class) {
                anyhow::bail!("--per-class {per_class}: a grid row holds 1 to 64 samples");
            }
            let dataset = open_split(&name, split, &dirs)?;
            let report = inspect(dataset.as_ref(), max_samples, 0)?;
            let drawn = match &grid_path {
                Some(path) => Some(grid(dataset.as_ref(), per_class, 20, path)?),
                None => None,
            };
            let out = InspectReport {
                report,
                grid: grid_path.zip(drawn).map(|(path, samples)| GridReport { path, samples }),
            };
            emit(json, &out, render_inspect)
        }
    }
}

#[derive(Serialize)]
struct ListEntry {
    name: &'static str,
    title: &'static str,
    task: Task,
    classes: usize,
    splits: Vec<&'static str>,
    present: bool,
    path: Option<PathBuf>,
    bytes_on_disk: Option<u64>,
    download_bytes: Option<u64>,
    manual: Option<String>,
    note: &'static str,
}

#[derive(Serialize)]
struct ListReport {
    data_dir: PathBuf,
    origin: Origin,
    datasets: Vec<ListEntry>,
}

/// The total size of the files below `path`.
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

fn list(dirs: &DataDir, json: bool) -> Result<()> {
    let datasets = catalogue()
        .into_iter()
        .map(|e| {
            let i = &e.info;
            let path = locate(i.name, dirs);
            let (download_bytes, manual) = match i.source {
                Source::Download(files) => (files.iter().map(|f| f.bytes).sum::<Option<u64>>(), None),
                Source::Manual(how) => (None, Some(how.replace("DATA_DIR", &dirs.root().display().to_string()))),
            };
            ListEntry {
                name: i.name,
                title: i.title,
                task: i.task,
                classes: i.classes,
                splits: i.splits.iter().map(|s| s.name()).collect(),
                present: path.is_some(),
                bytes_on_disk: path.as_deref().map(disk_usage),
                path,
                download_bytes,
                manual,
                note: i.note,
            }
        })
        .collect();
    let report = ListReport { data_dir: dirs.root().to_owned(), origin: dirs.origin(), datasets };
    emit(json, &report, |r| {
        let origin = match r.origin {
            Origin::Option => "from --data-dir",
            Origin::Environment => "from LOSSGP_DATA_DIR",
            Origin::UserCache => "the default; change it with --data-dir or LOSSGP_DATA_DIR",
        };
        let mut out = format!("data directory: {} ({origin})\n\n", r.data_dir.display());
        let width = r.datasets.iter().map(|d| d.title.len()).max().unwrap_or(0);
        for d in &r.datasets {
            let state = match (&d.path, d.bytes_on_disk) {
                (Some(path), Some(bytes)) => format!("present: {} in {}", human_bytes(bytes), path.display()),
                _ => match (&d.manual, d.download_bytes) {
                    (Some(how), _) if how.len() < 80 => format!("missing: {how}"),
                    (Some(_), _) => format!("missing: obtained by hand, `lossgp data fetch {}` says how", d.name),
                    (None, Some(bytes)) => {
                        format!("missing: `lossgp data fetch {}` downloads {}", d.name, human_bytes(bytes))
                    }
                    (None, None) => format!("missing: `lossgp data fetch {}`", d.name),
                },
            };
            let _ = writeln!(out, "{:16} {:width$}  {state}", d.name, d.title);
        }
        out
    })
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn render_fetch(r: &FetchReport) -> String {
    if r.already_present {
        return format!("{} is already present in {}\n", r.dataset, r.path.display());
    }
    let mut out = format!("{} is ready in {}\n", r.dataset, r.path.display());
    for f in &r.files {
        let check = if f.verified { "MD5 verified" } else { "no published checksum" };
        let _ = writeln!(out, "  {} ({}, {check}, sha256 {})", f.file, human_bytes(f.bytes), f.sha256);
    }
    out
}

#[derive(Serialize)]
struct GridReport {
    path: PathBuf,
    samples: usize,
}

#[derive(Serialize)]
struct InspectReport {
    #[serde(flatten)]
    report: Report,
    grid: Option<GridReport>,
}

fn render_inspect(r: &InspectReport) -> String {
    let report = &r.report;
    let p = &report.pixels;
    let task = report.task;
    let mut out =
        format!("{}: {} samples, {} classes ({task})\n", report.dataset, report.samples, report.classes.len());
    let numbers = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    let sizes = if p.width.0 == p.width.1 && p.height.0 == p.height.1 {
        format!("{}x{}", p.width.0, p.height.0)
    } else {
        format!("{}-{} x {}-{}", p.width.0, p.width.1, p.height.0, p.height.1)
    };
    let _ = writeln!(
        out,
        "pixels ({} samples read): {sizes}, {} channel(s), mean [{}], std [{}], values {}-{}",
        p.samples_read,
        p.channels,
        numbers(&p.mean),
        numbers(&p.std),
        p.min,
        p.max
    );
    let unit = if report.task == Task::Segmentation { "pixels" } else { "samples" };
    let _ = writeln!(out, "\n  {:>4}  {:24} {unit}", "", "class");
    for c in &report.classes {
        let _ = writeln!(out, "  {:>4}  {:24} {}", c.index, c.name, c.count);
    }
    if report.task == Task::Segmentation {
        let _ = writeln!(out, "  {:>4}  {:24} {}", "", "(ignored)", report.ignored_pixels);
    }
    if !report.skipped.is_empty() {
        const SHOWN: usize = 20;
        let _ = writeln!(out, "\n{} files not read:", report.skipped.len());
        for file in report.skipped.iter().take(SHOWN) {
            let _ = writeln!(out, "  {}: {}", file.path.display(), file.reason);
        }
        if report.skipped.len() > SHOWN {
            let _ = writeln!(out, "  ... and {} more (--json lists all)", report.skipped.len() - SHOWN);
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    if let Some(g) = &r.grid {
        let _ = writeln!(out, "\ngrid of {} samples written to {}", g.samples, g.path.display());
    }
    out
}
