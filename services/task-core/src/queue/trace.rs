//! The trace context a message carries from its producer to its consumer.
//!
//! Typed rather than a map of string attributes: the producer's context is made from its span's
//! ids, so it is well formed by construction, and each backend writes it as its wire wants
//! without checking or escaping it again. SQS carries it twice: the W3C `traceparent` (and
//! `tracestate`) as message attributes, and the X-Ray header as the `AWSTraceHeader` system
//! attribute, which the X-Ray service map reads to link the queue to both sides.

use std::fmt::Write as _;

/// A W3C `traceparent` of version `00`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`,
/// in lowercase. Only made from ids or by [`TraceParent::parse`], so always well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

/// The trace flag that says the producer's span was sampled.
const SAMPLED: u8 = 0x01;

impl TraceParent {
    /// The header for a span of `trace_id` and `span_id` with W3C trace `flags`. Only the
    /// sampled flag is written, as the W3C propagator does: the other bits are not defined for
    /// version `00`.
    #[must_use]
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Self {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        push_hex(&mut s, &trace_id);
        s.push('-');
        push_hex(&mut s, &span_id);
        s.push_str(if flags & SAMPLED == 0 { "-00" } else { "-01" });
        Self(s)
    }

    /// `s` if it is a version-`00` `traceparent` with a non-zero trace id and parent id (in
    /// any case; kept lowercase).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let hex = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_hexdigit);
        let zero = |range: std::ops::Range<usize>| b[range].iter().all(|&c| c == b'0');
        let shaped = b.len() == 55
            && s.starts_with("00-")
            && b[35] == b'-'
            && b[52] == b'-'
            && hex(3..35)
            && hex(36..52)
            && hex(53..55);
        (shaped && !zero(3..35) && !zero(36..52)).then(|| Self(s.to_ascii_lowercase()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace id's 32 hex digits.
    #[must_use]
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The parent (producer) span id's 16 hex digits.
    #[must_use]
    pub fn parent_id(&self) -> &str {
        &self.0[36..52]
    }

    #[must_use]
    pub fn is_sampled(&self) -> bool {
        // The flags' last hex digit holds the sampled bit.
        matches!(
            self.0.as_bytes()[54],
            b'1' | b'3' | b'5' | b'7' | b'9' | b'b' | b'd' | b'f'
        )
    }

    /// The same context as an X-Ray trace header: `Root=1-<8 hex>-<24 hex>;Parent=<16
    /// hex>;Sampled=<0|1>`, the trace id split where X-Ray puts its timestamp. A trace state is
    /// not repeated here (it travels as `tracestate`), and the producer's sampling decision is
    /// made by the time it sends, so it is never X-Ray's "deferred" (`Sampled=?`).
    #[must_use]
    pub fn to_xray(&self) -> String {
        let trace = self.trace_id();
        let mut out = String::with_capacity(74);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "Root=1-{}-{};Parent={};Sampled={}",
            &trace[..8],
            &trace[8..],
            self.parent_id(),
            u8::from(self.is_sampled())
        );
        out
    }
}

/// A trace id as W3C and X-Ray write it, and as a task records it: 32 lowercase hex digits.
#[must_use]
pub fn trace_id_hex(trace_id: [u8; 16]) -> String {
    let mut out = String::with_capacity(32);
    push_hex(&mut out, &trace_id);
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

/// What a message carries of its producer's trace. Empty (the default) for an untraced message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTrace {
    /// The producer span: the `traceparent` message attribute.
    pub parent: Option<TraceParent>,
    /// The W3C `tracestate`, when the trace has one: the `tracestate` message attribute.
    pub state: Option<String>,
    /// An X-Ray header the message arrived with (SQS's `AWSTraceHeader`), for a producer that
    /// sent no `traceparent`. On send, SQS gets this one or, without it, `parent`'s.
    pub xray: Option<String>,
}

/// The message attribute holding [`MessageTrace::parent`].
pub const TRACEPARENT: &str = "traceparent";
/// The message attribute holding [`MessageTrace::state`].
pub const TRACESTATE: &str = "tracestate";

impl MessageTrace {
    /// The X-Ray header to send as `AWSTraceHeader`.
    #[must_use]
    pub fn xray_header(&self) -> Option<String> {
        self.xray
            .clone()
            .or_else(|| self.parent.as_ref().map(TraceParent::to_xray))
    }

