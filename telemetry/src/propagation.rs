//! Trace context across process boundaries.
//!
//! Queue messages carry the producer's context twice: the W3C `traceparent` message attribute
//! (read first: it is exact) and the X-Ray header, sent as the SQS `AWSTraceHeader` system
//! attribute so the X-Ray service map links the queue to both sides.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, TraceContextExt, TraceFlags},
};
use opentelemetry_aws::trace::xray_propagator::{span_context_from_str, span_context_to_string};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use task_core::queue::Attributes;

/// The message attribute holding the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

struct MapInjector<'a>(&'a mut Attributes);

impl Injector for MapInjector<'_> {
    // The W3C propagator sets `tracestate` even when empty; a message carries no empty attribute.
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.insert(key.to_owned(), value);
        }
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
    let span = cx.span();
    let sc = span.span_context();
    let mut attributes = Attributes::new();
    if !sc.is_valid() {
        return (attributes, None);
    }
    // Our own spans carry no trace state and only the sampled flag: both headers are written
    // here from the ids' hex, where the propagators format them through `fmt` several times
    // over. Anything else takes the propagators' path, which knows the rest.
    let flags = sc.trace_flags();
    if !sc.trace_state().header().is_empty()
        || (flags & !TraceFlags::SAMPLED) != TraceFlags::default()
    {
        TraceContextPropagator::new().inject_context(cx, &mut MapInjector(&mut attributes));
        return (attributes, span_context_to_string(sc));
    }
    let sampled = if flags.is_sampled() { "1" } else { "0" };
    // Each header written once, into a string of its exact length; the ids are turned into hex
    // once, for `traceparent`, and the X-Ray header copies them from it.
    let mut traceparent = String::with_capacity(55);
    traceparent.push_str("00-");
    push_hex(&mut traceparent, &sc.trace_id().to_bytes());
    traceparent.push('-');
    push_hex(&mut traceparent, &sc.span_id().to_bytes());
    traceparent.push_str("-0");
    traceparent.push_str(sampled);
    let (trace, parent) = (&traceparent[3..35], &traceparent[36..52]);
    let mut xray = String::with_capacity(74);
    xray.push_str("Root=1-");
    xray.push_str(&trace[..8]);
    xray.push('-');
    xray.push_str(&trace[8..]);
    xray.push_str(";Parent=");
    xray.push_str(parent);
    xray.push_str(";Sampled=");
    xray.push_str(sampled);
    attributes.insert(TRACEPARENT.to_owned(), traceparent);
    (attributes, Some(xray))
}

/// A trace id as W3C and X-Ray write it: 32 lowercase hex digits.
pub fn trace_id_hex(sc: &SpanContext) -> String {
    let mut out = String::with_capacity(32);
    push_hex(&mut out, &sc.trace_id().to_bytes());
    out
}

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
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
    use opentelemetry::trace::{SpanId, TraceId, TraceState};

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

    /// The hand-written headers are the propagators' own, for every flag and id shape; trace
    /// state (which the fast path leaves to them) still travels.
    #[test]
    fn headers_match_the_propagators() {
        let ids = [
            (1_u128, 1_u64),
            (0x5759e988bd862e3fe1be46a994272793, 0x53995c3f42cd8ad8),
            (u128::MAX, u64::MAX),
        ];
        let states = [
            TraceState::default(),
            TraceState::from_key_value([("vendor", "v1")]).unwrap(),
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
                    let mut expected = Attributes::new();
                    TraceContextPropagator::new()
                        .inject_context(&cx, &mut MapInjector(&mut expected));

                    let (attributes, xray) = inject_message(&cx);

                    assert_eq!(attributes, expected, "{sc:?}");
                    assert_eq!(xray, span_context_to_string(&sc), "{sc:?}");
                    assert_eq!(trace_id_hex(&sc), sc.trace_id().to_string());
                }
            }
        }
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
