//! The PyTorch code lossgp generates computes what lossgp computes.
//!
//! Every built-in loss, every operator and a few hundred random losses are exported to one
//! Python module, which PyTorch then evaluates, in float64, on fixed logits and targets: the
//! loss and its gradient (by PyTorch's autograd) must match the reference interpreter. The
//! built-ins are also evaluated on segmentation-shaped inputs `[N, C, H, W]`, where each pixel
//! is a sample.
//!
//! Needs `python3` with `torch`. Without torch the code is still checked to be valid Python;
//! without python3 the test says so and checks nothing else, unless `LOSSGP_REQUIRE_TORCH=1`
//! (set by `.ci/gpu-backends`, which installs torch): then a missing torch fails the test.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use lossgp::expr::{Op, PrimitiveSet};
use lossgp::interp::Batch;
use lossgp::loss::{BUILTINS, Loss, Reduction};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// Says that a check could not run, or fails where the environment requires it.
fn cannot_check(why: &str) {
    assert!(
        std::env::var("LOSSGP_REQUIRE_TORCH").as_deref() != Ok("1"),
        "{why}, and LOSSGP_REQUIRE_TORCH=1 requires it"
    );
    eprintln!("{why}");
}

fn python_has(module: &str) -> Option<bool> {
    let out = Command::new("python3").args(["-c", &format!("import {module}")]).output().ok()?;
    Some(out.status.success())
}

