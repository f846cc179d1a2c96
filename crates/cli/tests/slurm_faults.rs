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
/// (unless `$FAKESLURM/hold` exists: then they stay pending). Times out as a busy controller
/// does while `$FAKESLURM/busy` counts down. Refuses with the text of
/// `$FAKESLURM/refuse` where that exists, as a cluster's policy does. With `cluster`, prints
/// `ID;CLUSTER` (a job on another cluster, `--clusters`); with `wrapped`, a site wrapper's
/// `Submitted batch job ID`; with `nodefail`, the first array's first task ends `NODE_FAIL`
/// without running (once).
const SBATCH: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
if [ -f "$S/refuse" ]; then cat "$S/refuse" >&2; exit 1; fi
if [ -f "$S/busy" ] && [ "$(cat "$S/busy")" -gt 0 ]; then
  echo $(( $(cat "$S/busy") - 1 )) > "$S/busy"
  echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2; exit 1
fi
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
      if [ -f "$S/nodefail" ]; then rm "$S/nodefail"; echo NODE_FAIL > "$S/task_${id}_$i"; continue; fi
      echo RUNNING > "$S/task_${id}_$i"
      if SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1
      then echo COMPLETED > "$S/task_${id}_$i"; else echo FAILED > "$S/task_${id}_$i"; fi
    done
  ) > /dev/null 2>&1 &
fi
if [ -f "$S/cluster" ]; then echo "$id;$(cat "$S/cluster")"
elif [ -f "$S/wrapped" ]; then echo "Submitted batch job $id"
else echo $id; fi
"#;

/// `squeue -j ID`: the array's task states. `$FAKESLURM/mode` says how it fails: `every3`
/// (every third call, as an overloaded controller), `always`, `forgotten` (it no longer knows
/// any array: "Invalid job id specified"), `hang` (no answer for five minutes) or `powerup`
/// (its first 10 calls show tasks waiting for their nodes to boot, `POWER_UP_NODE`). Where
/// `$FAKESLURM/cluster` exists the arrays live on that cluster: without `-M` it knows none.
const SQUEUE: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
n=$(( $(cat "$S/calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$S/calls"
mode=$(cat "$S/mode" 2>/dev/null)
if [ "$mode" = hang ]; then sleep 300; fi
if [ "$mode" = always ] || { [ "$mode" = every3 ] && [ $((n % 3)) -eq 0 ]; }; then
  echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1
fi
if [ "$mode" = forgotten ]; then echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
while [ $# -gt 0 ]; do
  case "$1" in -j) job=$2; shift ;; --name) name=$2; shift ;; -M) cluster=$2; shift ;; esac; shift
done
if [ -f "$S/cluster" ] && [ "${cluster:-}" != "$(cat "$S/cluster")" ]; then
  echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1
fi
if [ -n "${name:-}" ]; then awk -v n="$name" '$2 == n { print $1 }' "$S/arrays" 2>/dev/null; exit 0; fi
[ -n "${cluster:-}" ] && echo "CLUSTER: $cluster"
for f in "$S"/task_${job}_*; do
  [ -f "$f" ] || continue
  state=$(cat "$f")
  if [ "$mode" = powerup ] && [ $n -le 10 ] && [ "$state" != COMPLETED ]; then state=POWER_UP_NODE; fi
  echo "${f##*/task_}|$state"
done
exit 0
"#;

/// `scancel [-M CLUSTER] ID...`: records its arguments and cancels those arrays' pending tasks.
const SCANCEL: &str = r#"#!/bin/bash
S=${FAKESLURM:?}
echo "$@" >> "$S/scancel"
for id in "$@"; do
  case "$id" in -*) continue ;; esac
  [ -f "$S/cluster" ] && [ "$id" = "$(cat "$S/cluster")" ] && continue
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
    // Tasks of a second each, so that squeue is asked (and fails) while they run.
    let (out, run) = slurm.search("flaky", "slurm", "setup = [\"sleep 1\"]");
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

/// A busy controller that times out a submission twice is asked again: the search ends as on
/// threads, with no candidate failed.
#[test]
fn a_submission_that_times_out_is_made_again() {
    let slurm = FakeSlurm::new();
    let (threads, _) = slurm.search("threads", "threads", "");
    slurm.set("busy", "2");
    let (out, run) = slurm.search("busy", "slurm", "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("trying again"), "{err}");
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
    assert_eq!(hall_of_fame(&out.stdout), hall_of_fame(&threads.stdout));
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

/// States the cluster passes through on the way to running a task (nodes booting) are not a
/// task's end; a node that fails ends a task through no fault of its job, which is submitted
/// again without counting as an attempt. Either way no candidate fails, and the search ends as
/// on threads.
#[test]
fn nodes_that_boot_or_fail_fail_no_candidate() {
    let slurm = FakeSlurm::new();
    let (threads, _) = slurm.search("threads", "threads", "");
    slurm.set("mode", "powerup");
    let (booting, run) = slurm.search("booting", "slurm", "");
    assert!(booting.status.success(), "{}", String::from_utf8_lossy(&booting.stderr));
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
    assert_eq!(hall_of_fame(&booting.stdout), hall_of_fame(&threads.stdout));
    slurm.set("mode", "");
    slurm.set("nodefail", "");
    let (node_fail, run) = slurm.search("node-fail", "slurm", "");
    let err = String::from_utf8_lossy(&node_fail.stderr);
    assert!(node_fail.status.success(), "{err}");
    assert!(err.contains("ended NODE_FAIL: submitted again"), "{err}");
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
    assert_eq!(hall_of_fame(&node_fail.stdout), hall_of_fame(&threads.stdout));
}

/// A job on another cluster (`--clusters`): sbatch prints `ID;CLUSTER`, and squeue and scancel
/// are pointed at that cluster (`-M`), so its tasks are seen running, not vanished.
#[test]
fn arrays_on_another_cluster_are_followed_there() {
    let slurm = FakeSlurm::new();
    slurm.set("cluster", "gpu");
    let (out, run) = slurm.search("cluster", "slurm", "options = [\"--clusters=gpu\"]");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
    let jobs = std::fs::read_to_string(run.join("slurm/jobs.jsonl")).unwrap();
    assert!(jobs.contains(";gpu"), "the cluster is recorded with the id: {jobs}");
}

/// A site's wrapper that prints `Submitted batch job ID` for `--parsable`: the array is found
/// by its name instead, and followed by its real id.
#[test]
fn an_id_sbatch_did_not_print_plainly_is_found_by_name() {
    let slurm = FakeSlurm::new();
    slurm.set("wrapped", "");
    let (out, run) = slurm.search("wrapped", "slurm", "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
    let jobs = std::fs::read_to_string(run.join("slurm/jobs.jsonl")).unwrap();
    assert!(!jobs.contains("Submitted"), "only ids are recorded: {jobs}");
}

/// An squeue that never answers (a controller that hangs) is given up on within the patience,
/// and the run stops with what happened: it does not hang.
#[test]
fn an_squeue_that_hangs_stops_the_search_within_its_patience() {
    let slurm = FakeSlurm::new();
    slurm.set("mode", "hang");
    slurm.set("hold", "");
    let start = Instant::now();
    let (out, run) = slurm.search("hanging", "slurm", "query_patience_seconds = 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("could not be queried") && err.contains("gave no answer"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(60), "took {:?}", start.elapsed());
    assert!(failed(&run).is_empty(), "{:?}", failed(&run));
}
