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
