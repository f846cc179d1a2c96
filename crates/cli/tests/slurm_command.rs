//! The Slurm evaluator against a real Slurm (`scripts/slurm-local` starts a one-node cluster
//! from Debian's slurm-wlm; `.ci/run` runs this file under it with `LOSSGP_REQUIRE_SLURM=1`):
//! a search on job arrays ends as on threads, also when a running task is cancelled with
//! `scancel` and when the coordinator is killed with SIGKILL and resumed, and no job runs twice.
//! Where Slurm is not reachable the test says so, and fails where `LOSSGP_REQUIRE_SLURM=1`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::json;
use serde_json::Value;

/// A quick search (gradient matching: no training), so that Slurm's scheduling is what is timed.
const CONFIG: &str = r#"
[task]
fitness = "gradient-match"
target = "ce"

[search]
seed = 5
population = 6
generations = 3
hall_of_fame = 3
confirm_seeds = 0

[run]
baselines = []
"#;

/// The configuration with `[run] evaluator` and, on Slurm, tasks that first sleep `sleep`
/// seconds (time to act on a running task).
fn config(root: &Path, name: &str, evaluator: &str, sleep: u32) -> String {
    let mut text = CONFIG.replace("[run]\n", &format!("[run]\nevaluator = \"{evaluator}\"\n"));
    if evaluator == "slurm" {
        text.push_str(&format!("\n[run.slurm]\npoll_seconds = 0.3\nsetup = [\"sleep {sleep}\"]\n"));
    }
    let path = root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The run's final state, times aside.
fn state(dir: &Path) -> Value {
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    for generation in state["history"].as_array_mut().unwrap() {
        generation["seconds"] = Value::Null;
    }
    state
}

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lossgp")).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// The run's submitted arrays, from `slurm/jobs.jsonl`.
fn arrays(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("slurm/jobs.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "submitted")
        .map(|e| e["array"].as_str().unwrap().to_owned())
        .collect()
}

/// The first task of the run's arrays that Slurm shows running, waiting for one.
fn running_task(dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        assert!(child.try_wait().unwrap().is_none(), "the search ended first");
        for array in arrays(dir) {
            let out = Command::new("squeue").args(["-h", "-r", "-j", &array, "-o", "%i|%T"]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if let Some(line) = text.lines().find(|l| l.ends_with("|RUNNING")) {
                return line.split('|').next().unwrap().to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no task of the run ran within 2 minutes");
}

/// How many times each job (its key: loss, budget, attempt) was evaluated, from the tasks' logs.
fn evaluations_per_job(dir: &Path) -> HashMap<String, usize> {
    let mut keys = HashMap::new();
    let text = std::fs::read_to_string(dir.join("slurm/jobs.jsonl")).unwrap();
    for entry in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        for job in entry["jobs"].as_array().into_iter().flatten() {
            keys.insert(job[0].as_str().unwrap().to_owned(), job[1].as_str().unwrap().to_owned());
        }
    }
    let mut counts = HashMap::new();
    for log in std::fs::read_dir(dir.join("slurm/logs")).unwrap() {
        let text = std::fs::read_to_string(log.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| l.contains(" evaluating job=")) {
            let name = line.split("job=").nth(1).unwrap().split_whitespace().next().unwrap();
            *counts.entry(keys[name].clone()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn a_search_on_slurm_job_arrays_ends_as_on_threads_through_scancel_and_a_killed_coordinator() {
    if !common::slurm_is_up() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = |name: &str| root.path().join(name);

    let threads = out("threads");
    let cfg = config(root.path(), "threads", "threads", 0);
    json(None, &["search", "--config", &cfg, "--out", threads.to_str().unwrap(), "--json"]);
    let expected = state(&threads);

    // The same search, its candidates scored by Slurm array tasks.
    let slurm = out("slurm");
    let cfg = config(root.path(), "slurm", "slurm", 0);
    let summary = json(None, &["search", "--config", &cfg, "--out", slurm.to_str().unwrap(), "--json"]);
    assert_eq!(summary["finished"], true);
    assert_eq!(state(&slurm), expected, "Slurm and threads differ");
    assert!(std::fs::read_dir(slurm.join("slurm/logs")).unwrap().count() > 0, "each task has its log");

    // A running task cancelled: its job fails, is submitted again, and the search ends the same.
    let cancelled = out("scancel");
    let cfg = config(root.path(), "scancel", "slurm", 2);
    let mut child = start(&["search", "--config", &cfg, "--out", cancelled.to_str().unwrap()]);
    let task = running_task(&cancelled, &mut child);
    assert!(Command::new("scancel").arg(&task).status().unwrap().success());
    let log = finish(child);
    assert!(log.contains(&format!("Slurm task {task} ended CANCELLED")), "{log}");
    assert_eq!(state(&cancelled)["hall_of_fame"], expected["hall_of_fame"]);

    // The coordinator killed while tasks run, then resumed: it takes the running tasks over.
    let killed = out("killed");
    let cfg = config(root.path(), "killed", "slurm", 2);
    let mut child = start(&["search", "--config", &cfg, "--out", killed.to_str().unwrap()]);
    while arrays(&killed).len() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the search ended before it could be killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    running_task(&killed, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let log = finish(start(&["search", "--resume", killed.to_str().unwrap()]));
    assert!(log.contains("taken over from an earlier coordinator"), "{log}");
    assert_eq!(state(&killed), expected, "the resumed search differs");
    let counts = evaluations_per_job(&killed);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs evaluated more than once: {twice:?}");
}

/// A transfer grid's cells on Slurm job arrays, as on threads: the same accuracies, cell by cell.
#[test]
fn a_transfer_grid_on_slurm_gives_the_cells_of_threads() {
    if !common::slurm_is_up() {
        return;
    }
    if !common::digits_present("a_transfer_grid_on_slurm") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // Each cell's key (data, model, settings, loss, seed), test and validation accuracy.
    let cells = |evaluator: &str| -> Vec<(String, f64, f64)> {
        let dir = root.path().join(evaluator);
        #[rustfmt::skip]
        json(None, &[
            "transfer", "--losses", "ngl", "--baselines", "none", "--models", "small-cnn", "--datasets", "digits", "--seeds", "2",
            "--epochs", "1", "--evaluator", evaluator, "--out", dir.to_str().unwrap(), "--json",
        ]);
        let text = std::fs::read_to_string(dir.join("cells.jsonl")).unwrap();
        let mut cells: Vec<(String, f64, f64)> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|c| {
                let scored = &c["scored"];
                let validation = scored["metrics"]["validation_accuracy"].as_f64().unwrap();
                (c["key"].as_str().unwrap().to_owned(), scored["fitness"].as_f64().unwrap(), validation)
            })
            .collect();
        cells.sort_by(|a, b| a.0.cmp(&b.0));
        cells
    };
    let threads = cells("threads");
    assert_eq!(threads.len(), 4);
    assert_eq!(cells("slurm"), threads);
}

/// On the real cluster, an `squeue` that fails one call in three (as an overloaded controller
/// does) fails no candidate: the search ends as on threads. Ctrl-C then cancels every array of
/// a run by the ids it recorded, leaving none of its tasks in the queue.
#[test]
fn a_flaky_squeue_changes_nothing_and_ctrl_c_cancels_every_array() {
    if !common::slurm_is_up() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = |name: &str| root.path().join(name);
    let real = Command::new("sh").args(["-c", "command -v squeue"]).output().unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    let bin = out("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let counter = out("calls");
    let flaky = format!(
        "#!/bin/bash\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 )); echo $n > {c}\n\
         if [ $((n % 3)) -eq 0 ]; then echo 'slurm_load_jobs error: Socket timed out on send/recv operation' >&2; exit 1; fi\n\
         exec {real} \"$@\"\n",
        c = counter.display()
    );
    std::fs::write(bin.join("squeue"), flaky).unwrap();
    Command::new("chmod").arg("+x").arg(bin.join("squeue")).status().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |name: &str, evaluator: &str| {
        let dir = out(name);
        let cfg = config(root.path(), name, evaluator, 0);
        let status = Command::new(env!("CARGO_BIN_EXE_lossgp"))
            .args(["search", "--config", &cfg, "--out", dir.to_str().unwrap()])
            .env("PATH", &path)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{name}");
        state(&dir)
    };
    let expected = run("threads", "threads");
    assert_eq!(run("flaky", "slurm"), expected, "a flaky squeue changed the search");
    let calls: u32 = std::fs::read_to_string(&counter).unwrap().trim().parse().unwrap();
    assert!(calls >= 3, "squeue failed along the way ({calls} calls)");

    // Ctrl-C: every array the run submitted is cancelled, by its id.
    let interrupted = out("interrupted");
    let cfg = config(root.path(), "interrupted", "slurm", 30);
    let cfg_text = std::fs::read_to_string(&cfg).unwrap().replace("[run.slurm]\n", "[run.slurm]\nmax_array = 2\n");
    std::fs::write(&cfg, cfg_text).unwrap();
    let mut child = start(&["search", "--config", &cfg, "--out", interrupted.to_str().unwrap()]);
    while arrays(&interrupted).len() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the search ended before Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let deadline = Instant::now() + Duration::from_secs(30);
    for array in arrays(&interrupted) {
        loop {
            let out = Command::new(&real).args(["-h", "-r", "-j", &array, "-o", "%T"]).output().unwrap();
            let states = String::from_utf8_lossy(&out.stdout).into_owned();
            if !states.lines().any(|s| s == "PENDING" || s == "RUNNING") {
                break;
            }
            assert!(Instant::now() < deadline, "array {array} still queued after Ctrl-C: {states}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
