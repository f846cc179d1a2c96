//! The documentation's commands are what users copy: every `lossgp` command line in the README
//! and in every example's README is accepted as written (its options exist, take the values
//! given, and nothing required is missing), and every file it names in the repository exists;
//! the README's "first minute" runs in full.

mod common;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The documents users copy commands from.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("README.md"))
        .filter(|p| p.is_file())
        .collect();
    examples.sort();
    files.extend(examples);
    files
}

/// The shell lines of a document's fenced `sh` blocks, continuation lines joined and `$ `
/// prompts removed.
fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && (trimmed == "```sh" || trimmed == "```bash" || trimmed == "```shell");
            continue;
        }
        if !in_block {
            continue;
        }
        let body = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let (start, mut joined) = pending.take().unwrap_or((number + 1, String::new()));
        joined.push_str(body.trim_end_matches('\\').trim_end());
        joined.push(' ');
        if body.ends_with('\\') {
            pending = Some((start, joined));
        } else if !joined.trim().is_empty() {
            lines.push((start, joined.trim().to_owned()));
        }
    }
    lines
}

/// Shell words, quotes removed; a comment (` #` outside quotes) ends the line, and `$(...)` is
/// kept as one word.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    let mut depth = 0;
    let mut started = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') if depth == 0 => {
                quote = Some(c);
                started = true;
            }
            (None, '$') if chars.peek() == Some(&'(') => {
                word.push('$');
                depth += 1;
                word.push(chars.next().unwrap());
                started = true;
            }
            (None, ')') if depth > 0 => {
                depth -= 1;
                word.push(c);
            }
            (None, '#') if depth == 0 && !started => break,
            (None, c) if c.is_whitespace() && depth == 0 => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The arguments a shell line gives `lossgp`, if it runs it: after `lossgp` or a path ending
/// in `/lossgp`, or after `--` of `cargo run --bin lossgp`; up to a pipe, a redirection or
/// the next command.
fn lossgp_arguments(line: &str) -> Option<Vec<String>> {
    let words = words(line);
    // `NAME=VALUE` before a command sets its environment; it is not the command.
    let program = |w: &String| !w.contains('=') && (w == "lossgp" || w.ends_with("/lossgp"));
    let at = words.iter().position(program)?;
    let start = if at > 0 && words[at - 1] == "--bin" {
        // `cargo run --bin lossgp -- ARGS`; a cargo command without `--` runs no lossgp.
        at + 1 + words[at + 1..].iter().position(|w| w == "--")? + 1
    } else {
        at + 1
    };
    let end = words[start..]
        .iter()
        .position(|w| ["|", ">", ">>", "&&", ";", "2>", "&"].contains(&w.as_str()) || w.starts_with('>'))
        .map_or(words.len(), |i| start + i);
    Some(words[start..end].to_vec())
}

#[test]
fn every_documented_command_is_accepted_as_written() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let name = document.strip_prefix(root()).unwrap_or(&document).display().to_string();
        for (number, line) in shell_lines(&text) {
            let Some(args) = lossgp_arguments(&line) else { continue };
            // `lossgp` alone, or a placeholder such as `lossgp ...`, is prose.
            if args.is_empty() || args.iter().any(|a| a == "..." || a.contains("NAME") || a.contains("DIR")) {
                continue;
            }
            checked += 1;
            let argv: Vec<String> = std::iter::once("lossgp".to_owned()).chain(args.iter().cloned()).collect();
            if let Err(message) = lossgp_cli::check_arguments(&argv) {
                wrong.push(format!("{name}:{number}: `{line}`:\n{message}"));
                continue;
            }
            // Files of the repository it names exist (a run's output aside).
            for arg in &args {
                let repository_file = ["configs/", "examples/", "scripts/"].iter().any(|d| arg.starts_with(d));
                if repository_file && !root().join(arg).exists() {
                    wrong.push(format!("{name}:{number}: `{line}` names {arg}, which does not exist"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "documented commands that lossgp refuses:\n\n{}", wrong.join("\n\n"));
    assert!(checked >= 20, "only {checked} commands found: the extraction is broken");
}

#[test]
fn the_readmes_first_minute_runs_as_written() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = text.split("## The first minute").nth(1).expect("a first-minute section");
    let section = section.split("\n## ").next().unwrap();
    let lines = shell_lines(section);
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (_, line) in &lines {
        if line.starts_with("cargo install") {
            // The build itself: the test runs the binary the build made.
            continue;
        }
        if let Some(file) = line.strip_prefix("printf ") {
            // `printf '...' > FILE`: the configuration the next command reads.
            let words = words(&format!("printf {file}"));
            let target = words.last().unwrap();
            std::fs::write(dir.path().join(target), words[1].replace("\\n", "\n")).unwrap();
            continue;
        }
        let args = lossgp_arguments(line).unwrap_or_else(|| panic!("not a lossgp command: {line}"));
        if args[0] == "dashboard" {
            // Serves until stopped: tests/dashboard.rs opens it in a browser.
            continue;
        }
        let needs_data = args.iter().any(|a| a == "digits");
        if needs_data && !common::digits_present("the_readmes_first_minute_runs_as_written") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lossgp"))
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "`{line}` failed:\n{}", String::from_utf8_lossy(&out.stderr));
        ran += 1;
    }
    assert!(ran >= 1, "the first minute ran no search");
    assert!(dir.path().join("runs/gradient-match/summary.json").is_file());
}

#[test]
fn the_extraction_reads_shell_as_a_user_would() {
    assert_eq!(
        lossgp_arguments("lossgp search --config a.toml --out runs/x  # comment"),
        Some(vec!["search".into(), "--config".into(), "a.toml".into(), "--out".into(), "runs/x".into()])
    );
    assert_eq!(
        lossgp_arguments("scripts/setup cargo run --bin lossgp -- search --config c.toml"),
        Some(vec!["search".into(), "--config".into(), "c.toml".into()])
    );
    assert_eq!(
        lossgp_arguments("LOSSGP=x target/debug/lossgp report runs/p > out.txt"),
        Some(vec!["report".into(), "runs/p".into()])
    );
    assert_eq!(
        lossgp_arguments("lossgp dashboard r --token \"$(openssl rand -hex 16)\""),
        Some(vec!["dashboard".into(), "r".into(), "--token".into(), "$(openssl rand -hex 16)".into()])
    );
    assert_eq!(lossgp_arguments("cargo install --path crates/cli"), None);
    assert_eq!(lossgp_arguments("scripts/gpu-backends cargo build --bin lossgp --features tch"), None);
    assert_eq!(
        lossgp_arguments("LOSSGP=$PWD/target/debug/lossgp target/debug/lossgp search --out r"),
        Some(vec!["search".into(), "--out".into(), "r".into()])
    );
    let joined = shell_lines("```sh\nlossgp search \\\n    --out runs/x\n```\n");
    assert_eq!(joined, vec![(2, "lossgp search --out runs/x".to_owned())]);
}
