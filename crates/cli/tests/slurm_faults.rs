//! The Slurm evaluator against the cluster's own faults, with fake `sbatch`, `squeue` and
//! `scancel` scripts that fail on demand (no Slurm is needed): a query that fails is never a
//! task's failure, a cluster that refuses or cannot be queried stops the search with its own
//! message and scores no candidate, an array the cluster no longer knows still counts as
//! vanished, and Ctrl-C cancels every array by the ids the run recorded.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `sbatch`: records the array, then runs its tasks one after another in the background
/// (unless `$FAKESLURM/hold` exists: then they stay pending). Refuses with the text of
/// `$FAKESLURM/refuse` where that exists, as a cluster's policy does.
const SBATCH: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
if [ -f "$S/refuse" ]; then cat "$S/refuse" >&2; exit 1; fi
for a in "$@"; do
  case "$a" in
    --job-name=*) name=${a#--job-name=} ;; --array=*) array=${a#--array=} ;;
    --output=*) out=${a#--output=} ;; -*) ;; *) script=$a ;;
  esac
done
id=$(( $(cat "$S/last" 2>/dev/null || echo 500) + 1 )); echo $id > "$S/last"
echo "$id $name" >> "$S/arrays"
last=${array#*-}
for i in $(seq 0 $last); do echo PENDING > "$S/task_${id}_$i"; done
if [ ! -f "$S/hold" ]; then
  (
    for i in $(seq 0 $last); do
      echo RUNNING > "$S/task_${id}_$i"
      if SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1
      then echo COMPLETED > "$S/task_${id}_$i"; else echo FAILED > "$S/task_${id}_$i"; fi
    done
  ) > /dev/null 2>&1 &
fi
echo $id
"#;

/// `squeue -j ID`: the array's task states. `$FAKESLURM/mode` says how it fails: `every3`
/// (every third call, as an overloaded controller), `always`, or `forgotten` (it no longer
/// knows any array: "Invalid job id specified").
const SQUEUE: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
n=$(( $(cat "$S/calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$S/calls"
mode=$(cat "$S/mode" 2>/dev/null)
if [ "$mode" = always ] || { [ "$mode" = every3 ] && [ $((n % 3)) -eq 0 ]; }; then
  echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1
fi
if [ "$mode" = forgotten ]; then echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
while [ $# -gt 0 ]; do case "$1" in -j) job=$2; shift ;; --name) name=$2; shift ;; esac; shift; done
if [ -n "${name:-}" ]; then awk -v n="$name" '$2 == n { print $1 }' "$S/arrays" 2>/dev/null; exit 0; fi
for f in "$S"/task_${job}_*; do [ -f "$f" ] && echo "${f##*/task_}|$(cat "$f")"; done
exit 0
"#;

/// `scancel ID...`: records its arguments and cancels those arrays' pending tasks; a name
/// (`--name`) matches only an array named exactly so.
const SCANCEL: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
echo "$@" >> "$S/scancel"
for id in "$@"; do
  case "$id" in -*) continue ;; esac
  for f in "$S"/task_${id}_*; do
    [ -f "$f" ] && grep -q PENDING "$f" && echo CANCELLED > "$f"
  done
done
exit 0
"#;

/// A folder with the fake Slurm on its `PATH` and its state.
struct FakeSlurm {
    _root: tempfile::TempDir,
    bin: PathBuf,
    state: PathBuf,
    work: PathBuf,
}

impl FakeSlurm {
    fn new() -> FakeSlurm {
        let root = tempfile::tempdir().unwrap();
        let (bin, state, work) = (root.path().join("bin"), root.path().join("state"), root.path().join("work"));
        for dir in [&bin, &state, &work] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for (name, text) in [("sbatch", SBATCH), ("squeue", SQUEUE), ("scancel", SCANCEL)] {
            let path = bin.join(name);
            std::fs::write(&path, text).unwrap();
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        }
        FakeSlurm { _root: root, bin, state, work }
    }

    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.state.join(file), text).unwrap();
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.state.join(file)).unwrap_or_default()
    }

    /// A quick search (gradient matching) on `evaluator`, with `slurm` more `[run.slurm]` lines.
    fn config(&self, name: &str, evaluator: &str, slurm: &str) -> String {
        let text = format!(
            "[task]\nfitness = \"gradient-match\"\ntarget = \"ce\"\n[search]\nseed = 5\npopulation = 4\ngenerations = 2\n\
             hall_of_fame = 2\nconfirm_seeds = 0\nretries = 1\n[run]\nevaluator = \"{evaluator}\"\nbaselines = []\n\
             [run.slurm]\npoll_seconds = 0.2\n{slurm}\n"
        );
        let path = self.work.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = Command::new(env!("CARGO_BIN_EXE_lossgp"));
        command.args(args).current_dir(&self.work).env("PATH", path).env("FAKESLURM", &self.state);
        command
    }

    fn search(&self, name: &str, evaluator: &str, slurm: &str) -> (Output, PathBuf) {
        let out_dir = self.work.join(name);
        let config = self.config(name, evaluator, slurm);
        let out = self
            .command(&["search", "--config", &config, "--out", out_dir.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        (out, out_dir)
    }
}

/// The records of a run whose outcome is `failed`, with their errors.
fn failed(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("evaluations.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["outcome"] == "failed")
        .map(|r| r["error"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The hall of fame's losses and fitnesses.
fn hall_of_fame(report: &[u8]) -> Vec<(String, String)> {
    let report: Value = serde_json::from_slice(report).expect("a JSON report");
    report["best"]
        .as_array()
        .expect("the best losses")
        .iter()
        .map(|h| (h["loss"].to_string(), h["fitness"].to_string()))
        .collect()
}

#[test]
fn a_flaky_squeue_fails_no_candidate_and_the_search_ends_as_on_threads() {
    let slurm = FakeSlurm::new();
    slurm.set("mode", "every3");
    let (out, run) = slurm.search("flaky", "slurm", "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(failed(&run).is_empty(), "failed on squeue's errors: {:?}", failed(&run));
    assert!(slurm.read("calls").trim().parse::<u32>().unwrap() >= 3, "squeue was asked, and failed, along the way");
    let (threads, _) = slurm.search("threads", "threads", "");
    assert!(threads.status.success());
    assert_eq!(hall_of_fame(&out.stdout), hall_of_fame(&threads.stdout), "the same search as on threads");
}

#[test]
fn a_cluster_that_refuses_the_array_stops_the_search_with_its_message() {
    let slurm = FakeSlurm::new();
    let refusal = "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy";
    slurm.set("refuse", refusal);
    let (out, run) = slurm.search("refused", "slurm", "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused submission must not end as a finished search: {err}");
    assert!(err.contains("QOSMaxSubmitJobPerUserLimit") && err.contains("No job was scored"), "{err}");
    assert!(failed(&run).is_empty(), "candidates scored on the refusal: {:?}", failed(&run));
    // Once the cluster accepts jobs, the run resumes and finishes.
    std::fs::remove_file(slurm.state.join("refuse")).unwrap();
    let resumed = slurm.command(&["search", "--resume", run.to_str().unwrap(), "--json"]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(failed(&run).is_empty());
}

#[test]
fn an_squeue_that_never_answers_stops_the_search_with_its_message() {
    let slurm = FakeSlurm::new();
    slurm.set("mode", "always");
    slurm.set("hold", "");
    let (out, run) = slurm.search("silent", "slurm", "query_patience_seconds = 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("could not be queried") && err.contains("Socket timed out"), "{err}");
    assert!(failed(&run).is_empty(), "candidates scored on squeue's errors: {:?}", failed(&run));
    assert!(!slurm.read("scancel").trim().is_empty(), "the arrays left running are cancelled");
}

#[test]
fn an_array_the_cluster_no_longer_knows_has_vanished() {
    let slurm = FakeSlurm::new();
    slurm.set("mode", "forgotten");
    slurm.set("hold", "");
    let (out, run) = slurm.search("forgotten", "slurm", "");
    let err = String::from_utf8_lossy(&out.stderr);
    let failures = failed(&run);
    assert!(!failures.is_empty() && failures.iter().all(|f| f.contains("vanished from squeue")), "{failures:?} {err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_every_array_by_its_recorded_id() {
    let slurm = FakeSlurm::new();
    slurm.set("hold", "");
    let config = slurm.config("interrupted", "slurm", "max_array = 2");
    let run = slurm.work.join("interrupted");
    let child = slurm
        .command(&["search", "--config", &config, "--out", run.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while slurm.read("arrays").lines().count() < 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "no arrays submitted");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let submitted: Vec<String> =
        slurm.read("arrays").lines().filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect();
    let cancelled = slurm.read("scancel");
    for id in &submitted {
        assert!(cancelled.split_whitespace().any(|c| c == id), "array {id} not cancelled: scancel got `{cancelled}`");
    }
    let pending: Vec<String> = std::fs::read_dir(&slurm.state)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("task_"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|s| s.contains("PENDING"))
        .collect();
    assert!(pending.is_empty(), "tasks left pending after Ctrl-C: {pending:?}");
}
