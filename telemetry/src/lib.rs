//! Telemetry shared by every service.
//!
//! - [`init`] installs tracing: JSON log lines that carry `trace_id` and `span_id`, OpenTelemetry
//!   spans with X-Ray compatible ids, exported over OTLP (HTTP by default, or gRPC) when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (by the span processor in `export.rs`; the standard
//!   protocol, endpoint, timeout, headers and batch variables apply, and `OTEL_TRACES_SAMPLER`).
//! - [`spans`] starts spans through the OpenTelemetry API on per-request paths, where a
//!   `tracing` span costs too much.
//! - [`propagation`] carries trace context through HTTP headers and queue messages, both as the
//!   W3C `traceparent` and as the X-Ray header (`X-Amzn-Trace-Id`, SQS `AWSTraceHeader`).
//! - [`metrics`] serves a `prometheus-client` registry at `/metrics`.

mod export;
mod logs;
pub mod metrics;
mod otlp_http;
mod otlp_wire;
pub mod propagation;
mod setup;
pub mod spans;
mod xray_ids;

pub use setup::{Telemetry, TelemetryError, init, init_with_writer};
