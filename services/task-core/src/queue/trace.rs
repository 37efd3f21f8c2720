//! The trace context a message carries from its producer to its consumer.
//!
//! Typed rather than a map of string attributes: the producer's context is made from its span's
//! ids, so it is well formed by construction, and each backend writes it as its wire wants
//! without checking or escaping it again. SQS carries it twice: the W3C `traceparent` (and
//! `tracestate`) as message attributes, and the X-Ray header as the `AWSTraceHeader` system
//! attribute, which the X-Ray service map reads to link the queue to both sides.

/// A W3C `traceparent` of version `00`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
/// Held as its ids, which is what a producer has and what the embedded queue stores; the header
/// is written only where a wire wants text (SQS, the X-Ray header). [`TraceParent::parse`] and
/// [`TraceParent::from_bytes`] refuse a zero id; a producer makes one from a valid span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// The trace flag that says the producer's span was sampled.
const SAMPLED: u8 = 0x01;

impl TraceParent {
    /// The length of [`TraceParent::to_bytes`]: trace id, parent id, flags.
    pub const BYTES: usize = 25;

    /// The context of a span of `trace_id` and `span_id` with W3C trace `flags`. Only the
    /// sampled flag is kept, as the W3C propagator writes it: the other bits are not defined for
    /// version `00`.
    #[must_use]
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Self {
        Self {
            trace_id,
            parent_id: span_id,
            flags: flags & SAMPLED,
        }
    }

    /// `s` if it is a version-`00` `traceparent` with a non-zero trace id and parent id (in
    /// any case).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 55 || !s.starts_with("00-") || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let mut ids = [0; Self::BYTES];
        decode_hex(&b[3..35], &mut ids[..16])?;
        decode_hex(&b[36..52], &mut ids[16..24])?;
        decode_hex(&b[53..55], &mut ids[24..])?;
        Self::from_bytes(&ids)
    }

    /// The parent from its [`TraceParent::to_bytes`], if `bytes` are that long and neither id
    /// is zero.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::BYTES] = bytes.try_into().ok()?;
        let (trace_id, rest) = bytes.split_at(16);
        let (parent_id, flags) = rest.split_at(8);
        let parent = Self {
            trace_id: trace_id.try_into().ok()?,
            parent_id: parent_id.try_into().ok()?,
            flags: flags[0],
        };
        (parent.trace_id != [0; 16] && parent.parent_id != [0; 8]).then_some(parent)
    }

    /// Trace id, parent id and flags, 25 bytes: the `traceparent` without its text.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0; Self::BYTES];
        out[..16].copy_from_slice(&self.trace_id);
        out[16..24].copy_from_slice(&self.parent_id);
        out[24] = self.flags;
        out
    }

    /// The `traceparent` header, in lowercase.
    #[must_use]
    pub fn header(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.parent_id);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        s
    }

    #[must_use]
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace_id)
    }

    /// The parent (producer) span's id.
    #[must_use]
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The W3C trace flags.
    #[must_use]
    pub fn flags(&self) -> u8 {
        self.flags
    }

    #[must_use]
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// The same context as an X-Ray trace header: `Root=1-<8 hex>-<24 hex>;Parent=<16
    /// hex>;Sampled=<0|1>`, the trace id split where X-Ray puts its timestamp. A trace state is
    /// not repeated here (it travels as `tracestate`), and the producer's sampling decision is
    /// made by the time it sends, so it is never X-Ray's "deferred" (`Sampled=?`).
    #[must_use]
    pub fn to_xray(&self) -> String {
        let mut out = String::with_capacity(74);
        out.push_str("Root=1-");
        push_hex(&mut out, &self.trace_id[..4]);
        out.push('-');
        push_hex(&mut out, &self.trace_id[4..]);
        out.push_str(";Parent=");
        push_hex(&mut out, &self.parent_id);
        out.push_str(if self.is_sampled() {
            ";Sampled=1"
        } else {
            ";Sampled=0"
        });
        out
    }
}

