//! What the training benchmarks share: interleaved timing and the PyTorch contender.

use std::process::Command;
use std::time::Instant;

use lossgp::Loss;
use lossgp::core::backend::{Backend, DynBackend, TensorLoss, TensorTargets};
use lossgp::core::model::{ModelOptions, ModelSpec, build_model};
use lossgp::core::train::{Optimizer, OptimizerConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// `--batch N`, `--steps N`, `--rounds N` and `--warmup N` from the command line (each N > 0),
/// over the given defaults; anything else stops the benchmark `bench` with its usage.
#[allow(dead_code)] // not used by every benchmark.
pub fn batch_and_rounds(bench: &str, mut batch: usize, mut rounds: Rounds) -> (usize, Rounds) {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<usize>().ok()).filter(|&v| v > 0);
        let (Some(value), name) = (value, pair[0].as_str()) else {
            panic!("usage: {bench} [--batch N] [--steps N] [--rounds N] [--warmup N], each N > 0; got {pair:?}")
        };
        match name {
            "--batch" => batch = value,
            "--steps" => rounds.steps = value,
            "--rounds" => rounds.rounds = value,
            "--warmup" => rounds.warmup = value,
            _ => panic!("unknown option {name}: the options are --batch, --steps, --rounds, --warmup"),
        }
    }
    (batch, rounds)
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

/// A training step of the zoo's `model` (as `--model` takes it) on `b`, on a fixed random batch
/// of `batch` images of shape `input` and `classes` classes: forward, cross entropy, reading the
/// loss back (which waits for the device), backward, an Adam step. Also the network's parameter
/// count.
#[allow(dead_code)] // not used by the small-CNN benchmark.
pub fn zoo_step<'a>(
    b: &'a DynBackend,
    model: &str,
    input: [usize; 3],
    batch: usize,
    classes: usize,
) -> (usize, Box<dyn FnMut() + 'a>) {
    let (name, options) = ModelOptions::parse(model).expect("a model");
    let spec = ModelSpec { options, ..ModelSpec::new(input, classes, 0) };
    let mut net = build_model(&name, b, &spec).expect("the model builds");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let [c, h, w] = input;
    let images: Vec<f32> = (0..batch * c * h * w).map(|_| rng.random_range(-1.5f32..1.5)).collect();
    let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..classes as u32)).collect();
    let loss = TensorLoss::new(&Loss::resolve("ce").expect("cross entropy"));
    let mut optimizer = Optimizer::new(OptimizerConfig::default());
    let parameters = net.params().count();
    let run = move || {
        let x = b.tensor(&images, &[batch, c, h, w]).expect("images");
        let targets = TensorTargets::classes(b, &labels, classes).expect("targets");
        let logits = net.forward(b, &x, true).expect("forward");
        let value = loss.forward(b, &logits, &targets).expect("loss");
        std::hint::black_box(b.to_vec(&value).expect("the loss value"));
        let grads = b.backward(&value).expect("backward");
        optimizer.step(b, net.params_mut(), &grads, 1e-3).expect("optimiser step");
    };
    (parameters, Box::new(run))
}

/// A PyTorch contender's result.
#[allow(dead_code)] // `device` is read by the GPU benchmark only.
pub struct TorchRun {
    /// Median seconds per step.
    pub seconds: f64,
    /// Where it ran, as `scripts/bench_torch.py` says (`cpu (2 threads)`, `cuda (NVIDIA H200)`).
    pub device: String,
}

/// Seconds per step of the same network in PyTorch (`scripts/bench_torch.py` with `args`),
/// with as many steps as `r`, if PyTorch is installed.
#[allow(dead_code)] // not every benchmark uses both forms.
pub fn pytorch_step(threads: usize, r: Rounds, args: &[String]) -> Result<f64, String> {
    pytorch(threads, r, args).map(|run| run.seconds)
}

/// [`pytorch_step`], with where it ran.
pub fn pytorch(threads: usize, r: Rounds, args: &[String]) -> Result<TorchRun, String> {
    // The repository's copy; a binary carried to another machine runs from a checkout's root.
    let built_in = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_torch.py");
    let script = if std::path::Path::new(built_in).exists() { built_in } else { "scripts/bench_torch.py" };
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
    let value = |key: &str| text.lines().find_map(|line| line.trim().strip_prefix(key).map(str::to_owned));
    let seconds = value("seconds_per_step=").and_then(|s| s.parse().ok());
    match (seconds, value("device=")) {
        (Some(seconds), Some(device)) => Ok(TorchRun { seconds, device }),
        _ => Err(format!("unexpected output `{}`", text.trim())),
    }
}
