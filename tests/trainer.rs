//! The trainer and the optimisers on a real backend (burn-flex): update rules against
//! PyTorch's numbers, and `train()`'s stopping rules, schedules, divergence, segmentation and
//! reproducibility on small in-memory datasets.

use std::sync::Arc;

use lossgp::Loss;
use lossgp::backends::burn::BurnBackend;
use lossgp::core::backend::{BResult, Backend, BinaryOp, Conv2d, ParamId, ParamKind, Params, ReduceOp};
use lossgp::core::data::{DataError, Dataset, IGNORE, Image, LabelMap, Normalization, Sample, Target, Task};
use lossgp::core::model::Model;
use lossgp::core::train::{
    Checkpointing, Optimizer, OptimizerConfig, Schedule, Status, TrainConfig, TrainData, TrainError, TrainReport,
    train, train_checkpointed,
};

/// 8x8 grey images: dark ones are class 0, bright ones class 1. For segmentation, each pixel is
/// labelled by its own brightness, and one pixel per image is unlabelled.
struct Shades {
    len: usize,
    task: Task,
    classes: Vec<String>,
}

impl Shades {
    fn shared(len: usize, task: Task) -> Arc<dyn Dataset> {
        Arc::new(Shades { len, task, classes: vec!["dark".into(), "bright".into()] })
    }
}

impl Dataset for Shades {
    fn name(&self) -> &str {
        "shades"
    }
    fn len(&self) -> usize {
        self.len
    }
    fn task(&self) -> Task {
        self.task
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len)?;
        let class = (index % 2) as u8;
        let pixels: Vec<u8> = (0..64)
            .map(|i| {
                let bright = if self.task == Task::Segmentation { (i + index).is_multiple_of(3) } else { class == 1 };
                let noise = ((i * 37 + index * 11) % 40) as u8;
                if bright { 180 + noise } else { 20 + noise }
            })
            .collect();
        let target = match self.task {
            Task::Classification => Target::Class(u32::from(class)),
            Task::Segmentation => {
                let mut labels: Vec<u8> = pixels.iter().map(|&p| u8::from(p > 128)).collect();
                labels[index % 64] = IGNORE;
                Target::Mask(LabelMap::new(8, 8, labels)?)
            }
        };
        Ok(Sample { image: Image::new(8, 8, 1, pixels)?, target })
    }
    fn normalization(&self) -> Normalization {
        Normalization::unit(1)
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((8, 8, 1))
    }
}

/// A 1x1 convolution from the image to class scores: per pixel for segmentation, averaged
/// over the image for classification.
struct PixelModel<B: Backend> {
    params: Params<B>,
    weight: ParamId,
    bias: ParamId,
    segmentation: bool,
    /// If set, the logits again as auxiliary logits with this weight, as InceptionV3 gives.
    auxiliary: Option<f32>,
    pending: Option<B::Tensor>,
    /// Dropout on the input while training, with this probability.
    dropout: Option<f32>,
}

impl<B: Backend> PixelModel<B> {
    fn new(b: &B, segmentation: bool) -> PixelModel<B> {
        let mut params = Params::new();
        let weight = params.add(b, "weight", b.tensor(&[0.1, -0.1], &[2, 1, 1, 1]).unwrap(), ParamKind::Trainable);
        let bias = params.add(b, "bias", b.tensor(&[0.0, 0.0], &[2]).unwrap(), ParamKind::Trainable);
        PixelModel { params, weight, bias, segmentation, auxiliary: None, pending: None, dropout: None }
    }
}

impl<B: Backend> Model<B> for PixelModel<B> {
    fn forward(&mut self, b: &B, images: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let images = match self.dropout.filter(|_| train) {
            Some(p) => &b.dropout(images, p)?,
            None => images,
        };
        let scores =
            b.conv2d(images, self.params.get(self.weight), Some(self.params.get(self.bias)), &Conv2d::default())?;
        let logits = if self.segmentation {
            scores
        } else {
            let n = b.shape(&scores)[0];
            b.reshape(&b.adaptive_avg_pool2d(&scores, [1, 1])?, &[n, 2])?
        };
        self.pending = self.auxiliary.filter(|_| train).map(|_| logits.clone());
        Ok(logits)
    }
    fn take_auxiliary(&mut self) -> Option<(B::Tensor, f32)> {
        self.pending.take().zip(self.auxiliary)
    }
    fn params(&self) -> &Params<B> {
        &self.params
    }
    fn params_mut(&mut self) -> &mut Params<B> {
        &mut self.params
    }
    fn input_shape(&self) -> [usize; 3] {
        [1, 8, 8]
    }
    fn describe(&self) -> String {
        "pixel model".into()
    }
}

