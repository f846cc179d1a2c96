//! A third-party plugin crate for lossgp, written against its public API only: it registers a
//! backend, a model, datasets and an evaluator with `inventory`, exactly as lossgp's own crates register
//! theirs, so that any program that links it (here `lossgp-plus`, see `main.rs`) lists them,
//! trains with them and searches with them.
//!
//! * [`profiler`]: the `profile` backend, another backend with the time of every operation
//!   measured, reported when the backend is dropped;
//! * [`lenet`]: LeNet-5 (LeCun et al. 1998), the classic network the zoo lacks;
//! * [`pixel_csv`]: datasets stored as CSV rows of a label and pixels, the format of Kaggle's
//!   MNIST and Fashion-MNIST;
//! * [`remote`]: the `remote` evaluator, worker processes on other machines through ssh.

pub mod lenet;
pub mod pixel_csv;
pub mod profiler;
pub mod remote;

/// Makes sure a program that names nothing else of this crate still links its registrations
/// (`inventory` entries live in the crate's object code, which the linker drops if nothing
/// refers to it). Call it once from `main`.
#[inline(never)]
pub fn link() {}
