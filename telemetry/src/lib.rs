//! Telemetry shared by every service.
//!
//! - [`init`] installs tracing: JSON log lines that carry `trace_id` and `span_id`, OpenTelemetry
//!   spans with X-Ray compatible ids, exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//!   (every standard `OTEL_*` variable applies, `OTEL_TRACES_SAMPLER` included).
//! - [`spans`] starts spans through the OpenTelemetry API on per-request paths, where a
//!   `tracing` span costs too much.
//! - [`propagation`] carries trace context through HTTP headers and queue messages, both as the
//!   W3C `traceparent` and as the X-Ray header (`X-Amzn-Trace-Id`, SQS `AWSTraceHeader`).
//! - [`metrics`] serves a `prometheus-client` registry at `/metrics`.

mod export;
mod logs;
pub mod metrics;
pub mod propagation;
mod setup;
pub mod spans;

pub use setup::{Telemetry, TelemetryError, init, init_with_writer};
