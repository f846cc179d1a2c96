//! Residual networks: the ImageNet family of torchvision (ResNet-18/34/50/101, with parameter
//! names that load torchvision's checkpoints) and the CIFAR ResNets of He et al. (ResNet-20/56).

use lossgp_core::backend::{BResult, Backend, BinaryOp, Params};
use lossgp_core::model::{ModelError, ModelSpec};

use crate::head::Head;
use crate::layers::{Builder, ConvBn, ConvConfig, WeightInit, max_pool, pooled, relu};
use crate::network::{Layers, Network, Output, check_input, scaled};

/// A network of the ImageNet family: its depth fixes the block and the blocks per stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Basic blocks, 2-2-2-2.
    R18,
    /// Basic blocks, 3-4-6-3.
    R34,
    /// Bottleneck blocks, 3-4-6-3.
    R50,
    /// Bottleneck blocks, 3-4-23-3.
    R101,
}

impl Depth {
    fn blocks(self) -> [usize; 4] {
        match self {
            Depth::R18 => [2, 2, 2, 2],
            Depth::R34 | Depth::R50 => [3, 4, 6, 3],
            Depth::R101 => [3, 4, 23, 3],
        }
    }

    fn bottleneck(self) -> bool {
        matches!(self, Depth::R50 | Depth::R101)
    }

    /// The depth for `resnet18`, ..., `resnet101`.
    pub fn from_name(name: &str) -> Option<Depth> {
        Some(match name {
            "resnet18" => Depth::R18,
            "resnet34" => Depth::R34,
            "resnet50" => Depth::R50,
            "resnet101" => Depth::R101,
            _ => return None,
        })
    }
}

/// How a residual block's input reaches its output.
#[derive(Clone, Debug)]
enum Shortcut {
    /// Unchanged.
    Identity,
    /// A strided 1x1 convolution and batch norm (torchvision's `downsample`; He et al.'s
    /// option B).
    Projection(ConvBn),
    /// Subsampled by the stride and padded with zero channels, `extra` in all (He et al.'s
    /// option A, used for their CIFAR networks): no parameters.
    ZeroPad { stride: usize, extra: usize },
}

/// A residual block: convolutions with batch norm (ReLU between them), plus the shortcut, then
/// ReLU. Two 3x3 convolutions make a basic block; 1x1, 3x3, 1x1 a bottleneck.
#[derive(Clone, Debug)]
struct Residual {
    convs: Vec<ConvBn>,
    shortcut: Shortcut,
}

impl Residual {
    fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let mut y = x.clone();
        for (i, conv) in self.convs.iter().enumerate() {
            y = match i + 1 == self.convs.len() {
                true => conv.forward_linear(b, params, &y, train)?,
                false => conv.forward(b, params, &y, train)?,
            };
        }
        let shortcut = match &self.shortcut {
            Shortcut::Identity => x.clone(),
            Shortcut::Projection(conv) => conv.forward_linear(b, params, x, train)?,
            Shortcut::ZeroPad { stride, extra } => {
                let sub = max_pool(b, x, 1, *stride, 0)?;
                let shape = b.shape(&sub);
                // Constants of the same kind as the activations: detached in evaluation, where
                // the parameters are (burn-tch leaks what a forward pass mixing the kinds holds).
                let zeros = |c: usize| {
                    let z = b.full(&[shape[0], c, shape[2], shape[3]], 0.0)?;
                    Ok::<_, lossgp_core::backend::BackendError>(if train { z } else { b.detach(&z) })
                };
                let mut parts = Vec::with_capacity(3);
                if extra / 2 > 0 {
                    parts.push(zeros(extra / 2)?);
                }
                parts.push(sub);
                if extra - extra / 2 > 0 {
                    parts.push(zeros(extra - extra / 2)?);
                }
                b.cat(&parts, 1)?
            }
        };
        relu(b, &b.binary(BinaryOp::Add, &y, &shortcut)?)
    }
}

/// The first layer of an ImageNet-family ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stem {
    /// A 7x7 convolution of stride 2 and a 3x3 max pool of stride 2 (ImageNet's).
    ImageNet,
    /// A 3x3 convolution of stride 1 and no pool (for 32x32 images).
    Cifar,
}

/// The convolutional part of a ResNet: stem and stages, without pooling or head. Shared by the
/// classifiers and the segmentation networks.
#[derive(Clone, Debug)]
pub struct Backbone {
    stem: ConvBn,
    stem_pool: bool,
    stages: Vec<Vec<Residual>>,
    /// Channels and size `[c, h, w]` of the output for the spec's input.
    features: [usize; 3],
}

