//! Inception networks: torchvision's InceptionV3 (names that load its checkpoints) and the small
//! Inception for CIFAR-sized images of Zhang et al., the search's fitness model.

use lossgp_core::backend::{BResult, Backend, Params};
use lossgp_core::model::{ModelError, ModelSpec};

use crate::head::Head;
use crate::layers::{Builder, ConvBn, ConvConfig, Linear, WeightInit, avg_pool, global_avg_pool, max_pool, pooled};
use crate::network::{Layers, Network, Output, check_input, scaled};

/// A pooling that starts a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pooling {
    /// 3x3 average, stride 1, padding 1 (the size is kept).
    Average,
    /// 3x3 max, stride 2 (the size halves).
    Max,
}

/// One branch of an Inception module: an optional pooling, convolutions in sequence, and
/// optionally a fork of convolutions applied side by side and concatenated (InceptionV3's
/// `InceptionE`).
#[derive(Clone, Debug, Default)]
struct Branch {
    pool: Option<Pooling>,
    convs: Vec<ConvBn>,
    fork: Vec<ConvBn>,
    /// Its output channels.
    channels: usize,
}

impl Branch {
    fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let mut y = match self.pool {
            Some(Pooling::Average) => avg_pool(b, x, 3, 1, 1)?,
            Some(Pooling::Max) => max_pool(b, x, 3, 2, 0)?,
            None => x.clone(),
        };
        for conv in &self.convs {
            y = conv.forward(b, params, &y, train)?;
        }
        if self.fork.is_empty() {
            return Ok(y);
        }
        let forks = self.fork.iter().map(|conv| conv.forward(b, params, &y, train)).collect::<BResult<Vec<_>>>()?;
        b.cat(&forks, 1)
    }
}

/// Branches applied to the same input, their outputs concatenated along the channels.
#[derive(Clone, Debug)]
struct Mixed {
    branches: Vec<Branch>,
}

impl Mixed {
    fn channels(&self) -> usize {
        self.branches.iter().map(|b| b.channels).sum()
    }

    fn forward<B: Backend>(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<B::Tensor> {
        let outs =
            self.branches.iter().map(|branch| branch.forward(b, params, x, train)).collect::<BResult<Vec<_>>>()?;
        b.cat(&outs, 1)
    }
}

/// A layer of InceptionV3: a convolution, a max pool or an Inception module.
#[derive(Clone, Debug)]
enum Stage {
    Conv(ConvBn),
    MaxPool,
    Mixed(Mixed),
}

/// InceptionV3's auxiliary classifier on the 17x17 features of `Mixed_6e`.
#[derive(Clone, Debug)]
struct Auxiliary {
    conv0: ConvBn,
    conv1: ConvBn,
    fc: Linear,
}

/// Weight of the auxiliary classifier's loss (torchvision's training recipe).
const AUXILIARY_WEIGHT: f32 = 0.4;

/// InceptionV3 (Szegedy et al. 2016) as torchvision builds it: the same modules, channel counts,
/// parameter names, batch norm epsilon (1e-3) and initialisation (truncated normal, std 0.1).
pub struct InceptionV3 {
    stages: Vec<Stage>,
    /// Index of the stage after which the auxiliary classifier reads (`Mixed_6e`).
    auxiliary_at: usize,
    auxiliary: Option<Auxiliary>,
    head: Head,
}

/// Builds InceptionV3's layers, tracking the channels and the size.
struct V3Builder<'b, 'a, B: Backend> {
    build: &'b mut Builder<'a, B>,
    width: f64,
}

impl<B: Backend> V3Builder<'_, '_, B> {
    /// torchvision's `BasicConv2d`: convolution without bias, batch norm (epsilon 1e-3), ReLU.
    fn basic(&mut self, name: &str, c_in: usize, c_out: usize, config: ConvConfig) -> BResult<ConvBn> {
        let c_out = scaled(c_out, self.width);
        let config = config.init(WeightInit::TruncatedNormal(0.1));
        self.build.conv_bn([&format!("{name}.conv"), &format!("{name}.bn")], [c_in, c_out], config, 1e-3)
    }

    /// A branch: an optional pooling, then convolutions `(name, out, config)` in sequence, from
    /// `c` channels.
    fn chain(
        &mut self,
        prefix: &str,
        mut c: usize,
        pool: Option<Pooling>,
        convs: &[(&str, usize, ConvConfig)],
    ) -> BResult<Branch> {
        let mut branch = Branch { pool, ..Branch::default() };
        for &(name, out, config) in convs {
            branch.convs.push(self.basic(&format!("{prefix}.{name}"), c, out, config)?);
            c = scaled(out, self.width);
        }
        branch.channels = c;
        Ok(branch)
    }