/// The backend's random generator (dropout masks) is shared by every run of this process:
/// tests that train hold this lock, so that a test's draws do not depend on another's timing.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 8,
        learning_rate: 0.05,
        validation_fraction: 0.25,
        schedule: Schedule::Constant,
        workers: Some(1),
        ..TrainConfig::default()
    }
}

fn run(loss: &str, task: Task, config: &TrainConfig) -> Result<TrainReport, TrainError> {
    let _serial = serial();
    let b = BurnBackend::flex();
    let mut model = PixelModel::new(&b, task == Task::Segmentation);
    let data = TrainData { train: Shades::shared(64, task), validation: None, test: Some(Shades::shared(16, task)) };
    train(&b, &mut model, &Loss::resolve(loss).unwrap(), &data, config, &mut |_| {})
}

#[test]
fn an_auxiliary_classifier_adds_its_weighted_loss_to_the_gradient() {
    let _serial = serial();
    // One SGD step with an auxiliary copy of the logits at weight 0.4: the gradient is 1.4
    // times the plain one, so the step equals a plain one at 1.4 times the rate. The reported
    // training loss is the main loss alone. A NaN in the auxiliary loss alone ends the run as
    // diverged.
    let b = BurnBackend::flex();
    let data = TrainData { train: Shades::shared(64, Task::Classification), validation: None, test: None };
    let sgd = OptimizerConfig::Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.0 };
    let config = TrainConfig { max_steps: Some(1), optimizer: sgd, ..config() };
    let first_epoch = |auxiliary, learning_rate| {
        let mut model = PixelModel { auxiliary, ..PixelModel::new(&b, false) };
        let config = TrainConfig { learning_rate, ..config.clone() };
        let report = train(&b, &mut model, &Loss::resolve("ce").unwrap(), &data, &config, &mut |_| {}).unwrap();
        report.epochs[0].clone()
    };
    let plain = first_epoch(None, 0.5);
    let with_auxiliary = first_epoch(Some(0.4), 0.5);
    let faster = first_epoch(None, 0.7);
    assert_eq!(with_auxiliary.train.loss, plain.train.loss);
    let validation_loss = |e: &lossgp::core::train::EpochReport| e.validation.as_ref().unwrap().loss;
    assert!((validation_loss(&with_auxiliary) - validation_loss(&faster)).abs() < 1e-6);
    assert!((validation_loss(&with_auxiliary) - validation_loss(&plain)).abs() > 1e-4);
    let mut model = PixelModel { auxiliary: Some(f32::NAN), ..PixelModel::new(&b, false) };
    let report = train(&b, &mut model, &Loss::resolve("ce").unwrap(), &data, &config, &mut |_| {}).unwrap();
    assert!(matches!(report.status, Status::Diverged { .. }), "{:?}", report.status);
}

#[test]
fn optimisers_follow_pytorch() {
    let _serial = serial();
    // w <- three steps on sum(w*c) + sum(w^2)/2 with lr 0.1; expected values from PyTorch 2.9
    // (torch.optim.SGD / Adam / AdamW, float64).
    let cases: [(OptimizerConfig, [f32; 3]); 5] = [
        (OptimizerConfig::Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.0 }, [0.2832, -0.6748, 1.187]),
        (
            OptimizerConfig::Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.01 },
            [0.0866002, -0.3786165, 0.4491089],
        ),
        (
            OptimizerConfig::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 },
            [-0.0381432, -0.1927852, -0.018037],
        ),
        (OptimizerConfig::default().with_weight_decay(0.01), [0.2022329, -0.7012256, 1.700383]),
        ("adamw".parse::<OptimizerConfig>().unwrap().with_weight_decay(0.1), [0.1905162, -0.6746772, 1.6440586]),
    ];
    let b = BurnBackend::flex();
    for (optimizer_config, want) in cases {
        let mut params = Params::new();
        let w = params.add(&b, "w", b.tensor(&[0.5, -1.0, 2.0], &[3]).unwrap(), ParamKind::Trainable);
        let c = b.tensor(&[0.3, -0.2, 1.0], &[3]).unwrap();
        let mut optimizer = Optimizer::new(optimizer_config.clone());
        for _ in 0..3 {
            let x = params.get(w);
            let linear = b.binary(BinaryOp::Mul, x, &c).unwrap();
            let square = b.affine(&b.binary(BinaryOp::Mul, x, x).unwrap(), 0.5, 0.0).unwrap();
            let loss = b.reduce(ReduceOp::Sum, &b.binary(BinaryOp::Add, &linear, &square).unwrap(), 0).unwrap();
            let grads = b.backward(&loss).unwrap();
            optimizer.step(&b, &mut params, &grads, 0.1).unwrap();
        }
        let got = b.to_vec(params.get(w)).unwrap();
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5), "{optimizer_config:?}: {got:?} vs {want:?}");
    }
}

