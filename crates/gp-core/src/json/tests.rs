//! Every record type's shapes read back what they wrote, non-finite numbers included.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cell {
    test_loss: f64,
    accuracy: Option<f64>,
    curve: Vec<f64>,
    by_class: BTreeMap<usize, f64>,
    by_name: BTreeMap<String, f32>,
    pair: (f64, u64),
    name: String,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
enum Outcome {
    Evaluated {
        fitness: f64,
        #[serde(flatten)]
        metrics: Metrics,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Metrics {
    val_loss: f64,
    seeds: Vec<f64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Plain {
    Unit,
    Newtype(f64),
    Tuple(f64, f64),
    Struct { x: f64 },
}

fn cell(x: f64) -> Cell {
    Cell {
        test_loss: x,
        accuracy: Some(x),
        curve: vec![1.0, x, -x],
        by_class: [(3, x), (10, 0.5)].into(),
        by_name: [("a".to_owned(), x as f32)].into(),
        pair: (x, u64::MAX),
        name: "ce".into(),
        outcome: Outcome::Evaluated { fitness: x, metrics: Metrics { val_loss: -x, seeds: vec![x, 2.0] } },
    }
}

#[test]
fn every_non_finite_number_reads_back_wherever_it_stands() {
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25, -0.0, 1e-310, f64::MAX] {
        let written = cell(x);
        for text in [to_string(&written).unwrap(), to_string_pretty(&written).unwrap()] {
            let read: Cell = from_str(&text).unwrap_or_else(|e| panic!("{x}: {e}\n{text}"));
            // Compare through their debug text: NaN is not equal to itself.
            assert_eq!(format!("{read:?}"), format!("{written:?}"), "{x}: {text}");
        }
    }
    let line = to_string(&cell(f64::NAN)).unwrap();
    assert!(line.contains(r#""test_loss":"NaN""#) && !line.contains("null"), "{line}");
    assert!(to_string(&cell(f64::NEG_INFINITY)).unwrap().contains(r#""-Infinity""#));
}

#[test]
fn enums_and_plain_json_read_as_serde_json_reads_them() {
    for value in
        [Plain::Unit, Plain::Newtype(f64::INFINITY), Plain::Tuple(1.0, f64::NEG_INFINITY), Plain::Struct { x: 2.5 }]
    {
        let text = to_string(&value).unwrap();
        assert_eq!(from_str::<Plain>(&text).unwrap(), value, "{text}");
    }
    let failed = r#"{"outcome":"failed","error":"NaN"}"#;
    assert!(from_str::<Outcome>(failed).is_err(), "a flattened string field that reads NaN is taken as a number");
    let failed = r#"{"outcome":"failed","error":"diverged"}"#;
    assert_eq!(from_str::<Outcome>(failed).unwrap(), Outcome::Failed { error: "diverged".into() });
    // What earlier versions wrote: null for a non-finite number.
    let old = r#"{"val_loss":null,"seeds":[null,1]}"#;
    let metrics: Metrics = from_str(old).unwrap();
    assert!(metrics.val_loss.is_nan() && metrics.seeds[0].is_nan() && metrics.seeds[1] == 1.0);
    let none: Option<f64> = from_str("null").unwrap();
    assert_eq!(none, None);
    // Mistakes are still mistakes.
    assert!(from_str::<Metrics>(r#"{"val_loss":"high","seeds":[]}"#).is_err());
    assert!(from_str::<Metrics>(r#"{"val_loss":1}"#).is_err());
    assert!(from_str::<BTreeMap<usize, f64>>(r#"{"x":1}"#).is_err());
}
