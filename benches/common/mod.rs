//! What the training benchmarks share: interleaved timing and the PyTorch contender.

use std::process::Command;
use std::time::Instant;

/// A contender: a name and one training step.
pub type Contender<'a> = (String, Box<dyn FnMut() + 'a>);

/// How many steps to time.
#[derive(Clone, Copy, Debug)]
pub struct Rounds {
    /// Untimed steps of each contender first.
    pub warmup: usize,
    /// Rounds in which every contender takes `steps` steps in turn.
    pub rounds: usize,
    /// Steps per contender per round.
    pub steps: usize,
}

/// Seconds per step of each contender: `warmup` steps each, then `rounds` rounds in which
/// every contender takes `steps` steps in turn, so that a slow spell of the machine hits all
/// of them alike; the median of each one's steps.
pub fn race(mut contenders: Vec<Contender<'_>>, r: Rounds) -> Vec<(String, f64)> {
    for (_, step) in &mut contenders {
        (0..r.warmup).for_each(|_| step());
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for _ in 0..r.rounds {
        for ((_, step), times) in contenders.iter_mut().zip(&mut times) {
            for _ in 0..r.steps {
                let start = Instant::now();
                step();
                times.push(start.elapsed().as_secs_f64());
            }
        }
    }
    contenders
        .into_iter()
        .zip(times)
        .map(|((name, _), mut t)| {
            t.sort_by(f64::total_cmp);
            (name, t[t.len() / 2])
        })
        .collect()
}

/// Seconds per step of the same network in PyTorch (`scripts/bench_torch.py` with `args`),
/// with as many steps as `r`, if PyTorch is installed.
pub fn pytorch_step(threads: usize, r: Rounds, args: &[String]) -> Result<f64, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_torch.py");
    let out = Command::new("python3")
        .args([script, "--threads", &threads.to_string()])
        .args(["--warmup", &r.warmup.to_string(), "--steps", &(r.rounds * r.steps).to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_owned());
    }
    text.trim()
        .strip_prefix("seconds_per_step=")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unexpected output `{}`", text.trim()))
}