    /// The message attribute of this name ([`TRACEPARENT`] or [`TRACESTATE`]), if set.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            TRACEPARENT => self.parent.as_ref().map(TraceParent::as_str),
            TRACESTATE => self.state.as_deref(),
            _ => None,
        }
    }

    /// The message attributes that carry this trace, by name: what a backend stores or sends.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [TRACEPARENT, TRACESTATE]
            .into_iter()
            .filter_map(|name| Some((name, self.attribute(name)?)))
    }

    /// The trace from message attributes (by name, as [`MessageTrace::attributes`] gives them)
    /// and an `AWSTraceHeader`. A malformed `traceparent` is left out, as a consumer would
    /// ignore it.
    #[must_use]
    pub fn from_attributes<'a>(
        mut attribute: impl FnMut(&str) -> Option<&'a str>,
        xray: Option<String>,
    ) -> Self {
        Self {
            parent: attribute(TRACEPARENT).and_then(TraceParent::parse),
            state: attribute(TRACESTATE)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            xray,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: [u8; 16] = [
        0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27,
        0x93,
    ];
    const SPAN: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];

    #[test]
    fn made_from_ids_it_reads_back_and_converts_to_xray() {
        let tp = TraceParent::new(TRACE, SPAN, 0x01);
        assert_eq!(
            tp.as_str(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(TraceParent::parse(tp.as_str()), Some(tp.clone()));
        assert_eq!(
            tp.to_xray(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        );
        let unsampled = TraceParent::new(TRACE, SPAN, 0x02);
        assert!(unsampled.as_str().ends_with("-00") && !unsampled.is_sampled());
        assert!(unsampled.to_xray().ends_with(";Sampled=0"));
    }

    #[test]
    fn parse_takes_only_well_formed_version_00() {
        let good = "00-5759E988bd862e3fe1be46a994272793-53995c3f42cd8ad8-03";
        let parsed = TraceParent::parse(good).unwrap();
        assert_eq!(parsed.as_str(), good.to_ascii_lowercase());
        assert!(parsed.is_sampled());
        for bad in [
            "",
            "00-zz",
            "01-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            "00-00000000000000000000000000000000-53995c3f42cd8ad8-01",
            "00-5759e988bd862e3fe1be46a994272793-0000000000000000-01",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-0g",
            "00-5759e988bd862e3fe1be46a994272793_53995c3f42cd8ad8-01",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01-",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sqs_gets_the_received_xray_header_or_the_parent_s() {
        let parent = TraceParent::new(TRACE, SPAN, 0x01);
        let own = MessageTrace {
            parent: Some(parent.clone()),
            ..MessageTrace::default()
        };
        assert_eq!(own.xray_header(), Some(parent.to_xray()));
        let received = MessageTrace {
            xray: Some("Root=1-1-2;Parent=3;Sampled=0".into()),
            ..own
        };
        assert_eq!(
            received.xray_header().as_deref(),
            Some("Root=1-1-2;Parent=3;Sampled=0")
        );
        assert_eq!(MessageTrace::default().xray_header(), None);
    }

    #[test]
    fn attributes_read_back_into_the_same_trace() {
        let trace = MessageTrace {
            parent: Some(TraceParent::new(TRACE, SPAN, 0x01)),
            state: Some("vendor=v1".into()),
            xray: None,
        };
        let attributes: Vec<(&str, &str)> = trace.attributes().collect();
        assert_eq!(
            attributes.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [TRACEPARENT, TRACESTATE]
        );
        let back = MessageTrace::from_attributes(
            |k| {
                attributes
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| *v)
            },
            None,
        );
        assert_eq!(back, trace);
        assert_eq!(MessageTrace::default().attributes().count(), 0);
    }
}