/// The losses to export: built-ins, each operator on its own, and random losses.
fn losses() -> Vec<(String, Loss)> {
    let mut out: Vec<(String, Loss)> = BUILTINS.iter().map(|b| (b.name.to_owned(), b.loss())).collect();
    for op in Op::all() {
        let text = match op.arity() {
            1 => format!("{op}(z - 0.5*p)"),
            _ => format!("{op}(2*p - 0.3, z*p + 0.5)"),
        };
        for reduction in Reduction::ALL {
            out.push((format!("{op} {reduction}"), Loss::new(text.parse().expect("valid"), reduction)));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let set = PrimitiveSet::full();
    for i in 0..300 {
        let reduction = Reduction::ALL[i % 2];
        out.push((format!("random {i}"), Loss::new(set.grow(&mut rng, 5), reduction)));
    }
    out
}

#[derive(Deserialize)]
struct Result {
    loss: Option<f64>,
    grad: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct Results {
    flat: Vec<Result>,
    /// Built-ins on `[N, C, H, W]` logits, with the pixel rows `[N*H*W, C]` they amount to.
    spatial: Vec<Result>,
    spatial_rows: Vec<f64>,
    spatial_labels: Vec<usize>,
}

const CLASSES: usize = 5;

fn script(losses: &[(String, Loss)], logits: &[f64], labels: &[usize]) -> String {
    let mut py = String::new();
    for (i, (_, loss)) in losses.iter().enumerate() {
        py.push_str(&loss.to_pytorch(&format!("f{i}")));
        py.push('\n');
    }
    let _ = write!(
        py,
        r#"
import json, math
torch.manual_seed(0)

def clean(x):
    return x if math.isfinite(x) else None

def run(fn, logits, target):
    logits = logits.clone().requires_grad_(True)
    loss = fn(logits, target)
    # A loss that does not depend on the logits (possible for random ones) has no graph.
    grad = torch.autograd.grad(loss, logits)[0] if loss.requires_grad else torch.zeros_like(logits)
    return {{"loss": clean(loss.item()), "grad": [clean(g) for g in grad.flatten().tolist()]}}

functions = [{functions}]
logits = torch.tensor({logits:?}, dtype=torch.float64).reshape(-1, {CLASSES})
target = torch.tensor({labels:?})
flat = [run(f, logits, target) for f in functions]

spatial_logits = torch.randn(2, {CLASSES}, 2, 3, dtype=torch.float64) * 2
spatial_target = torch.randint(0, {CLASSES}, (2, 2, 3))
spatial = []
for f in functions[:{builtins}]:
    r = run(f, spatial_logits, spatial_target)
    grad = torch.tensor([g if g is not None else float("nan") for g in r["grad"]]).reshape(2, {CLASSES}, 2, 3)
    r["grad"] = [clean(g) for g in grad.permute(0, 2, 3, 1).flatten().tolist()]
    spatial.append(r)
print(json.dumps({{
    "flat": flat,
    "spatial": spatial,
    "spatial_rows": spatial_logits.permute(0, 2, 3, 1).flatten().tolist(),
    "spatial_labels": spatial_target.flatten().tolist(),
}}))
"#,
        functions = (0..losses.len()).map(|i| format!("f{i}")).collect::<Vec<_>>().join(", "),
        builtins = BUILTINS.len(),
    );
    py
}

/// Compares PyTorch's result with the interpreter's; returns whether the case was comparable.
fn compare(name: &str, loss: &Loss, batch: &Batch<f64>, torch: &Result) -> bool {
    let program = loss.compile();
    let trace = program.forward(batch);
    let scale = trace.max_magnitude();
    if !trace.loss().is_finite() || scale > 1e10 {
        return false;
    }
    let tolerance = 1e-9 * (1.0 + scale);
    let Some(torch_loss) = torch.loss else {
        panic!("{name}: lossgp gives {} but PyTorch gives a non-finite loss\n{}", trace.loss(), loss.to_pytorch("f"));
    };
    assert!(
        (torch_loss - trace.loss()).abs() <= tolerance,
        "{name} ({loss}): lossgp {} vs PyTorch {torch_loss}\n{}",
        trace.loss(),
        loss.to_pytorch("f")
    );
    let gradient = trace.gradient();
    let grad_scale = gradient.iter().fold(1.0_f64, |m, g| m.max(g.abs()));
    for (i, (ours, theirs)) in gradient.iter().zip(&torch.grad).enumerate() {
        let theirs = theirs.unwrap_or(f64::NAN);
        assert!(
            (ours - theirs).abs() <= 1e-7 * (grad_scale + scale),
            "{name} ({loss}): d/dz[{i}] lossgp {ours} vs PyTorch {theirs}\n{}",
            loss.to_pytorch("f")
        );
    }
    true
}

#[test]
fn generated_pytorch_code_matches_the_interpreter() {
    let Some(has_torch) = python_has("torch") else {
        cannot_check("python3 is not installed: the generated PyTorch code was not checked");
        return;
    };
    let losses = losses();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let logits: Vec<f64> = (0..4 * CLASSES).map(|_| rng.random_range(-3.0..3.0)).collect();
    let labels: Vec<usize> = (0..4).map(|_| rng.random_range(0..CLASSES)).collect();
    let dir = std::env::temp_dir().join(format!("lossgp-pytorch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("losses.py");
    std::fs::write(&path, script(&losses, &logits, &labels)).expect("write script");

    if !has_torch {
        check_syntax(&path);
        cannot_check("torch is not installed: the generated code was only checked to be valid Python");
        return;
    }
    let out = Command::new("python3").arg(&path).output().expect("python3 runs");
    assert!(out.status.success(), "the generated module failed in PyTorch:\n{}", String::from_utf8_lossy(&out.stderr));
    let results: Results = serde_json::from_slice(&out.stdout).expect("JSON from the script");

    let batch = Batch::from_labels(logits, CLASSES, &labels).expect("valid batch");
    let compared = losses.iter().zip(&results.flat).filter(|((name, loss), r)| compare(name, loss, &batch, r)).count();
    assert!(compared * 10 >= losses.len() * 7, "only {compared} of {} losses were comparable", losses.len());

    let pixels =
        Batch::from_labels(results.spatial_rows.clone(), CLASSES, &results.spatial_labels).expect("valid batch");
    for (b, r) in BUILTINS.iter().zip(&results.spatial) {
        assert!(compare(&format!("{} on [N, C, H, W]", b.name), &b.loss(), &pixels, r));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_syntax(path: &Path) {
    let out = Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "the generated code is not valid Python:\n{}", String::from_utf8_lossy(&out.stderr));
}
