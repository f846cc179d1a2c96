//! Train a plain burn network with NGL, the loss lossgp's method discovered, in a few lines.
//!
//! Everything here is burn's own (model, optimiser, tensors) except the loss, which comes
//! from `lossgp_backends::burn::BurnLoss`: a built-in name, or any expression of the loss
//! language. Run it with `cargo run --release --example burn-ngl [LOSS]`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::Device;
use burn::tensor::{Int, Tensor};
use lossgp::backends::burn::BurnLoss;

/// Points on three interleaved spirals, labelled by spiral: a small task a linear model cannot
/// solve.
fn spirals(per_class: usize) -> (Vec<f32>, Vec<i64>) {
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for class in 0..3 {
        for i in 0..per_class {
            let r = i as f32 / per_class as f32;
            let angle = class as f32 * 2.094 + r * 4.0 + ((i * 7919 % 101) as f32 / 101.0 - 0.5) * 0.3;
            points.extend([r * angle.cos(), r * angle.sin()]);
            labels.push(class);
        }
    }
    (points, labels)
}

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    output: Linear,
    relu: Relu,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.relu.forward(self.hidden.forward(x)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = std::env::args().nth(1).unwrap_or_else(|| "ngl".to_owned());
    let loss = BurnLoss::new(&spec)?; // "ngl", "ce", or e.g. "-sum(y * log(p))"
    println!("training with {}", loss.loss());

    let device = Device::flex().autodiff();
    device.seed(0);
    let (points, labels) = spirals(300);
    let n = labels.len();
    let x = Tensor::<1>::from_floats(points.as_slice(), &device).reshape([n, 2]);
    let y = Tensor::<1, Int>::from_ints(labels.as_slice(), &device);

    let mut model = Mlp {
        hidden: LinearConfig::new(2, 64).init(&device),
        output: LinearConfig::new(64, 3).init(&device),
        relu: Relu::new(),
    };
    let mut optimizer = AdamConfig::new().init();
    for step in 0..=600 {
        let logits = model.forward(x.clone());
        let value = loss.forward(logits.clone(), y.clone())?;
        if step % 100 == 0 {
            let correct = logits.argmax(1).squeeze_dim::<1>(1).equal(y.clone()).int().sum().into_scalar::<i64>();
            println!(
                "step {step:>3}: loss {:.4}, accuracy {:.1}%",
                value.clone().into_scalar::<f32>(),
                100.0 * correct as f64 / n as f64
            );
        }
        let grads = GradientsParams::from_grads(value.backward(), &model);
        model = optimizer.step(0.01, model, grads);
    }
    Ok(())
}