#[test]
fn a_seeded_run_learns_and_repeats_exactly() {
    let first = run("ce", Task::Classification, &config()).unwrap();
    assert_eq!(first.status, Status::Completed);
    assert_eq!(first.epochs.len(), 3);
    assert_eq!(first.steps, 3 * 6, "48 training samples in batches of 8");
    assert!(first.fitness() > 0.9, "{first:?}");
    assert_eq!(first.test.as_ref().unwrap().samples, 16);
    let second = run("ce", Task::Classification, &config()).unwrap();
    let strip = |r: &TrainReport| {
        (r.epochs.iter().map(|e| (e.train.clone(), e.validation.clone())).collect::<Vec<_>>(), r.test.clone())
    };
    assert_eq!(strip(&first), strip(&second));
    let other_seed = run("ce", Task::Classification, &TrainConfig { seed: 1, ..config() }).unwrap();
    assert_ne!(strip(&first), strip(&other_seed));
}

#[test]
fn early_stopping_and_the_plateau_schedule_watch_validation_accuracy() {
    // At this rate nothing changes, so accuracy never improves after the first epoch.
    let still = TrainConfig { learning_rate: 1e-9, epochs: 10, early_stopping: Some(2), ..config() };
    let stopped = run("ce", Task::Classification, &still).unwrap();
    assert_eq!(stopped.status, Status::EarlyStopped { epoch: 2 });
    assert_eq!(stopped.epochs.len(), 3);

    let plateau = Schedule::Plateau { factor: 0.5, patience: 1, min_lr: 0.0, min_delta: 0.0 };
    let reduced =
        run("ce", Task::Classification, &TrainConfig { schedule: plateau, early_stopping: None, epochs: 4, ..still })
            .unwrap();
    let rates: Vec<f32> = reduced.epochs.iter().map(|e| e.learning_rate).collect();
    assert_eq!(rates, [1e-9, 1e-9, 5e-10, 2.5e-10]);
}

#[test]
fn budgets_end_a_run_with_its_results() {
    let steps = run("ngl", Task::Classification, &TrainConfig { max_steps: Some(4), ..config() }).unwrap();
    assert_eq!(steps.status, Status::OutOfBudget { reason: "4 steps".into() });
    assert_eq!((steps.steps, steps.epochs.len()), (4, 1));
    assert!(steps.best_validation.is_some() && steps.test.is_some(), "the run is still evaluated");
    let time = run("ngl", Task::Classification, &TrainConfig { max_seconds: Some(1e-6), ..config() }).unwrap();
    assert!(matches!(time.status, Status::OutOfBudget { .. }), "{:?}", time.status);
    assert_eq!(time.steps, 1);
}

#[test]
fn losses_that_cannot_train_score_zero_without_an_error() {
    let diverged = run("exp(1000*p)", Task::Classification, &config()).unwrap();
    assert!(matches!(diverged.status, Status::Diverged { epoch: 0, step: 0, .. }), "{:?}", diverged.status);
    assert_eq!(diverged.fitness(), 0.0);
    assert!(diverged.test.is_none());
    let constant = run("square(y) + 3", Task::Classification, &config()).unwrap();
    assert!(matches!(constant.status, Status::Untrainable { .. }), "{:?}", constant.status);
    assert_eq!((constant.steps, constant.fitness()), (0, 0.0));
}

#[test]
fn segmentation_trains_per_pixel_and_skips_unlabelled_pixels() {
    let report = run("ce", Task::Segmentation, &TrainConfig { epochs: 4, learning_rate: 0.1, ..config() }).unwrap();
    assert_eq!(report.status, Status::Completed);
    let test = report.test.unwrap();
    assert!(test.accuracy > 0.95, "{test:?}");
    assert!(test.mean_iou.unwrap() > 0.9, "{test:?}");
    assert!(test.top5.is_none());
}

