//! One module per top-level command.

pub mod conformance;
pub mod dashboard;
pub mod data;
pub mod dataset;
pub mod export;
pub mod list;
pub mod loss;
pub mod loss_analysis;
pub mod predictions;
pub mod search;
pub mod train;
pub mod transfer;
