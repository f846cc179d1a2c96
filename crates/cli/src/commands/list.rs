//! `lossgp list`: what this build has: backends (and whether each can run here) and models.

use std::fmt::Write;

use anyhow::Result;
use clap::Subcommand;
use lossgp_core::backend::{Availability, backends};
use lossgp_core::model::models;
use serde::Serialize;

use crate::output::emit;

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// The backends compiled into this build, and whether each can run on this machine.
    Backends,
    /// The models of the zoo.
    Models,
}

#[derive(Debug, Serialize)]
struct BackendRow {
    name: &'static str,
    description: &'static str,
    available: bool,
    /// The device it would use, or why it cannot run.
    detail: String,
}

#[derive(Debug, Serialize)]
struct ModelRow {
    name: &'static str,
    description: &'static str,
}

pub fn run(command: ListCommand, json: bool) -> Result<()> {
    match command {
        ListCommand::Backends => {
            let rows: Vec<BackendRow> = backends()
                .into_iter()
                .map(|e| {
                    let (available, detail) = match (e.probe)() {
                        Availability::Ready(device) => (true, device),
                        Availability::Missing(why) => (false, why),
                    };
                    BackendRow { name: e.name, description: e.description, available, detail }
                })
                .collect();
            emit(json, &rows, |rows| {
                let mut s = String::new();
                for r in rows {
                    let state = if r.available { "ready" } else { "unavailable" };
                    let _ = writeln!(s, "{:<10} {:<12} {} ({})", r.name, state, r.description, r.detail);
                }
                s
            })
        }
        ListCommand::Models => {
            let rows: Vec<ModelRow> =
                models().into_iter().map(|e| ModelRow { name: e.name, description: e.description }).collect();
            emit(json, &rows, |rows| rows.iter().map(|r| format!("{:<12} {}\n", r.name, r.description)).collect())
        }
    }
}
