//! The Slurm commands the evaluator runs (`squeue`, `scancel`), each within a time limit, and
//! what their answers mean.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The states in which a task may still deliver its result (Slurm's job state codes,
/// `squeue(1)`): waiting, booting its node, running, held, requeued or being updated.
pub(super) const ALIVE: [&str; 17] = [
    "PENDING",
    "CONFIGURING",
    "POWER_UP_NODE",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "STOPPED",
    "RESV_DEL_HOLD",
    "EXPEDITING",
    "UPDATE_DB",
    "SPECIAL_EXIT",
];

/// The ends a task meets through the cluster, not through its job: its node failed or did
/// not boot, or a job of higher priority preempted it. Its job is submitted again without
/// counting as an attempt, up to [`ENGINE_RESUBMITS`](super::ENGINE_RESUBMITS) times.
pub(super) const ENGINE_ENDS: [&str; 3] = ["NODE_FAIL", "BOOT_FAIL", "PREEMPTED"];

/// The longest a Slurm command may take before it is taken for a controller that does not
/// answer (and killed): a hanging `squeue` or `scancel` must not hang the run.
pub(super) const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Runs `command` and collects its output, killing it after `limit`.
pub(super) fn output_within(command: &mut Command, limit: Duration) -> Result<Output, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program} could not run: {e}"))?;
    // Read both pipes on their own threads, so that a full pipe cannot stall the command, and
    // so that children of a killed command holding the pipes cannot stall this one.
    let read = |mut pipe: Box<dyn Read + Send>| {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = send.send(bytes);
        });
        receive
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} gave no answer within {:.0} s", limit.as_secs_f64()));
            }
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    let collect =
        |pipe: std::sync::mpsc::Receiver<Vec<u8>>| pipe.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    Ok(Output { status, stdout: collect(stdout), stderr: collect(stderr) })
}

/// An array's id as `sbatch --parsable` printed it, `ID` or `ID;CLUSTER`: the id, and the
/// cluster (`-M`) that `squeue` and `scancel` must be pointed at for it.
pub(super) fn split_id(array: &str) -> (&str, Option<&str>) {
    match array.split_once(';') {
        Some((id, cluster)) if !cluster.trim().is_empty() => (id.trim(), Some(cluster.trim())),
        _ => (array.split(';').next().unwrap_or_default().trim(), None),
    }
}

/// Cancels `arrays` (ids as recorded, with their clusters), one `scancel` per cluster.
/// Arrays that have ended are passed over ("Invalid job id specified").
pub(super) fn scancel(arrays: &[String]) -> Result<(), String> {
    let mut by_cluster: std::collections::BTreeMap<Option<&str>, Vec<&str>> = Default::default();
    for array in arrays {
        let (id, cluster) = split_id(array);
        by_cluster.entry(cluster).or_default().push(id);
    }
    let mut complaints = Vec::new();
    for (cluster, ids) in by_cluster {
        let mut command = Command::new("scancel");
        if let Some(cluster) = cluster {
            command.args(["-M", cluster]);
        }
        let out = output_within(command.args(&ids), COMMAND_LIMIT)?;
        complaints.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.contains("Invalid job id specified"))
                .map(str::to_owned),
        );
        if !out.status.success()
            && complaints.is_empty()
            && !String::from_utf8_lossy(&out.stderr).contains("Invalid job id")
        {
            complaints.push(format!("scancel exited with {}", out.status));
        }
    }
    if complaints.is_empty() { Ok(()) } else { Err(format!("scancel failed: {}", complaints.join("; "))) }
}

/// Tries of one `squeue` query before a poll gives up on it, and the wait before the first
/// retry (doubled for each further one).
pub(super) const QUERY_TRIES: u32 = 3;
pub(super) const QUERY_BACKOFF: Duration = Duration::from_millis(500);

/// What `squeue` said about an array.
pub(super) enum Query {
    /// Each task's state (an array that `squeue` no longer knows has none).
    States(Vec<(usize, String)>),
    /// `squeue` itself failed (the controller is down or busy): nothing is known.
    Failed(String),
}

/// One array's tasks' states, as `squeue --states=all` lists them (finished tasks for
/// `MinJobAge`), retried with back-off where `squeue` fails. An array `squeue` no longer knows
/// ("Invalid job id specified") has no tasks: that is an answer, not a failure.
pub(super) fn query_array(array: &str, limit: Duration) -> Query {
    let (id, cluster) = split_id(array);
    let mut why = String::new();
    for attempt in 0..QUERY_TRIES {
        if attempt > 0 {
            std::thread::sleep(QUERY_BACKOFF * 2u32.pow(attempt - 1));
        }
        let mut command = Command::new("squeue");
        if let Some(cluster) = cluster {
            command.args(["-M", cluster]);
        }
        let out = match output_within(command.args(["-h", "-r", "--states=all", "-j", id, "-o", "%i|%T"]), limit) {
            Ok(out) => out,
            Err(e) => {
                why = e;
                continue;
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || stderr.contains("Invalid job id specified") {
            let mut states = Vec::new();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let Some((task, state)) = line.trim().split_once('|') else { continue };
                if let Some((a, t)) = task.split_once('_')
                    && a == id
                    && let Ok(t) = t.parse::<usize>()
                {
                    states.push((t, state.to_owned()));
                }
            }
            return Query::States(states);
        }
        why = format!("squeue -j {id} failed ({}): {}", out.status, stderr.trim());
    }
    Query::Failed(why)
}

/// Tasks' states by (array, task index).
pub(super) type TaskStates = HashMap<(String, usize), String>;

/// Every task's state, by (array, task), for the arrays whose query succeeded, and the
/// failures of the others.
pub(super) fn task_states(arrays: &[String], limit: Duration) -> (TaskStates, Vec<(String, String)>) {
    let mut states = HashMap::new();
    let mut failed = Vec::new();
    for array in arrays {
        match query_array(array, limit) {
            Query::States(tasks) => states.extend(tasks.into_iter().map(|(t, s)| ((array.clone(), t), s))),
            Query::Failed(why) => failed.push((array.clone(), why)),
        }
    }
    (states, failed)
}

/// The id of the array named `name`, if Slurm knows one.
pub(super) fn array_named(name: &str) -> Option<String> {
    let out =
        output_within(Command::new("squeue").args(["-h", "--states=all", "--name", name, "-o", "%F"]), COMMAND_LIMIT)
            .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty())
}

/// `text` quoted for a POSIX shell where it must be.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