    /// `branch` forked into a 1x3 and a 3x1 convolution of `out` channels, side by side
    /// (`InceptionE`).
    fn fork(&mut self, mut branch: Branch, [a, b]: [&str; 2], out: usize) -> BResult<Branch> {
        let c = branch.channels;
        branch.fork = vec![
            self.basic(a, c, out, ConvConfig::new(1, 3).padding([0, 1]))?,
            self.basic(b, c, out, ConvConfig::new(3, 1).padding([1, 0]))?,
        ];
        branch.channels = 2 * scaled(out, self.width);
        Ok(branch)
    }
}

/// `h, w` after a convolution or pooling of this geometry.
fn resize(config: ConvConfig, h: &mut usize, w: &mut usize) {
    (*h, *w) = (config.output(*h, 0), config.output(*w, 1));
}

fn k(n: usize) -> ConvConfig {
    ConvConfig::square(n)
}

fn k1x7() -> ConvConfig {
    ConvConfig::new(1, 7).padding([0, 3])
}

fn k7x1() -> ConvConfig {
    ConvConfig::new(7, 1).padding([3, 0])
}

impl InceptionV3 {
    /// `inception-v3` (options `aux=false|true`, `head`, `width`). Inputs of at least 75x75;
    /// the auxiliary classifier needs 299x299, the size InceptionV3 was designed for.
    pub fn build<B: Backend>(b: &B, spec: &ModelSpec) -> Result<Network<B, InceptionV3>, ModelError> {
        let name = "inception-v3";
        let width = spec.width(name)?;
        let aux = spec.option(name, "aux", false)?;
        check_input(name, spec, if aux { 299 } else { 75 }, if aux { " with aux=true" } else { "" })?;
        let mut build = Builder::new(b, spec.seed);
        let mut v3 = V3Builder { build: &mut build, width };
        let [mut c, mut h, mut w] = spec.input;
        let mut stages = Vec::new();
        for (name, out, config) in [
            ("Conv2d_1a_3x3", 32, k(3).stride(2)),
            ("Conv2d_2a_3x3", 32, k(3)),
            ("Conv2d_2b_3x3", 64, k(3).padding([1, 1])),
            ("maxpool1", 0, k(3).stride(2)),
            ("Conv2d_3b_1x1", 80, k(1)),
            ("Conv2d_4a_3x3", 192, k(3)),
            ("maxpool2", 0, k(3).stride(2)),
        ] {
            if out == 0 {
                stages.push(Stage::MaxPool);
            } else {
                stages.push(Stage::Conv(v3.basic(name, c, out, config)?));
                c = scaled(out, width);
            }
            resize(config, &mut h, &mut w);
        }
        let s = |n: usize| scaled(n, width);
        let mut mixed = |module: Mixed, c: &mut usize| {
            *c = module.channels();
            stages.push(Stage::Mixed(module));
        };
        for (name, pool_features) in [("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)] {
            mixed(inception_a(&mut v3, name, c, pool_features)?, &mut c);
        }
        mixed(inception_b(&mut v3, "Mixed_6a", c)?, &mut c);
        resize(k(3).stride(2), &mut h, &mut w);
        for (name, c7) in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)] {
            mixed(inception_c(&mut v3, name, c, c7)?, &mut c);
        }
        let auxiliary_at = stages.len() - 1;
        let auxiliary = if aux {
            let conv0 = v3.basic("AuxLogits.conv0", c, 128, k(1))?;
            // torchvision sets `stddev = 0.01` on this BasicConv2d, but its initialisation loop
            // reads the attribute from the inner Conv2d, which has none: the weights get 0.1.
            let conv1 = v3.basic("AuxLogits.conv1", s(128), 768, k(5))?;
            let fc = v3.build.linear("AuxLogits.fc", [s(768), spec.classes], WeightInit::TruncatedNormal(0.001))?;
            Some(Auxiliary { conv0, conv1, fc })
        } else {
            None
        };
        let mut mixed = |module: Mixed, c: &mut usize| {
            *c = module.channels();
            stages.push(Stage::Mixed(module));
        };
        mixed(inception_d(&mut v3, "Mixed_7a", c)?, &mut c);
        resize(k(3).stride(2), &mut h, &mut w);
        for name in ["Mixed_7b", "Mixed_7c"] {
            mixed(inception_e(&mut v3, name, c)?, &mut c);
        }
        let head = Head::new(&mut build, name, spec, [c, h, w], 0.5, WeightInit::TruncatedNormal(0.1))?;
        Ok(Network::new(name, spec, build, InceptionV3 { stages, auxiliary_at, auxiliary, head }))
    }
}

