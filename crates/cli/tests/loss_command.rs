//! `lossgp loss ...` end to end: the real binary, its stdout, stderr and exit status.

mod common;

use std::process::Output;

use serde_json::Value;

fn lossgp(args: &[&str]) -> Output {
    common::lossgp(None, args)
}

fn json(args: &[&str]) -> Value {
    common::json(None, args)
}

fn failure(args: &[&str]) -> String {
    common::failure(None, args)
}

#[test]
fn list_names_every_builtin() {
    let list = json(&["loss", "list", "--json"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ce", "ngl", "focal", "ls-ce", "sce", "poly1", "mse", "ce-l2"]);
    assert_eq!(list[7]["weight_decay"], 5e-4);
    let text = String::from_utf8(lossgp(&["loss", "list"]).stdout).unwrap();
    assert!(text.contains("ngl") && text.contains("exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))"), "{text}");
}

#[test]
fn show_gives_every_form_of_ngl() {
    let ngl = json(&["loss", "show", "ngl", "--json"]);
    assert_eq!(ngl["expression"], "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
    assert_eq!(ngl["reduction"], "element-mean");
    assert_eq!(ngl["uses"], serde_json::json!(["p", "y"]));
    assert!((ngl["uniform_logits"][0]["loss"].as_f64().unwrap() - 9.42609).abs() < 5e-6);
    assert!((ngl["uniform_logits"][1]["loss"].as_f64().unwrap() - 10.47292).abs() < 5e-6);
    assert_eq!(ngl["key"].as_str().unwrap().len(), 32);
    assert!(ngl["latex"].as_str().unwrap().starts_with(r"\mathcal{L} = \frac{1}{BC}"));
    assert!(
        ngl["pytorch"]
            .as_str()
            .unwrap()
            .contains("def ngl(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255)")
    );

    // The same loss written differently has the same keys.
    let same = json(&["loss", "show", "--json", "element-mean: exp(2.4092 - p - y*p) - cos(cos(sin(p))) + 0*z"]);
    assert_eq!(same["key"], ngl["key"]);
    assert_eq!(same["training_key"], ngl["training_key"]);
    assert_eq!(same["uses"], serde_json::json!(["p", "y"]));
}

#[test]
fn show_accepts_a_reduction_and_a_leading_minus() {
    let loss = json(&["loss", "show", "-p*y", "--reduction", "sample-mean", "--json"]);
    assert_eq!(loss["expression"], "-p*y");
    assert_eq!(loss["reduction"], "sample-mean");
    assert!((loss["uniform_logits"][0]["loss"].as_f64().unwrap() + 0.1).abs() < 1e-12);
}

#[test]
fn eval_computes_cross_entropy_and_its_gradient() {
    let out = json(&["loss", "eval", "ce", "--logits", "1,2,3; 0,0,0", "--target", "0,2", "--json"]);
    let first = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 1.0;
    let second = 3f64.ln();
    assert!((out["per_sample"][0].as_f64().unwrap() - first).abs() < 1e-12);
    assert!((out["per_sample"][1].as_f64().unwrap() - second).abs() < 1e-12);
    assert!((out["loss"].as_f64().unwrap() - (first + second) / 2.0).abs() < 1e-12);
    // d CE / d logits = (softmax - onehot) / batch.
    assert!((out["gradient"][1][2].as_f64().unwrap() - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-12);
    assert_eq!(out["samples"], 2);
    assert_eq!(out["classes"], 3);

    let json_input = json(&["loss", "eval", "ce", "--logits", "[[1,2,3],[0,0,0]]", "--target", "[0,2]", "--json"]);
    assert_eq!(json_input["loss"], out["loss"]);
}

#[test]
fn eval_reports_non_finite_values_as_null() {
    let out = json(&["loss", "eval", "exp(1000*z)", "--logits", "1,0", "--target", "0", "--json"]);
    assert_eq!(out["loss"], Value::Null);
    let text =
        String::from_utf8(lossgp(&["loss", "eval", "exp(1000*z)", "--logits", "1,0", "--target", "0"]).stdout).unwrap();
    assert!(text.starts_with("loss          not finite"), "{text}");
}

#[test]
fn malformed_expressions_get_a_caret_and_a_suggestion() {
    let err = failure(&["loss", "show", "exp(lgo(p))"]);
    assert_eq!(
        err,
        "error: unknown function `lgo` at column 5\n  exp(lgo(p))\n      ^^^\n  help: did you mean `log`?\n"
    );
    let err = failure(&["loss", "show", "focl"]);
    assert!(err.contains("unknown loss `focl`") && err.contains("did you mean `focal`?"), "{err}");
    let err = failure(&["loss", "show", "p*y", "--reduction", "mean"]);
    assert!(err.contains("unknown reduction `mean`"), "{err}");
}

#[test]
fn bad_numbers_are_explained() {
    let err = failure(&["loss", "eval", "ce", "--logits", "1,x", "--target", "0"]);
    assert!(err.contains("could not read --logits") && err.contains("`x` is not a number"), "{err}");
    let err = failure(&["loss", "eval", "ce", "--logits", "1,2;3", "--target", "0,0"]);
    assert!(err.contains("row 1 has 1 values but row 0 has 2"), "{err}");
    let err = failure(&["loss", "eval", "ce", "--logits", "1,2", "--target", "2"]);
    assert!(err.contains("target 2 of sample 0 is not a class"), "{err}");
    let err = failure(&["loss", "eval", "ce", "--logits", "1,2", "--target", "-1"]);
    assert!(err.contains("`-1` is not a class index"), "{err}");
    let err = failure(&["loss", "eval", "ce", "--logits", "1,inf", "--target", "0"]);
    assert!(err.contains("logit 1 of sample 0 is not a finite number"), "{err}");
}
