//! Backend plugins in shared libraries, through the command line: `examples/plugin-backend`
//! (burn-flex built into a cdylib, `plugin-flex`) is found through `--plugin`,
//! `LOSSGP_PLUGIN_PATH` and `[run] plugins`, listed with its ABI version and file, and trains
//! and searches exactly as the same backend linked in; `lossgp-plugin-fixture` is refused when
//! it claims another ABI version, and its panicking and failing operations end as reported
//! errors, not a crash. Both libraries are dev-dependencies, which Cargo builds before the tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{failure, json, lossgp};
use serde_json::Value;

/// A plugin library of the workspace: a dev-dependency, so Cargo built it into `deps/` next
/// to the `lossgp` binary (or `cargo build` put it beside the binary).
fn library(package: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_lossgp"));
    let name = format!("{}{}{}", std::env::consts::DLL_PREFIX, package.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    let profile = bin.parent().expect("the target directory");
    let found = [profile.join("deps").join(&name), profile.join(&name)].into_iter().find(|p| p.is_file());
    let path = found.unwrap_or_else(|| {
        panic!("{name} is in neither {0}/deps nor {0}: `cargo test` builds the plugin {package}", profile.display())
    });
    std::fs::canonicalize(path).expect("a canonical path")
}

fn flex_plugin() -> String {
    library("lossgp-plugin-backend").to_str().expect("a UTF-8 path").to_owned()
}

#[test]
fn a_plugin_is_listed_with_its_abi_version_and_file_from_every_source() {
    let lib = flex_plugin();
    let backends = json(None, &["--plugin", &lib, "list", "backends", "--json"]);
    let backends = backends.as_array().expect("an array");
    let plugin = backends.iter().find(|b| b["name"] == "plugin-flex").expect("plugin-flex listed");
    assert_eq!(plugin["available"], true, "{plugin}");
    assert_eq!(plugin["plugin"]["file"], lib.as_str());
    assert_eq!(plugin["plugin"]["abi_version"], 1);
    let linked = backends.iter().find(|b| b["name"] == "flex").expect("flex listed");
    assert_eq!(linked["plugin"], Value::Null);

    let plugins = json(None, &["list", "plugins", "--plugin", &lib, "--json"]);
    assert_eq!(plugins[0]["file"], lib.as_str());
    assert_eq!(plugins[0]["backend"], "plugin-flex");
    assert_eq!(plugins[0]["operations"], plugins[0]["operations_in_abi"]);
    let all = plugins[0]["operations_in_abi"].as_u64().unwrap();
    let out = lossgp(None, &["--plugin", &lib, "list", "plugins"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ABI version 1, backend `plugin-flex`") && text.contains(&format!("operations: {all} of {all}")),
        "{text}"
    );

    // LOSSGP_PLUGIN_PATH: a folder of plugins (here a link to the library), and the fixture's
    // partial capabilities listed.
    let dir = tempfile::TempDir::new().unwrap();
    std::os::unix::fs::symlink(&lib, dir.path().join("libflex.so")).unwrap();
    let fixture = library("lossgp-plugin-fixture");
    let path = std::env::join_paths([dir.path(), fixture.as_path()]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["list", "plugins", "--json"])
        .env("LOSSGP_PLUGIN_PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plugins: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = plugins.as_array().unwrap().iter().map(|p| p["backend"].as_str().unwrap()).collect();
    assert_eq!(names, ["plugin-flex", "faulty"]);
    assert_eq!(plugins[0]["file"], lib.as_str(), "the link resolved to the library");
    assert_eq!(plugins[1]["operations"], 12);
    assert!(plugins[1]["missing"].as_array().unwrap().contains(&Value::from("conv2d")));

    assert_eq!(json(None, &["list", "plugins", "--json"]), Value::Array(vec![]));
}

/// Training on the plugin is training on burn-flex: the same report and the same weights, bit
/// for bit, as the linked backend.
#[test]
fn training_through_the_plugin_gives_the_linked_backends_run_bit_for_bit() {
    let lib = flex_plugin();
    let dir = tempfile::TempDir::new().unwrap();
    let run = |backend: &str| {
        let weights = dir.path().join(format!("{backend}.safetensors"));
        let report = json(
            None,
            &[
                "--plugin",
                &lib,
                "train",
                "--dataset",
                "fashion-mnist",
                "--train-samples",
                "2000",
                "--max-steps",
                "30",
                "--batch-size",
                "64",
                "--backend",
                backend,
                "--save",
                weights.to_str().unwrap(),
                "--json",
            ],
        );
        (report, std::fs::read(&weights).expect("the weights were saved"))
    };
    let (linked, linked_weights) = run("flex");
    let (plugin, plugin_weights) = run("plugin-flex");
    assert_eq!(plugin["steps"], 30);
    assert!(plugin["test"]["accuracy"].as_f64().unwrap() > 0.5, "{}", plugin["test"]);
    assert_eq!(plugin["test"], linked["test"]);
    // Epoch by epoch, times aside.
    let results = |r: &Value| -> Vec<Value> {
        r["epochs"].as_array().unwrap().iter().map(|e| serde_json::json!([e["train"], e["validation"]])).collect()
    };
    assert_eq!(results(&plugin), results(&linked));
    assert!(plugin_weights == linked_weights, "the weights differ");
}

/// A search whose configuration names the plugin (`[run] plugins`, relative to the file), with
/// worker processes that must load it too, finds what the same search on the linked backend
/// finds.
#[test]
fn a_search_on_the_plugin_with_worker_processes_equals_the_linked_one() {
    let lib = flex_plugin();
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(&lib, dir.path().join("plugins/libflex.so")).unwrap();
    let config = |backend: &str, run: &str| {
        format!(
            r#"
[task]
dataset = "fashion-mnist"
model = "small-cnn"
backend = "{backend}"
train_samples = 600

[train]
epochs = 1
batch_size = 50
validation_fraction = 0.1
schedule = {{ kind = "constant" }}

[search]
seed = 8
population = 4
generations = 1
confirm_seeds = 0

[run]
baselines = []
top = 2
{run}
"#
        )
    };
    let search = |name: &str, text: String| {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = dir.path().join(name);
        let summary =
            json(None, &["search", "--config", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
        assert_eq!(summary["finished"], true, "{summary}");
        summary
    };
    let linked = search("linked", config("flex", ""));
    let plugin = search(
        "plugin",
        config("plugin-flex", "evaluator = \"processes\"\nworkers = 2\nplugins = [\"plugins/libflex.so\"]"),
    );
    let best = |s: &Value| -> Vec<(Value, Value)> {
        s["best"].as_array().unwrap().iter().map(|b| (b["loss"].clone(), b["fitness"].clone())).collect()
    };
    assert!(!best(&plugin).is_empty(), "{plugin}");
    assert_eq!(best(&plugin), best(&linked));
    // The workers loaded the plugin from the run's configuration (absolute there).
    let saved = std::fs::read_to_string(dir.path().join("plugin/config.toml")).unwrap();
    assert!(
        saved.contains(&format!("{}", dir.path().join("plugins/libflex.so").canonicalize().unwrap().display())),
        "{saved}"
    );
}

/// A transfer grid on the plugin, given with `--plugin`, gives the linked backend's cells, and
/// its run directory records the plugin.
#[test]
fn a_transfer_grid_on_the_plugin_gives_the_linked_backends_cells() {
    let lib = flex_plugin();
    let dir = tempfile::TempDir::new().unwrap();
    let grid = |name: &str, backend: &str, plugin: &[&str]| {
        let file = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "[grid]\nlosses = [\"ngl\"]\nbaselines = []\nmodels = [\"small-cnn\"]\ndatasets = [\"fashion-mnist\"]\nseeds = 1\n\
             backend = \"{backend}\"\n\n[train]\nepochs = 1\nbatch_size = 64\nvalidation_fraction = 0\nschedule = {{ kind = \"constant\" }}\n\n\
             [dataset.fashion-mnist]\ntrain_samples = 640\ntest_samples = 500\n"
        );
        std::fs::write(&file, text).unwrap();
        let out = dir.path().join(name);
        let mut args = plugin.to_vec();
        args.extend(["transfer", "--config", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
        let report = json(None, &args);
        let cells: Vec<Value> = std::fs::read_to_string(out.join("cells.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let cell: Value = serde_json::from_str(l).unwrap();
                serde_json::json!([cell["loss"], cell["seed"], cell["scored"]["fitness"]])
            })
            .collect();
        (report, cells)
    };
    let (_, linked) = grid("linked", "flex", &[]);
    let (_, plugin) = grid("plugin", "plugin-flex", &["--plugin", &lib]);
    assert_eq!(linked.len(), 2, "ngl and cross entropy: {linked:?}");
    assert_eq!(plugin, linked);
    // The run directory records the plugin given with --plugin, for --resume and workers.
    let saved = std::fs::read_to_string(dir.path().join("plugin/transfer.toml")).unwrap();
    assert!(saved.contains(&format!("plugins = [{lib:?}]")), "{saved}");
}

#[test]
fn the_whole_conformance_suite_passes_through_the_abi_from_the_command_line() {
    let report = json(None, &["--plugin", &flex_plugin(), "conformance", "plugin-flex", "--json"]);
    let checks = &report[0];
    assert_eq!(checks["failed"], 0, "{report}");
    assert_eq!(checks["unsupported"], 0, "{report}");
    assert!(checks["passed"].as_u64().unwrap() >= 19, "{report}");
}

/// `lossgp` with the fixture plugin and one variable of its environment set.
fn with_fixture(variable: &str, value: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["--plugin", library("lossgp-plugin-fixture").to_str().unwrap(), "list", "backends"])
        .env_remove("LOSSGP_PLUGIN_PATH")
        .env(variable, value)
        .output()
        .unwrap()
}

#[test]
fn a_plugin_of_another_abi_version_is_refused_naming_both() {
    let out = with_fixture("LOSSGP_FIXTURE_ABI_VERSION", "999");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("built for plugin ABI version 999, but this lossgp speaks version 1"), "{err}");
    assert!(err.contains("rebuild the plugin"), "{err}");
}

/// A table that changed without a new version number is refused by its header, before the
/// rest of it is read.
#[test]
fn a_plugin_whose_table_changed_under_the_same_version_is_refused() {
    let out = with_fixture("LOSSGP_FIXTURE_FINGERPRINT", "changed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("its table says ABI version 1") && err.contains("fingerprint"), "{err}");
}

/// A library in `LOSSGP_PLUGIN_PATH` that cannot be loaded is a warning: every other command
/// still works.
#[test]
fn a_bad_entry_of_the_plugin_path_is_a_warning_not_a_dead_end() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("libstale.so"), "not a library\n").unwrap();
    let path = std::env::join_paths([dir.path(), Path::new("/nonexistent/libx.so")]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .args(["list", "models", "--json"])
        .env("LOSSGP_PLUGIN_PATH", &path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("libstale.so: not a shared library") && err.contains("skipped"), "{err}");
    assert!(err.contains("/nonexistent/libx.so"), "{err}");
    let models: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!models.as_array().unwrap().is_empty());
}

#[test]
fn files_that_are_not_plugins_are_refused_with_the_reason() {
    let dir = tempfile::TempDir::new().unwrap();
    let text = dir.path().join("libnotes.so");
    std::fs::write(&text, "not a library\n").unwrap();
    let err = failure(None, &["--plugin", text.to_str().unwrap(), "list", "backends"]);
    assert!(err.contains("not a shared library this system can load"), "{err}");
    let err = failure(None, &["--plugin", "/nonexistent/libx.so", "list", "backends"]);
    assert!(err.contains("/nonexistent/libx.so") && err.contains("No such file"), "{err}");
    #[rustfmt::skip]
    let err = failure(None, &[
        "--plugin", &flex_plugin(), "train", "--dataset", "fashion-mnist", "--backend", "plugin-flexx", "--max-steps", "1",
    ]);
    assert!(err.contains("no backend named `plugin-flexx`") && err.contains("plugin-flex"), "{err}");
}

/// The fixture panics in `matmul` and fails `softmax`: the conformance run reports both as
/// failed checks with the plugin's words, refuses the operations it lacks without calling it, and
/// ends with an exit status, not a crash.
#[test]
fn a_plugin_that_panics_or_fails_in_an_operation_is_reported_and_the_host_lives_on() {
    let out = lossgp(
        None,
        &["--plugin", library("lossgp-plugin-fixture").to_str().unwrap(), "conformance", "faulty", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a report on stdout");
    let checks = report[0]["checks"].as_array().unwrap();
    let check = |name: &str| checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("{name}: {report}"));
    assert_eq!(check("round trip")["verdict"], "pass", "{report}");
    let matmul = check("matmul");
    assert_eq!(matmul["verdict"], "fail");
    assert!(
        matmul["detail"]
            .as_str()
            .unwrap()
            .contains("panicked in matmul: the faulty fixture panics in matmul on purpose"),
        "{matmul}"
    );
    let softmax = check("softmax and log-softmax");
    assert!(softmax["detail"].as_str().unwrap().contains("the faulty fixture fails softmax on purpose"), "{softmax}");
    let conv2d = check("conv2d")["detail"].as_str().unwrap();
    assert!(conv2d.contains("does not support conv2d (not among the capabilities of the plugin"), "{conv2d}");
}

/// An evaluator in a shared library (`examples/plugin-evaluator`, `nice`): listed with its file,
/// refused by name before it is loaded, and, loaded through `[run] plugins`, running a search
/// that ends as on threads; its own settings are checked; the run directory records the
/// library, so `--resume` finds the evaluator again.
#[test]
fn an_evaluator_plugin_runs_a_search_as_threads_do() {
    let lib = library("lossgp-plugin-evaluator");
    let listed = json(None, &["--plugin", lib.to_str().unwrap(), "list", "evaluators", "--json"]);
    let nice = listed.as_array().unwrap().iter().find(|e| e["name"] == "nice").expect("nice listed");
    assert_eq!(nice["plugin"], lib.to_str().unwrap());

    let root = tempfile::tempdir().unwrap();
    let config = |name: &str, run: &str| {
        let text = format!(
            "[task]\nfitness = \"gradient-match\"\n[search]\nseed = 4\npopulation = 6\ngenerations = 2\nconfirm_seeds = 0\n\
             [run]\nworkers = 2\nbaselines = []\n{run}"
        );
        let path = root.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let unknown = failure(
        None,
        &[
            "search",
            "--config",
            &config("unknown", "evaluator = \"nice\"\n"),
            "--out",
            root.path().join("u").to_str().unwrap(),
        ],
    );
    assert!(unknown.contains("`nice` is not an evaluator") && unknown.contains("[run] plugins"), "{unknown}");

    let out = |name: &str| root.path().join(name).to_str().unwrap().to_owned();
    let threads = json(None, &["search", "--json", "--config", &config("threads", ""), "--out", &out("threads")]);
    let plugin_run =
        format!("evaluator = \"nice\"\nplugins = [\"{}\"]\n[run.options.nice]\nniceness = 5\n", lib.display());
    let nice = json(None, &["search", "--json", "--config", &config("nice", &plugin_run), "--out", &out("nice")]);
    assert_eq!(nice["best"], threads["best"], "the plugin's evaluator ends as threads do");
    assert!(root.path().join("nice/logs").read_dir().unwrap().count() >= 1, "its workers logged");
    let resumed = json(None, &["search", "--json", "--resume", &out("nice"), "--generations", "3"]);
    assert_eq!(resumed["generations_done"], 3, "{resumed}");

    let bad = format!("evaluator = \"nice\"\nplugins = [\"{}\"]\n[run.options.nice]\nniceness = 40\n", lib.display());
    let refused = failure(None, &["search", "--config", &config("bad", &bad), "--out", &out("bad")]);
    assert!(refused.contains("niceness must be 1 to 19, not 40"), "{refused}");
}

/// A library that exports a backend and an evaluator gets both registered; an evaluator that
/// panics in the library stops the run with the panic's message (lossgp lives on and says so),
/// and one that refuses to start is an error naming it.
#[test]
fn a_panicking_evaluator_plugin_stops_the_run_with_its_message() {
    let lib = library("lossgp-plugin-fixture");
    let lib = lib.to_str().unwrap();
    let evaluators = json(None, &["--plugin", lib, "list", "evaluators", "--json"]);
    assert!(evaluators.as_array().unwrap().iter().any(|e| e["name"] == "faulty-evaluator"), "{evaluators}");
    let backends = json(None, &["--plugin", lib, "list", "backends", "--json"]);
    assert!(backends.as_array().unwrap().iter().any(|b| b["name"] == "faulty"), "{backends}");

    let root = tempfile::tempdir().unwrap();
    let run = |name: &str, options: &str| {
        let text = format!(
            "[task]\nfitness = \"gradient-match\"\n[search]\npopulation = 4\ngenerations = 1\nconfirm_seeds = 0\n\
             [run]\nevaluator = \"faulty-evaluator\"\nbaselines = []\nplugins = [\"{lib}\"]\n{options}"
        );
        let config = root.path().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        lossgp(
            None,
            &["search", "--config", config.to_str().unwrap(), "--out", root.path().join(name).to_str().unwrap()],
        )
    };
    let out = run("panics", "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "an error, not a crash: {err}");
    assert!(err.contains("evaluator plugin faulty-evaluator") && err.contains("panics with"), "{err}");
    let out = run("refuses", "[run.options.faulty-evaluator]\nrefuse = true\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refused to start, as asked"), "{err}");
}
