//! `examples/pytorch-fitness/train.py`, the PyTorch script a search can be scored with, trains
//! exactly as `scripts/heldout_torch.py` does: the same data, the same network and recipe, the
//! same accuracy to the last bit for CE and NGL (lossgp's own export of each, as a search hands
//! the script its candidates). Run where `python3` imports torch (`scripts/gpu-backends`); it
//! says it is skipped elsewhere, and fails where `LOSSGP_REQUIRE_TORCH=1` (`.ci/gpu-backends`).

mod common;

use std::path::Path;
use std::process::Command;

fn torch_present() -> bool {
    let present =
        Command::new("python3").args(["-c", "import torch, numpy"]).output().is_ok_and(|o| o.status.success());
    let why = "skipped: python3 cannot import torch and numpy (scripts/gpu-backends installs them)";
    common::available(present, why, "LOSSGP_REQUIRE_TORCH")
}

fn fashion_mnist() -> Option<String> {
    let list = common::json(None, &["data", "list", "--json"]);
    let present =
        list["datasets"].as_array().unwrap().iter().any(|d| d["name"] == "fashion-mnist" && d["present"] == true);
    let folder = ["/usr/share/datasets/fashion-mnist"]
        .into_iter()
        .find(|d| Path::new(d).join("train-images-idx3-ubyte.gz").is_file());
    let why = "skipped: Fashion-MNIST's IDX files are not in /usr/share/datasets/fashion-mnist (dataset-fashion-mnist)";
    let usable = common::available(present && folder.is_some(), why, "LOSSGP_REQUIRE_DATA");
    folder.filter(|_| usable).map(str::to_owned)
}

#[test]
fn the_pytorch_example_trains_as_heldout_torch_does() {
    if !torch_present() {
        return;
    }
    let Some(data) = fashion_mnist() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let job = tempfile::tempdir().unwrap();
    for name in ["ce", "ngl"] {
        let shown = common::json(None, &["loss", "show", name, "--json"]);
        let code = shown["pytorch"]
            .as_str()
            .unwrap()
            .replace(&format!("def {}(", shown["name"].as_str().unwrap().replace('-', "_")), "def loss_fn(");
        std::fs::write(job.path().join(format!("{name}.py")), code).unwrap();
    }
    // The example run as a search runs it, then both protocols in one Python.
    let script = root.join("examples/pytorch-fitness/train.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--loss",
            job.path().join("ngl.py").to_str().unwrap(),
            "--seed",
            "101",
            "--out",
            job.path().to_str().unwrap(),
        ])
        .args(["--data-dir", &data, "--threads", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(job.path().join("result.json")).unwrap()).unwrap();
    let check = format!(
        r#"
import importlib.util, json, sys, torch
torch.set_num_threads(2)
def module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m
example = module("{example}", "example")
heldout = module("{heldout}", "heldout_torch")
a, b = example.load("{data}", 12345), heldout.load("{data}", 12345)
assert all(torch.equal(x, y) for (p, q) in zip(a, b) for (x, y) in zip(p, q)), "the same data"
out = {{}}
for name in ["ce", "ngl"]:
    fn = module("{job}/" + name + ".py", name).loss_fn
    out[name] = [example.train(fn, a, 101)[0], heldout.train(fn, b, 101)]
out["heldout_own_ngl"] = heldout.train(heldout.ngl, b, 101)
print(json.dumps(out))
"#,
        example = script.display(),
        heldout = root.join("scripts/heldout_torch.py").display(),
        job = job.path().display(),
    );
    let out = Command::new("python3").args(["-c", &check]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let both: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("seed 101 accuracies (example, heldout_torch): {both}; the example as a command: {result}");
    for name in ["ce", "ngl"] {
        assert_eq!(both[name][0], both[name][1], "{name}: the example and heldout_torch.py train alike");
        assert!(both[name][0].as_f64().unwrap() > 0.6, "{name} learns: {both}");
    }
    assert_eq!(result["fitness"], both["ngl"][0], "run as a command, the script scores NGL as in Python");
    let own = both["heldout_own_ngl"].as_f64().unwrap();
    assert!(
        (own - both["ngl"][1].as_f64().unwrap()).abs() < 0.02,
        "lossgp's NGL export trains as heldout_torch's own NGL: {both}"
    );
}

/// `lossgp loss export --pytorch-module` writes a file that Python imports, each hall-of-fame
/// loss a `torch.nn.Module` whose value is lossgp's own (`lossgp loss eval`) on the same logits.
#[test]
fn an_exported_module_imports_and_computes_lossgps_values() {
    if !torch_present() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("search.toml");
    std::fs::write(&config, "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 6\ngenerations = 2\nconfirm_seeds = 0\nhall_of_fame = 3\n[run]\nbaselines = []\n").unwrap();
    let run = root.path().join("run");
    common::json(None, &["search", "--json", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    let module = root.path().join("found_losses.py");
    let exported = common::json(
        None,
        &["loss", "export", run.to_str().unwrap(), "--pytorch-module", module.to_str().unwrap(), "--json"],
    );
    let classes = exported["classes"].as_array().unwrap();
    assert!(!classes.is_empty(), "{exported}");
    let (logits, target) = ("[[2.0, 0.5, -1.0], [0.0, 0.3, 0.1]]", "[0, 2]");
    let script = format!(
        "import sys, json, torch\nsys.path.insert(0, '{dir}')\nimport found_losses as m\n\
         logits = torch.tensor({logits}, dtype=torch.float64)\ntarget = torch.tensor({target})\n\
         out = {{}}\nfor name in m.__all__:\n    cls = getattr(m, name)\n    assert cls.__doc__ and isinstance(cls(), torch.nn.Module)\n    out[name] = cls()(logits, target).item()\n\
         print(json.dumps(out))",
        dir = root.path().display()
    );
    let out = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let values: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for class in classes {
        let ours = common::json(
            None,
            &["loss", "eval", class["loss"].as_str().unwrap(), "--logits", logits, "--target", target, "--json"],
        );
        let theirs = values[class["class"].as_str().unwrap()].as_f64().unwrap();
        let value = ours["loss"].as_f64().unwrap();
        assert!(
            (theirs - value).abs() <= 1e-9 * value.abs().max(1.0),
            "{}: torch {theirs}, lossgp {value}",
            class["loss"]
        );
    }
}
