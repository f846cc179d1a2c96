use super::*;
use lossgp_core::Loss;

fn spec(command: &[&str], timeout_minutes: f64) -> CommandSpec {
    CommandSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        timeout_minutes,
        files: Vec::new(),
        env: BTreeMap::new(),
    }
}

fn job(attempt: u32) -> Job {
    Job { id: 0, loss: Loss::resolve("ce").unwrap(), budget: 0.5, attempt, replicate: 1, task: 0 }
}

fn run(script: &str, timeout_minutes: f64) -> (Result<Scored, EvalError>, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fitness =
        CommandFitness::new(spec(&["sh", "-c", script, "{out}"], timeout_minutes), "toy task", 10, dir.path(), None)
            .unwrap();
    let folder = fitness.job_folder(&job(1));
    (fitness.evaluate(&job(1)), folder, dir)
}

#[test]
fn the_command_gets_the_candidate_and_its_result_is_the_score() {
    // sh -c SCRIPT OUT SEED LOSS: $0 is the job folder, $1 the seed, $2 the expression.
    let script = r#"grep -q "def loss_fn(" loss.py && test -s loss.tex && test "$(cat loss.txt)" = "$2" &&
        printf '{"fitness": 0.75, "seed": %s, "metrics": {"epochs": 2}, "curve": [0.1, 0.2]}' "$1" > "$0/result.json""#;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&["sh", "-c", script, "{out}", "{seed}", "{loss}"], 1.0);
    let fitness = CommandFitness::new(spec, "toy", 10, dir.path(), None).unwrap();
    let scored = fitness.evaluate(&job(1)).unwrap();
    assert_eq!(scored.fitness, 0.75);
    assert_eq!(scored.metrics["seed"], 11.0, "replicate 1 trains with seed 10 + 1");
    assert_eq!(scored.metrics["epochs"], 2.0);
    assert!(scored.metrics["seconds"] >= 0.0);
    let folder = fitness.job_folder(&job(1));
    assert!(folder.starts_with(dir.path().join("commands").join("toy")), "{}", folder.display());
    let described: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("job.json")).unwrap()).unwrap();
    assert_eq!(described["budget"], 0.5);
    assert!(std::fs::read_to_string(folder.join(result::RESULT)).unwrap().contains("curve"), "the result is kept");
}

#[test]
fn each_bad_command_is_a_failure_that_names_its_cause() {
    // Not found: permanent.
    let dir = tempfile::tempdir().unwrap();
    let missing =
        CommandFitness::new(spec(&["lossgp-no-such-program", "{out}"], 1.0), "t", 0, dir.path(), None).unwrap();
    let error = missing.evaluate(&job(1)).unwrap_err();
    assert!(!error.is_retryable() && error.message().contains("lossgp-no-such-program` is not found"), "{error}");

    // A crash: transient, with its last lines.
    let (result, _, _dir) = run("echo loading >&2; echo 'RuntimeError: CUDA out of memory' >&2; exit 3", 1.0);
    let error = result.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.message().contains("exit code 3") && error.message().contains("CUDA out of memory"), "{error}");

    // Killed by a signal: transient.
    let error = run("kill -9 $$", 1.0).0.unwrap_err();
    assert!(error.is_retryable() && error.message().contains("signal 9"), "{error}");

    // Prints nothing, writes nothing: permanent.
    let error = run("true", 1.0).0.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(error.message().contains("wrote no result.json") && error.message().contains("printed nothing"), "{error}");

    // Writes a non-number, or NaN: permanent.
    let error = run(r#"echo '{"fitness": "0.9x"}' > "$0/result.json""#, 1.0).0.unwrap_err();
    assert!(!error.is_retryable() && error.message().contains("not a number"), "{error}");
    let error = run(r#"echo '{"fitness": NaN}' > "$0/result.json""#, 1.0).0.unwrap_err();
    assert!(!error.is_retryable() && error.message().contains("NaN"), "{error}");
}

#[test]
fn a_command_past_its_limit_is_stopped_with_everything_it_started() {
    let started = std::time::Instant::now();
    // It starts a child that would outlive it, and records its pid.
    let (result, folder, _dir) = run(r#"sleep 60 & echo $! > "$0/child.pid"; echo working >&2; wait"#, 0.01);
    let error = result.unwrap_err();
    assert!(!error.is_retryable() && error.message().contains("ran past its limit"), "{error}");
    assert!(error.message().contains("working"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(30), "stopped after {:?}", started.elapsed());
    let pid: i32 = std::fs::read_to_string(folder.join("child.pid")).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Gone, or a zombie waiting for its new parent to reap it.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = state.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
    assert!(!alive, "the command's child {pid} outlived it");
}

#[test]
fn the_task_changes_with_the_script_so_that_old_scores_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("train.sh");
    std::fs::write(&script, "echo one").unwrap();
    let mut spec = spec(&["sh", "train.sh", "--out", "{out}"], 1.0);
    spec.resolve(dir.path());
    assert_eq!(spec.command[1], script.display().to_string(), "the script's path is made absolute");
    let task = |spec: &CommandSpec| CommandFitness::new(spec.clone(), "t", 0, dir.path(), None).unwrap().task();
    let before = task(&spec);
    std::fs::write(&script, "echo two").unwrap();
    assert_ne!(task(&spec), before, "a changed script is another task");
    assert!(before.contains("train.sh="), "{before}");
    let mut longer = spec.clone();
    longer.timeout_minutes = 2.0;
    assert_ne!(task(&longer), task(&spec), "the time limit changes what a run can reach");
}

#[test]
fn bad_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let new = |spec: CommandSpec| CommandFitness::new(spec, "t", 0, dir.path(), None).err().unwrap_or_default();
    assert!(new(spec(&["python3", "t.py", "{out}"], 0.0)).contains("timeout_minutes"));
    assert!(new(spec(&["python3", "t.py", "{outt}"], 1.0)).contains("{outt}"));
    let mut missing = spec(&["python3", "t.py", "{out}"], 1.0);
    missing.files = vec![dir.path().join("absent.py")];
    assert!(new(missing).contains("absent.py"));
}

#[test]
fn what_a_command_leaves_running_in_its_group_stops_with_it() {
    let (result, folder, _dir) =
        run(r#"sleep 60 & echo $! > "$0/child.pid"; echo '{"fitness": 0.5}' > "$0/result.json""#, 1.0);
    assert_eq!(result.unwrap().fitness, 0.5);
    let pid: i32 = std::fs::read_to_string(folder.join("child.pid")).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = state.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
    assert!(!alive, "the command's background child {pid} outlived it");
}

#[test]
fn a_relative_run_directory_gives_the_command_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let relative = Path::new("runs/relative");
    let fitness =
        CommandFitness::new(spec(&["true", "{out}"], 1.0), "t", 0, relative, Some(Path::new("data"))).unwrap();
    let folder = fitness.job_folder(&job(1));
    assert!(folder.is_absolute(), "{}", folder.display());
    assert!(fitness.data_dir.as_ref().is_some_and(|d| d.is_absolute()));
    drop(dir);
}
