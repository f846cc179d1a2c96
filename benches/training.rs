//! Training throughput of the small CNN: lossgp's trait-based network against the same network
//! in plain burn and in PyTorch, all on this machine's CPU with the same threads, in one run.
//!
//! ```text
//! cargo bench --bench training                      # burn-flex, plain burn, candle, PyTorch
//! cargo bench --bench training --features ndarray   # burn-ndarray as well
//! scripts/gpu-backends cargo bench --bench training --features ndarray,tch   # and burn-tch on libtorch's CPU
//! ```
//!
//! Every contender runs the same step on the same synthetic batch: forward, cross entropy,
//! reading the loss back, backward, an Adam step. A second table compares NGL compiled from its
//! expression tree with NGL written by hand in burn's tensor operations, in the same network.
//! PyTorch runs through `scripts/bench_torch.py` when `python3 -c "import torch"` works.

mod common;

use burn::module::Module;
use burn::nn::conv::{Conv2d as BurnConv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm as BurnBatchNorm, BatchNormConfig, Linear as BurnLinear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::Device;
use burn::tensor::{Int, Tensor, activation};
use lossgp::Loss;
use lossgp::backends::burn::{BurnBackend, BurnTensor};
use lossgp::core::backend::{Backend, TensorLoss, TensorTargets};
use lossgp::core::model::{Model, ModelSpec};
use lossgp::core::train::{Optimizer, OptimizerConfig};
use lossgp::models::SmallCnn;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{Contender, Rounds, pytorch_step, race};

const BATCH: usize = 128;
const CLASSES: usize = 10;
const SIDE: usize = 28;
/// Timing: 3 warm-up steps, then 5 interleaved rounds of 6 steps.
const ROUNDS: Rounds = Rounds { warmup: 3, rounds: 5, steps: 6 };

/// A fixed batch of random images (standard normal-ish) and labels.
struct Batch {
    images: Vec<f32>,
    labels: Vec<u32>,
}

impl Batch {
    fn new() -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        Batch {
            images: (0..BATCH * SIDE * SIDE).map(|_| rng.random_range(-1.5f32..1.5)).collect(),
            labels: (0..BATCH).map(|_| rng.random_range(0..CLASSES as u32)).collect(),
        }
    }
}

/// How the lossgp step computes its loss.
enum LossPath {
    /// A loss compiled from its expression tree ([`TensorLoss`]).
    Tree(TensorLoss),
    /// NGL written by hand with burn's tensor operations.
    NglByHand,
}

/// NGL, `mean(exp(2.4092 - p*(1 + y)) - cos(cos(sin(p))))`, written directly in burn.
fn ngl_by_hand(logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let p = activation::softmax(logits, 1);
    let first = p.clone().mul(one_hot.add_scalar(1.0)).neg().add_scalar(2.4092).exp();
    let second = p.sin().cos().cos();
    first.sub(second).mean()
}

/// A training step of lossgp's small CNN on burn, with the loss from its tree or by hand.
fn lossgp_step<'a>(b: &'a BurnBackend, batch: &'a Batch, path: LossPath) -> Box<dyn FnMut() + 'a> {
    step(b, batch, move |b, logits, targets| match &path {
        LossPath::Tree(loss) => loss.forward(b, logits, targets).expect("loss"),
        LossPath::NglByHand => {
            let (BurnTensor::R2(l), BurnTensor::R2(y)) = (logits.clone(), targets.one_hot.clone()) else {
                unreachable!("rank 2")
            };
            BurnTensor::R1(ngl_by_hand(l, y))
        }
    })
}

/// A training step of lossgp's small CNN on any backend, with `loss`.
fn step<'a, B: Backend>(
    b: &'a B,
    batch: &'a Batch,
    loss: impl Fn(&B, &B::Tensor, &TensorTargets<B::Tensor>) -> B::Tensor + 'a,
) -> Box<dyn FnMut() + 'a> {
    let spec = ModelSpec::new([1, SIDE, SIDE], CLASSES, 0);
    let mut model = SmallCnn::build(b, &spec).expect("the small CNN builds");
    let mut optimizer = Optimizer::new(OptimizerConfig::default());
    Box::new(move || {
        let x = b.tensor(&batch.images, &[BATCH, 1, SIDE, SIDE]).expect("images");
        let targets = TensorTargets::classes(b, &batch.labels, CLASSES).expect("targets");
        let logits = model.forward(b, &x, true).expect("forward");
        let loss = loss(b, &logits, &targets);
        std::hint::black_box(b.to_vec(&loss).expect("the loss value"));
        let grads = b.backward(&loss).expect("backward");
        optimizer.step(b, model.params_mut(), &grads, 1e-3).expect("optimiser step");
    })
}

