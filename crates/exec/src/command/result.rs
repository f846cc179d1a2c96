//! `result.json`: what the command reports.
//!
//! ```json
//! {"fitness": 0.8712, "metrics": {"train_loss": 0.41}, "status": "completed", "curves": {...}}
//! ```
//!
//! `fitness` (required) is a finite number, higher is better, 0 the worst: a loss that
//! diverged is reported as `{"fitness": 0, "status": "diverged"}`, which is a result, not a
//! failure. Every other top-level number, and every number in `metrics`, becomes a metric of
//! the record; `status` (default `completed`) says how the run ended; anything else (curves,
//! notes) stays in the job folder's file, which the run directory keeps.

use std::collections::BTreeMap;
use std::path::Path;

use lossgp_core::evaluation::{EvalError, Scored};
use serde_json::Value;

/// The file the command writes in its job folder.
pub const RESULT: &str = "result.json";

/// The largest `result.json` read: a score and its metrics, with room for curves.
pub const MAX_RESULT_BYTES: u64 = 64 << 20;

/// The score in `folder/result.json`. A missing, oversized, unreadable or malformed file, or a
/// fitness that is not a finite number of at least 0, is a permanent failure: running the
/// command again would write the same.
pub fn read(folder: &Path) -> Result<Scored, EvalError> {
    let path = folder.join(RESULT);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EvalError::permanent(format!("the command exited 0 but wrote no {RESULT} in {{out}}")));
        }
        Err(e) => return Err(EvalError::transient(format!("{}: {e}", path.display()))),
    };
    // Only a plain file is read: a FIFO would block, a device never end.
    if !metadata.is_file() {
        return Err(EvalError::permanent(format!("{} is not a plain file; write the result as one", path.display())));
    }
    if metadata.len() > MAX_RESULT_BYTES {
        return Err(EvalError::permanent(format!(
            "{} holds {} MiB, more than the {} MiB a result may: keep large curves in other files of {{out}}",
            path.display(),
            metadata.len() >> 20,
            MAX_RESULT_BYTES >> 20
        )));
    }
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|e| EvalError::permanent(format!("{} is not UTF-8 text ({e})", path.display())))?,
        Err(e) => return Err(EvalError::transient(format!("{}: {e}", path.display()))),
    };
    // Python's json.dump writes a NaN fitness as a bare `NaN`, which JSON lacks.
    let value: Value = serde_json::from_str(&quote_bare_non_finite(&text)).map_err(|e| {
        EvalError::permanent(format!("{} is not JSON ({e}); write e.g. {{\"fitness\": 0.87}}", path.display()))
    })?;
    parse(&value).map_err(|e| EvalError::permanent(format!("{}: {e}", path.display())))
}

fn parse(value: &Value) -> Result<Scored, String> {
    let Value::Object(fields) = value else {
        return Err(format!("holds {value} where an object is expected, e.g. {{\"fitness\": 0.87}}"));
    };
    let fitness = match fields.get("fitness") {
        None => return Err("has no `fitness`: write e.g. {\"fitness\": 0.87} (higher is better)".into()),
        Some(v) => number(v).ok_or_else(|| format!("`fitness` is {v}, not a number"))?,
    };
    if !fitness.is_finite() {
        return Err(format!(
            "`fitness` is {fitness}: report a diverged run as {{\"fitness\": 0, \"status\": \"diverged\"}}"
        ));
    }
    if fitness < 0.0 {
        return Err(format!(
            "`fitness` is {fitness}, below 0: lossgp's fitness is higher-is-better with 0 the worst (an accuracy, \
             say); a loss to minimise can be reported as e.g. 1 / (1 + validation_loss)"
        ));
    }
    let mut metrics = BTreeMap::new();
    for (name, v) in fields.iter().filter(|(k, _)| !matches!(k.as_str(), "fitness" | "metrics" | "status")) {
        if let Some(x) = number(v) {
            metrics.insert(name.clone(), x);
        }
    }
    if let Some(Value::Object(inner)) = fields.get("metrics") {
        for (name, v) in inner {
            if let Some(x) = number(v) {
                metrics.insert(name.clone(), x);
            }
        }
    }
    let status = match fields.get("status") {
        None | Some(Value::Null) => "completed".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("`status` is {other}, not a string")),
    };
    Ok(Scored { fitness, metrics, status })
}

/// `text` with Python's bare `NaN`, `Infinity` and `-Infinity` (outside strings) quoted, as
/// lossgp's own files write them.
fn quote_bare_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
        } else if c == '"' {
            in_string = true;
        } else if let Some(word) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|w| rest.starts_with(w)) {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A JSON number, or one of the strings lossgp's own files use for non-finite numbers
/// (`NaN`, `Infinity`, `-Infinity`), as Python's `json.dump` writes them too.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> Result<Scored, EvalError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RESULT), text).unwrap();
        read(dir.path())
    }

    #[test]
    fn a_result_gives_its_fitness_metrics_and_status() {
        let scored = written(
            r#"{"fitness": 0.87, "epochs": 3, "metrics": {"train_loss": 0.4}, "curve": [1, 2], "status": "completed"}"#,
        )
        .unwrap();
        assert_eq!(scored.fitness, 0.87);
        assert_eq!(scored.metrics, [("epochs".to_owned(), 3.0), ("train_loss".to_owned(), 0.4)].into());
        assert_eq!(scored.status, "completed");
        assert_eq!(written(r#"{"fitness": 0, "status": "diverged"}"#).unwrap().status, "diverged");
    }

    #[test]
    fn bad_results_are_permanent_failures_that_say_what_to_write() {
        for (text, says) in [
            ("", "not JSON"),
            ("{\"fitness\": ", "not JSON"),
            ("[0.5]", "object"),
            ("{\"accuracy\": 0.5}", "no `fitness`"),
            ("{\"fitness\": \"high\"}", "not a number"),
            ("{\"fitness\": NaN}", "diverged"),
            ("{\"fitness\": Infinity}", "diverged"),
            ("{\"fitness\": null}", "not a number"),
            ("{\"fitness\": 0.5, \"status\": 3}", "not a string"),
        ] {
            let error = written(text).unwrap_err();
            assert!(!error.is_retryable(), "{text}");
            assert!(error.message().contains(says), "{text}: {error}");
        }
        assert_eq!(
            quote_bare_non_finite(r#"{"a": NaN, "b": "NaN x", "c": -Infinity}"#),
            r#"{"a": "NaN", "b": "NaN x", "c": "-Infinity"}"#
        );
        let none = read(tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(none.message().contains("wrote no result.json") && !none.is_retryable(), "{none}");
        let negative = written("{\"fitness\": -5}").unwrap_err();
        assert!(negative.message().contains("below 0") && !negative.is_retryable(), "{negative}");
        let bytes = {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(RESULT), b"{\"fitness\": 0.5, \"note\": \"\xff\"}").unwrap();
            read(dir.path()).unwrap_err()
        };
        assert!(bytes.message().contains("not UTF-8") && !bytes.is_retryable(), "{bytes}");
    }

    #[test]
    fn only_a_plain_file_of_a_sensible_size_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(RESULT)).unwrap();
        let device = read(dir.path()).unwrap_err();
        assert!(device.message().contains("not a plain file") && !device.is_retryable(), "{device}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(RESULT)).unwrap();
        assert!(read(dir.path()).unwrap_err().message().contains("not a plain file"));
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join(RESULT)).unwrap();
        file.set_len(MAX_RESULT_BYTES + 1).unwrap();
        let big = read(dir.path()).unwrap_err();
        assert!(big.message().contains("64 MiB"), "{big}");
    }
}
