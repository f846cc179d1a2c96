//! `lossgp search` and `lossgp report` end to end: a real search (candidates trained on the
//! real Fashion-MNIST) killed with SIGKILL in the middle of a generation and resumed ends
//! exactly as the same search run without interruption.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{failure, json, lossgp};
use serde_json::Value;

/// A small real search: 900 training images, 16 steps per candidate.
const CONFIG: &str = r#"
[task]
dataset = "fashion-mnist"
model = "small-cnn"
train_samples = 1000

[train]
epochs = 1
batch_size = 56
validation_fraction = 0.1
schedule = { kind = "constant" }

[search]
seed = 3
population = 6
generations = 3
screening = { rejection_steps = 100 }

[run]
baselines = ["ce"]
top = 3
"#;

fn state(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("state.json")).expect("state.json");
    let mut state: Value = serde_json::from_str(&text).expect("JSON");
    for generation in state["history"].as_array_mut().expect("a history") {
        generation["seconds"] = Value::Null;
    }
    state
}

/// Records of generation `g` in the run's evaluations file.
fn records_of(dir: &Path, g: u64) -> usize {
    std::fs::read_to_string(dir.join("evaluations.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["generation"] == g)
        .count()
}

#[test]
fn a_killed_search_resumes_to_the_same_hall_of_fame() {
    let root = tempfile::TempDir::new().unwrap();
    let config = root.path().join("search.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_str().unwrap();

    let whole = root.path().join("whole");
    let summary = json(None, &["search", "--config", config, "--out", whole.to_str().unwrap(), "--json"]);
    assert_eq!(summary["finished"], true, "{summary}");
    assert!(summary["best"][0]["fitness"].as_f64().unwrap() > 0.5, "{summary}");
    assert!(summary["baselines"][0]["fitness"].as_f64().unwrap() > 0.5, "{summary}");
    // Noise-aware: the best and the baseline were trained on 3 more seeds, compared pairwise.
    assert_eq!(summary["best"][0]["confirmed"].as_array().unwrap().len(), 3, "{summary}");
    assert_eq!(summary["baselines"][0]["confirmed"].as_array().unwrap().len(), 3, "{summary}");
    let paired = &summary["best"][0]["versus"]["ce"]["paired"];
    assert_eq!(paired["differences"].as_array().unwrap().len(), 3, "{summary}");
    // A verdict, unless the three differences happen to be equal (zero variance: no verdict).
    let tested = ["better", "same", "worse"].contains(&paired["verdict"].as_str().unwrap());
    assert!(tested || paired["untestable"] == "no-variance", "{summary}");
    // Every slot after the first generation holds a new loss.
    for g in summary["diversity"].as_array().unwrap() {
        assert_eq!(g["new_share"], 1.0, "{summary}");
    }
    assert!(whole.join("progress.png").is_file() && whole.join("progress.svg").is_file());
    assert!(!whole.join("tasks.png").exists(), "one task draws no task panels");
    assert_eq!(summary["strongest_baseline"], "ce", "{summary}");
    assert!(summary["best"][0]["analysis"]["classes"].as_array().unwrap().len() == 3, "{summary}");

    // The horizon check: the two best and cross entropy on two held-out seeds, at the search's
    // length and twice as long, with the rank correlation between the two.
    let dir = whole.to_str().unwrap();
    let held = json(None, &["confirm", dir, "--seed-numbers", "11,12", "--top", "2", "--epochs-factor", "2", "--json"]);
    let horizon = &held["horizon"];
    assert_eq!((horizon["factor"].as_u64(), horizon["epochs"].as_u64()), (Some(2), Some(2)), "{held}");
    let (short, long) = (held["losses"].as_array().unwrap(), horizon["losses"].as_array().unwrap());
    assert_eq!(short.len(), long.len());
    assert!(short.iter().zip(long).any(|(s, l)| s["fitness"] != l["fitness"]), "longer runs, other results: {held}");
    assert!(horizon["spearman"].is_f64() || (short.len() < 3 && horizon["spearman"].is_null()), "{held}");
    let lines = std::fs::read_to_string(whole.join("heldout.jsonl")).unwrap();
    let long_lines = lines.lines().filter(|l| l.contains("\"epochs_factor\":2")).count();
    assert_eq!(long_lines, 2 * long.len(), "{lines}");

    // The same search, killed as soon as generation 1 has screened or trained a candidate.
    let cut = root.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["search", "--config", config, "--out", cut.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while records_of(&cut, 1) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the search ended before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(600), "generation 1 never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Killed mid-generation: the generation that state.json says comes next had begun.
    let next = state(&cut)["generation"].as_u64().unwrap();
    assert!(next < 3 && records_of(&cut, next) > 0, "killed between generations ({next})");

    // `report` works on the unfinished run, and says so.
    let report = json(None, &["report", cut.to_str().unwrap(), "--json"]);
    assert_eq!(report["finished"], false);
    assert_eq!(report["generations_done"], next);

    let resumed = json(None, &["search", "--resume", cut.to_str().unwrap(), "--json"]);
    assert_eq!(resumed["finished"], true);
    assert_eq!(state(&cut), state(&whole), "the resumed search ends as the uninterrupted one");
    assert_eq!(resumed["best"], summary["best"]);

    // On worker processes, with one worker killed in the middle of a training: its job is
    // retried, and the search ends as on threads.
    let procs = root.path().join("processes");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["search", "--config", config, "--out", procs.to_str().unwrap(), "--evaluator", "processes"])
        .args(["--workers", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let claims = procs.join("queue/claimed/w0");
    let start = Instant::now();
    let victim = loop {
        assert!(child.try_wait().unwrap().is_none(), "the search ended before a worker could be killed");
        assert!(start.elapsed() < Duration::from_secs(600), "worker w0 never claimed a job");
        let claimed = std::fs::read_dir(&claims).map(|d| d.count()).unwrap_or(0) > 0;
        let pids = std::fs::read_to_string(&children).unwrap_or_default();
        let w0 = pids.split_whitespace().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"w0"))
        });
        if claimed && let Some(pid) = w0 {
            break pid.to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed = Command::new("kill").args(["-9", &victim]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(state(&procs), state(&whole), "the search on processes ends as on threads");
    let retried = std::fs::read_to_string(procs.join("evaluations.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|r| r["attempts"].as_u64().is_some_and(|a| a > 1));
    assert!(retried, "the killed worker's job was tried again");
}

#[test]
fn configurations_and_run_directories_are_checked() {
    let root = tempfile::TempDir::new().unwrap();
    let example = lossgp(None, &["search", "--example"]);
    assert!(example.status.success());
    let text = String::from_utf8(example.stdout).unwrap();
    assert!(text.contains("[search]") && text.contains("population = 25"));
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, "[search]\npopulaton = 3\n").unwrap();
    let err =
        failure(None, &["search", "--config", bad.to_str().unwrap(), "--out", root.path().join("x").to_str().unwrap()]);
    assert!(err.contains("populaton") && err.contains("lossgp search --example"), "{err}");
    std::fs::write(&bad, "[search]\ncrossover = 1.5\n").unwrap();
    let err =
        failure(None, &["search", "--config", bad.to_str().unwrap(), "--out", root.path().join("y").to_str().unwrap()]);
    assert!(err.contains("crossover"), "{err}");
    let err = failure(None, &["search", "--resume", root.path().to_str().unwrap()]);
    assert!(err.contains("not a lossgp run directory"), "{err}");
    let err = failure(None, &["report", root.path().to_str().unwrap()]);
    assert!(err.contains("not a lossgp run directory"), "{err}");
    // A synthetic search in seconds; its directory cannot be started over.
    let fast = root.path().join("fast.toml");
    std::fs::write(&fast, "[task]\nfitness = \"gradient-match\"\n[search]\ngenerations = 2\npopulation = 8\n").unwrap();
    let out = root.path().join("fast");
    let summary = json(None, &["search", "--config", fast.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(summary["generations_done"], 2);
    assert!(summary["best"][0]["pytorch"].as_str().unwrap().contains("def found_loss_1"));
    let err = failure(None, &["search", "--config", fast.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(err.contains("--resume"), "{err}");
    // A found loss by reference: `RUN#K` is the K-th best, `RUN` the best, in every command
    // that takes a loss.
    let second = summary["best"][1]["loss"].as_str().unwrap();
    let by_reference = json(None, &["loss", "show", &format!("{}#2", out.display()), "--json"]);
    assert_eq!(
        by_reference["expression"].as_str().map(|e| format!("{}: {e}", by_reference["reduction"].as_str().unwrap())),
        Some(second.to_owned())
    );
    let best = json(None, &["loss", "show", out.to_str().unwrap(), "--json"]);
    assert!(summary["best"][0]["loss"].as_str().unwrap().ends_with(best["expression"].as_str().unwrap()));
    let analyzed = json(None, &["loss", "analyze", &format!("{}#1", out.display()), "--json"]);
    assert!(analyzed.to_string().contains("optimum") || analyzed.is_array() || analyzed.is_object());
    let module = root.path().join("second.py");
    let exported = json(
        None,
        &["loss", "export", &format!("{}#2", out.display()), "--pytorch-module", module.to_str().unwrap(), "--json"],
    );
    assert_eq!(exported["classes"].as_array().unwrap().len(), 1);
    assert_eq!(exported["classes"][0]["loss"].as_str(), Some(second));
    let err = failure(None, &["loss", "show", &format!("{}#99", out.display())]);
    assert!(err.contains("there is no #99"), "{err}");
    let err = failure(None, &["train", "--dataset", "digits", "--loss", "runs/no-such-run#1", "--max-steps", "1"]);
    assert!(err.contains("not a search's run directory"), "{err}");
    // Held-out confirmation: the best loss and the baselines on seeds the search never used,
    // kept so that a second call trains nothing.
    let dir = out.to_str().unwrap();
    let held = json(None, &["confirm", dir, "--seed-numbers", "11,12", "--json"]);
    let losses = held["losses"].as_array().unwrap();
    let names: Vec<&str> = losses.iter().map(|l| l["name"].as_str().unwrap()).collect();
    // The default baselines: label smoothing at the ε the search tuned, Poly-1, NGL.
    assert_eq!(names, ["best-1", "ce", "ls-tuned", "poly1", "ngl"], "{held}");
    assert_eq!(losses[0]["versus"]["ce"]["differences"].as_array().unwrap().len(), 2, "{held}");
    assert!(held["strongest"].is_string(), "{held}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    let tuning = &state["baselines"][1]["tuning"];
    assert_eq!(tuning["tried"].as_array().unwrap().len(), 6, "the default ε grid: {tuning}");
    let chosen = tuning["chosen"].as_f64().unwrap();
    assert!(losses[2]["loss"].as_str().unwrap().contains(&format!("{}*mean(y)", chosen)), "{held}");
    let lines = || std::fs::read_to_string(out.join("heldout.jsonl")).unwrap().lines().count();
    assert_eq!(lines(), 10);
    assert_eq!(json(None, &["confirm", dir, "--seed-numbers", "11,12", "--json"])["losses"], held["losses"]);
    assert_eq!(lines(), 10, "nothing trained twice");
    let err = failure(None, &["confirm", dir, "--seed-numbers", "2"]);
    assert!(err.contains("the search itself trained on"), "{err}");
}

/// Two tasks without training (gradients matching cross entropy's and NGL's), weighted 1 and 2.
const TWO_TASKS: &str = r#"
[[task]]
name = "ce-like"
fitness = "gradient-match"
target = "ce"

[[task]]
name = "ngl-like"
fitness = "gradient-match"
target = "ngl"
weight = 2

[search]
population = 8
generations = 2
confirm_seeds = 2

[run]
baselines = ["ce", "ngl"]
"#;

#[test]
fn a_search_over_several_tasks_reports_and_confirms_each_on_threads_and_processes_alike() {
    let root = tempfile::TempDir::new().unwrap();
    let config = root.path().join("tasks.toml");
    std::fs::write(&config, TWO_TASKS).unwrap();
    let config = config.to_str().unwrap();
    let threads = root.path().join("threads");
    let summary = json(None, &["search", "--config", config, "--out", threads.to_str().unwrap(), "--json"]);
    let names: Vec<&str> = summary["tasks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ce-like", "ngl-like"], "{summary}");
    let best = &summary["best"][0];
    let per_task = best["per_task"].as_array().unwrap();
    assert_eq!(per_task.len(), 2, "{summary}");
    // The combined fitness is the weighted mean of the tasks'.
    let (a, b) = (per_task[0]["fitness"].as_f64().unwrap(), per_task[1]["fitness"].as_f64().unwrap());
    assert!((best["fitness"].as_f64().unwrap() - (a + 2.0 * b) / 3.0).abs() < 1e-12, "{summary}");
    assert_eq!(per_task[1]["versus"]["ngl"]["differences"].as_array().unwrap().len(), 2, "{summary}");
    // gradient-match does not depend on the seed: equal differences on every seed are no
    // evidence, so no comparison of this search has a verdict (zero variance).
    let mut constant = 0;
    for paired in per_task.iter().chain(summary["baselines"][1]["per_task"].as_array().unwrap()) {
        for (name, versus) in paired["versus"].as_object().unwrap() {
            let differences = versus["differences"].as_array().unwrap();
            if differences.iter().all(|d| d == &differences[0]) {
                assert_eq!(versus["verdict"], "unconfirmed", "vs {name}: {summary}");
                assert_eq!(versus["untestable"], "no-variance", "vs {name}: {summary}");
                constant += 1;
            }
        }
    }
    assert!(constant > 0, "gradient-match gives equal differences on every seed: {summary}");
    assert_eq!(summary["baselines"][1]["per_task"][1]["confirmed"].as_array().unwrap().len(), 2);
    let text = lossgp(None, &["report", threads.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("per task (fitness = the weighted mean over them)") && text.contains("ngl-like"), "{text}");
    // The picture of the tasks: a panel per task and one for the weighted mean.
    let plots: Vec<&str> = summary["plots"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(plots.iter().any(|p| p.ends_with("tasks.png")), "{summary}");
    let svg = std::fs::read_to_string(threads.join("tasks.svg")).unwrap();
    assert!(svg.contains("ngl-like") && svg.contains("weighted mean"), "{svg}");

    // Worker processes take each job's task from its file and end as threads do.
    let procs = root.path().join("processes");
    let args = ["search", "--config", config, "--out", procs.to_str().unwrap(), "--evaluator", "processes"];
    let on_processes = json(None, &[&args[..], &["--workers", "2", "--json"]].concat());
    assert_eq!(state(&procs), state(&threads), "{on_processes}");

    // Held-out seeds, on each task.
    let held = json(None, &["confirm", threads.to_str().unwrap(), "--seed-numbers", "11,12", "--json"]);
    assert_eq!(held["per_task"].as_array().unwrap().len(), 2, "{held}");
    let lines = std::fs::read_to_string(threads.join("heldout.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 3 * 2 * 2, "best-1, ce and ngl on 2 seeds and 2 tasks");
    // --dataset names the task of a search over one.
    let err = failure(
        None,
        &["search", "--config", config, "--out", root.path().join("x").to_str().unwrap(), "--dataset", "mnist"],
    );
    assert!(err.contains("[[task]]"), "{err}");
}

#[test]
fn a_search_ends_with_its_held_out_grid_beside_its_own_figures() {
    if !common::digits_present("a_search_ends_with_its_held_out_grid") {
        return;
    }
    let root = tempfile::TempDir::new().unwrap();
    let config = root.path().join("heldout.toml");
    // A search without training (seconds), then its two best and the baselines (label
    // smoothing at the ε it chose, Poly-1, NGL) trained on the UCI digits.
    std::fs::write(
        &config,
        "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 8\ngenerations = 2\nconfirm_seeds = 1\n\
         [run]\nlabel_smoothing = [0.1, 0.6]\n\
         [transfer.grid]\ntop = 2\nmodels = [\"small-cnn\"]\ndatasets = [\"digits\"]\nseeds = 2\ntrain_samples = 300\n\
         [transfer.train]\nepochs = 1\nvalidation_fraction = 0.0\nschedule = { kind = \"constant\" }\n",
    )
    .unwrap();
    let out = root.path().join("run");
    let run = out.to_str().unwrap();
    let summary = json(None, &["search", "--config", config.to_str().unwrap(), "--out", run, "--json"]);
    let heldout = &summary["heldout"];
    assert_eq!(heldout["finished"], true, "{summary}");
    let names: Vec<&str> = heldout["losses"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    for name in ["best-1", "best-2", "ce", "ls-tuned", "poly1", "ngl"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let ce = heldout["losses"].as_array().unwrap().iter().find(|l| l["name"] == "ce").unwrap();
    assert_eq!(ce["heldout_delta"], 0.0);
    assert!(heldout["spearman"].is_f64() || heldout["spearman"].is_null(), "{heldout}");
    let grid = out.join("heldout-grid-g2");
    let cells = || std::fs::read_to_string(grid.join("cells.jsonl")).unwrap().lines().count();
    assert_eq!(cells(), 6 * 2, "six losses on one column, two seeds");
    // Resumed, the grid trains nothing again, and the report says what the summary said.
    let again = json(None, &["search", "--resume", run, "--json"]);
    assert_eq!(again["heldout"]["losses"], heldout["losses"]);
    assert_eq!(cells(), 12);
    let text = String::from_utf8(lossgp(None, &["report", run]).stdout).unwrap();
    assert!(text.contains("held-out grid") && text.contains("Spearman's rank correlation of the search"), "{text}");
    // A [transfer] grid cannot take losses from elsewhere.
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, "[transfer.grid]\nfrom = [\"runs/x\"]\n").unwrap();
    let err =
        failure(None, &["search", "--config", bad.to_str().unwrap(), "--out", root.path().join("y").to_str().unwrap()]);
    assert!(err.contains("leave `from` out"), "{err}");
}

/// `hall_of_fame.csv`, written with the summary: a row per hall-of-fame loss, best first, with
/// its complexity, confirmed mean, paired Δ and verdict against each baseline, and its forms.
#[test]
fn the_hall_of_fame_is_written_as_a_table() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("s.toml");
    std::fs::write(
        &config,
        "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 8\ngenerations = 2\nconfirm_seeds = 2\nhall_of_fame = 3\n\
         [run]\nbaselines = [\"ce\", \"ngl\"]\n",
    )
    .unwrap();
    let dir = root.path().join("run");
    let summary =
        json(None, &["search", "--json", "--config", config.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    let text = std::fs::read_to_string(dir.join("hall_of_fame.csv")).expect("hall_of_fame.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "rank,complexity,fitness,confirmed_mean,confirmed_sd,delta_ce,verdict_ce,delta_ngl,verdict_ngl,expression,simplified,pytorch"
    );
    let rows: Vec<&str> = lines.collect();
    let best = summary["best"].as_array().unwrap();
    assert_eq!(rows.len(), best.len(), "{text}");
    assert!(rows[0].starts_with(&format!("1,{},", best[0]["size"])), "{text}");
    let expression = best[0]["loss"].as_str().unwrap();
    assert!(rows[0].contains(expression) || rows[0].contains(&format!("\"{expression}\"")), "{text}");
}

/// `lossgp report` on a search in progress says it is running (the run directory's lock knows),
/// numbering generations as the search's log does; once it ends, finished.
#[test]
fn report_tells_a_running_search_from_a_stopped_one() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("slow.toml");
    std::fs::write(
        &config,
        "[task]\nfitness = \"command\"\ncommand = [\"sh\", \"-c\", \"sleep 0.3; echo '{\\\"fitness\\\": 0.5}' > \\\"$0/result.json\\\"\", \"{out}\"]\n\
         [search]\npopulation = 4\ngenerations = 6\nconfirm_seeds = 0\n[run]\nbaselines = []\n",
    )
    .unwrap();
    let dir = root.path().join("run");
    let mut search = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["search", "--config", config.to_str().unwrap(), "--out", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("state.json").exists() {
        assert!(Instant::now() < deadline, "no generation ended within 2 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = json(None, &["report", "--json", dir.to_str().unwrap()]);
    let running = search.try_wait().unwrap().is_none();
    if running {
        assert!(report["running"].as_str().is_some_and(|r| r.starts_with("pid ")), "{report:#}");
        let text = String::from_utf8(lossgp(None, &["report", dir.to_str().unwrap()]).stdout).unwrap();
        assert!(text.contains("running (pid") && !text.contains("--resume"), "{text}");
    } else {
        eprintln!(
            "report_tells_a_running_search_from_a_stopped_one: the search ended before the check; only the end is checked"
        );
    }
    assert!(search.wait().unwrap().success());
    let report = json(None, &["report", "--json", dir.to_str().unwrap()]);
    assert!(report.get("running").is_none() && report["finished"] == true, "{report:#}");
}

/// One run directory holds one kind of run: a transfer grid is refused in a search's, and a
/// search in a grid's.
#[test]
fn a_run_directory_holds_one_kind_of_run() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("s.toml");
    std::fs::write(&config, "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 4\ngenerations = 1\nconfirm_seeds = 0\n[run]\nbaselines = []\n").unwrap();
    let search = root.path().join("search");
    json(None, &["search", "--json", "--config", config.to_str().unwrap(), "--out", search.to_str().unwrap()]);
    let err = failure(None, &["transfer", "--out", search.to_str().unwrap(), "--losses", "ngl", "--seeds", "1"]);
    assert!(err.contains("holds a search"), "{err}");
    let grid = root.path().join("grid");
    std::fs::create_dir_all(&grid).unwrap();
    std::fs::write(grid.join("transfer.toml"), "").unwrap();
    let err = failure(None, &["search", "--config", config.to_str().unwrap(), "--out", grid.to_str().unwrap()]);
    assert!(err.contains("holds a transfer grid"), "{err}");
}

/// A first search needs no file: the training's length and subset are options too, and after
/// each generation the log estimates what is left.
#[test]
fn training_options_on_the_command_line_and_an_estimate_of_what_is_left() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("gm.toml");
    std::fs::write(
        &config,
        "[task]\nfitness = \"gradient-match\"\n[search]\nconfirm_seeds = 0\n[run]\nbaselines = []\n",
    )
    .unwrap();
    let dir = root.path().join("run");
    let out = lossgp(
        None,
        &[
            "search",
            "--config",
            config.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--population",
            "4",
            "--generations",
            "2",
            "--epochs",
            "3",
            "--max-steps",
            "70",
            "--train-samples",
            "500",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("left for 1 more generation(s)"), "{err}");
    let kept: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
    assert_eq!(kept["train"]["epochs"].as_integer(), Some(3));
    assert_eq!(kept["train"]["max_steps"].as_integer(), Some(70));
    assert_eq!(kept["task"]["train_samples"].as_integer(), Some(500));
}
