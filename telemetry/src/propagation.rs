//! Trace context across process boundaries.
//!
//! Queue messages carry the producer's context as a typed [`MessageTrace`]: the W3C
//! `traceparent` (read first: it is exact) and `tracestate`, from which the SQS backend also
//! writes the X-Ray header as the `AWSTraceHeader` system attribute, so the X-Ray service map
//! links the queue to both sides.

use std::{str::FromStr as _, sync::OnceLock};

use axum::http::HeaderName;
use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_aws::trace::xray_propagator::span_context_from_str;
use task_core::queue::{MessageTrace, TraceParent};

/// The context a producer puts on a message: the span of `cx` as `traceparent`, and its trace
/// state. Empty when `cx` has no valid span.
pub fn inject_message(cx: &Context) -> MessageTrace {
    inject_span(cx.span().span_context())
}

/// [`inject_message`] for a span held outside a `Context` (`spans::start_owned`).
pub fn inject_span(sc: &SpanContext) -> MessageTrace {
    if !sc.is_valid() {
        return MessageTrace::default();
    }
    let state = crate::otlp_wire::trace_state_header(sc.trace_state());
    MessageTrace {
        parent: Some(TraceParent::new(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.trace_flags().to_u8(),
        )),
        state: (!state.is_empty()).then_some(state),
        xray: None,
    }
}

/// The trace id a task records for the span of `cx`, when it has a valid one.
pub fn task_trace_id(cx: &Context) -> Option<task_core::queue::TraceId> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| task_core::queue::TraceId(sc.trace_id().to_bytes()))
}

/// The producer's span context from a message: `traceparent` first, then `AWSTraceHeader`.
pub fn extract_message(trace: &MessageTrace) -> Option<SpanContext> {
    // A `TraceParent` is well formed by construction, so its ids need no second parse. As the
    // W3C propagator does, only the sampled flag is kept (the other bits are undefined for
    // version 00) and a malformed trace state is dropped.
    if let Some(parent) = &trace.parent {
        let state = trace
            .state
            .as_deref()
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default();
        return Some(SpanContext::new(
            TraceId::from_bytes(parent.trace_id().0),
            SpanId::from_bytes(parent.parent_id()),
            TraceFlags::new(parent.flags()) & TraceFlags::SAMPLED,
            true,
            state,
        ));
    }
    trace
        .xray
        .as_deref()
        .and_then(span_context_from_str)
        .filter(SpanContext::is_valid)
}

/// The headers the installed propagators read. Set where they are installed, so that a request
/// carrying none of them (most do, unless a proxy or browser traces them) skips the
/// propagators, which parse each header's name from a string to look it up: ~1,300
/// instructions per request on the API.
static HTTP_FIELDS: OnceLock<Vec<HeaderName>> = OnceLock::new();

/// Installs `propagator` as the global one, remembering the headers it reads.
pub(crate) fn install(propagator: TextMapCompositePropagator) {
    let fields = propagator
        .fields()
        .filter_map(|f| HeaderName::from_bytes(f.as_bytes()).ok())
        .collect();
    // A second `init` in one process fails before reaching here (`AlreadyInstalled`).
    let _ = HTTP_FIELDS.set(fields);
    opentelemetry::global::set_text_map_propagator(propagator);
}

