//! The message a caught panic carries, for the places that turn a panic into an error (worker
//! threads, the batch loader, the plugin boundary).

/// The panic's message: the `&str` or `String` it was raised with; `None` for other payloads.
pub fn message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| payload.downcast_ref::<String>().cloned())
}
