//! The task API: accepts CPU/RAM tasks over HTTP, records them in the task store, puts them on the
//! queue and reports what happened to them. Locally it also serves the page.
//!
//! [`startup::Application`] is built from [`settings::Settings`] by `main`, by the `stack`
//! launcher and by the tests alike.

pub mod error;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod submit;

mod http_telemetry;
mod stats;

/// A `&'static str` for a string from a small fixed set (route templates, span names), leaked once.
pub(crate) fn intern(s: &str) -> &'static str {
    use std::{collections::HashSet, sync::Mutex};
    static KNOWN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = known.get_or_insert_with(HashSet::new);
    if let Some(interned) = set.get(s) {
        return interned;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}