fn inception_a<B: Backend>(
    v3: &mut V3Builder<'_, '_, B>,
    name: &str,
    c: usize,
    pool_features: usize,
) -> BResult<Mixed> {
    let branches = vec![
        v3.chain(name, c, None, &[("branch1x1", 64, k(1))])?,
        v3.chain(name, c, None, &[("branch5x5_1", 48, k(1)), ("branch5x5_2", 64, k(5).padding([2, 2]))])?,
        v3.chain(
            name,
            c,
            None,
            &[("branch3x3dbl_1", 64, k(1)), ("branch3x3dbl_2", 96, k(3).same()), ("branch3x3dbl_3", 96, k(3).same())],
        )?,
        v3.chain(name, c, Some(Pooling::Average), &[("branch_pool", pool_features, k(1))])?,
    ];
    Ok(Mixed { branches })
}

fn inception_b<B: Backend>(v3: &mut V3Builder<'_, '_, B>, name: &str, c: usize) -> BResult<Mixed> {
    let branches = vec![
        v3.chain(name, c, None, &[("branch3x3", 384, k(3).stride(2))])?,
        v3.chain(
            name,
            c,
            None,
            &[
                ("branch3x3dbl_1", 64, k(1)),
                ("branch3x3dbl_2", 96, k(3).same()),
                ("branch3x3dbl_3", 96, k(3).stride(2)),
            ],
        )?,
        v3.chain(name, c, Some(Pooling::Max), &[])?,
    ];
    Ok(Mixed { branches })
}

fn inception_c<B: Backend>(v3: &mut V3Builder<'_, '_, B>, name: &str, c: usize, c7: usize) -> BResult<Mixed> {
    let branches = vec![
        v3.chain(name, c, None, &[("branch1x1", 192, k(1))])?,
        v3.chain(
            name,
            c,
            None,
            &[("branch7x7_1", c7, k(1)), ("branch7x7_2", c7, k1x7()), ("branch7x7_3", 192, k7x1())],
        )?,
        v3.chain(
            name,
            c,
            None,
            &[
                ("branch7x7dbl_1", c7, k(1)),
                ("branch7x7dbl_2", c7, k7x1()),
                ("branch7x7dbl_3", c7, k1x7()),
                ("branch7x7dbl_4", c7, k7x1()),
                ("branch7x7dbl_5", 192, k1x7()),
            ],
        )?,
        v3.chain(name, c, Some(Pooling::Average), &[("branch_pool", 192, k(1))])?,
    ];
    Ok(Mixed { branches })
}

fn inception_d<B: Backend>(v3: &mut V3Builder<'_, '_, B>, name: &str, c: usize) -> BResult<Mixed> {
    let branches = vec![
        v3.chain(name, c, None, &[("branch3x3_1", 192, k(1)), ("branch3x3_2", 320, k(3).stride(2))])?,
        v3.chain(
            name,
            c,
            None,
            &[
                ("branch7x7x3_1", 192, k(1)),
                ("branch7x7x3_2", 192, k1x7()),
                ("branch7x7x3_3", 192, k7x1()),
                ("branch7x7x3_4", 192, k(3).stride(2)),
            ],
        )?,
        v3.chain(name, c, Some(Pooling::Max), &[])?,
    ];
    Ok(Mixed { branches })
}

fn inception_e<B: Backend>(v3: &mut V3Builder<'_, '_, B>, name: &str, c: usize) -> BResult<Mixed> {
    let p = |s: &str| format!("{name}.{s}");
    let b3 = v3.chain(name, c, None, &[("branch3x3_1", 384, k(1))])?;
    let dbl = v3.chain(name, c, None, &[("branch3x3dbl_1", 448, k(1)), ("branch3x3dbl_2", 384, k(3).same())])?;
    let branches = vec![
        v3.chain(name, c, None, &[("branch1x1", 320, k(1))])?,
        v3.fork(b3, [&p("branch3x3_2a"), &p("branch3x3_2b")], 384)?,
        v3.fork(dbl, [&p("branch3x3dbl_3a"), &p("branch3x3dbl_3b")], 384)?,
        v3.chain(name, c, Some(Pooling::Average), &[("branch_pool", 192, k(1))])?,
    ];
    Ok(Mixed { branches })
}

impl<B: Backend> Layers<B> for InceptionV3 {
    fn forward(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let mut x = x.clone();
        let mut auxiliary = None;
        for (i, stage) in self.stages.iter().enumerate() {
            x = match stage {
                Stage::Conv(conv) => conv.forward(b, params, &x, train)?,
                Stage::MaxPool => max_pool(b, &x, 3, 2, 0)?,
                Stage::Mixed(mixed) => mixed.forward(b, params, &x, train)?,
            };
            if let (true, Some(aux), true) = (i == self.auxiliary_at, &self.auxiliary, train) {
                let y = aux.conv0.forward(b, params, &avg_pool(b, &x, 5, 3, 0)?, train)?;
                let y = global_avg_pool(b, &aux.conv1.forward(b, params, &y, train)?)?;
                auxiliary = Some((aux.fc.forward(b, params, &y)?, AUXILIARY_WEIGHT));
            }
        }
        Ok(Output { logits: self.head.forward(b, params, &x, train)?, auxiliary })
    }
}

