//! Semantic segmentation on a dilated ResNet backbone: torchvision's FCN and DeepLabV3 heads,
//! with their parameter names, upsampled bilinearly to the input size. The logits are
//! `[n, classes, height, width]`; the trainer applies any loss per pixel and skips pixels
//! labelled 255.

use lossgp_core::backend::{BResult, Backend, Params};
use lossgp_core::model::{ModelError, ModelSpec};

use crate::layers::{Builder, Conv, ConvBn, ConvConfig, dropout};
use crate::network::{Layers, Network, Output, check_input, scaled};
use crate::resnet::{Backbone, Depth, Stem};

/// Channels of DeepLabV3's atrous spatial pyramid pooling.
const ASPP_CHANNELS: usize = 256;
/// Its dilation rates at output stride 8 (torchvision's), and at 16 (DeepLabV3's paper).
const ASPP_RATES: [usize; 3] = [12, 24, 36];
const ASPP_RATES_16: [usize; 3] = [6, 12, 18];

/// What predicts the classes from the backbone's features.
enum SegmentationHead {
    /// FCN (Long et al.): 3x3 convolution to a quarter of the channels, batch norm, ReLU,
    /// dropout 0.1, 1x1 convolution to the classes.
    Fcn { conv: ConvBn, classifier: Conv },
    /// DeepLabV3 (Chen et al. 2017): atrous spatial pyramid pooling (a 1x1 convolution, three
    /// dilated 3x3 convolutions and image pooling, concatenated and projected, dropout 0.5),
    /// then a 3x3 convolution and a 1x1 one to the classes.
    DeepLab(Box<DeepLab>),
}

/// DeepLabV3's head (boxed: it is much larger than FCN's).
struct DeepLab {
    branches: Vec<ConvBn>,
    pooling: ConvBn,
    project: ConvBn,
    conv: ConvBn,
    classifier: Conv,
}

/// Weight of the auxiliary head's loss (torchvision's segmentation recipe).
const AUXILIARY_WEIGHT: f32 = 0.5;

/// A segmentation network: a dilated ResNet and a head, and optionally torchvision's auxiliary
/// FCN head on the backbone's third stage (`aux_loss`), trained with its loss weighted by 0.5
/// and unused in evaluation.
pub struct Segmentation {
    pub(crate) backbone: Backbone,
    head: SegmentationHead,
    auxiliary: Option<(ConvBn, Conv)>,
}

