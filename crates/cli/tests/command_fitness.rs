//! The command fitness (`[task] fitness = "command"`): a search whose candidates are scored by
//! a user's own training script, here `examples/command-fitness/train.py`, which trains with
//! `lossgp train` on the UCI digits (no PyTorch needed). The same search on threads, worker
//! processes and the local one-node Slurm (`scripts/slurm-local`; required where
//! `LOSSGP_REQUIRE_SLURM=1`) ends with the same hall of fame; a task killed mid-run is retried;
//! each kind of bad command is a failure record naming its cause, and the search goes on.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/command-fitness/train.py").canonicalize().unwrap()
}

fn python_present() -> bool {
    let present = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    common::available(present, "skipped: no python3 on PATH to run the example script", "LOSSGP_REQUIRE_DATA")
}

/// A small search over `train.py` on `evaluator`, with `extra` arguments for the script.
fn config(root: &Path, name: &str, evaluator: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[task]
fitness = "command"
command = ["python3", "{script}", "--loss-file", "{{loss_py}}", "--seed", "{{seed}}", "--budget", "{{budget}}", "--out", "{{out}}"{extra}]
timeout_minutes = 2
env = {{ RAYON_NUM_THREADS = "1", LOSSGP = "{lossgp}" }}

[search]
seed = 11
population = 4
generations = 2
hall_of_fame = 2
confirm_seeds = 1

[run]
evaluator = "{evaluator}"
workers = 2
baselines = ["ce"]

[run.slurm]
poll_seconds = 0.3
"#,
        script = example().display(),
        lossgp = env!("CARGO_BIN_EXE_lossgp"),
    );
    let path = root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn search(config: &Path, out: &Path) -> Value {
    common::json(None, &["search", "--json", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
}

/// Names (losses or baselines) with their fitness, as JSON text.
type Scores = Vec<(String, String)>;

/// (loss, fitness) of the hall of fame, and each baseline's fitness.
fn outcome(summary: &Value) -> (Scores, Scores) {
    let best =
        summary["best"].as_array().unwrap().iter().map(|b| (b["loss"].to_string(), b["fitness"].to_string())).collect();
    let baselines = summary["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].to_string(), b["fitness"].to_string()))
        .collect();
    (best, baselines)
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("evaluations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_search_scored_by_a_training_script_is_the_same_on_threads_processes_and_slurm() {
    if !python_present() || !common::digits_present("a_search_scored_by_a_training_script") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let threads = search(&config(root.path(), "threads", "threads", ""), &root.path().join("threads"));
    let (best, baselines) = outcome(&threads);
    assert_eq!(best.len(), 2, "{threads:#}");
    assert!(threads["best"][0]["fitness"].as_f64().unwrap() > 0.3, "the script trains: {threads:#}");
    // The job folders hold what the script got and what it wrote.
    let records = records(&root.path().join("threads"));
    assert!(records.iter().all(|r| r["outcome"] != "failed"), "no failure on a good script");
    let folders: Vec<PathBuf> = walk(&root.path().join("threads/commands"));
    for name in ["loss.py", "loss.txt", "loss.tex", "job.json", "result.json", "stderr.log"] {
        assert!(folders.iter().any(|f| f.ends_with(name)), "no job folder holds {name}");
    }
    let result = folders.iter().find(|f| f.ends_with("result.json")).unwrap();
    assert!(std::fs::read_to_string(result).unwrap().contains("curve"), "the script's curves are kept");

    // Worker processes, the first run of every job killed by SIGKILL once: retried, same scores.
    let marker = root.path().join("crashed-once");
    let extra = format!(r#", "--crash-once", "{}""#, marker.display());
    let processes = search(&config(root.path(), "processes", "processes", &extra), &root.path().join("processes"));
    assert!(marker.exists(), "the crash was injected");
    assert_eq!(outcome(&processes), (best.clone(), baselines.clone()), "processes end as threads do");
    let retried = self::records(&root.path().join("processes"))
        .into_iter()
        .filter(|r| r["attempts"].as_u64().unwrap_or(0) > 1)
        .count();
    assert_eq!(retried, 1, "exactly the killed job was retried");

    // Held-out confirmation runs the script too, on threads or on worker processes, alike.
    let copy = root.path().join("threads-copy");
    let status = Command::new("cp").arg("-r").arg(root.path().join("threads")).arg(&copy).status().unwrap();
    assert!(status.success());
    let confirm = |dir: &Path, evaluator: &str| {
        let mut report = common::json(
            None,
            &[
                "confirm",
                "--json",
                dir.to_str().unwrap(),
                "--seed-numbers",
                "101,102",
                "--evaluator",
                evaluator,
                "--workers",
                "2",
            ],
        );
        report["run_dir"] = Value::Null;
        report
    };
    let on_threads = confirm(&root.path().join("threads"), "threads");
    let on_processes = confirm(&copy, "processes");
    assert_eq!(on_threads, on_processes, "confirm ends alike on threads and processes");
    assert!(copy.join("confirm/queue").is_dir(), "the processes' queue is the confirmation's own");

    if common::slurm_is_up() {
        // On Slurm too, a run killed mid-training is retried and the search ends as on threads.
        let marker = root.path().join("crashed-once-on-slurm");
        let extra = format!(r#", "--crash-once", "{}""#, marker.display());
        let slurm = search(&config(root.path(), "slurm", "slurm", &extra), &root.path().join("slurm"));
        assert!(marker.exists(), "the crash was injected");
        assert_eq!(outcome(&slurm), (best, baselines), "Slurm ends as threads do");
        let retried = self::records(&root.path().join("slurm"))
            .into_iter()
            .filter(|r| r["attempts"].as_u64().unwrap_or(0) > 1)
            .count();
        assert_eq!(retried, 1, "exactly the killed job was retried");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// A search of two candidates whose command is `argv`, no baselines: every evaluation fails.
fn failing_search(root: &Path, name: &str, argv: &str, timeout_minutes: f64) -> (Value, Vec<Value>) {
    let text = format!(
        r#"
[task]
fitness = "command"
command = {argv}
timeout_minutes = {timeout_minutes}

[search]
population = 2
generations = 1
hall_of_fame = 2
confirm_seeds = 0
retries = 1

[run]
workers = 2
baselines = []
"#
    );
    let path = root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let out = root.join(name);
    let summary = search(&path, &out);
    (summary, records(&out))
}

#[test]
fn each_bad_command_is_a_failure_record_with_its_cause_and_the_search_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, f64, &str, u64); 5] = [
        ("not-found", r#"["lossgp-no-such-trainer", "{out}"]"#, 1.0, "is not found", 1),
        (
            "crash",
            r#"["sh", "-c", "echo 'Traceback: ValueError: bad shape' >&2; exit 1", "{out}"]"#,
            1.0,
            "bad shape",
            2,
        ),
        ("silent", r#"["sh", "-c", "true", "{out}"]"#, 1.0, "wrote no result.json", 1),
        (
            "non-number",
            r#"["sh", "-c", "echo '{\"fitness\": \"high\"}' > \"$0/result.json\"", "{out}"]"#,
            1.0,
            "not a number",
            1,
        ),
        ("hang", r#"["sh", "-c", "echo started >&2; sleep 120", "{out}"]"#, 0.02, "ran past its limit", 1),
    ];
    for (name, argv, timeout, cause, attempts) in cases {
        let started = std::time::Instant::now();
        let (summary, records) = failing_search(root.path(), name, argv, timeout);
        let failed: Vec<&Value> = records.iter().filter(|r| r["outcome"] == "failed").collect();
        assert!(!failed.is_empty(), "{name}: {records:#?}");
        for record in &failed {
            let error = record["error"].to_string();
            assert!(error.contains(cause), "{name}: {error}");
            assert!(error.contains("job folder"), "{name}: {error}");
            // Permanent failures are not retried; a crash is, up to `retries`.
            assert_eq!(record["attempts"].as_u64(), Some(attempts), "{name}: {record}");
        }
        assert_eq!(summary["generations_done"].as_u64(), Some(1), "{name}: the search ran its generation: {summary:#}");
        if name == "hang" {
            assert!(started.elapsed().as_secs() < 60, "the hanging command was stopped at its limit");
        }
    }
}

/// A held-out training that keeps failing is not written down as a score: `confirm` says so and
/// fails, and the next `confirm` trains it again. A relative run directory works as well.
#[test]
fn confirm_never_keeps_a_failed_training_as_a_score() {
    let root = tempfile::tempdir().unwrap();
    let broken = root.path().join("broken");
    let script = format!(r#"test -e '{}' && exit 1; echo '{{"fitness": 0.5}}' > "$0/result.json""#, broken.display());
    let text = format!(
        "[task]\nfitness = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}, \"{{out}}\"]\n\
         [search]\npopulation = 2\ngenerations = 1\nconfirm_seeds = 0\n[run]\nbaselines = [\"ce\"]\n"
    );
    std::fs::write(root.path().join("s.toml"), text).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lossgp")).current_dir(root.path()).args(args).output().unwrap()
    };
    let out = run(&["search", "--json", "--config", "s.toml", "--out", "runs/s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["best"][0]["fitness"], 0.5, "a relative run directory: {summary:#}");

    std::fs::write(&broken, "").unwrap();
    let failed = run(&["confirm", "runs/s", "--seed-numbers", "101", "--json"]);
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && err.contains("run confirm again"), "{err}");
    let heldout = root.path().join("runs/s/heldout.jsonl");
    assert_eq!(std::fs::read_to_string(&heldout).unwrap_or_default().trim(), "", "no failed training kept as a score");

    std::fs::remove_file(&broken).unwrap();
    let again = run(&["confirm", "runs/s", "--seed-numbers", "101", "--json"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["losses"][0]["fitness"][0], 0.5, "{report:#}");
    assert!(report.get("epochs").is_none(), "a command's run has no lossgp epochs: {report:#}");
}
