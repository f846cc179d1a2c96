//! `lossgp conformance`: the conformance suite of `lossgp_core::backend::conformance` (every
//! operation against a float64 reference, gradients against finite differences) on backends of
//! this build, by name: how a user checks a GPU, a driver or a third-party backend before
//! trusting its results.

use std::fmt::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use lossgp_core::backend::conformance::{Verdict, run as run_suite};
use lossgp_core::backend::{Backend, open_backend};
use serde::Serialize;

use crate::output::emit;

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Backends to check, by name (see `lossgp list backends`).
    #[arg(required = true, value_name = "BACKEND")]
    backends: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BackendResult {
    backend: String,
    /// The device, as the backend names itself; absent where it could not open.
    device: Option<String>,
    /// Why it could not open.
    error: Option<String>,
    checks: Vec<CheckResult>,
    passed: usize,
    failed: usize,
    unsupported: usize,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct CheckResult {
    check: &'static str,
    /// `pass`, `fail` or `unsupported`.
    verdict: &'static str,
    detail: Option<String>,
}

pub fn run(args: ConformanceArgs, json: bool) -> Result<()> {
    let mut results = Vec::new();
    for name in &args.backends {
        let start = Instant::now();
        let b = match open_backend(name) {
            Ok(b) => b,
            Err(e) => {
                results.push(BackendResult {
                    backend: name.clone(),
                    device: None,
                    error: Some(e.to_string()),
                    checks: vec![],
                    passed: 0,
                    failed: 0,
                    unsupported: 0,
                    seconds: 0.0,
                });
                continue;
            }
        };
        eprintln!("checking {name} ({})", b.name());
        let checks: Vec<CheckResult> = run_suite(&b)
            .into_iter()
            .map(|o| {
                let (verdict, detail) = match o.verdict {
                    Verdict::Pass => ("pass", None),
                    Verdict::Fail(why) => ("fail", Some(why)),
                    Verdict::Unsupported(why) => ("unsupported", Some(why)),
                };
                CheckResult { check: o.check, verdict, detail }
            })
            .collect();
        let count = |v: &str| checks.iter().filter(|c| c.verdict == v).count();
        results.push(BackendResult {
            backend: name.clone(),
            device: Some(b.name()),
            error: None,
            passed: count("pass"),
            failed: count("fail"),
            unsupported: count("unsupported"),
            checks,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    emit(json, &results, render)?;
    let bad: Vec<&str> =
        results.iter().filter(|r| r.error.is_some() || r.failed > 0).map(|r| r.backend.as_str()).collect();
    if !bad.is_empty() {
        bail!("not conformant: {}", bad.join(", "));
    }
    Ok(())
}

fn render(results: &Vec<BackendResult>) -> String {
    let mut s = String::new();
    for r in results {
        match (&r.device, &r.error) {
            (_, Some(e)) => {
                let _ = writeln!(s, "{}: cannot open: {e}", r.backend);
            }
            (device, None) => {
                let _ = writeln!(
                    s,
                    "{} ({}): {} passed, {} failed, {} unsupported in {:.1}s",
                    r.backend,
                    device.as_deref().unwrap_or("?"),
                    r.passed,
                    r.failed,
                    r.unsupported,
                    r.seconds
                );
                for c in r.checks.iter().filter(|c| c.verdict != "pass") {
                    let _ = writeln!(s, "  {} {}: {}", c.verdict, c.check, c.detail.as_deref().unwrap_or(""));
                }
            }
        }
    }
    s
}
