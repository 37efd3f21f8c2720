//! Installing the tracing subscriber and the OpenTelemetry tracer provider.

use opentelemetry::{InstrumentationScope, global, trace::TracerProvider as _};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{
    export::{ExportConfig, OtlpProcessor},
    logs::JsonLogs,
    spans::Recorder,
    xray_ids::XrayIds,
};

/// Why telemetry could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installed telemetry. Call [`Telemetry::shutdown`] before exiting, so buffered spans are sent.
#[must_use = "dropping the guard does not flush spans; call shutdown()"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes buffered spans and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error.message = %e, "Flushing spans at shutdown failed.");
        }
    }
}

/// `OTEL_SDK_DISABLED=true`: no spans at all (log lines stay, without trace ids).
fn sdk_disabled() -> bool {
    std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

fn exporting_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
        && !sdk_disabled()
}

/// Installs the global subscriber for `service_name` (overridden by `OTEL_SERVICE_NAME`).
///
/// Logs go to stdout as JSON lines, filtered by `RUST_LOG` (default `info`). Spans get X-Ray
/// compatible trace ids whether or not they are exported, so log lines always name a trace id that
/// X-Ray can show. `OTEL_SDK_DISABLED=true` turns spans off: log lines then carry no trace id.
///
/// # Errors
/// [`TelemetryError::Exporter`] when the OTLP endpoint is malformed,
/// [`TelemetryError::AlreadyInstalled`] when called twice in one process.
pub fn init(service_name: &str) -> Result<Telemetry, TelemetryError> {
    init_with_writer(service_name, std::io::stdout)
}

/// [`init`] with log lines going to `writer` (tests pass `std::io::sink` to stay quiet).
///
/// # Errors
/// As [`init`].
pub fn init_with_writer<W>(service_name: &str, writer: W) -> Result<Telemetry, TelemetryError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let exporting = exporting_configured();
    // Resource::builder() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; our default name
    // applies only when the environment names none.
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service_name.to_owned());
    }
    let resource = resource.build();
    // The SDK's default configuration reads OTEL_TRACES_SAMPLER (parent-based always-on if unset)
    // and the OTEL_SPAN_*_COUNT_LIMIT variables; the provider's spans and the request spans of
    // `spans.rs` share both.
    let config = opentelemetry_sdk::trace::Config::default();
    let mut builder = SdkTracerProvider::builder()
        .with_id_generator(XrayIds::default())
        .with_sampler(config.sampler.clone())
        .with_span_limits(config.span_limits)
        .with_resource(resource);
    let mut sink = None;
    if exporting {
        let processor = OtlpProcessor::new(ExportConfig::from_env()?)?;
        sink = Some(processor.sink());
        builder = builder.with_span_processor(processor);
    }
    let provider = builder.build();
    // The instrumentation scope is this library; a borrowed name is not copied into every span.
    let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME")).build();
    let tracer = provider.tracer_with_scope(scope.clone());
    global::set_tracer_provider(provider.clone());
    crate::propagation::install(opentelemetry::propagation::TextMapCompositePropagator::new(
        vec![
            Box::new(XrayPropagator::default()),
            Box::new(TraceContextPropagator::new()),
        ],
    ));

    let enabled = !sdk_disabled();
    if enabled {
        crate::spans::install(Recorder {
            sampler: config.sampler,
            limits: config.span_limits,
            ids: XrayIds::default(),
            scope,
            sink,
        });
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(enabled.then(|| {
            // Source location, thread, target and busy/idle time would be seven more attributes
            // on every span, each stored and exported; the span names and our attributes locate
            // the work. Code under a tracing span takes its context from the span itself
            // (`OpenTelemetrySpanExt::context`), so entering a span need not also activate it as
            // OpenTelemetry's current context: futures enter their span on every poll.
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_error_records_to_exceptions(true)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
        }))
        .with(JsonLogs::new(writer))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}
