//! `lossgp transfer` end to end, on real data (the UCI digits of Debian's python3-sklearn):
//! a grid killed with SIGKILL and resumed ends with the table of an uninterrupted one, with no
//! cell trained twice; results are shared through a cache; losses come from a search run;
//! the report has the paper's layout, CSV, JSON and plots; mistakes are refused by name.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{digits_present, failure, json, lossgp, two_class_folder};
use serde_json::Value;

/// A small real grid: 3 losses x 2 models x the digits x 3 seeds, a few epochs each.
const GRID: &[&str] = &[
    "--losses",
    "ngl,focal",
    "--baselines",
    "ngl",
    "--models",
    "small-cnn,small-cnn:hidden=0",
    "--datasets",
    "digits",
    "--seeds",
    "3",
    "--train-samples",
    "600",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--validation-fraction",
    "0",
    "--schedule",
    "constant",
];

/// Two worker processes of one backend thread each (results do not depend on thread timing).
const PROCESSES: &[&str] = &["--evaluator", "processes", "--workers", "2"];

fn transfer(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["transfer", "--out", out.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
    args.extend(GRID.iter().chain(extra).map(|s| s.to_string()));
    args
}

fn cell_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("cells.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The table and statistics of a report (which depend on neither time nor place).
fn table(report: &Value) -> Value {
    report["analysis"].clone()
}

#[test]
fn a_killed_grid_resumes_to_the_same_table_without_training_a_cell_twice() {
    if !digits_present("a_killed_grid_resumes") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    let args = transfer(&whole, &[PROCESSES, &["--json"]].concat());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = json(None, &args);
    assert_eq!(report["finished"], true);
    assert_eq!(cell_lines(&whole).len(), 18);

    // The same grid, killed once some cells are in the ledger and others are training.
    let cut = root.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(transfer(&cut, PROCESSES))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while cell_lines(&cut).len() < 5 {
        assert!(child.try_wait().unwrap().is_none(), "the grid ended before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(300), "no cell finished in 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = cell_lines(&cut).len();
    assert!(before < 18, "killed before the end ({before} cells)");

    let resumed = json(None, &["transfer", "--resume", cut.to_str().unwrap(), "--json"]);
    assert_eq!(resumed["finished"], true);
    assert_eq!(table(&resumed), table(&report), "the resumed grid ends with the uninterrupted one's table");
    let lines = cell_lines(&cut);
    let keys: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!((lines.len(), keys.len()), (18, 18), "every cell recorded once: none trained twice");

    // `report` redraws the same from the run directory alone.
    let again = json(None, &["report", cut.to_str().unwrap(), "--json"]);
    assert_eq!(table(&again), table(&report));
}

#[test]
fn the_report_has_the_papers_layout_its_statistics_and_plots() {
    if !digits_present("the_report_has_the_papers_layout") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("grid");
    let args = transfer(&dir, &["--evaluator", "threads", "--workers", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lossgp(None, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cell 18/18: "), "a line per cell: {stderr}");

    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    // The terminal gets the table as aligned text (no Markdown), and where the whole report is.
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("<br>") && !printed.contains("| loss |"), "{printed}");
    let head = printed.lines().find(|l| l.starts_with("loss ")).expect("the table's head");
    assert!(head.contains("digits / small-cnn") && head.ends_with("noise-aware"), "{head}");
    assert!(printed.lines().any(|l| l.starts_with("ngl ") && l.contains(['↑', '↓', '='])), "{printed}");
    assert!(printed.contains("report.md"), "{printed}");
    let header = markdown.lines().find(|l| l.starts_with("| loss | digits<br>small-cnn |")).expect("the paper's table");
    assert!(header.contains("| mean Δ | mean rank | paper | noise-aware |"), "{header}");
    let row = |name: &str| markdown.lines().find(|l| l.starts_with(&format!("| {name} |"))).unwrap().to_owned();
    // CE's row in accuracy %, mean ± sd; the others as a signed difference with a mark.
    assert!(row("ce").split('|').nth(2).unwrap().contains(" ± "), "{}", row("ce"));
    let ngl = row("ngl");
    let first = ngl.split('|').nth(2).unwrap().trim();
    assert!(first.starts_with(['+', '-']) && first.contains(['↑', '↓', '=']), "{ngl}");
    assert!(markdown.contains("the paper's rule") && markdown.contains("the noise-aware rule"));
    assert!(markdown.contains("### digits / small-cnn:hidden=0"));

    let csv = std::fs::read_to_string(dir.join("report.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2, "a header and a row per loss and column");
    assert!(csv.lines().next().unwrap().contains("p_wilcoxon,p_holm,paper_verdict,noise_aware_verdict"));

    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let versus = &report["analysis"]["losses"][1]["columns"][0]["versus"];
    let differences: Vec<f64> = versus["differences"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap()).collect();
    let seeds = |l: usize| -> Vec<f64> {
        report["analysis"]["losses"][l]["columns"][0]["per_seed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap())
            .collect()
    };
    let (ngl, ce) = (seeds(1), seeds(0));
    for ((d, a), b) in differences.iter().zip(&ngl).zip(&ce) {
        assert!((d - (a - b)).abs() < 1e-12, "paired by seed");
    }
    assert_eq!(versus["t_test"]["df"], 2);
    for plot in ["delta.png", "delta.svg", "seeds.png", "seeds.svg"] {
        let bytes = std::fs::read(dir.join(plot)).unwrap();
        assert!(bytes.len() > 1000, "{plot} is drawn");
    }
}

#[test]
fn cells_are_shared_through_a_cache_and_losses_come_from_a_search_run() {
    if !digits_present("cells_are_shared_through_a_cache") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // A search run to take losses from (gradient matching: seconds, no data).
    let search = root.path().join("found");
    let config = root.path().join("search.toml");
    std::fs::write(
        &config,
        "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 8\ngenerations = 2\nhall_of_fame = 3\n\
         confirm_seeds = 0\n[run]\nbaselines = [\"ls-tuned\"]\nlabel_smoothing = [0.1, 0.6]\n",
    )
    .unwrap();
    json(None, &["search", "--config", config.to_str().unwrap(), "--out", search.to_str().unwrap(), "--json"]);

    let cache = root.path().join("cache.jsonl");
    let base = [
        "--models",
        "small-cnn",
        "--datasets",
        "digits",
        "--train-samples",
        "300",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--validation-fraction",
        "0",
        "--schedule",
        "constant",
        "--cache",
        cache.to_str().unwrap(),
        "--json",
    ];
    let first = root.path().join("first");
    let mut args = vec!["transfer", "--out", first.to_str().unwrap(), "--losses", "ngl", "--baselines", "none"];
    args.extend(base);
    json(None, &args);
    assert_eq!(cell_lines(&first).len(), 4);

    // A larger grid: ce and ngl come from the cache, the search's two best are trained, and
    // the default baselines join: label smoothing at the ε the search tuned, and Poly-1.
    let second = root.path().join("second");
    let mut args =
        vec!["transfer", "--out", second.to_str().unwrap(), "--losses", "ngl", "--from", search.to_str().unwrap()];
    args.extend(["--top", "2"]);
    args.extend(base);
    let out = lossgp(None, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 of 12 cells already finished (4 from the shared cache)"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let analysis = &report["analysis"];
    let names: Vec<&str> = analysis["losses"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ce", "ngl", "found#1", "found#2", "ls-tuned", "poly1"]);
    let baseline: Vec<bool> =
        analysis["losses"].as_array().unwrap().iter().map(|l| l["baseline"].as_bool().unwrap()).collect();
    assert_eq!(baseline, [true, true, false, false, true, true]);
    // The search matched cross entropy's gradients, so the smaller ε won there.
    let frozen = std::fs::read_to_string(second.join("transfer.toml")).unwrap();
    assert!(frozen.contains("ls-ce(0.1)") && !frozen.contains("ls-ce(0.6)"), "{frozen}");
    let strongest = analysis["strongest"][0].as_str().unwrap();
    assert!(["ce", "ngl", "ls-tuned", "poly1"].contains(&strongest), "{analysis}");
    let found = &analysis["losses"][2]["columns"][0];
    assert_eq!(found["versus_strongest"]["differences"].as_array().unwrap().len(), 2, "{found}");
    let markdown = std::fs::read_to_string(second.join("report.md")).unwrap();
    assert!(markdown.contains("## Against the strongest baseline"), "{markdown}");
    assert!(markdown.contains("- ls-tuned: optimum 0.950 at C=2") && markdown.contains("; LS-like"), "{markdown}");
    let lines = cell_lines(&second);
    assert_eq!(lines.iter().filter(|l| l["cached"] == true).count(), 4);
    assert_eq!(lines.len(), 12);
    // The run directory keeps the expressions: it resumes (and reports) without the search run.
    std::fs::remove_dir_all(&search).unwrap();
    let resumed = json(None, &["transfer", "--resume", second.to_str().unwrap(), "--json"]);
    assert_eq!(resumed["analysis"], report["analysis"]);
}

#[test]
fn an_image_folder_is_a_dataset_of_the_grid_scored_on_its_test_folder() {
    let root = tempfile::tempdir().unwrap();
    let images = root.path().join("two-classes");
    two_class_folder(&images);
    let dir = root.path().join("grid");
    let report = json(
        None,
        &[
            "transfer",
            "--out",
            dir.to_str().unwrap(),
            "--datasets",
            images.to_str().unwrap(),
            "--losses",
            "ngl",
            "--baselines",
            "none",
            "--seeds",
            "2",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--validation-fraction",
            "0",
            "--schedule",
            "constant",
            "--json",
        ],
    );
    assert_eq!(report["finished"], true);
    let ce = &report["analysis"]["losses"][0]["columns"][0];
    assert_eq!(ce["per_seed"].as_array().unwrap().len(), 2);
    // 16 test images (8 per class) of two classes any network separates.
    assert!(ce["accuracy"]["mean"].as_f64().unwrap() > 0.9, "{ce}");
    assert!(ce["top5"].is_null(), "no top-5 with two classes");
}

#[test]
fn mistakes_are_refused_with_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("t");
    let out = out.to_str().unwrap();
    let err = failure(None, &["transfer", "--out", out, "--losses", "ngll"]);
    assert!(err.contains("ngll") && err.contains("ngl"), "{err}");
    let err = failure(None, &["transfer", "--out", out, "--models", "resnet20:depth=3"]);
    assert!(err.contains("depth"), "{err}");
    let err = failure(None, &["transfer", "--out", out, "--seeds", "0"]);
    assert!(err.contains("seeds must be at least 1"), "{err}");
    let err = failure(None, &["transfer", "--resume", root.path().to_str().unwrap()]);
    assert!(err.contains("not a transfer run directory"), "{err}");
    let err = failure(None, &["transfer", "--out", out, "--from", root.path().to_str().unwrap()]);
    assert!(err.contains("not a lossgp search run directory"), "{err}");
    let config = root.path().join("bad.toml");
    std::fs::write(&config, "[grid]\ndatasets = [\"mnist\"]\n[dataset.digits]\ntrain_samples = 10\n").unwrap();
    let err = failure(None, &["transfer", "--config", config.to_str().unwrap(), "--out", out]);
    assert!(err.contains("[dataset.\"digits\"]") && err.contains("does not train on"), "{err}");
    let example = lossgp(None, &["transfer", "--example"]);
    assert!(example.status.success() && String::from_utf8_lossy(&example.stdout).contains("[grid]"));
    if digits_present("mistakes_are_refused") {
        let err =
            failure(None, &["transfer", "--out", out, "--models", "fcn:backbone=resnet18", "--datasets", "digits"]);
        assert!(err.contains("segmentation") && err.contains("lossgp list models"), "{err}");
        assert!(!root.path().join("t").exists(), "a grid that cannot start leaves no run directory");
    }
}
