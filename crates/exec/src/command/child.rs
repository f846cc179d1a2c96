//! Running the user's command: in its job folder, its output in files there, within a time
//! limit after which it and every process it started are stopped.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The command's output files in its job folder.
pub const STDOUT: &str = "stdout.log";
/// See [`STDOUT`].
pub const STDERR: &str = "stderr.log";

/// How the command ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited, or a signal ended it.
    Exited(ExitStatus),
    /// It ran past its limit and was stopped (with everything it started).
    TimedOut,
}

/// Why it could not run at all.
#[derive(Debug)]
pub struct NotStarted(pub std::io::Error);

/// Runs `command` in `folder`, its standard output and error appended to the files there,
/// for at most `limit`. On the limit its process group gets SIGTERM, then SIGKILL 5 s later,
/// so that a training script's data-loader processes stop with it; when it exits, what it
/// left running in its group is killed.
pub fn run(command: &mut Command, folder: &Path, limit: Duration) -> Result<Ended, NotStarted> {
    let open = |name: &str| File::options().create(true).append(true).open(folder.join(name));
    let (out, err) = (open(STDOUT).map_err(NotStarted)?, open(STDERR).map_err(NotStarted)?);
    let mut child = command
        .current_dir(folder)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // A group of its own: stopping it stops what it started.
        .process_group(0)
        .spawn()
        .map_err(NotStarted)?;
    let group = child.id() as i32;
    let deadline = Instant::now() + limit;
    let mut poll = Duration::from_millis(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // What it left running in its group (a data loader, a background logger) stops
                // with it. A process that left the group (setsid) is beyond reach.
                signal_group(group, "KILL");
                return Ok(Ended::Exited(status));
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(poll);
                poll = (poll * 2).min(Duration::from_millis(200));
            }
            Ok(None) | Err(_) => break,
        }
    }
    signal_group(group, "TERM");
    let grace = Instant::now() + Duration::from_secs(5);
    while Instant::now() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_group(group, "KILL");
    let _ = child.wait();
    Ok(Ended::TimedOut)
}

/// Sends `signal` (`TERM`, `KILL`) to a process group, through kill(1).
fn signal_group(group: i32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How an exit reads in a failure: `exit code 3`, `killed by signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => {
            let name = match signal {
                9 => " (SIGKILL: killed, e.g. by the out-of-memory killer or a scheduler)",
                15 => " (SIGTERM)",
                11 => " (SIGSEGV: a crash)",
                6 => " (SIGABRT: aborted)",
                2 => " (SIGINT)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        _ => "an unknown status".into(),
    }
}

/// The last `lines` lines of a file (of its last 64 KiB), for a failure's message.
pub fn tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else { return String::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