/// The small CNN written with burn's own `nn` modules.
#[derive(Module, Debug)]
struct PlainCnn {
    conv1: BurnConv2d,
    bn1: BurnBatchNorm,
    conv2: BurnConv2d,
    bn2: BurnBatchNorm,
    pool: MaxPool2d,
    fc1: BurnLinear,
    fc2: BurnLinear,
    relu: Relu,
}

impl PlainCnn {
    fn new(device: &Device) -> PlainCnn {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        PlainCnn {
            conv1: conv(1, 32),
            bn1: BatchNormConfig::new(32).init(device),
            conv2: conv(32, 64),
            bn2: BatchNormConfig::new(64).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(64 * 7 * 7, 128).init(device),
            fc2: LinearConfig::new(128, CLASSES).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.relu.forward(self.bn1.forward(self.conv1.forward(x))));
        let x = self.pool.forward(self.relu.forward(self.bn2.forward(self.conv2.forward(x))));
        let x = x.flatten(1, 3);
        self.fc2.forward(self.relu.forward(self.fc1.forward(x)))
    }
}

/// A training step of the plain burn network on `device`.
fn plain_burn_step(device: Device, batch: &Batch) -> Box<dyn FnMut() + '_> {
    let device = device.autodiff();
    device.seed(0);
    let mut model = Some(PlainCnn::new(&device));
    let mut optimizer = AdamConfig::new().init();
    let ce = CrossEntropyLoss::new(None, &device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| i64::from(l)).collect();
    Box::new(move || {
        let x = Tensor::<1>::from_floats(batch.images.as_slice(), &device).reshape([BATCH, 1, SIDE, SIDE]);
        let y = Tensor::<1, Int>::from_ints(labels.as_slice(), &device);
        let m = model.take().expect("the model");
        let loss = ce.forward(m.forward(x), y);
        std::hint::black_box(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optimizer.step(1e-3, m, grads));
    })
}

