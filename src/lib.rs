//! lossgp discovers loss functions for neural networks by genetic programming (GP), and lets
//! anyone train with what it finds.
//!
//! This facade re-exports the workspace's crates, so one dependency gives the whole toolkit:
//!
//! ```
//! use lossgp::{Loss, interp::Batch};
//!
//! // NGL (arXiv:2404.12948), the loss the method this crate implements discovered.
//! let ngl = Loss::resolve("ngl")?;
//! assert_eq!(ngl.expr.to_string(), "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
//!
//! // Evaluate it, and its gradient, on logits and labels.
//! let batch = Batch::from_labels(vec![0.0_f64; 10], 10, &[3]).expect("a valid batch");
//! let result = ngl.evaluate(&batch);
//! assert!((result.loss - 9.42609).abs() < 1e-5);
//! assert_eq!(result.gradient.len(), 10); // d loss / d logits
//!
//! // Print it for a paper or for a PyTorch project.
//! println!("{}", ngl.to_latex());
//! println!("{}", ngl.to_pytorch("ngl"));
//! # Ok::<(), lossgp::loss::LossError>(())
//! ```
//!
//! * [`core`]: the framework-free core (`lossgp-core`): the loss language, losses, the
//!   reference interpreter; its main items are also re-exported at the top level;
//! * [`backends`], [`models`], [`datasets`]: the crates that implement the core's interfaces;
//! * [`exec`]: where evaluations run (worker processes, Slurm, a user's own training command
//!   as the fitness) and the evaluator registry.

pub use lossgp_backends as backends;
pub use lossgp_core as core;
pub use lossgp_core::{Expr, Loss, ParseError, PrimitiveSet, Reduction, expr, interp, loss};
pub use lossgp_datasets as datasets;
pub use lossgp_exec as exec;
pub use lossgp_models as models;

/// The README's Rust examples, compiled and run as doctests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
