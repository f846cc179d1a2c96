//! The framework-free core of lossgp.
//!
//! lossgp discovers loss functions for neural networks by genetic programming and lets anyone
//! train with what it finds. This crate holds what every other part is written against:
//!
//! * [`expr`]: the loss expression language: parsing, printing (text, LaTeX, PyTorch),
//!   simplification, canonical keys, primitive sets;
//! * [`loss`]: losses (an expression and its reduction) and the built-in named losses;
//! * [`interp`]: the reference interpreter, which evaluates a loss and its gradient on plain
//!   arrays;
//! * [`data`]: the dataset interface, the validation hold-out, augmentation and the batch
//!   loader;
//! * [`backend`]: the tensor backend trait that frameworks implement, losses on tensors, the
//!   parameter store, the backend registry and the conformance suite;
//! * [`model`]: the model interface of the zoo;
//! * [`train`]: optimisers, schedules, metrics and the training loop that turns a model, a
//!   loss and a dataset into a fitness;
//! * [`evaluation`]: what scores a candidate and what runs the scoring (jobs, scores, typed
//!   failures, the evaluator trait, local threads); [`files`]: crash-safe records;
//! * [`search`]: the genetic programming engine; [`transfer`]: transfer grids of found losses.
//!
//! It depends on no deep-learning framework; backends implement its traits in
//! `lossgp-backends`.

pub mod backend;
pub mod data;
pub mod evaluation;
pub mod expr;
pub mod files;
pub mod interp;
pub mod json;
pub mod kind;
pub mod limits;
pub mod loss;
pub mod model;
pub mod panic;
pub mod search;
pub mod stats;
pub mod train;
pub mod transfer;

pub use expr::{Expr, ParseError, PrimitiveSet};
pub use loss::{Loss, Reduction};
