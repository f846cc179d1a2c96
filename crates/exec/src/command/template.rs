//! The command template: an argument list whose `{name}` placeholders are filled in for each
//! job. Arguments are passed to the program as they are, never through a shell.

use std::collections::BTreeMap;

/// The placeholders a template may use, with what each becomes.
pub const PLACEHOLDERS: [(&str, &str); 10] = [
    ("loss_py", "the path of the candidate's PyTorch module (function `loss_fn(logits, target)`)"),
    ("loss", "the candidate's expression, as lossgp writes it"),
    ("reduction", "how the loss reduces over samples and classes (`element-mean`, `sum-mean`)"),
    ("out", "the job folder: the command writes result.json here (also the working directory)"),
    ("seed", "the training seed: [train] seed for the task's own run, a different one per confirmation seed"),
    ("budget", "the training budget as a fraction of the full run, in (0, 1] (successive halving's rung)"),
    ("replicate", "0 for the task's own seed, r >= 1 for confirmation seed r"),
    ("attempt", "which attempt this is, from 1"),
    ("task", "the task's name"),
    ("data_dir", "lossgp's data folder (--data-dir or LOSSGP_DATA_DIR; empty where neither is set)"),
];

/// Checks a template: a program, and only known placeholders with closed braces.
pub fn check(template: &[String]) -> Result<(), String> {
    let Some(program) = template.first() else {
        return Err("`command` is empty: give the program and its arguments, e.g. \
                    [\"python3\", \"train.py\", \"--loss\", \"{loss_py}\", \"--out\", \"{out}\"]"
            .into());
    };
    if program.trim().is_empty() {
        return Err("`command`'s first element (the program) is empty".into());
    }
    for arg in template {
        for name in placeholders(arg) {
            if !PLACEHOLDERS.iter().any(|(known, _)| *known == name) {
                let known: Vec<String> = PLACEHOLDERS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                return Err(format!(
                    "`command` argument `{arg}` uses {{{name}}}, which is not a placeholder; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    if !template.iter().any(|a| a.contains("{out}")) {
        return Err("`command` never passes {out}: give the command the folder to write result.json in, \
                    e.g. \"--out\", \"{out}\""
            .into());
    }
    Ok(())
}

/// The pieces of `arg`: literal text, and placeholders `{name}` (a name of letters, digits and
/// `_`). Any other brace is literal, so JSON in an inline script needs no escaping; `{{name}}`
/// is the literal text `{name}`.
fn pieces(arg: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        pieces.push(Piece::Text(&rest[..open]));
        let tail = &rest[open..];
        if let Some(name) =
            tail.strip_prefix("{{").and_then(|t| identifier(t)).filter(|n| tail[2 + n.len()..].starts_with("}}"))
        {
            pieces.push(Piece::Text(&tail[1..name.len() + 3]));
            rest = &tail[name.len() + 4..];
        } else if let Some(name) = identifier(&tail[1..]).filter(|n| tail[1 + n.len()..].starts_with('}')) {
            pieces.push(Piece::Placeholder(name));
            rest = &tail[name.len() + 2..];
        } else {
            pieces.push(Piece::Text("{"));
            rest = &tail[1..];
        }
    }
    pieces.push(Piece::Text(rest));
    pieces
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// The identifier `text` starts with, if any.
fn identifier(text: &str) -> Option<&str> {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    (end > 0 && !text.as_bytes()[0].is_ascii_digit()).then(|| &text[..end])
}

/// The placeholder names in `arg`, in order.
fn placeholders(arg: &str) -> Vec<&str> {
    pieces(arg).into_iter().filter_map(|p| if let Piece::Placeholder(n) = p { Some(n) } else { None }).collect()
}

/// `arg` with each `{name}` replaced by `values[name]`. The template was [checked](check), so
/// every name has a value.
pub fn fill(arg: &str, values: &BTreeMap<&str, String>) -> String {
    pieces(arg)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t,
            Piece::Placeholder(n) => values.get(n).map_or("", String::as_str),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn placeholders_are_filled_and_double_braces_are_literal() {
        let values: BTreeMap<&str, String> = [("seed", "7".to_owned()), ("out", "/tmp/j".to_owned())].into();
        assert_eq!(fill("--seed={seed}", &values), "--seed=7");
        assert_eq!(fill("{out}/result.json", &values), "/tmp/j/result.json");
        assert_eq!(fill("{\"a\": {seed}}", &values), "{\"a\": 7}", "JSON braces are literal");
        assert_eq!(fill("{{seed}} is {seed}", &values), "{seed} is 7");
        assert_eq!(fill("{{\"a\": {\"b\": 1}}}", &values), "{{\"a\": {\"b\": 1}}}");
        assert_eq!(fill("plain", &values), "plain");
    }

    #[test]
    fn bad_templates_are_refused_with_what_to_write() {
        assert!(check(&[]).unwrap_err().contains("empty"));
        let unknown = check(&args(&["python3", "t.py", "{seed}", "{los_py}", "{out}"])).unwrap_err();
        assert!(unknown.contains("{los_py}") && unknown.contains("{loss_py}"), "{unknown}");
        assert!(check(&args(&["python3", "t.py"])).unwrap_err().contains("{out}"));
        check(&args(&["python3", "t.py", "--loss", "{loss_py}", "--out", "{out}", "{{literal}}", "{\"json\": 1}"]))
            .unwrap();
    }
}
