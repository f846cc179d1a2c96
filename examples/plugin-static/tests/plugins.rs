//! The plugins of this crate as a user meets them: through `lossgp-plus`, lossgp's command line
//! with them linked in. Real data: the first images of Debian's Fashion-MNIST, written as
//! Kaggle's CSV.

use std::path::Path;
use std::process::{Command, Output};

use lossgp_core::data::{Split, Target};

fn lossgp_plus(data_dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lossgp-plus"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes the first `n` images of a split of the real Fashion-MNIST as Kaggle's CSV, or says
/// why it cannot.
fn fashion_csv(dir: &Path, split: Split, n: usize) -> Result<(), String> {
    let dirs = lossgp_datasets::DataDir::resolve(None).map_err(|e| e.to_string())?;
    let source = lossgp_datasets::open("fashion-mnist", split, &dirs).map_err(|e| e.to_string())?;
    let mut text = String::from("label");
    for i in 1..=784 {
        text.push_str(&format!(",pixel{i}"));
    }
    for i in 0..n {
        let sample = source.sample(i).map_err(|e| e.to_string())?;
        let Target::Class(label) = sample.target else { unreachable!("a classification dataset") };
        text.push_str(&format!("\n{label}"));
        for p in sample.image.pixels() {
            text.push_str(&format!(",{p}"));
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("fashion-mnist_{split}.csv")), text + "\n").unwrap();
    Ok(())
}

#[test]
fn lossgp_plus_lists_and_trains_with_the_three_plugins() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let csv = data.join("fashion-mnist-csv");
    if let Err(why) = fashion_csv(&csv, Split::Train, 600).and_then(|()| fashion_csv(&csv, Split::Test, 200)) {
        let why = format!("skipped: the real Fashion-MNIST is not here ({why}); scripts/setup installs it");
        eprintln!("{why}");
        assert!(
            std::env::var("LOSSGP_REQUIRE_DATA").as_deref() != Ok("1"),
            "{why}, and LOSSGP_REQUIRE_DATA=1 requires it"
        );
        return;
    }

    // Listed beside the built-ins.
    let backends = json(&lossgp_plus(&data, &[], &["list", "backends", "--json"]));
    let profile = backends.as_array().unwrap().iter().find(|b| b["name"] == "profile").expect("profile listed");
    assert!(
        profile["available"] == true && profile["detail"].as_str().unwrap().starts_with("flex, profiled"),
        "{profile}"
    );
    assert!(backends.as_array().unwrap().iter().any(|b| b["name"] == "flex"));
    let models = json(&lossgp_plus(&data, &[], &["list", "models", "--json"]));
    assert!(models.as_array().unwrap().iter().any(|m| m["name"] == "lenet5" && m["name"] != "small-cnn"), "{models}");
    let datasets = json(&lossgp_plus(&data, &[], &["data", "list", "--json"]));
    let listed = |name: &str| datasets["datasets"].as_array().unwrap().iter().find(|d| d["name"] == name).cloned();
    assert_eq!(listed("fashion-mnist-csv").unwrap()["present"], true);
    assert_eq!(listed("mnist-csv").unwrap()["present"], false);
    assert!(listed("cifar10").is_some(), "the built-ins are still there");

    // Trained with, all three at once: LeNet-5 on the CSV data, on the profiled flex backend.
    let profile_file = root.path().join("profile.jsonl");
    let envs = [("LOSSGP_PROFILE_OUT", profile_file.to_str().unwrap())];
    let args = [
        "train",
        "--dataset",
        "fashion-mnist-csv",
        "--model",
        "lenet5:act=relu",
        "--backend",
        "profile",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--json",
    ];
    let report = json(&lossgp_plus(&data, &envs, &args));
    let test = report["test"]["accuracy"].as_f64().unwrap();
    assert!(test > 0.5, "LeNet-5 on 600 Fashion-MNIST images: test accuracy {test} (chance is 0.1)\n{report}");
    let profiles: Vec<serde_json::Value> =
        std::fs::read_to_string(&profile_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ops = &profiles.last().unwrap()["operations"];
    assert_eq!(profiles.last().unwrap()["backend"], "burn-flex cpu");
    // One backward pass per step; 2 convolutions per forward pass, and more in evaluation.
    let steps = report["steps"].as_u64().unwrap();
    assert_eq!(ops["backward"]["calls"].as_u64(), Some(steps), "{ops}");
    assert!(ops["conv2d"]["calls"].as_u64().unwrap() > 2 * steps, "{ops}");
    assert!(ops["conv2d"]["seconds"].as_f64().unwrap() > 0.0, "{ops}");

    // A malformed CSV is refused with the line and value at fault.
    std::fs::write(csv.join("fashion-mnist_test.csv"), "label,p1,p2,p3,p4\n3,0,0,0,0\n4,0,0,x,0\n").unwrap();
    let out = lossgp_plus(&data, &[], &["data", "inspect", "fashion-mnist-csv", "--split", "test"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 3, column 4: `x` is not a pixel value"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A search on the plugin's `remote` evaluator, with a launcher that runs the worker here
/// (`env HOST=...` instead of `ssh HOST`): it ends as on threads, each worker logging where it
/// ran; a bad `[run.options.remote]` is refused naming the table.
#[test]
fn a_search_runs_on_the_plugins_remote_evaluator() {
    let root = tempfile::tempdir().unwrap();
    let config = |evaluator: &str, options: &str| {
        let text = format!(
            "[task]\nfitness = \"gradient-match\"\n[search]\nseed = 3\npopulation = 6\ngenerations = 2\nconfirm_seeds = 0\n\
             [run]\nevaluator = \"{evaluator}\"\nworkers = 2\nbaselines = []\n{options}"
        );
        let path = root.path().join(format!("{evaluator}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let listed = json(&lossgp_plus(root.path(), &[], &["list", "evaluators", "--json"]));
    assert!(listed.as_array().unwrap().iter().any(|e| e["name"] == "remote"), "{listed}");
    let search = |config: &Path, out: &str| {
        lossgp_plus(
            root.path(),
            &[],
            &[
                "search",
                "--json",
                "--config",
                config.to_str().unwrap(),
                "--out",
                root.path().join(out).to_str().unwrap(),
            ],
        )
    };
    let threads = json(&search(&config("threads", ""), "threads"));
    let options = "[run.options.remote]\nhosts = [\"alpha\", \"beta\"]\nlauncher = [\"env\", \"LOSSGP_HOST={host}\"]\n";
    let remote = json(&search(&config("remote", options), "remote"));
    assert_eq!(remote["best"], threads["best"], "the remote evaluator ends as threads do");
    let logs: Vec<_> = std::fs::read_dir(root.path().join("remote/logs")).unwrap().collect();
    assert_eq!(logs.len(), 2, "one log per worker");
    let bad = search(&config("remote", "[run.options.remote]\nhosts = []\n"), "bad");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("[run.options.remote] hosts is empty"), "{err}");
}
