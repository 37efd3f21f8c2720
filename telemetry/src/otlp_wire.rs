//! OTLP protobuf encoding of a finished span (the SDK's `SpanData`, or the request spans of
//! `spans.rs`), written straight into a byte buffer.
//!
//! `opentelemetry-proto` converts a span into generated structs first: every trace id, span id,
//! name and attribute is copied into a new `Vec` or `String`, then encoded and freed. On the API
//! that conversion cost as much as the encoding itself. This module writes the same fields, by the
//! same rules (proto3: default scalars left out; a set oneof or message field always written), from
//! the span as it is. The test decodes its output with the generated types and compares it with
//! `opentelemetry-proto`'s own conversion.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Array, KeyValue, Value,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status, TraceState},
};
use opentelemetry_sdk::trace::SpanData;
use prost::encoding::{WireType, encoded_len_varint, key_len};

// Field numbers from opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
mod span {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START: u32 = 7;
    pub const END: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const DROPPED_ATTRIBUTES: u32 = 10;
    pub const EVENTS: u32 = 11;
    pub const DROPPED_EVENTS: u32 = 12;
    pub const LINKS: u32 = 13;
    pub const DROPPED_LINKS: u32 = 14;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
}
mod event {
    pub const TIME: u32 = 1;
    pub const NAME: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
    pub const DROPPED_ATTRIBUTES: u32 = 4;
}
mod link {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const ATTRIBUTES: u32 = 4;
    pub const DROPPED_ATTRIBUTES: u32 = 5;
    pub const FLAGS: u32 = 6;
}
mod any_value {
    pub const STRING: u32 = 1;
    pub const BOOL: u32 = 2;
    pub const INT: u32 = 3;
    pub const DOUBLE: u32 = 4;
    pub const ARRAY: u32 = 5;
}

/// `SpanFlags`: the low byte is the W3C trace flags; these say whether the parent is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// A finished span's fields, borrowed from whichever span type holds them.
pub(crate) struct SpanView<'a> {
    pub context: &'a SpanContext,
    /// [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    pub parent_is_remote: bool,
    pub name: &'a str,
    pub kind: &'a SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: &'a [KeyValue],
    /// Attributes already encoded as `Span.attributes` fields ([`span_attribute`]), written
    /// after `attributes`.
    pub encoded_attributes: &'a [u8],
    pub dropped_attributes: u32,
    pub events: &'a [Event],
    pub dropped_events: u32,
    pub links: &'a [Link],
    pub dropped_links: u32,
    pub status: &'a Status,
}

impl<'a> From<&'a SpanData> for SpanView<'a> {
    fn from(span: &'a SpanData) -> Self {
        Self {
            context: &span.span_context,
            parent_span_id: span.parent_span_id,
            parent_is_remote: span.parent_span_is_remote,
            name: &span.name,
            kind: &span.span_kind,
            start: span.start_time,
            end: span.end_time,
            attributes: &span.attributes,
            encoded_attributes: &[],
            dropped_attributes: span.dropped_attributes_count,
            events: &span.events.events,
            dropped_events: span.events.dropped_count,
            links: &span.links.links,
            dropped_links: span.links.dropped_count,
            status: &span.status,
        }
    }
}