impl Backbone {
    /// The features `[n, c, h, w]` of a batch.
    pub fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let mut x = self.stem.forward(b, params, x, train)?;
        if self.stem_pool {
            x = max_pool(b, &x, 3, 2, 1)?;
        }
        for block in self.stages.iter().flatten() {
            x = block.forward(b, params, &x, train)?;
        }
        Ok(x)
    }

    /// The features `[n, c, h, w]` of a batch, and those after the third stage (`layer3`,
    /// which torchvision's auxiliary segmentation head reads; half the final channels).
    pub fn forward_with_layer3<B: Backend>(
        &self,
        b: &B,
        params: &mut Params<B>,
        x: &B::Tensor,
        train: bool,
    ) -> BResult<(B::Tensor, B::Tensor)> {
        let mut x = self.stem.forward(b, params, x, train)?;
        if self.stem_pool {
            x = max_pool(b, &x, 3, 2, 1)?;
        }
        let mut layer3 = None;
        for (i, stage) in self.stages.iter().enumerate() {
            for block in stage {
                x = block.forward(b, params, &x, train)?;
            }
            if i == 2 {
                layer3 = Some(x.clone());
            }
        }
        let layer3 = layer3.unwrap_or_else(|| x.clone());
        Ok((x, layer3))
    }

    /// `[channels, height, width]` of the features for the spec's input.
    pub fn features(&self) -> [usize; 3] {
        self.features
    }

    /// torchvision's ResNet body of `depth` for images `[channels, height, width]`, channels
    /// scaled by `width`: names prefixed with `prefix` (`backbone.` in the segmentation
    /// networks), and the stages in `dilate` dilated instead of strided
    /// (`replace_stride_with_dilation`, for segmentation at output stride 8).
    pub fn imagenet<B: Backend>(
        build: &mut Builder<'_, B>,
        [channels, mut h, mut w]: [usize; 3],
        (depth, width): (Depth, f64),
        stem: Stem,
        dilate: [bool; 4],
        prefix: &str,
    ) -> BResult<Backbone> {
        let cifar_stem = stem == Stem::Cifar;
        let conv = |k: usize| ConvConfig::square(k).init(WeightInit::KaimingFanOut);
        let base = scaled(64, width);
        let stem_config = if cifar_stem { conv(3).padding([1, 1]) } else { conv(7).stride(2).padding([3, 3]) };
        let stem =
            build.conv_bn([&format!("{prefix}conv1"), &format!("{prefix}bn1")], [channels, base], stem_config, 1e-5)?;
        (h, w) = (stem_config.output(h, 0), stem_config.output(w, 1));
        if !cifar_stem {
            (h, w) = (pooled(h, 3, 2, 1), pooled(w, 3, 2, 1));
        }
        let expansion = if depth.bottleneck() { 4 } else { 1 };
        let (mut inplanes, mut dilation) = (base, 1);
        let mut stages = Vec::new();
        for (stage, &blocks) in depth.blocks().iter().enumerate() {
            let planes = scaled(64 << stage, width);
            let mut stride = if stage == 0 { 1 } else { 2 };
            let previous_dilation = dilation;
            if dilate[stage] {
                dilation *= stride;
                stride = 1;
            }
            let mut stage_blocks = Vec::new();
            for i in 0..blocks {
                let name = format!("{prefix}layer{}.{i}", stage + 1);
                let (s, d) = if i == 0 { (stride, previous_dilation) } else { (1, dilation) };
                let c3 = conv(3).stride(s).dilation(d).same();
                let mut unit = |n: usize, io: [usize; 2], config: ConvConfig| {
                    build.conv_bn([&format!("{name}.conv{n}"), &format!("{name}.bn{n}")], io, config, 1e-5)
                };
                // torchvision's BasicBlock refuses dilation; here it dilates both convolutions,
                // which is what a dilated ResNet-18/34 backbone needs.
                let convs = if depth.bottleneck() {
                    vec![
                        unit(1, [inplanes, planes], conv(1))?,
                        unit(2, [planes, planes], c3)?,
                        unit(3, [planes, planes * 4], conv(1))?,
                    ]
                } else {
                    vec![unit(1, [inplanes, planes], c3)?, unit(2, [planes, planes], conv(3).dilation(d).same())?]
                };
                let shortcut = if i == 0 && (s != 1 || inplanes != planes * expansion) {
                    let names = [format!("{name}.downsample.0"), format!("{name}.downsample.1")];
                    Shortcut::Projection(build.conv_bn(
                        [&names[0], &names[1]],
                        [inplanes, planes * expansion],
                        conv(1).stride(s),
                        1e-5,
                    )?)
                } else {
                    Shortcut::Identity
                };
                if i == 0 {
                    (h, w) = (c3.output(h, 0), c3.output(w, 1));
                }
                inplanes = planes * expansion;
                stage_blocks.push(Residual { convs, shortcut });
            }
            stages.push(stage_blocks);
        }
        Ok(Backbone { stem, stem_pool: !cifar_stem, stages, features: [inplanes, h, w] })
    }

    /// He et al.'s CIFAR ResNet with `n` basic blocks per stage (depth `6n + 2`) for images
    /// `[channels, height, width]`: a 3x3 stem of 16 channels, stages of 16, 32 and 64 channels
    /// (scaled by `width`), and option A shortcuts. Convolutions start as torchvision's ResNets
    /// do (Kaiming normal, fan-out): He et al.'s paper cites their own initialisation without
    /// fixing the fan, and widely used ports use fan-in.
    pub fn cifar<B: Backend>(
        build: &mut Builder<'_, B>,
        [channels, mut h, mut w]: [usize; 3],
        n: usize,
        width: f64,
    ) -> BResult<Backbone> {
        let conv = ConvConfig::square(3).padding([1, 1]).init(WeightInit::KaimingFanOut);
        let mut inplanes = scaled(16, width);
        let stem = build.conv_bn(["conv1", "bn1"], [channels, inplanes], conv, 1e-5)?;
        let mut stages = Vec::new();
        for stage in 0..3 {
            let planes = scaled(16 << stage, width);
            let mut stage_blocks = Vec::new();
            for i in 0..n {
                let name = format!("layer{}.{i}", stage + 1);
                let s = if i == 0 && stage > 0 { 2 } else { 1 };
                let mut unit = |k: usize, io: [usize; 2], config: ConvConfig| {
                    build.conv_bn([&format!("{name}.conv{k}"), &format!("{name}.bn{k}")], io, config, 1e-5)
                };
                let convs = vec![unit(1, [inplanes, planes], conv.stride(s))?, unit(2, [planes, planes], conv)?];
                let shortcut = match s != 1 || inplanes != planes {
                    true => Shortcut::ZeroPad { stride: s, extra: planes - inplanes },
                    false => Shortcut::Identity,
                };
                (h, w) = (conv.stride(s).output(h, 0), conv.stride(s).output(w, 1));
                inplanes = planes;
                stage_blocks.push(Residual { convs, shortcut });
            }
            stages.push(stage_blocks);
        }
        Ok(Backbone { stem, stem_pool: false, stages, features: [inplanes, h, w] })
    }
}