impl Segmentation {
    /// `fcn` or `deeplabv3` (options `backbone`, `width`, `aux`, `output_stride`).
    pub fn build<B: Backend>(b: &B, name: &str, spec: &ModelSpec) -> Result<Network<B, Segmentation>, ModelError> {
        let width = spec.width(name)?;
        let backbone_name = spec.choice(name, "backbone", &["resnet50", "resnet101", "resnet18", "resnet34"])?;
        let depth = Depth::from_name(backbone_name).expect("the choices are ResNet names");
        check_input(name, spec, 32, "")?;
        let mut build = Builder::new(b, spec.seed);
        // Output stride 8 dilates the last two stages (torchvision's); 16 only the last.
        let stride16 = spec.choice(name, "output_stride", &["8", "16"])? == "16";
        let dilate = [false, false, !stride16, true];
        let rates = if stride16 { ASPP_RATES_16 } else { ASPP_RATES };
        let backbone = Backbone::imagenet(&mut build, spec.input, (depth, width), Stem::ImageNet, dilate, "backbone.")?;
        let c = backbone.features()[0];
        let classes = spec.classes;
        let head = match name {
            "fcn" => {
                let inner = (c / 4).max(1);
                let conv =
                    build.conv_bn(["classifier.0", "classifier.1"], [c, inner], ConvConfig::square(3).same(), 1e-5)?;
                let classifier = build.conv("classifier.4", [inner, classes], ConvConfig::square(1).bias())?;
                SegmentationHead::Fcn { conv, classifier }
            }
            "deeplabv3" => {
                let a = scaled(ASPP_CHANNELS, width);
                let names = |i: usize, j: usize| {
                    [format!("classifier.0.convs.{i}.{j}"), format!("classifier.0.convs.{i}.{}", j + 1)]
                };
                let mut unit = |names: [String; 2], io: [usize; 2], config: ConvConfig| {
                    build.conv_bn([&names[0], &names[1]], io, config, 1e-5)
                };
                let mut branches = vec![unit(names(0, 0), [c, a], ConvConfig::square(1))?];
                for (i, rate) in rates.into_iter().enumerate() {
                    branches.push(unit(names(i + 1, 0), [c, a], ConvConfig::square(3).dilation(rate).same())?);
                }
                let pooling = unit(names(4, 1), [c, a], ConvConfig::square(1))?;
                let project_names = ["classifier.0.project.0".to_owned(), "classifier.0.project.1".to_owned()];
                let project = unit(project_names, [5 * a, a], ConvConfig::square(1))?;
                let conv =
                    unit(["classifier.1".to_owned(), "classifier.2".to_owned()], [a, a], ConvConfig::square(3).same())?;
                let classifier = build.conv("classifier.4", [a, classes], ConvConfig::square(1).bias())?;
                SegmentationHead::DeepLab(Box::new(DeepLab { branches, pooling, project, conv, classifier }))
            }
            _ => return Err(ModelError::Unknown { name: name.to_owned(), known: "fcn, deeplabv3".into() }),
        };
        // torchvision's FCNHead on layer3 (half the final channels), as `aux_classifier`.
        let auxiliary = if spec.option(name, "aux", false)? {
            let (c3, inner) = ((c / 2).max(1), (c / 8).max(1));
            let conv = build.conv_bn(
                ["aux_classifier.0", "aux_classifier.1"],
                [c3, inner],
                ConvConfig::square(3).same(),
                1e-5,
            )?;
            let classifier = build.conv("aux_classifier.4", [inner, classes], ConvConfig::square(1).bias())?;
            Some((conv, classifier))
        } else {
            None
        };
        Ok(Network::new(name, spec, build, Segmentation { backbone, head, auxiliary }))
    }
}

impl<B: Backend> Layers<B> for Segmentation {
    fn forward(&self, b: &B, params: &mut Params<B>, x: &B::Tensor, train: bool) -> BResult<Output<B::Tensor>> {
        let input = b.shape(x);
        let (features, auxiliary) = match (&self.auxiliary, train) {
            (Some((conv, classifier)), true) => {
                let (features, layer3) = self.backbone.forward_with_layer3(b, params, x, train)?;
                let y = dropout(b, &conv.forward(b, params, &layer3, train)?, 0.1, train)?;
                let logits = b.upsample_bilinear(&classifier.forward(b, params, &y)?, [input[2], input[3]])?;
                (features, Some((logits, AUXILIARY_WEIGHT)))
            }
            _ => (self.backbone.forward(b, params, x, train)?, None),
        };
        let logits = match &self.head {
            SegmentationHead::Fcn { conv, classifier } => {
                let y = dropout(b, &conv.forward(b, params, &features, train)?, 0.1, train)?;
                classifier.forward(b, params, &y)?
            }
            SegmentationHead::DeepLab(head) => {
                let DeepLab { branches, pooling, project, conv, classifier } = head.as_ref();
                let size = b.shape(&features);
                let mut parts = branches
                    .iter()
                    .map(|branch| branch.forward(b, params, &features, train))
                    .collect::<BResult<Vec<_>>>()?;
                let pooled = pooling.forward(b, params, &b.adaptive_avg_pool2d(&features, [1, 1])?, train)?;
                parts.push(b.upsample_bilinear(&pooled, [size[2], size[3]])?);
                let y = dropout(b, &project.forward(b, params, &b.cat(&parts, 1)?, train)?, 0.5, train)?;
                let y = conv.forward(b, params, &y, train)?;
                classifier.forward(b, params, &y)?
            }
        };
        Ok(Output { logits: b.upsample_bilinear(&logits, [input[2], input[3]])?, auxiliary })
    }
}