/// A module of the small Inception.
#[derive(Clone, Debug)]
enum SmallModule {
    /// A 1x1 and a 3x3 convolution side by side.
    Inception { conv1x1: ConvBn, conv3x3: ConvBn },
    /// A 3x3 convolution of stride 2 beside a 3x3 max pool of stride 2.
    Downsample { conv: ConvBn },
}

/// The small Inception of Zhang et al. ("Understanding deep learning requires rethinking
/// generalization", ICLR 2017, appendix A), GoogLeNet-style modules for CIFAR-sized images:
///
/// ```text
/// conv 3x3 (96)
/// inception(32, 32)  inception(32, 48)  downsample(80)
/// inception(112, 48) inception(96, 64) inception(80, 80) inception(48, 96) downsample(96)
/// inception(176, 160) inception(176, 160)
/// global average pool, head
/// ```
///
/// `inception(a, b)` concatenates a 1x1 convolution of `a` channels and a 3x3 one of `b`;
/// `downsample(c)` a 3x3 stride-2 convolution of `c` channels and a 3x3 stride-2 max pool
/// (both unpadded: 32 -> 15 -> 7, 28 -> 13 -> 6). Every convolution is followed by batch norm
/// and ReLU. The sources give no initialisation; PyTorch's defaults are used.
pub struct InceptionSmall {
    stem: ConvBn,
    modules: Vec<SmallModule>,
    head: Head,
}

/// The small Inception's modules: `(1x1, 3x3)` channels, or `(0, c)` for a downsample.
const SMALL_PLAN: [(usize, usize); 10] =
    [(32, 32), (32, 48), (0, 80), (112, 48), (96, 64), (80, 80), (48, 96), (0, 96), (176, 160), (176, 160)];

impl InceptionSmall {
    /// `inception-cifar` (options `head`, `width`). Inputs of at least 7x7.
    pub fn build<B: Backend>(b: &B, spec: &ModelSpec) -> Result<Network<B, InceptionSmall>, ModelError> {
        let name = "inception-cifar";
        let width = spec.width(name)?;
        check_input(name, spec, 7, "")?;
        let mut build = Builder::new(b, spec.seed);
        let [channels, mut h, mut w] = spec.input;
        let same = ConvConfig::square(3).same();
        let mut c = scaled(96, width);
        let stem = build.conv_bn(["stem.conv", "stem.bn"], [channels, c], same, 1e-5)?;
        let mut modules = Vec::new();
        for (i, &(a, k3)) in SMALL_PLAN.iter().enumerate() {
            let k3 = scaled(k3, width);
            let mut unit = |n: &str, out: usize, config: ConvConfig| {
                build.conv_bn([&format!("blocks.{i}.{n}.conv"), &format!("blocks.{i}.{n}.bn")], [c, out], config, 1e-5)
            };
            if a == 0 {
                modules.push(SmallModule::Downsample { conv: unit("conv3x3", k3, ConvConfig::square(3).stride(2))? });
                (h, w) = (pooled(h, 3, 2, 0), pooled(w, 3, 2, 0));
                c += k3;
            } else {
                let a = scaled(a, width);
                let conv1x1 = unit("conv1x1", a, ConvConfig::square(1))?;
                let conv3x3 = unit("conv3x3", k3, same)?;
                modules.push(SmallModule::Inception { conv1x1, conv3x3 });
                c = a + k3;
            }
        }
        let head = Head::new(&mut build, name, spec, [c, h, w], 0.0, WeightInit::Default)?;
        Ok(Network::new(name, spec, build, InceptionSmall { stem, modules, head }))
    }
}

impl<B: Backend> Layers<B> for InceptionSmall {
    fn forward(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let mut x = self.stem.forward(b, params, x, train)?;
        for module in &self.modules {
            let parts = match module {
                SmallModule::Inception { conv1x1, conv3x3 } => {
                    [conv1x1.forward(b, params, &x, train)?, conv3x3.forward(b, params, &x, train)?]
                }
                SmallModule::Downsample { conv } => [conv.forward(b, params, &x, train)?, max_pool(b, &x, 3, 2, 0)?],
            };
            x = b.cat(&parts, 1)?;
        }
        Ok(self.head.forward(b, params, &x, train)?.into())
    }
}
