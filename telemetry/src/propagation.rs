//! Trace context across process boundaries.
//!
//! Queue messages carry the producer's context twice: the W3C `traceparent` message attribute
//! (read first: it is exact) and the X-Ray header, sent as the SQS `AWSTraceHeader` system
//! attribute so the X-Ray service map links the queue to both sides.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_aws::trace::xray_propagator::{span_context_from_str, span_context_to_string};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use task_core::queue::Attributes;

/// The message attribute holding the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The message attribute holding the W3C trace state, when there is one.
pub const TRACESTATE: &str = "tracestate";

struct MapInjector<'a>(&'a mut Attributes);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a Attributes);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The context a producer puts on a message: `traceparent` (and `tracestate`) attributes plus the
/// X-Ray header for `AWSTraceHeader`. Empty when `cx` has no valid span.
pub fn inject_message(cx: &Context) -> (Attributes, Option<String>) {
    let mut attributes = Attributes::new();
    TraceContextPropagator::new().inject_context(cx, &mut MapInjector(&mut attributes));
    let xray = span_context_to_string(cx.span().span_context());
    (attributes, xray)
}

/// The producer's span context from a message: `traceparent` first, then `AWSTraceHeader`.
pub fn extract_message(attributes: &Attributes, trace_header: Option<&str>) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&MapExtractor(attributes));
    let from_w3c = cx.span().span_context().clone();
    if from_w3c.is_valid() {
        return Some(from_w3c);
    }
    trace_header
        .and_then(span_context_from_str)
        .filter(SpanContext::is_valid)
}

/// The context of an incoming HTTP request (`traceparent` or `X-Amzn-Trace-Id`, as the ALB adds).
pub fn extract_http(headers: &axum::http::HeaderMap) -> Context {
    struct Headers<'a>(&'a axum::http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(axum::http::HeaderName::as_str).collect()
        }
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn sampled() -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )
    }

    #[test]
    fn a_message_carries_both_headers_and_reads_back() {
        let cx = Context::new().with_remote_span_context(sampled());

        let (attributes, xray) = inject_message(&cx);

        assert_eq!(
            attributes[TRACEPARENT],
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(
            xray.as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        );
        let back = extract_message(&attributes, xray.as_deref()).unwrap();
        assert_eq!(
            (back.trace_id(), back.span_id()),
            (sampled().trace_id(), sampled().span_id())
        );
    }

    #[test]
    fn the_xray_header_alone_is_enough() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let back = extract_message(&Attributes::new(), Some(header)).unwrap();
        assert_eq!(back.trace_id(), sampled().trace_id());
        assert!(back.is_remote());
    }

    #[test]
    fn garbage_gives_no_context() {
        let attributes = Attributes::from([(TRACEPARENT.to_owned(), "00-zz".to_owned())]);
        assert!(extract_message(&attributes, Some("Root=nope")).is_none());
    }
}
