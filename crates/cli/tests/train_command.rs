//! `lossgp train` and `lossgp list` end to end, on the real Fashion-MNIST (Debian's
//! `dataset-fashion-mnist`, installed by `scripts/setup`) and on image folders made here.

mod common;

use common::{failure, json, two_class_folder};

#[test]
fn list_shows_the_backends_and_models_of_this_build() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let backends = json(Some(dir.path()), &["list", "backends", "--json"]);
    let flex =
        backends.as_array().expect("an array").iter().find(|b| b["name"] == "flex").expect("flex is compiled in");
    assert_eq!(flex["available"], true);
    let models = json(Some(dir.path()), &["list", "models", "--json"]);
    let models = models.as_array().expect("an array");
    let names: Vec<&str> = models.iter().filter_map(|m| m["name"].as_str()).collect();
    for name in ["small-cnn", "inception-cifar", "inception-v3", "resnet18", "resnet50", "resnet20", "fcn", "deeplabv3"]
    {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let resnet18 = models.iter().find(|m| m["name"] == "resnet18").expect("resnet18");
    assert_eq!(resnet18["task"], "classification");
    let options: Vec<&str> =
        resnet18["options"].as_array().expect("options").iter().filter_map(|o| o["key"].as_str()).collect();
    assert_eq!(options, ["stem", "head", "width"]);
    assert_eq!(models.iter().find(|m| m["name"] == "fcn").expect("fcn")["task"], "segmentation");
}

/// With the `wgpu` feature (`.ci/gpu-backends`), a machine without a Vulkan driver lists wgpu
/// as unavailable, with what to install, and `--backend wgpu` fails with the same words, not a
/// panic. Hiding the drivers from the Vulkan loader stands for such a machine. A build without
/// wgpu lists no wgpu, and the test says so.
#[test]
fn wgpu_without_a_vulkan_driver_says_what_to_install() {
    let no_driver = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lossgp"))
            .args(args)
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .output()
            .expect("the lossgp binary runs")
    };
    let out = no_driver(&["list", "backends", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let backends: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let Some(wgpu) = backends.as_array().expect("an array").iter().find(|b| b["name"] == "wgpu") else {
        eprintln!("this build has no wgpu backend: nothing to check");
        return;
    };
    assert_eq!(wgpu["available"], false, "{wgpu}");
    let detail = wgpu["detail"].as_str().expect("a reason");
    assert!(detail.contains("no usable GPU adapter") && detail.contains("apt install mesa-vulkan-drivers"), "{detail}");

    let out = no_driver(&["train", "--backend", "wgpu", "--dataset", "fashion-mnist", "--max-steps", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("backend `wgpu` cannot run here") && err.contains("mesa-vulkan-drivers"), "{err}");
}

#[test]
fn a_small_cnn_learns_fashion_mnist_with_ngl() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let weights = dir.path().join("ngl.safetensors");
    let weights_arg = weights.to_str().expect("utf-8 path");
    // 80 steps of 128 images (a sixth of an epoch) suffice to be far above chance.
    let r = json(
        Some(dir.path()),
        &["train", "--dataset", "fashion-mnist", "--loss", "ngl", "--max-steps", "80", "--save", weights_arg, "--json"],
    );
    assert_eq!(r["status"]["kind"], "out-of-budget", "{r}");
    assert_eq!(r["steps"], 80);
    assert_eq!(r["test"]["samples"], 10_000);
    let test = r["test"]["accuracy"].as_f64().expect("a test accuracy");
    assert!(test > 0.7, "test accuracy {test} after 80 steps");
    assert_eq!(r["fitness"], r["best_validation"][1]["accuracy"]);
    assert_eq!(r["config"]["batch_size"], 128);
    let header = std::fs::read(&weights).expect("the weights were saved");
    assert!(String::from_utf8_lossy(&header[..header.len().min(4096)]).contains("conv1.weight"));
}

#[test]
fn an_image_folder_trains_with_an_expression_and_the_same_seed_gives_the_same_run() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let root = dir.path().join("shades");
    two_class_folder(&root);
    let args = [
        "train",
        "--dataset",
        root.to_str().expect("utf-8 path"),
        "--loss",
        "sample-mean: -sum(y * log(p))",
        "--epochs",
        "6",
        "--batch-size",
        "8",
        "--lr",
        "3e-3",
        "--validation-fraction",
        "0.25",
        "--seed",
        "5",
        "--json",
    ];
    let first = json(Some(dir.path()), &args);
    assert_eq!(first["status"]["kind"], "completed", "{first}");
    assert_eq!(first["epochs"].as_array().expect("epochs").len(), 6);
    assert_eq!(first["test"]["samples"], 16);
    assert!(first["test"]["accuracy"].as_f64().expect("accuracy") >= 0.9, "{}", first["test"]);
    let second = json(Some(dir.path()), &args);
    assert_eq!(first["test"], second["test"], "a seed fixes the whole run");
    assert_eq!(first["best_validation"], second["best_validation"]);

    // The same run on candle learns as well, and repeats exactly too (its dropout masks are
    // seeded on the host).
    let mut on_candle = args.to_vec();
    on_candle.extend(["--backend", "candle"]);
    let candle = json(Some(dir.path()), &on_candle);
    assert_eq!(candle["backend"], "candle cpu");
    assert!(candle["test"]["accuracy"].as_f64().expect("accuracy") >= 0.9, "{}", candle["test"]);
    assert_eq!(candle["test"], json(Some(dir.path()), &on_candle)["test"]);
}

