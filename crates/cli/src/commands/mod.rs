//! One module per top-level command.

pub mod data;
pub mod loss;
