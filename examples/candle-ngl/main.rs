//! Train a plain candle network with NGL, the loss lossgp's method discovered, in a few lines.
//!
//! Everything here is candle's own (`candle_nn` layers, `VarMap`, AdamW, tensors) except the
//! loss, which comes from `lossgp_backends::candle::CandleLoss`: a built-in name, or any
//! expression of the loss language. Run it with `cargo run --release --example candle-ngl
//! [LOSS]`.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap, linear};
use lossgp::backends::candle::CandleLoss;

/// Points on three noisy concentric rings, labelled by ring: a small task no linear model
/// solves.
fn rings(per_class: usize) -> (Vec<f32>, Vec<u32>) {
    let mut points = Vec::with_capacity(per_class * 6);
    let mut labels = Vec::with_capacity(per_class * 3);
    for ring in 0..3u32 {
        for i in 0..per_class {
            let angle = i as f32 / per_class as f32 * std::f32::consts::TAU;
            let radius = 0.3 + 0.35 * ring as f32 + ((i * 7919 % 97) as f32 / 97.0 - 0.5) * 0.12;
            points.extend([radius * angle.cos(), radius * angle.sin()]);
            labels.push(ring);
        }
    }
    (points, labels)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = std::env::args().nth(1).unwrap_or_else(|| "ngl".to_owned());
    let loss = CandleLoss::new(&spec)?; // "ngl", "ce", or e.g. "-sum(y * log(p))"
    println!("training with {}", loss.loss());

    let device = Device::Cpu;
    let (points, labels) = rings(300);
    let n = labels.len();
    let x = Tensor::from_vec(points, (n, 2), &device)?;
    let y = Tensor::from_vec(labels, n, &device)?;

    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
    let (hidden, output) = (linear(2, 64, vb.pp("hidden"))?, linear(64, 3, vb.pp("output"))?);
    let mut optimizer = AdamW::new(vars.all_vars(), ParamsAdamW { lr: 0.01, weight_decay: 0.0, ..Default::default() })?;
    for step in 0..=600 {
        let logits = output.forward(&hidden.forward(&x)?.relu()?)?;
        let value = loss.forward(&logits, &y)?;
        if step % 100 == 0 {
            let correct = logits.argmax(1)?.eq(&y)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            println!(
                "step {step:>3}: loss {:.4}, accuracy {:.1}%",
                value.to_vec1::<f32>()?[0],
                100.0 * correct / n as f32
            );
        }
        optimizer.backward_step(&value)?;
    }
    Ok(())
}