/// Appends `span` as field `tag` (a `ScopeSpans.spans` entry when `tag` is 2).
pub(crate) fn encode_span(tag: u32, span: &SpanView<'_>, out: &mut Vec<u8>) {
    nested_reserving(tag, 2, out, |out| {
        let cx = span.context;
        bytes(span::TRACE_ID, &cx.trace_id().to_bytes(), out);
        bytes(span::SPAN_ID, &cx.span_id().to_bytes(), out);
        string(
            span::TRACE_STATE,
            &trace_state_header(cx.trace_state()),
            out,
        );
        if span.parent_span_id != SpanId::INVALID {
            bytes(span::PARENT_SPAN_ID, &span.parent_span_id.to_bytes(), out);
        }
        string(span::NAME, span.name, out);
        varint(span::KIND, kind(span.kind), out);
        fixed64(span::START, nanos(span.start), out);
        fixed64(span::END, nanos(span.end), out);
        attributes(span::ATTRIBUTES, span.attributes, out);
        out.extend_from_slice(span.encoded_attributes);
        varint(
            span::DROPPED_ATTRIBUTES,
            span.dropped_attributes.into(),
            out,
        );
        for e in span.events {
            nested(span::EVENTS, out, |out| {
                fixed64(event::TIME, nanos(e.timestamp), out);
                string(event::NAME, &e.name, out);
                attributes(event::ATTRIBUTES, &e.attributes, out);
                varint(
                    event::DROPPED_ATTRIBUTES,
                    e.dropped_attributes_count.into(),
                    out,
                );
            });
        }
        varint(span::DROPPED_EVENTS, span.dropped_events.into(), out);
        for l in span.links {
            encode_link(l, out);
        }
        varint(span::DROPPED_LINKS, span.dropped_links.into(), out);
        // Status is a message field the conversion always sets, so it is always written.
        nested(span::STATUS, out, |out| {
            let (code, message) = match span.status {
                Status::Unset => (0, ""),
                Status::Ok => (1, ""),
                Status::Error { description } => (2, description.as_ref()),
            };
            string(2, message, out);
            varint(3, code, out);
        });
        fixed32(
            span::FLAGS,
            flags(span.parent_is_remote, cx.trace_flags().to_u8()),
            out,
        );
    });
}

fn encode_link(l: &Link, out: &mut Vec<u8>) {
    nested(span::LINKS, out, |out| {
        let cx = &l.span_context;
        bytes(link::TRACE_ID, &cx.trace_id().to_bytes(), out);
        bytes(link::SPAN_ID, &cx.span_id().to_bytes(), out);
        string(
            link::TRACE_STATE,
            &trace_state_header(cx.trace_state()),
            out,
        );
        attributes(link::ATTRIBUTES, &l.attributes, out);
        varint(
            link::DROPPED_ATTRIBUTES,
            l.dropped_attributes_count.into(),
            out,
        );
        fixed32(
            link::FLAGS,
            flags(cx.is_remote(), cx.trace_flags().to_u8()),
            out,
        );
    });
}

/// A trace state's header; for the usual state, none, without calling into the SDK's formatting
/// (two spans of every API request).
pub(crate) fn trace_state_header(state: &TraceState) -> String {
    if *state == TraceState::NONE {
        String::new()
    } else {
        state.header()
    }
}

fn flags(remote: bool, trace_flags: u8) -> u32 {
    let mut flags = u32::from(trace_flags) | CONTEXT_HAS_IS_REMOTE;
    if remote {
        flags |= CONTEXT_IS_REMOTE;
    }
    flags
}

fn kind(k: &SpanKind) -> u64 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn attributes(tag: u32, kvs: &[KeyValue], out: &mut Vec<u8>) {
    for kv in kvs {
        attribute(tag, kv, out);
    }
}

/// Appends `kv` as one `Span.attributes` field: what [`SpanView::encoded_attributes`] holds.
pub(crate) fn span_attribute(kv: &KeyValue, out: &mut Vec<u8>) {
    attribute(span::ATTRIBUTES, kv, out);
}

/// [`span_attribute`] of a string attribute, from a borrowed value.
pub(crate) fn span_string_attribute(key: &'static str, value: &str, out: &mut Vec<u8>) {
    if key.is_empty() {
        // Rare enough (never, from this workspace) to take the general path's rules.
        span_attribute(&KeyValue::new(key, value.to_owned()), out);
    } else {
        string_attribute(span::ATTRIBUTES, key.as_bytes(), value.as_bytes(), out);
    }
}

fn attribute(tag: u32, kv: &KeyValue, out: &mut Vec<u8>) {
    let key = kv.key.as_str();
    match &kv.value {
        // Most attributes: a key and a string, both short. Their lengths are known up front, so
        // the field is written in one pass without `nested`'s placeholder. (An empty key is left
        // out, as proto3 leaves out defaults: the general path does that.)
        Value::String(value) if !key.is_empty() => {
            string_attribute(tag, key.as_bytes(), value.as_str().as_bytes(), out);
        }
        value => nested(tag, out, |out| {
            string(1, key, out);
            nested(2, out, |out| any_value(value, out));
        }),
    }
}

