//! The zoo's networks compute what torchvision's compute: the same weights (saved by lossgp,
//! loaded into torchvision by name) give the same logits for the same images.
//!
//! Needs `python3` with `torch` and `torchvision`; without them the test says so and checks
//! nothing (CI does not install PyTorch; `crates/models/tests/zoo.rs` checks names, shapes and
//! counts everywhere), unless `LOSSGP_REQUIRE_TORCH=1` (set by `.ci/gpu-backends`, which
//! installs both): then their absence fails the test.

use std::process::Command;

use lossgp::backends::burn::BurnBackend;
use lossgp::core::backend::Backend;
use lossgp::core::backend::DynBackend;
use lossgp::core::model::{Model, ModelOptions, ModelSpec, build_model};

/// Loads the weights into the torchvision network, runs it in inference mode on the same
/// images, and prints the logits as JSON.
const SCRIPT: &str = r#"
import json, struct, sys
import torch, torchvision.models as models, torchvision.models.segmentation as seg

def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(info["shape"])
    return out

name, weights, classes, c, h, w = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:7])
net = {
    "resnet18": lambda: models.resnet18(num_classes=classes),
    "resnet50": lambda: models.resnet50(num_classes=classes),
    "inception-v3": lambda: models.inception_v3(num_classes=classes, aux_logits=False, init_weights=False),
    "fcn": lambda: seg.fcn_resnet50(weights=None, weights_backbone=None, num_classes=classes),
    "deeplabv3": lambda: seg.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=classes),
}[name]()
missing, unexpected = net.load_state_dict(load_safetensors(weights), strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
net.eval()
n = 2 * c * h * w
x = torch.tensor([((i * 7919) % 1000) / 500.0 - 1.0 for i in range(n)], dtype=torch.float32).reshape(2, c, h, w)
with torch.no_grad():
    y = net(x)
    y = y["out"] if isinstance(y, dict) else y
print(json.dumps(y.flatten().tolist()))
"#;

/// Whether `python3` has torch and torchvision; if not, says that the test is skipped, and
/// fails where `LOSSGP_REQUIRE_TORCH=1` requires them.
fn torchvision_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import torch, torchvision"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        let why = "skipped: python3 with torch and torchvision is not installed";
        assert!(
            std::env::var("LOSSGP_REQUIRE_TORCH").as_deref() != Ok("1"),
            "{why}, and LOSSGP_REQUIRE_TORCH=1 requires it"
        );
        eprintln!("{why}");
    }
    found
}

/// The logits of `net` on the two images both sides compute from their index, `[2, c, h, w]`.
fn logits(b: &DynBackend, net: &mut dyn Model<DynBackend>, [c, h, w]: [usize; 3]) -> Vec<f32> {
    let images: Vec<f32> = (0..2 * c * h * w).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    b.to_vec(&net.forward(b, &b.tensor(&images, &[2, c, h, w]).unwrap(), false).unwrap()).unwrap()
}

/// Asserts that lossgp's and torchvision's logits agree to 1e-4 of the largest, and says by how much.
fn assert_close(what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let scale = theirs.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-3);
    let worst = ours.iter().zip(theirs).map(|(a, t)| (a - t).abs()).fold(0.0f32, f32::max);
    eprintln!("{what}: largest difference {worst:.2e} on logits up to {scale:.2e}");
    assert!(worst <= 1e-4 * scale.max(1.0), "{what}: logits differ by {worst} (largest logit {scale})");
}

#[test]
fn logits_match_torchvision_for_the_same_weights() {
    if !torchvision_available() {
        return;
    }
    lossgp::backends::link();
    lossgp::models::link();
    let b = DynBackend::new(BurnBackend::flex());
    let dir = tempfile::tempdir().unwrap();
    for (model, input, classes) in [
        ("resnet18", [3, 64, 48], 10),
        ("resnet50", [3, 64, 64], 10),
        ("inception-v3", [3, 80, 96], 7),
        ("fcn", [3, 40, 36], 5),
        ("deeplabv3", [3, 40, 36], 5),
    ] {
        let (name, options) = ModelOptions::parse(model).unwrap();
        let spec = ModelSpec { options, ..ModelSpec::new(input, classes, 11) };
        let mut net = build_model(&name, &b, &spec).unwrap();
        let ours = logits(&b, net.as_mut(), input);
        let [c, h, w] = input;

        let weights = dir.path().join(format!("{name}.safetensors"));
        net.params().save(&b, &weights).unwrap();
        let dims = [classes, c, h, w].map(|d| d.to_string());
        let out = Command::new("python3")
            .args(["-c", SCRIPT, &name, weights.to_str().unwrap()])
            .args(&dims)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();
        assert_close(&name, &ours, &theirs);
    }
}

/// Writes a torchvision network's own weights (seeded, ImageNet's 1,000 classes) as PyTorch
/// keeps them, `int64` batch counters included, in safetensors, and prints its logits.
const PRETRAINED_SCRIPT: &str = r#"
import json, struct, sys
import torch, torchvision.models as models

torch.manual_seed(5)
net = models.resnet18(num_classes=1000)
# Batch norm statistics that are not the defaults, as a trained network's are.
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
net.eval()
state = net.state_dict()
header, blobs, offset = {}, [], 0
for name, t in state.items():
    kind = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
    data = t.contiguous().numpy().tobytes() if kind == "F32" else struct.pack("<q", int(t))
    header[name] = {"dtype": kind, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
head = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
c, h, w = 3, 64, 48
n = 2 * c * h * w
x = torch.tensor([((i * 7919) % 1000) / 500.0 - 1.0 for i in range(n)], dtype=torch.float32).reshape(2, c, h, w)
with torch.no_grad():
    print(json.dumps(net(x).flatten().tolist()))
"#;

#[test]
fn torchvision_weights_start_a_network_and_a_segmentation_backbone() {
    if !torchvision_available() {
        return;
    }
    lossgp::backends::link();
    lossgp::models::link();
    let b = DynBackend::new(BurnBackend::flex());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resnet18-torchvision.safetensors");
    let out = Command::new("python3").args(["-c", PRETRAINED_SCRIPT, file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();

    let input = [3, 64, 48];
    let mut net = build_model("resnet18", &b, &ModelSpec::new(input, 1000, 1)).unwrap();
    let report = net.params_mut().load_pretrained(&b, &file, 1000).unwrap();
    assert_eq!(report.loaded, net.params().ids().count());
    assert!(report.missing.is_empty() && report.reshaped.is_empty() && report.unused.is_empty(), "{report:?}");
    assert_close("torchvision's resnet18 weights", &logits(&b, net.as_mut(), input), &theirs);

    let (name, options) = ModelOptions::parse("deeplabv3:backbone=resnet18").unwrap();
    let mut seg = build_model(&name, &b, &ModelSpec { options, ..ModelSpec::new([3, 64, 64], 21, 1) }).unwrap();
    let report = seg.params_mut().load_pretrained(&b, &file, 21).unwrap();
    let backbone = seg.params().ids().filter(|&id| seg.params().name(id).starts_with("backbone.")).count();
    assert_eq!(
        (report.loaded, report.unused.as_slice()),
        (backbone, ["fc.bias".to_owned(), "fc.weight".to_owned()].as_slice())
    );
}