/// The context of an incoming HTTP request (`traceparent` or `X-Amzn-Trace-Id`, as the ALB adds).
pub fn extract_http(headers: &axum::http::HeaderMap) -> Context {
    if let Some(fields) = HTTP_FIELDS.get() {
        if !fields.iter().any(|f| headers.contains_key(f)) {
            return Context::current();
        }
    }
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
    use std::collections::HashMap;

    use opentelemetry_aws::trace::xray_propagator::span_context_to_string;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use task_core::queue::{TRACEPARENT, TRACESTATE};

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
    fn a_message_carries_the_producer_span_and_reads_back() {
        let cx = Context::new().with_remote_span_context(sampled());

        let trace = inject_message(&cx);

        assert_eq!(
            trace.parent.as_ref().map(TraceParent::header).as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(
            trace.xray_header().as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        );
        let back = extract_message(&trace).unwrap();
        assert_eq!(
            (back.trace_id(), back.span_id()),
            (sampled().trace_id(), sampled().span_id())
        );
        assert_eq!(inject_message(&Context::new()), MessageTrace::default());
    }

    /// What a message carries is what the propagators write, for every flag, id shape and trace
    /// state, and reads back as the same context.
    #[test]
    fn headers_match_the_propagators() {
        let ids = [
            (1_u128, 1_u64),
            (0x5759e988bd862e3fe1be46a994272793, 0x53995c3f42cd8ad8),
            (u128::MAX, u64::MAX),
        ];
        let states = [
            TraceState::default(),
            TraceState::from_key_value([("vendor", "v1"), ("other", "x")]).unwrap(),
        ];
        for (trace, span) in ids {
            for flags in [
                TraceFlags::SAMPLED,
                TraceFlags::default(),
                TraceFlags::new(0x02),
            ] {
                for state in &states {
                    let sc = SpanContext::new(
                        TraceId::from(trace),
                        SpanId::from(span),
                        flags,
                        false,
                        state.clone(),
                    );
                    let cx = Context::new().with_remote_span_context(sc.clone());
                    let mut expected = HashMap::new();
                    TraceContextPropagator::new().inject_context(&cx, &mut expected);

                    let message = inject_message(&cx);

                    assert_eq!(
                        message.parent.as_ref().map(TraceParent::header).as_ref(),
                        expected.get(TRACEPARENT),
                        "{sc:?}"
                    );
                    assert_eq!(
                        message.state.as_deref(),
                        expected
                            .get(TRACESTATE)
                            .map(String::as_str)
                            .filter(|s| !s.is_empty()),
                        "{sc:?}"
                    );
                    // Trace state travels as `tracestate` only (the X-Ray propagator would
                    // also append its entries to the X-Ray header), and the header says the
                    // sampling decision made, never X-Ray's "deferred" (`Sampled=?`, flag 0x02).
                    let decided = SpanContext::new(
                        sc.trace_id(),
                        sc.span_id(),
                        flags & TraceFlags::SAMPLED,
                        false,
                        TraceState::default(),
                    );
                    assert_eq!(
                        message.xray_header(),
                        span_context_to_string(&decided),
                        "{sc:?}"
                    );
                    let back = extract_message(&message).unwrap();
                    assert_eq!(
                        (back.trace_id(), back.span_id(), back.is_sampled()),
                        (sc.trace_id(), sc.span_id(), sc.is_sampled())
                    );
                    assert_eq!(back.trace_state().header(), state.header());
                    assert_eq!(
                        task_trace_id(&cx).map(|t| t.to_string()),
                        Some(sc.trace_id().to_string())
                    );
                }
            }
        }
    }

    /// A consumer reads what another producer sent as the W3C propagator would.
    #[test]
    fn a_received_traceparent_reads_as_the_propagator_reads_it() {
        let headers = [
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-03",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-02",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
        ];
        for header in headers {
            for state in [None, Some("vendor=v1"), Some("=,=")] {
                let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), header.to_owned())]);
                if let Some(state) = state {
                    carrier.insert(TRACESTATE.to_owned(), state.to_owned());
                }
                let expected = TraceContextPropagator::new().extract(&carrier);
                let trace =
                    MessageTrace::from_attributes(|k| carrier.get(k).map(String::as_str), None);

                let back = extract_message(&trace).unwrap();

                assert_eq!(&back, expected.span().span_context(), "{header} {state:?}");
            }
        }
    }

    #[test]
    fn the_xray_header_alone_is_enough() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let back = extract_message(&MessageTrace {
            xray: Some(header.into()),
            ..MessageTrace::default()
        })
        .unwrap();
        assert_eq!(back.trace_id(), sampled().trace_id());
        assert!(back.is_remote());
    }

    #[test]
    fn garbage_gives_no_context() {
        let trace = MessageTrace {
            parent: TraceParent::parse("00-zz"),
            state: Some("=,=".into()),
            xray: Some("Root=nope".into()),
        };
        assert!(extract_message(&trace).is_none());
    }
}