/// A ResNet classifier: backbone and head.
pub struct ResNet {
    backbone: Backbone,
    head: Head,
}

impl<B: Backend> Layers<B> for ResNet {
    fn forward(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let features = self.backbone.forward(b, params, x, train)?;
        Ok(self.head.forward(b, params, &features, train)?.into())
    }
}

impl ResNet {
    /// `resnet18` ... `resnet101` (options `stem=imagenet|cifar`, `head`, `width`).
    pub fn imagenet<B: Backend>(b: &B, name: &str, spec: &ModelSpec) -> Result<Network<B, ResNet>, ModelError> {
        let depth = Depth::from_name(name).ok_or_else(|| ModelError::Unknown {
            name: name.to_owned(),
            known: "resnet18, resnet34, resnet50, resnet101".into(),
        })?;
        let width = spec.width(name)?;
        let stem = match spec.choice(name, "stem", &["imagenet", "cifar"])? {
            "cifar" => Stem::Cifar,
            _ => Stem::ImageNet,
        };
        check_input(name, spec, if stem == Stem::Cifar { 8 } else { 32 }, "")?;
        let mut build = Builder::new(b, spec.seed);
        let backbone = Backbone::imagenet(&mut build, spec.input, (depth, width), stem, [false; 4], "")?;
        let head = Head::new(&mut build, name, spec, backbone.features(), 0.0, WeightInit::Default)?;
        Ok(Network::new(name, spec, build, ResNet { backbone, head }))
    }

    /// `resnet20` or `resnet56` of He et al. (options `head`, `width`).
    pub fn cifar<B: Backend>(b: &B, name: &str, spec: &ModelSpec) -> Result<Network<B, ResNet>, ModelError> {
        let n = match name {
            "resnet20" => 3,
            "resnet56" => 9,
            _ => return Err(ModelError::Unknown { name: name.to_owned(), known: "resnet20, resnet56".into() }),
        };
        let width = spec.width(name)?;
        check_input(name, spec, 4, "")?;
        let mut build = Builder::new(b, spec.seed);
        let backbone = Backbone::cifar(&mut build, spec.input, n, width)?;
        let head = Head::new(&mut build, name, spec, backbone.features(), 0.0, WeightInit::Default)?;
        Ok(Network::new(name, spec, build, ResNet { backbone, head }))
    }
}