/// Forward and backward of a loss alone on `[BATCH, CLASSES]` logits, 50 times (one takes
/// microseconds).
fn loss_alone<'a>(b: &'a BurnBackend, path: LossPath, batch: &'a Batch) -> Box<dyn FnMut() + 'a> {
    let logits: Vec<f32> = batch.images[..BATCH * CLASSES].to_vec();
    let targets = TensorTargets::classes(b, &batch.labels, CLASSES).expect("targets");
    Box::new(move || {
        for _ in 0..50 {
            let l = b.param(b.tensor(&logits, &[BATCH, CLASSES]).expect("logits"));
            let loss = match &path {
                LossPath::Tree(loss) => loss.forward(b, &l, &targets).expect("loss"),
                LossPath::NglByHand => {
                    let (BurnTensor::R2(x), BurnTensor::R2(y)) = (l.clone(), targets.one_hot.clone()) else {
                        unreachable!()
                    };
                    BurnTensor::R1(ngl_by_hand(x, y))
                }
            };
            let grads = b.backward(&loss).expect("backward");
            std::hint::black_box(b.to_vec(&b.grad(&grads, &l).expect("a gradient")).expect("values"));
        }
    })
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let batch = Batch::new();
    let images = |seconds: f64| BATCH as f64 / seconds;
    println!(
        "Training throughput: small CNN, batch {BATCH} of 1x{SIDE}x{SIDE}, {CLASSES} classes, Adam, {threads} threads"
    );
    println!(
        "(median of {} steps each, taken in {} interleaved rounds after {} warm-up steps)\n",
        ROUNDS.rounds * ROUNDS.steps,
        ROUNDS.rounds,
        ROUNDS.warmup
    );

    let tree = |name: &str| LossPath::Tree(TensorLoss::new(&Loss::resolve(name).expect("a built-in loss")));
    let flex = BurnBackend::flex();
    #[cfg(feature = "candle")]
    let candle = lossgp::backends::candle::CandleBackend::cpu();
    #[cfg(feature = "ndarray")]
    let ndarray = BurnBackend::ndarray();
    #[cfg(feature = "tch")]
    let tch = BurnBackend::tch_cpu();
    #[cfg_attr(not(any(feature = "ndarray", feature = "candle", feature = "tch")), allow(unused_mut))]
    let mut contenders: Vec<Contender<'_>> = vec![
        ("lossgp small-cnn, burn-flex".into(), lossgp_step(&flex, &batch, tree("ce"))),
        ("plain burn nn, burn-flex".into(), plain_burn_step(Device::flex(), &batch)),
    ];
    #[cfg(feature = "candle")]
    {
        let ce = TensorLoss::new(&Loss::resolve("ce").expect("cross entropy"));
        let step = step(&candle, &batch, move |b, logits, targets| ce.forward(b, logits, targets).expect("loss"));
        contenders.push(("lossgp small-cnn, candle".into(), step));
    }
    #[cfg(feature = "ndarray")]
    {
        #[allow(deprecated)] // burn deprecates ndarray in favour of flex; measured to compare them.
        let device = Device::ndarray();
        contenders.push(("lossgp small-cnn, burn-ndarray".into(), lossgp_step(&ndarray, &batch, tree("ce"))));
        contenders.push(("plain burn nn, burn-ndarray".into(), plain_burn_step(device, &batch)));
    }
    #[cfg(feature = "tch")]
    {
        #[allow(deprecated)] // burn deprecates burn-tch in favour of its CubeCL backends; measured all the same.
        let device = Device::libtorch();
        contenders.push(("lossgp small-cnn, burn-tch cpu".into(), lossgp_step(&tch, &batch, tree("ce"))));
        contenders.push(("plain burn nn, burn-tch cpu".into(), plain_burn_step(device, &batch)));
    }
    let rows = race(contenders, ROUNDS);
    let torch = pytorch_step(threads, ROUNDS, &["--batch".into(), BATCH.to_string()]).map(images);

    let plain_flex = images(rows[1].1);
    println!("{:<34} {:>10} {:>14} {:>12}", "", "images/s", "/ plain burn", "/ PyTorch");
    for (name, seconds) in &rows {
        let rate = images(*seconds);
        let vs_torch = torch.as_ref().map(|t| format!("{:.2}", rate / t)).unwrap_or_else(|_| "-".into());
        println!("{name:<34} {rate:>10.1} {:>14.3} {vs_torch:>12}", rate / plain_flex);
    }
    match &torch {
        Ok(t) => println!(
            "{:<34} {t:>10.1} {:>14.3} {:>12}",
            format!("PyTorch cpu ({threads} threads)"),
            t / plain_flex,
            "1.00"
        ),
        Err(why) => println!("PyTorch: not measured ({why})"),
    }

    println!("\nNGL from its expression tree vs written by hand in burn (lossgp small-cnn, burn-flex)");
    let steps = race(
        vec![
            ("tree".into(), lossgp_step(&flex, &batch, tree("ngl"))),
            ("by hand".into(), lossgp_step(&flex, &batch, LossPath::NglByHand)),
        ],
        ROUNDS,
    );
    let (step_tree, step_hand) = (steps[0].1, steps[1].1);
    println!(
        "  training step:        tree {:.2} ms, by hand {:.2} ms, ratio {:.3}",
        step_tree * 1e3,
        step_hand * 1e3,
        step_tree / step_hand
    );
    let alone = race(
        vec![
            ("tree".into(), loss_alone(&flex, tree("ngl"), &batch)),
            ("by hand".into(), loss_alone(&flex, LossPath::NglByHand, &batch)),
        ],
        ROUNDS,
    );
    let (alone_tree, alone_hand) = (alone[0].1 / 50.0, alone[1].1 / 50.0);
    println!(
        "  loss alone ({BATCH}x{CLASSES}, fwd+bwd): tree {:.1} us, by hand {:.1} us, ratio {:.3}",
        alone_tree * 1e6,
        alone_hand * 1e6,
        alone_tree / alone_hand
    );
}