/// A `KeyValue` (field `tag`) holding a string `AnyValue`: what `attributes` writes through
/// `nested`, to the byte.
fn string_attribute(tag: u32, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let delimited = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    let any_value = delimited(value.len());
    let key_value = delimited(key.len()) + delimited(any_value);
    out.reserve(key_len(tag) + encoded_len_varint(key_value as u64) + key_value);
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(key_value as u64, out);
    // Field keys of length-delimited fields 1 and 2: (1 << 3) | 2 and (2 << 3) | 2.
    out.push(0x0a);
    put_varint(key.len() as u64, out);
    out.extend_from_slice(key);
    out.push(0x12);
    put_varint(any_value as u64, out);
    out.push(0x0a);
    put_varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// The body of an `AnyValue`: its one set field, written even when it holds a default value.
fn any_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Bool(b) => always_varint(any_value::BOOL, u64::from(*b), out),
        Value::I64(i) => always_varint(any_value::INT, *i as u64, out),
        Value::F64(f) => always_fixed64(any_value::DOUBLE, f.to_bits(), out),
        Value::String(s) => always_string(any_value::STRING, s.as_str(), out),
        Value::Array(a) => nested(any_value::ARRAY, out, |out| array(a, out)),
        // A kind of value newer than this encoder: its text is better than losing the attribute.
        other => always_string(any_value::STRING, &other.to_string(), out),
    }
}

/// An `ArrayValue`: field 1, one `AnyValue` per element.
fn array(a: &Array, out: &mut Vec<u8>) {
    let mut each = |v: Value| nested(1, out, |out| any_value(&v, out));
    match a {
        Array::Bool(vs) => vs.iter().for_each(|v| each(Value::Bool(*v))),
        Array::I64(vs) => vs.iter().for_each(|v| each(Value::I64(*v))),
        Array::F64(vs) => vs.iter().for_each(|v| each(Value::F64(*v))),
        Array::String(vs) => vs.iter().for_each(|v| each(Value::String(v.clone()))),
        other => each(Value::String(other.to_string().into())),
    }
}

/// Writes a length-delimited field whose body `body` appends. The length goes in front once the
/// body is written: one byte is reserved, and the body is moved along in the rare case (128 bytes
/// or more) that the length needs more.
fn nested(tag: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    nested_reserving(tag, 1, out, body);
}

/// [`nested`] with `reserve` bytes held for the length. A span is almost always 128 bytes to
/// 16 KiB long, so reserving two for it saves moving it (and the length's temporary) per span.
fn nested_reserving(tag: u32, reserve: usize, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(tag, WireType::LengthDelimited, out);
    let at = out.len();
    out.resize(at + reserve, 0);
    body(out);
    let end = out.len();
    let len = end - at - reserve;
    // The length must be the shortest varint (as prost writes it), so a wrong guess moves the
    // body to fit it.
    let need = encoded_len_varint(len as u64);
    if need > reserve {
        out.resize(end + need - reserve, 0);
    }
    if need != reserve {
        out.copy_within(at + reserve..end, at + need);
        out.truncate(at + need + len);
    }
    write_varint(len as u64, &mut out[at..at + need]);
}

/// prost's `encode_key` and `encode_varint` write through `BufMut` a byte at a time, out of line:
/// they were a tenth of the instructions telemetry adds per API request. Nearly every key and
/// length fits one byte.
#[inline]
fn put_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    put_varint(u64::from(tag << 3 | wire_type as u32), out);
}

#[inline]
fn put_varint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        let mut buf = [0; 10];
        let len = encoded_len_varint(v);
        write_varint(v, &mut buf[..len]);
        out.extend_from_slice(&buf[..len]);
    }
}

/// Writes `v` into `slot`, which is exactly `encoded_len_varint(v)` bytes long (never empty).
fn write_varint(mut v: u64, slot: &mut [u8]) {
    if let Some((last, rest)) = slot.split_last_mut() {
        for byte in rest {
            *byte = (v as u8) | 0x80;
            v >>= 7;
        }
        *last = v as u8;
    }
}

fn bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        always_bytes(tag, b, out);
    }
}

fn always_bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn string(tag: u32, s: &str, out: &mut Vec<u8>) {
    bytes(tag, s.as_bytes(), out);
}

fn always_string(tag: u32, s: &str, out: &mut Vec<u8>) {
    always_bytes(tag, s.as_bytes(), out);
}