#[test]
fn settings_that_cannot_work_are_refused_before_training() {
    let no_validation = TrainConfig { validation_fraction: 0.0, schedule: Schedule::default(), ..config() };
    let err = run("ce", Task::Classification, &no_validation).unwrap_err().to_string();
    assert!(err.contains("plateau") && err.contains("--schedule constant"), "{err}");
    for (bad, expected) in [
        (TrainConfig { epochs: 0, ..config() }, "--epochs"),
        (TrainConfig { max_steps: Some(0), ..config() }, "--max-steps"),
        (TrainConfig { learning_rate: f32::NAN, ..config() }, "--lr"),
        (
            TrainConfig {
                optimizer: OptimizerConfig::Sgd { momentum: 1.5, nesterov: false, weight_decay: 0.0 },
                ..config()
            },
            "momentum",
        ),
        (TrainConfig { schedule: Schedule::Step { every: 0, gamma: 0.1 }, ..config() }, "step:EVERY:GAMMA"),
    ] {
        let err = run("ce", Task::Classification, &bad).unwrap_err().to_string();
        assert!(err.contains(expected), "{bad:?}: {err}");
    }
}

#[test]
fn a_last_batch_of_one_sample_is_left_out() {
    let _serial = serial();
    // 17 training samples in batches of 8: two steps per epoch, not a third over one sample
    // (which batch norm cannot normalise); 18 keep their last batch of two.
    let b = BurnBackend::flex();
    let steps = |len: usize| {
        let data = TrainData { train: Shades::shared(len, Task::Classification), validation: None, test: None };
        let config = TrainConfig { epochs: 1, validation_fraction: 0.0, ..config() };
        let mut model = PixelModel::new(&b, false);
        train(&b, &mut model, &Loss::resolve("ce").unwrap(), &data, &config, &mut |_| {}).unwrap().steps
    };
    assert_eq!(steps(17), 2);
    assert_eq!(steps(18), 3);
}

