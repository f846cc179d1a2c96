//! JSON for the records lossgp writes and reads back (ledgers, state, caches, checkpoints'
//! metadata, summaries), with every `f64` a training can produce.
//!
//! JSON has no NaN or infinity, and `serde_json` writes them as `null`, which it then refuses
//! to read back into an `f64` (serde-rs/json #202): one diverged loss made a whole ledger
//! unreadable. Records are therefore written with [`to_string`] and [`to_string_pretty`], which
//! write a non-finite number as the string `"NaN"`, `"Infinity"` or `"-Infinity"` (the names
//! JavaScript and Python's `float()` use), and read with [`from_str`], which takes those strings,
//! and a `null` where a number is expected (as earlier versions wrote), as the number.
//!
//! Output for people and other programs (`--json` on standard output) stays plain JSON, with
//! `null` for a non-finite number.

mod names;
mod read;
mod write;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use names::{INFINITY, NAN, NEG_INFINITY};
pub use read::from_value;

/// `value` as one line of JSON, non-finite numbers as [`NAN`], [`INFINITY`], [`NEG_INFINITY`].
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(&write::Lossless(value))
}

/// `value` as indented JSON, non-finite numbers as [`to_string`] writes them.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&write::Lossless(value))
}

/// Reads what [`to_string`] wrote (and plain JSON), non-finite numbers included.
pub fn from_str<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    from_value(&serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests;
