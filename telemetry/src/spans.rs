//! Spans started through the OpenTelemetry API itself, for paths that run once per request.
//!
//! A `tracing` span reaches OpenTelemetry through the subscriber: a registry slot, a field visitor
//! per attribute, the layer's span builder, and an enter/exit on every poll of the future it
//! instruments. On the API's submit path that cost ~35 us of CPU per request, more than a third of
//! the request's own work; an SDK span built here costs a few microseconds. Code that runs inside
//! such a span gets its context as OpenTelemetry's current context (`FutureExt::with_context`), so
//! log lines still carry its trace id (`logs.rs`) and `tracing` spans opened inside it (the
//! AWS SDK's) still become its children.
//!
//! With telemetry not installed (or `OTEL_SDK_DISABLED=true`) no span is started: [`start`]
//! returns the parent context unchanged, and recording on its span does nothing.

use std::sync::OnceLock;

use opentelemetry::{
    Context, KeyValue,
    trace::{SpanBuilder, Status, TraceContextExt, Tracer as _},
};
use opentelemetry_sdk::trace::SdkTracer;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(crate) fn install(tracer: SdkTracer) {
    // A second `init` in one process fails before reaching here (`AlreadyInstalled`).
    let _ = TRACER.set(tracer);
}

/// Starts the span `builder` describes as a child of `parent` (a root when `parent` holds no valid
/// span) and returns the context holding it. End it with [`finish`].
#[must_use]
pub fn start(builder: SpanBuilder, parent: &Context) -> Context {
    match TRACER.get() {
        Some(tracer) => parent.with_span(tracer.build_with_context(builder, parent)),
        None => parent.clone(),
    }
}

/// Ends the span of `cx`, as failed when `error` is true. Like every record on a span that was
/// never started, a no-op without installed telemetry.
pub fn finish(cx: &Context, error: bool) {
    let span = cx.span();
    if error {
        // An empty description, as the semantic conventions ask when `error.type` (or the
        // status code of an HTTP span) already says what went wrong.
        span.set_status(Status::error(""));
    }
    span.end();
}

/// Sets one attribute on the span of `cx`.
pub fn record(cx: &Context, attribute: KeyValue) {
    cx.span().set_attribute(attribute);
}