/// Every value of every tensor of a model, as bits.
fn weights<B: Backend>(b: &B, model: &PixelModel<B>) -> Vec<Vec<u32>> {
    model.params.ids().map(|id| b.to_vec(model.params.get(id)).unwrap().iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn a_run_resumed_from_any_checkpoint_ends_bit_for_bit_as_an_uninterrupted_one() {
    let _serial = serial();
    let b = BurnBackend::flex();
    // Adam, the plateau schedule on validation, dropout: every kind of state a run carries.
    let config = TrainConfig {
        epochs: 4,
        schedule: Schedule::Plateau { factor: 0.5, patience: 1, min_lr: 1e-3, min_delta: 0.0 },
        ..config()
    };
    let data = TrainData { train: Shades::shared(64, Task::Classification), validation: None, test: None };
    let loss = Loss::resolve("ngl").unwrap();
    let model = |b: &BurnBackend| PixelModel { dropout: Some(0.3), ..PixelModel::new(b, false) };
    let history = |r: &TrainReport| {
        let epochs: Vec<_> =
            r.epochs.iter().map(|e| (e.epoch, e.learning_rate, e.train.clone(), e.validation.clone())).collect();
        (epochs, r.best_validation.clone(), r.steps, r.status.clone())
    };
    let root = tempfile::tempdir().unwrap();
    let every = Checkpointing { dir: root.path().join("whole"), every_steps: Some(4), keep: 100 };
    let mut whole = model(&b);
    let report = train_checkpointed(&b, &mut whole, &loss, &data, &config, Some(&every), &mut |_| {}).unwrap();
    assert_eq!(report.steps, 24, "6 steps an epoch");
    let plain = {
        let mut m = model(&b);
        train(&b, &mut m, &loss, &data, &config, &mut |_| {}).unwrap();
        weights(&b, &m)
    };
    assert_eq!(weights(&b, &whole), plain, "checkpointing changes nothing");
    let saved = every.list().unwrap();
    // Every 4 steps and at each epoch's end (6, 12, 18, 24; at 12 and 24 the epoch's end
    // replaces the step's).
    let steps: Vec<String> = saved.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(steps.len(), 8, "{steps:?}");

    // A crash after any of them: only that checkpoint is left, and a fresh model continues.
    for checkpoint in &saved[..saved.len() - 1] {
        let dir = root.path().join(format!("from-{}", checkpoint.file_name().unwrap().to_string_lossy()));
        let copy = dir.join(checkpoint.file_name().unwrap());
        std::fs::create_dir_all(&copy).unwrap();
        for file in ["model.safetensors", "optimizer.safetensors", "progress.json"] {
            std::fs::copy(checkpoint.join(file), copy.join(file)).unwrap();
        }
        let again = Checkpointing { dir, every_steps: Some(4), keep: 2 };
        let mut resumed = model(&b);
        let end = train_checkpointed(&b, &mut resumed, &loss, &data, &config, Some(&again), &mut |_| {}).unwrap();
        assert_eq!(weights(&b, &resumed), plain, "resumed from {}", checkpoint.display());
        assert_eq!(history(&end), history(&report), "resumed from {}", checkpoint.display());
        assert!(again.list().unwrap().len() <= 3, "the last 2 kept, and the best");
    }
}

/// One 16x16 image: columns 0-7 dark, 8-15 bright; its label map says class 1 from column 7
/// on (one column more than the image shows), and ignores one pixel of column 7.
struct Halves;

impl Dataset for Halves {
    fn name(&self) -> &str {
        "halves"
    }
    fn len(&self) -> usize {
        1
    }
    fn task(&self) -> Task {
        Task::Segmentation
    }
    fn classes(&self) -> &[String] {
        static CLASSES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        CLASSES.get_or_init(|| vec!["dark".into(), "bright".into()])
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, 1)?;
        let pixels: Vec<u8> = (0..256).map(|i| if i % 16 >= 8 { 255 } else { 0 }).collect();
        let mut labels: Vec<u8> = (0..256).map(|i| u8::from(i % 16 >= 7)).collect();
        labels[5 * 16 + 7] = IGNORE;
        Ok(Sample { image: Image::new(16, 16, 1, pixels)?, target: Target::Mask(LabelMap::new(16, 16, labels)?) })
    }
    fn normalization(&self) -> Normalization {
        Normalization::unit(1)
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((16, 16, 1))
    }
}

#[test]
fn segmentation_is_scored_at_each_images_own_resolution() {
    use lossgp::core::backend::TensorLoss;
    use lossgp::core::data::{Loader, LoaderConfig};
    use lossgp::core::train::evaluate;
    let b = BurnBackend::flex();
    // Bright pixels score class 1, dark ones class 0: the network, at 8x8, sees the boundary
    // between its columns 3 and 4; brought back to 16x16, between columns 7 and 8.
    let mut model = PixelModel::new(&b, true);
    model.params.set(&b, model.weight, b.tensor(&[-1.0, 1.0], &[2, 1, 1, 1]).unwrap());
    model.params.set(&b, model.bias, b.tensor(&[0.5, -0.5], &[2]).unwrap());
    let config = LoaderConfig { batch_size: 1, size: Some((8, 8)), workers: Some(1), ..LoaderConfig::default() };
    let loader = Loader::new(Arc::new(Halves), config).unwrap();
    let metrics = evaluate(&b, &mut model, &loader, &TensorLoss::new(&Loss::resolve("ce").unwrap())).unwrap();
    // Of 255 labelled pixels, column 7's 15 are wrong (labelled 1, predicted 0). Class 0:
    // 112 right of 127 predicted; class 1: 128 right of 143 labelled.
    assert_eq!(metrics.accuracy, 240.0 / 255.0);
    let ious = metrics.class_iou.clone().unwrap();
    assert_eq!(ious, [Some(112.0 / 127.0), Some(128.0 / 143.0)]);
    assert!((metrics.mean_iou.unwrap() - (112.0 / 127.0 + 128.0 / 143.0) / 2.0).abs() < 1e-12);
}

#[test]
fn warm_up_and_label_smoothing_shape_the_run() {
    let plain = run("ce", Task::Classification, &config()).unwrap();
    // 6 steps an epoch, 2 epochs of warm-up: epoch 1's last step (index 5) runs at
    // 0.05 x (0.01 + 0.99 x 5/12); from step 12 on, the full rate.
    let warm = run("ce", Task::Classification, &TrainConfig { warmup_epochs: 2, ..config() }).unwrap();
    assert_eq!(warm.epochs[0].learning_rate, 0.05 * (0.01 + 0.99 * 5.0 / 12.0));
    assert_eq!(warm.epochs[2].learning_rate, 0.05);
    let smooth = run("ce", Task::Classification, &TrainConfig { label_smoothing: 0.1, ..config() }).unwrap();
    assert!(smooth.fitness() > 0.9, "{smooth:?}");
    assert_ne!(smooth.epochs[0].train.loss, plain.epochs[0].train.loss, "the targets changed");
    let bad = TrainConfig { label_smoothing: 1.0, ..config() };
    assert!(bad.validate(true).unwrap_err().to_string().contains("label smoothing"));
}
