//! GPU training throughput: ResNet-18 (torchvision's, as lossgp's zoo builds it) on CIFAR-10-sized
//! synthetic batches, on burn-tch and burn-wgpu, next to PyTorch eager on the same device, in one
//! run, printed as ratios. `scripts/bench-gpu` builds and runs it:
//!
//! ```text
//! scripts/bench-gpu                          # on a GPU machine: tch on CUDA, wgpu, PyTorch on CUDA
//! scripts/bench-gpu --batch 16 --steps 2     # the same on a CPU-only machine (libtorch's CPU, llvmpipe)
//! ```
//!
//! Each contender takes the same step as the other training benchmarks: forward, cross entropy,
//! reading the loss back (which waits for the device), backward, an Adam step. Options:
//! `--batch N` (128), `--steps N` timed steps per round (10), `--rounds N` (3), `--warmup N` (5).

mod common;

use lossgp::core::backend::{Backend, DynBackend};

use common::{Contender, Rounds, batch_and_rounds, pytorch, race, zoo_step};

const MODEL: &str = "resnet18";
const INPUT: [usize; 3] = [3, 32, 32];
const CLASSES: usize = 10;

/// The GPU backends compiled in that open here, and why the others do not.
fn backends() -> (Vec<DynBackend>, Vec<String>) {
    let (mut ready, mut skipped) = (Vec::new(), Vec::new());
    for name in ["tch", "wgpu"] {
        match lossgp::core::backend::open_backend(name) {
            Ok(b) => ready.push(b),
            Err(e) => skipped.push(format!("{name}: {e}")),
        }
    }
    (ready, skipped)
}

fn main() {
    lossgp::backends::link();
    lossgp::models::link();
    let (batch, rounds) = batch_and_rounds("gpu", 128, Rounds { warmup: 5, rounds: 3, steps: 10 });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Training throughput: {MODEL} at {}x{}x{}, batch {batch}, {CLASSES} classes, Adam, synthetic data",
        INPUT[0], INPUT[1], INPUT[2]
    );
    println!(
        "(median of {} steps each, in {} interleaved rounds after {} warm-up steps)\n",
        rounds.rounds * rounds.steps,
        rounds.rounds,
        rounds.warmup
    );
    let (ready, skipped) = backends();
    for why in &skipped {
        println!("not measured: {why}");
    }
    let contenders: Vec<Contender<'_>> =
        ready.iter().map(|b| (format!("lossgp, {}", b.name()), zoo_step(b, MODEL, INPUT, batch, CLASSES).1)).collect();
    let rows = race(contenders, rounds);
    let args = ["--model", MODEL, "--channels", "3", "--side", "32", "--batch", &batch.to_string(), "--device", "auto"]
        .map(String::from);
    let torch = pytorch(threads, rounds, &args);

    let torch_name = torch.as_ref().map_or(String::new(), |t| format!("PyTorch eager, {}", t.device));
    let width = rows.iter().map(|(name, _)| name.len()).chain([torch_name.len()]).max().unwrap_or(0);
    println!("\n{:<width$} {:>10} {:>10}", "contender", "images/s", "/ PyTorch");
    for (name, seconds) in &rows {
        let rate = batch as f64 / seconds;
        let ratio = torch.as_ref().map_or("-".into(), |t| format!("{:.2}", t.seconds / seconds));
        println!("{name:<width$} {rate:>10.1} {ratio:>10}");
    }
    match &torch {
        Ok(t) => println!("{torch_name:<width$} {:>10.1} {:>10}", batch as f64 / t.seconds, "1.00"),
        Err(why) => println!("PyTorch: not measured ({why})"),
    }
}
