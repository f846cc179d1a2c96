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
//!   loader.
//!
//! It depends on no deep-learning framework; backends implement its traits in
//! `lossgp-backends`.

pub mod data;
pub mod expr;
pub mod interp;
pub mod loss;

pub use expr::{Expr, ParseError, PrimitiveSet};
pub use loss::{Loss, Reduction};
