//! `lossgp list`: what this build has: backends (and whether each can run here), models,
//! evaluators, and the plugins loaded (`--plugin`, `LOSSGP_PLUGIN_PATH`).

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use lossgp_core::backend::{Availability, backends};
use lossgp_core::data::Task;
use lossgp_core::model::models;
use lossgp_plugin_abi::{Op, host};
use serde::Serialize;

use crate::output::emit;

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// The backends of this build and of loaded plugins, and whether each can run on this
    /// machine.
    Backends,
    /// The models of the zoo.
    Models,
    /// The evaluators (`[run] evaluator`): lossgp's own and those plugins add.
    Evaluators,
    /// The plugin libraries loaded (--plugin, LOSSGP_PLUGIN_PATH): file, ABI version, the
    /// backend each registers and the operations it implements.
    Plugins,
}

#[derive(Debug, Serialize)]
struct BackendRow {
    name: &'static str,
    description: &'static str,
    available: bool,
    /// The device it would use, or why it cannot run.
    detail: String,
    /// The plugin library it came from; absent for a backend linked into the program.
    plugin: Option<PluginFile>,
}

#[derive(Debug, Serialize)]
struct PluginFile {
    file: PathBuf,
    abi_version: u32,
}

#[derive(Debug, Serialize)]
struct PluginRow {
    file: PathBuf,
    abi_version: u32,
    backend: String,
    description: String,
    /// Operations implemented, of those the ABI has.
    operations: usize,
    operations_in_abi: usize,
    /// Those it does not implement (refused as unsupported without calling it).
    missing: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct EvaluatorRow {
    name: String,
    summary: String,
    /// The plugin library it came from; absent for one linked into the program.
    plugin: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ModelRow {
    name: &'static str,
    description: &'static str,
    task: Task,
    options: Vec<OptionRow>,
}

#[derive(Debug, Serialize)]
struct OptionRow {
    key: &'static str,
    default: &'static str,
    help: &'static str,
}

pub fn run(command: ListCommand, json: bool) -> Result<()> {
    match command {
        ListCommand::Backends => {
            let rows: Vec<BackendRow> = backends()
                .into_iter()
                .map(|e| {
                    let (available, detail) = match e.probe() {
                        Availability::Ready(device) => (true, device),
                        Availability::Missing(why) => (false, why),
                    };
                    let plugin = e.plugin().map(|p| PluginFile { file: p.file.clone(), abi_version: p.abi_version });
                    BackendRow { name: e.name(), description: e.description(), available, detail, plugin }
                })
                .collect();
            emit(json, &rows, |rows| {
                let mut s = String::new();
                for r in rows {
                    let state = if r.available { "ready" } else { "unavailable" };
                    let _ = writeln!(s, "{:<12} {:<12} {} ({})", r.name, state, r.description, r.detail);
                    if let Some(p) = &r.plugin {
                        let _ = writeln!(s, "{:<25} plugin ABI {}: {}", "", p.abi_version, p.file.display());
                    }
                }
                s
            })
        }
        ListCommand::Plugins => {
            let rows: Vec<PluginRow> = host::loaded()
                .into_iter()
                .map(|p| {
                    let missing = p.missing();
                    PluginRow {
                        file: p.file.clone(),
                        abi_version: p.abi_version,
                        backend: p.name.clone(),
                        description: p.description.clone(),
                        operations: Op::ALL.len() - missing.len(),
                        operations_in_abi: Op::ALL.len(),
                        missing,
                    }
                })
                .collect();
            emit(json, &rows, |rows| {
                if rows.is_empty() {
                    return "no plugins loaded: give --plugin LIBRARY or set LOSSGP_PLUGIN_PATH\n".to_owned();
                }
                let mut s = String::new();
                for r in rows {
                    let _ = writeln!(s, "{}", r.file.display());
                    let _ = writeln!(s, "  ABI version {}, backend `{}`: {}", r.abi_version, r.backend, r.description);
                    let _ = write!(s, "  operations: {} of {}", r.operations, r.operations_in_abi);
                    if r.missing.is_empty() {
                        let _ = writeln!(s);
                    } else {
                        let _ = writeln!(s, " (not: {})", r.missing.join(", "));
                    }
                }
                s
            })
        }
        ListCommand::Evaluators => {
            let rows: Vec<EvaluatorRow> = lossgp_exec::registry::all()
                .into_iter()
                .map(|e| EvaluatorRow { name: e.name, summary: e.summary, plugin: e.plugin })
                .collect();
            emit(json, &rows, |rows| {
                let mut s = String::new();
                for r in rows {
                    let _ = writeln!(s, "{:<12} {}", r.name, r.summary);
                    if let Some(file) = &r.plugin {
                        let _ = writeln!(s, "{:<12} plugin: {}", "", file.display());
                    }
                }
                s
            })
        }
        ListCommand::Models => {
            let rows: Vec<ModelRow> = models()
                .into_iter()
                .map(|e| ModelRow {
                    name: e.name,
                    description: e.description,
                    task: e.task,
                    options: e
                        .options
                        .iter()
                        .map(|o| OptionRow { key: o.key, default: o.default, help: o.help })
                        .collect(),
                })
                .collect();
            emit(json, &rows, render_models)
        }
    }
}

/// Each model with its options and their defaults, then what each option means (a key that
/// means different things on different models, such as `aux`, is explained for each, with the
/// models it applies to).
fn render_models(rows: &Vec<ModelRow>) -> String {
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(s, "{:<16} {:<15} {}", r.name, r.task.name(), r.description);
        if !r.options.is_empty() {
            let options: Vec<String> = r.options.iter().map(|o| format!("{}={}", o.key, o.default)).collect();
            let _ = writeln!(s, "{:<32} options: {}", "", options.join(", "));
        }
    }
    // (key, help) -> the models it applies to.
    let mut explained: std::collections::BTreeMap<(&str, &str), Vec<&str>> = std::collections::BTreeMap::new();
    for r in rows {
        for o in &r.options {
            explained.entry((o.key, o.help)).or_default().push(r.name);
        }
    }
    let _ = writeln!(s, "\noptions go after the name, e.g. --model resnet18:stem=cifar,head=paper");
    for ((key, help), models) in &explained {
        let shared = explained.keys().filter(|(k, _)| k == key).count() > 1;
        let which = if shared { format!(" ({})", models.join(", ")) } else { String::new() };
        let _ = writeln!(s, "  {key:<9} {help}{which}");
    }
    s
}
