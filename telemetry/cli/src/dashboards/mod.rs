//! `telemetry sync-dashboards`: the repository's `dashboards/` published to Grafana.
//!
//! [`source`] reads the files, [`workspace`] gets a short-lived token from Managed Grafana,
//! [`grafana`] talks to the Grafana HTTP API and [`sync`] decides what to write.

pub mod grafana;
pub mod source;
pub mod sync;
pub mod workspace;