fn varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        always_varint(tag, v, out);
    }
}

fn always_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    put_key(tag, WireType::Varint, out);
    put_varint(v, out);
}

fn fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        always_fixed64(tag, v, out);
    }
}

fn always_fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    put_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn fixed32(tag: u32, v: u32, out: &mut Vec<u8>) {
    if v != 0 {
        put_key(tag, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::Duration};

    use opentelemetry::{
        InstrumentationScope,
        trace::{TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_proto::tonic::trace::v1 as proto;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::{Message, encoding::encode_varint};

    use super::*;

    fn context(trace: u128, span: u64, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            TraceState::from_key_value([("vendor", "v1")]).unwrap(),
        )
    }

    /// A span that sets every field, with values of every kind, and one that sets almost none.
    fn spans() -> Vec<SpanData> {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let long = "x".repeat(300);
        let mut events = SpanEvents::default();
        events.events.push(opentelemetry::trace::Event::new(
            "retry",
            at(1_500),
            vec![KeyValue::new("attempt", 2), KeyValue::new("zero", 0)],
            1,
        ));
        events.dropped_count = 3;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(7, 8, true),
            vec![KeyValue::new("messaging.message.id", "m-1")],
            0,
        ));
        links.dropped_count = 1;
        let full = SpanData {
            span_context: context(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef, 0x42, false),
            parent_span_id: SpanId::from(0x99),
            parent_span_is_remote: true,
            span_kind: SpanKind::Consumer,
            name: Cow::Owned(format!("process {long}")),
            start_time: at(1_000),
            end_time: at(2_000),
            attributes: vec![
                KeyValue::new("s", "text"),
                KeyValue::new("empty", ""),
                KeyValue::new("b", false),
                KeyValue::new("i", -7_i64),
                KeyValue::new("f", 0.25),
                KeyValue::new("long", long.clone()),
                KeyValue::new(
                    "strings",
                    Value::Array(Array::String(vec!["a".into(), "b".into()])),
                ),
                KeyValue::new("ints", Value::Array(vec![1_i64, 0].into())),
                KeyValue::new("floats", Value::Array(vec![1.5].into())),
                KeyValue::new("bools", Value::Array(vec![true, false].into())),
            ],
            dropped_attributes_count: 2,
            events,
            links,
            status: Status::error("it broke"),
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        };
        let bare = SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                TraceFlags::default(),
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(""),
            start_time: UNIX_EPOCH,
            end_time: UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Ok,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        };
        vec![full, bare]
    }

    #[test]
    fn spans_decode_as_the_reference_conversion_builds_them() {
        for data in spans() {
            let mut out = Vec::new();
            encode_span(2, &SpanView::from(&data), &mut out);
            // Decoded as a `ScopeSpans` whose only field present is `spans` (2).
            let decoded = proto::ScopeSpans::decode(out.as_slice()).unwrap();
            assert_eq!(decoded.spans, vec![proto::Span::from(data)]);
        }
    }

    #[test]
    fn string_attributes_are_written_as_nested_writes_them() {
        let long = "v".repeat(200);
        for (key, value) in [("k", "text"), ("url.path", ""), ("long", long.as_str())] {
            let mut fast = Vec::new();
            string_attribute(9, key.as_bytes(), value.as_bytes(), &mut fast);
            let mut general = Vec::new();
            nested(9, &mut general, |out| {
                string(1, key, out);
                nested(2, out, |out| any_value(&Value::from(value.to_owned()), out));
            });
            assert_eq!(fast, general, "{key}");
        }
    }

    #[test]
    fn lengths_are_shortest_varints_whatever_was_reserved() {
        for reserve in [1, 2] {
            for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
                let mut out = vec![0xff];
                nested_reserving(1, reserve, &mut out, |out| out.resize(out.len() + len, 7));
                // What was there, the key, the length as prost writes it, then the body.
                let mut expected = vec![0xff, 0x0a];
                encode_varint(len as u64, &mut expected);
                expected.resize(expected.len() + len, 7);
                assert!(out == expected, "reserve {reserve}, length {len}");
            }
        }
    }

    #[test]
    fn varints_are_written_as_prost_writes_them() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_varint(v, &mut ours);
            encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
        }
    }
}