#[test]
fn a_diverging_loss_ends_the_run_with_a_result_not_an_error() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let root = dir.path().join("shades");
    two_class_folder(&root);
    // exp is not protected: exp(1000 p) is infinite where p > 0.09, and the run diverges at
    // its first step.
    let r = json(
        Some(dir.path()),
        &["train", "--dataset", root.to_str().expect("utf-8 path"), "--loss", "exp(1000*p)", "--epochs", "2", "--json"],
    );
    assert_eq!(r["status"]["kind"], "diverged", "{r}");
    assert_eq!(r["status"]["step"], 0);
    assert_eq!(r["fitness"], 0.0);
    assert!(r["test"].is_null());
}

#[test]
fn bad_settings_get_clear_errors() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let root = dir.path().join("shades");
    two_class_folder(&root);
    let folder = root.to_str().expect("utf-8 path");
    let cases: [(&[&str], &str); 16] = [
        (&["--loss", "exp(p"], "--loss `exp(p`"),
        (&["--loss", "ngll"], "ngl"),
        (&["--model", "resnet-9000"], "small-cnn"),
        (&["--model", "resnet20:depth=32"], "no option `depth`; it takes only head, width"),
        (&["--model", "fcn"], "is a classification dataset: choose a classification model"),
        (&["--model", "inception-v3"], "at least 75x75"),
        (&["--backend", "flux"], "flex"),
        (&["--schedule", "warmup"], "step:EVERY:GAMMA"),
        (&["--optimizer", "sgd:2"], "sgd[:MOMENTUM]"),
        (&["--image-size", "0x4"], "HEIGHTxWIDTH"),
        // Absurd sizes are refused before anything is allocated, never an abort.
        (&["--image-size", "100000"], "beyond what lossgp trains on"),
        (&["--batch-size", "1000000000000"], "beyond what fits in memory"),
        (&["--model", "resnet20:head=paper", "--batch-size", "1", "--max-steps", "1"], "batch size of at least 2"),
        // 1% of 24 images per class is none of them.
        (&["--validation-fraction", "0.01"], "leaves 0 for validation and 48 for training"),
        (
            &["--pretrained", "/nonexistent.safetensors"],
            "from /nonexistent.safetensors: /nonexistent.safetensors: No such file",
        ),
        (&["--no-test", "--predictions", "out"], "--predictions needs a test split"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["train", "--dataset", folder];
        args.extend_from_slice(extra);
        let err = failure(Some(dir.path()), &args);
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    let err = failure(Some(dir.path()), &["train", "--dataset", "cifar10"]);
    assert!(err.contains("lossgp data fetch cifar10"), "{err}");
}

/// A run with checkpoints killed with SIGKILL at a random step and resumed with `--resume` ends
/// with the same weights, bit for bit, and the same history as the run uninterrupted: ResNet-20
/// with the paper's head (batch norm, dropout) on the real UCI digits, Adam and the plateau
/// schedule on a validation hold-out.
#[test]
fn a_killed_run_resumes_from_its_checkpoint_to_the_same_weights_bit_for_bit() {
    if !common::digits_present("a_killed_run_resumes") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let path = |name: &str| root.path().join(name).to_str().unwrap().to_owned();
    let run = |dir: &str, weights: &str| -> Vec<String> {
        [
            "train",
            "--dataset",
            "digits",
            "--model",
            "resnet20:width=0.5,head=paper",
            "--epochs",
            "12",
            "--batch-size",
            "32",
            "--schedule",
            "plateau:0.5:1:0.0001",
            "--checkpoint-dir",
            dir,
            "--checkpoint-every",
            "5",
            "--keep-checkpoints",
            "2",
            "--save",
            weights,
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = run(&path("whole"), &path("whole.safetensors"));
    let whole = json(None, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let steps = whole["steps"].as_u64().unwrap();
    assert_eq!(steps, 12 * 41, "1,294 training images in batches of 32 (the last, of 14, kept)");

    // Killed once a checkpoint at or beyond a random step is written.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let target = 10 + nanos % (steps - 60);
    eprintln!("killing after step {target}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(run(&path("cut"), &path("cut.safetensors")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = |dir: &str| -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("step-")?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    while latest(&path("cut")) < target {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before step {target}");
        assert!(start.elapsed() < std::time::Duration::from_secs(300), "no checkpoint at step {target} in 5 minutes");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!root.path().join("cut.safetensors").exists(), "killed before the end");

    let resumed = json(None, &["train", "--resume", &path("cut"), "--json"]);
    let whole_bytes = std::fs::read(root.path().join("whole.safetensors")).unwrap();
    assert_eq!(
        std::fs::read(root.path().join("cut.safetensors")).unwrap(),
        whole_bytes,
        "the same weights, bit for bit"
    );
    let history = |r: &serde_json::Value| {
        let epochs: Vec<serde_json::Value> = r["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::json!([e["learning_rate"], e["train"], e["validation"]]))
            .collect();
        (epochs, r["best_validation"].clone(), r["test"].clone(), r["steps"].clone(), r["status"].clone())
    };
    assert_eq!(history(&resumed), history(&whole), "the same history");
    // The last 2 checkpoints are kept, and the best.
    let kept = std::fs::read_dir(path("cut"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("step-"))
        .count();
    assert!((2..=3).contains(&kept), "{kept} checkpoints kept");
    let err = failure(None, &["train", "--resume", root.path().to_str().unwrap()]);
    assert!(err.contains("not the --checkpoint-dir of a lossgp train run"), "{err}");
    let again = failure(None, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(again.contains("already holds a run's checkpoints") && again.contains("--resume"), "{again}");
}

#[test]
fn the_conformance_suite_runs_on_a_backend_by_name() {
    let results = json(None, &["conformance", "flex", "--json"]);
    let flex = &results[0];
    assert_eq!((flex["backend"].as_str(), flex["failed"].as_u64()), (Some("flex"), Some(0)), "{flex}");
    assert!(flex["passed"].as_u64().unwrap() >= 19, "{flex}");
    // Like a test runner, it reports every backend, then fails if one is not conformant.
    let out = common::lossgp(None, &["conformance", "flex", "no-such-backend"]);
    let (report, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        !out.status.success() && report.contains("flex (burn-flex cpu): ") && report.contains(" passed, 0 failed"),
        "{report}"
    );
    assert!(report.contains("no-such-backend: cannot open: no backend named `no-such-backend`"), "{report}");
    assert!(err.contains("not conformant: no-such-backend") && !err.contains("panicked"), "{err}");
}

/// Options given with `--resume` are never dropped without a word: those that decide where
/// results go or when to stop are honoured and said so, `--epochs` too where the schedule
/// does not spread over the epochs; those that would make the checkpoints another run's are
/// refused by name with the run's own value, unless they repeat it.
#[test]
fn options_given_on_resume_are_honoured_or_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    two_class_folder(root.path());
    let data = root.path().to_str().unwrap().to_owned();
    let dir = |name: &str| root.path().join(name).to_str().unwrap().to_owned();
    // A fresh run of `epochs` on the folder with `schedule`, and `more` options.
    let fresh = |epochs: &str, schedule: &str, more: &[&str]| {
        let mut args = vec![
            "train",
            "--dataset",
            &data,
            "--epochs",
            epochs,
            "--batch-size",
            "8",
            "--validation-fraction",
            "0",
            "--schedule",
            schedule,
            "--no-test",
            "--json",
        ];
        args.extend(more);
        json(None, &args)
    };
    let first = |checkpoints: &str, schedule: &str| fresh("1", schedule, &["--checkpoint-dir", checkpoints]);
    let constant = dir("constant");
    first(&constant, "constant");
    for (options, named) in [
        (vec!["--lr", "0.1"], "--lr 0.1 (the run has 0.001)"),
        (vec!["--model", "resnet20"], "--model resnet20 (the run has small-cnn)"),
        (vec!["--loss", "focal", "--seed", "3"], "--seed 3 (the run has 0)"),
        (vec!["--batch-size", "16"], "--batch-size 16 (the run has 8)"),
        (vec!["--image-size", "16"], "--image-size 16x16"),
    ] {
        let mut args = vec!["train", "--resume", constant.as_str()];
        args.extend(options.iter().copied());
        let err = failure(None, &args);
        assert!(err.contains("cannot change on --resume") && err.contains(named), "{options:?}: {err}");
    }
    // Repeating the run's own values is no change.
    let weights = dir("w.safetensors");
    let out = common::lossgp(
        None,
        &["train", "--resume", &dir("constant"), "--lr", "0.001", "--epochs", "2", "--save", &weights, "--json"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("--epochs 2: trains to epoch 2") && err.contains("--save"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["config"]["epochs"].as_u64(), report["epochs"].as_array().map(Vec::len)), (Some(2), Some(2)));
    assert!(std::path::Path::new(&weights).is_file(), "--save is honoured on resume");
    // A run stopped by its step budget goes on when the budget is raised, and remembers it.
    let budget = dir("budget");
    fresh("3", "constant", &["--checkpoint-dir", &budget, "--max-steps", "4"]);
    let (resumed_weights, whole_weights) = (dir("resumed.safetensors"), dir("whole.safetensors"));
    let more = json(None, &["train", "--resume", &budget, "--max-steps", "7", "--save", &resumed_weights, "--json"]);
    fresh("3", "constant", &["--max-steps", "7", "--save", &whole_weights]);
    assert!(
        std::fs::read(&resumed_weights).unwrap() == std::fs::read(&whole_weights).unwrap(),
        "raising the budget on resume gives the weights of a run given it at the start, bit for bit"
    );
    assert_eq!((more["steps"].as_u64(), more["status"]["kind"].as_str()), (Some(7), Some("out-of-budget")), "{more}");
    // The epoch the budget cut (after 4 of its 6 batches of 8) is finished, not skipped.
    let samples: Vec<u64> =
        more["epochs"].as_array().unwrap().iter().map(|e| e["train"]["samples"].as_u64().unwrap()).collect();
    assert_eq!(samples, [48, 8], "{more}");
    let again = json(None, &["train", "--resume", &budget, "--json"]);
    assert_eq!(again["steps"].as_u64(), Some(7), "the raised budget is the run's now: {again}");
    // A cosine schedule spreads over its epochs: more of them would rewrite the rates used.
    first(&dir("cosine"), "cosine");
    let err = failure(None, &["train", "--resume", &dir("cosine"), "--epochs", "3"]);
    assert!(err.contains("--epochs 3 (the run has 1") && err.contains("schedule spreads over them"), "{err}");
}
