//! The `telemetry` command's library: dashboards as code ([`dashboards`]) and DORA metrics from
//! GitHub deployments ([`dora`]).

pub mod dashboards;
pub mod dora;
mod retry;

pub use retry::Backoff;
