//! Training throughput of the zoo's CIFAR-scale networks on the CPU, next to the same networks
//! in PyTorch (`scripts/bench_torch.py`) with the same threads, in one run:
//!
//! ```text
//! cargo bench --bench models
//! ```
//!
//! Each network trains on Fashion-MNIST-sized (1x28x28) and CIFAR-sized (3x32x32) synthetic
//! batches of 64: forward, cross entropy, reading the loss back, backward, an Adam step, built
//! by name as `lossgp train` builds it, on burn-flex. The small CNN of `benches/training.rs`
//! is the yardstick.

mod common;

use lossgp::backends::burn::BurnBackend;
use lossgp::core::backend::DynBackend;

use common::{Contender, Rounds, pytorch_step, race, zoo_step};

const BATCH: usize = 64;
const CLASSES: usize = 10;
/// Timing: 1 warm-up step, then 3 interleaved rounds of 2 steps (the largest network takes
/// seconds per step).
const ROUNDS: Rounds = Rounds { warmup: 1, rounds: 3, steps: 2 };
/// The networks, as `--model` takes them.
const MODELS: [&str; 5] = ["small-cnn", "inception-cifar:width=0.25", "inception-cifar", "resnet20", "resnet56"];

fn main() {
    lossgp::backends::link();
    lossgp::models::link();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let b = DynBackend::new(BurnBackend::flex());
    println!(
        "Training throughput of the CIFAR-scale networks: batch {BATCH}, {CLASSES} classes, Adam, {threads} threads"
    );
    println!(
        "(median of {} steps each, in {} interleaved rounds after {} warm-up step; lossgp on burn-flex)\n",
        ROUNDS.rounds * ROUNDS.steps,
        ROUNDS.rounds,
        ROUNDS.warmup
    );
    println!(
        "{:<28} {:>8} {:>11} {:>12} {:>12} {:>10}",
        "network", "input", "parameters", "lossgp img/s", "PyTorch", "/ PyTorch"
    );
    for input in [[1, 28, 28], [3, 32, 32]] {
        let mut parameters = Vec::new();
        let contenders: Vec<Contender<'_>> = MODELS
            .iter()
            .map(|model| {
                let (count, run) = zoo_step(&b, model, input, BATCH, CLASSES);
                parameters.push(count);
                (model.to_string(), run)
            })
            .collect();
        let rows = race(contenders, ROUNDS);
        let [c, h, w] = input;
        for ((model, seconds), count) in rows.into_iter().zip(parameters) {
            let ours = BATCH as f64 / seconds;
            let args = [
                "--model",
                &model,
                "--batch",
                &BATCH.to_string(),
                "--channels",
                &c.to_string(),
                "--side",
                &h.to_string(),
            ]
            .map(String::from);
            let (theirs, ratio) = match pytorch_step(threads, ROUNDS, &args) {
                Ok(t) => (format!("{:.1}", BATCH as f64 / t), format!("{:.2}", t / seconds)),
                Err(why) => (format!("- ({why})"), "-".into()),
            };
            println!("{model:<28} {:>8} {count:>11} {ours:>12.1} {theirs:>12} {ratio:>10}", format!("{c}x{h}x{w}"));
        }
    }
}