/// A trace id, as a task records it. Written as W3C and X-Ray write it, 32 lowercase hex digits,
/// in a task's JSON and its DynamoDB item; kept as its 16 bytes everywhere else, so a request
/// formats it once, into its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The id its 32 hex digits (in any case) write.
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut id = [0; 16];
        decode_hex(hex.as_bytes(), &mut id)?;
        Some(Self(id))
    }
}

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(hex_digits(&self.0, &mut [0; 32]))
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(hex_digits(&self.0, &mut [0; 32]))
    }
}

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        out.push_str(hex_digits(chunk, &mut [0; 32]));
    }
}

/// Up to 16 `bytes` as lowercase hex, written into `digits`: a `char` pushed per digit costs
/// several times as much (~370 instructions for a trace id).
fn hex_digits<'d>(bytes: &[u8], digits: &'d mut [u8; 32]) -> &'d str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let len = 2 * bytes.len().min(16);
    for (pair, b) in digits.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    // Hex digits are ASCII, so this never takes the fallback.
    std::str::from_utf8(&digits[..len]).unwrap_or_default()
}

/// Fills `out` from `hex`, two digits (in either case) a byte; `None` unless `hex` is exactly
/// that long and all digits.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != 2 * out.len() {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(())
}

/// The value of one hex digit, in either case.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
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

    /// The message attributes that carry this trace, by name: what a backend stores or sends.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        let parent = self.parent.map(|p| (TRACEPARENT, p.header()));
        let state = self.state.clone().map(|s| (TRACESTATE, s));
        parent.into_iter().chain(state)
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
            tp.header(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(TraceParent::parse(&tp.header()), Some(tp));
        assert_eq!(
            tp.to_xray(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        );
        let unsampled = TraceParent::new(TRACE, SPAN, 0x02);
        assert!(unsampled.header().ends_with("-00") && !unsampled.is_sampled());
        assert!(unsampled.to_xray().ends_with(";Sampled=0"));
    }

    #[test]
    fn bytes_read_back_and_zero_ids_are_refused() {
        let tp = TraceParent::parse("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-03")
            .expect("well formed");
        let bytes = tp.to_bytes();
        assert_eq!(
            (&bytes[..16], &bytes[16..24], bytes[24]),
            (&TRACE[..], &SPAN[..], 3)
        );
        assert_eq!(TraceParent::from_bytes(&bytes), Some(tp));
        let mut zero_trace = bytes;
        zero_trace[..16].fill(0);
        let mut zero_parent = bytes;
        zero_parent[16..24].fill(0);
        for bad in [
            &zero_trace[..],
            &zero_parent[..],
            &bytes[..24],
            &[0x57; 26][..],
        ] {
            assert_eq!(TraceParent::from_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_trace_id_is_written_as_hex_and_reads_back() {
        let id = TraceId(TRACE);
        assert_eq!(id.to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"5759e988bd862e3fe1be46a994272793\""
        );
        assert_eq!(TraceId::from_hex(&id.to_string()), Some(id));
        assert_eq!(
            TraceId::from_hex("5759E988BD862E3FE1BE46A994272793"),
            Some(id)
        );
        for bad in [
            "",
            "5759e988",
            "5759e988bd862e3fe1be46a99427279g",
            "é759e988bd862e3fe1be46a99427279",
        ] {
            assert_eq!(TraceId::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_takes_only_well_formed_version_00() {
        let good = "00-5759E988bd862e3fe1be46a994272793-53995c3f42cd8ad8-03";
        let parsed = TraceParent::parse(good).unwrap();
        assert_eq!(parsed.header(), good.to_ascii_lowercase());
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
            parent: Some(parent),
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
        let attributes: Vec<(&str, String)> = trace.attributes().collect();
        assert_eq!(
            attributes.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [TRACEPARENT, TRACESTATE]
        );
        let back = MessageTrace::from_attributes(
            |k| {
                attributes
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.as_str())
            },
            None,
        );
        assert_eq!(back, trace);
        assert_eq!(MessageTrace::default().attributes().count(), 0);
    }
}
