//! Printing results: as JSON on stdout for `--json`, else as text for people.

use std::io::{self, Write};

use anyhow::Result;
use serde::Serialize;

/// Prints `report` as pretty JSON, or as the text `human` renders from it.
pub fn emit<T: Serialize>(json: bool, report: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    let mut stdout = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", human(report))?;
    }
    Ok(())
}

/// Indents every line of `text` by `spaces`.
pub fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|line| if line.is_empty() { "\n".to_owned() } else { format!("{pad}{line}\n") }).collect()
}
