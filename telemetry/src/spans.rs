//! Spans of paths that run once per request, made without the SDK's span objects.
//!
//! A `tracing` span reaches OpenTelemetry through the subscriber: a registry slot, a field visitor
//! per attribute, the layer's span builder, and an enter/exit on every poll of the future it
//! instruments. On the API's submit path that cost ~35 us of CPU per request, more than a third of
//! the request's own work. An SDK span costs a few microseconds: its `SpanData` is built, boxed,
//! moved out again at its end and handed to the processors, with the tracer's handle cloned in
//! and dropped. A [`RequestSpan`] keeps only what a
//! span records and, at its end, is encoded straight into the exporter's queue.
//!
//! It follows the SDK where the two could differ: the sampler is the SDK's own, built from
//! `OTEL_TRACES_SAMPLER` (and given to the tracer provider too), ids come from the same
//! generator, the span limits (`OTEL_SPAN_*_COUNT_LIMIT`) apply the same way, the status only
//! moves up (Unset < Error < Ok), and a span dropped without `end` ends then. It is an
//! OpenTelemetry `Span`, held in a `Context`: code that runs inside it gets that context as
//! OpenTelemetry's current one (`FutureExt::with_context`), so log lines carry its trace id and
//! become its events (`logs.rs`), and `tracing` spans opened inside it (the AWS SDK's) become its
//! children.
//!
//! A span the sampler drops (or that nothing would export) is not kept at all: its context holds
//! only its span context, so it still names its trace and parents its children.
//!
//! With telemetry not installed (or `OTEL_SDK_DISABLED=true`) no span is started: [`start`]
//! returns the parent context unchanged, and recording on its span does nothing.

use std::{borrow::Cow, cell::RefCell, sync::OnceLock, time::SystemTime};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    trace::{
        Event, Link, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt,
        TraceFlags,
    },
};
use opentelemetry_sdk::trace::{IdGenerator, SamplingDecision, ShouldSample, SpanLimits};

use crate::{
    export::SpanSink,
    otlp_wire::{SpanView, span_attribute, span_string_attribute},
    xray_ids::XrayIds,
};

/// What request spans are made with: installed once by `init`.
pub(crate) struct Recorder {
    pub(crate) sampler: Box<dyn ShouldSample>,
    pub(crate) limits: SpanLimits,
    pub(crate) ids: XrayIds,
    /// The scope the spans are exported under (the tracer's: this library).
    pub(crate) scope: InstrumentationScope,
    /// `None` when nothing is exported: spans still get ids, so log lines name their trace, but
    /// record nothing.
    pub(crate) sink: Option<SpanSink>,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

pub(crate) fn install(recorder: Recorder) {
    // A second `init` in one process fails before reaching here (`AlreadyInstalled`).
    let _ = RECORDER.set(recorder);
}

/// Attributes that every span of one kind carries with the same values (a queue's
/// `messaging.*`, a method's `http.request.method`), encoded once, when made. A span started
/// with them copies their bytes instead of building, keeping and encoding each attribute: on the
/// API's submit path that was a sixth of what telemetry adds to a request.
pub struct SharedAttributes {
    values: Vec<KeyValue>,
    encoded: Vec<u8>,
}

impl SharedAttributes {
    const NONE: Self = Self {
        values: Vec::new(),
        encoded: Vec::new(),
    };

    #[must_use]
    pub fn new(values: impl IntoIterator<Item = KeyValue>) -> Self {
        let values: Vec<KeyValue> = values.into_iter().collect();
        let mut encoded = Vec::new();
        for kv in &values {
            span_attribute(kv, &mut encoded);
        }
        Self { values, encoded }
    }
}

/// Starts the span `builder` describes as a child of `parent` (a root when `parent` holds no valid
/// span) and returns the context holding it. End it with [`finish`].
#[must_use]
pub fn start(builder: SpanBuilder, parent: &Context) -> Context {
    start_with(builder, &SharedAttributes::NONE, &[], parent)
}

/// [`start`], the span carrying `shared`, then the builder's attributes, then `strings`: string
/// attributes the caller only has borrowed (a path, a header, an id), encoded straight into the
/// span with no `String` or `KeyValue` made for them (on the API, five allocations per request
/// fewer). The sampler is shown only the builder's attributes: the samplers
/// `OTEL_TRACES_SAMPLER` names decide on the trace id and the parent alone.
#[must_use]
pub fn start_with(
    builder: SpanBuilder,
    shared: &SharedAttributes,
    strings: &[(&'static str, &str)],
    parent: &Context,
) -> Context {
    match started(builder, shared, strings, parent) {
        Some(span) if span.recording.is_some() => parent.with_span(span),
        // Sampled out (or nothing exported): the context needs only the span's ids, which it
        // holds without boxing a span (one allocation, not two).
        Some(mut span) => {
            parent.with_remote_span_context(std::mem::replace(&mut span.context, SpanContext::NONE))
        }
        None => parent.clone(),
    }
}

/// [`start_with`], the span kept by the caller rather than put in a `Context`: for a span no
/// code runs inside, that saves the two allocations a `Context` takes for it (the span boxed,
/// then shared). End it with `Span::end` (or by dropping it). Without installed telemetry it
/// records nothing and carries the parent's span context, as `start_with`'s context would.
#[must_use]
pub fn start_owned(
    builder: SpanBuilder,
    shared: &SharedAttributes,
    strings: &[(&'static str, &str)],
    parent: &Context,
) -> RequestSpan {
    started(builder, shared, strings, parent).unwrap_or_else(|| RequestSpan {
        context: parent.span().span_context().clone(),
        recording: None,
    })
}

/// The span, started by the installed recorder; `None` without one, or inside code whose
/// telemetry is suppressed.
fn started(
    builder: SpanBuilder,
    shared: &SharedAttributes,
    strings: &[(&'static str, &str)],
    parent: &Context,
) -> Option<RequestSpan> {
    let recorder = RECORDER
        .get()
        .filter(|_| !parent.is_telemetry_suppressed())?;
    Some(recorder.start(builder, shared, strings, parent))
}

/// Ends the span of `cx`, as failed when `error` is true. Like every record on a span that was
/// never started, a no-op without installed telemetry.
pub fn finish(cx: &Context, error: bool) {
    let span = cx.span();
    if error {
        span.set_status(failed());
    }
    span.end();
}

/// [`finish`] for a span of [`start_owned`].
pub fn finish_owned(mut span: RequestSpan, error: bool) {
    use opentelemetry::trace::Span as _;
    if error {
        span.set_status(failed());
    }
    span.end();
}

/// The status of a failed span: an empty description, as the semantic conventions ask when
/// `error.type` (or the status code of an HTTP span) already says what went wrong.
fn failed() -> Status {
    Status::error("")
}

/// Sets one attribute on the span of `cx`.
pub fn record(cx: &Context, attribute: KeyValue) {
    cx.span().set_attribute(attribute);
}

impl Recorder {
    fn start(
        &'static self,
        builder: SpanBuilder,
        shared: &SharedAttributes,
        strings: &[(&'static str, &str)],
        parent: &Context,
    ) -> RequestSpan {
        let parent_span = parent.span();
        let psc = parent_span.span_context();
        let has_parent = psc.is_valid();
        let trace_id = if has_parent {
            psc.trace_id()
        } else {
            self.ids.new_trace_id()
        };
        let kind = builder.span_kind.unwrap_or(SpanKind::Internal);
        let attributes = builder.attributes.unwrap_or_default();
        let mut links = builder.links.unwrap_or_default();
        let sampling = self.sampler.should_sample(
            Some(parent),
            trace_id,
            &builder.name,
            &kind,
            &attributes,
            &links,
        );
        let inherited = if has_parent {
            psc.trace_flags()
        } else {
            TraceFlags::default()
        };
        let flags = match sampling.decision {
            SamplingDecision::RecordAndSample => inherited.with_sampled(true),
            SamplingDecision::RecordOnly => inherited.with_sampled(false),
            SamplingDecision::Drop => TraceFlags::default(),
        };
        let context = SpanContext::new(
            trace_id,
            self.ids.new_span_id(),
            flags,
            false,
            sampling.trace_state,
        );
        // Without a sink nothing recorded would go anywhere: the span only names its trace.
        if sampling.decision == SamplingDecision::Drop || self.sink.is_none() {
            return RequestSpan {
                context,
                recording: None,
            };
        }
        let dropped_links = truncate(&mut links, self.limits.max_links_per_span);
        for link in &mut links {
            link.dropped_attributes_count +=
                truncate(&mut link.attributes, self.limits.max_attributes_per_link);
        }
        let mut recording = Recording {
            recorder: self,
            parent_span_id: if has_parent {
                psc.span_id()
            } else {
                SpanId::INVALID
            },
            parent_is_remote: has_parent && psc.is_remote(),
            name: builder.name,
            kind,
            start: builder.start_time.unwrap_or_else(opentelemetry::time::now),
            attributes: attribute_buffer(shared.encoded.len()),
            attribute_count: 0,
            dropped_attributes: 0,
            events: Vec::new(),
            dropped_events: 0,
            links,
            dropped_links,
            status: Status::Unset,
        };
        let limit = self.limits.max_attributes_per_span;
        if shared.values.len() <= limit as usize {
            recording.attributes.extend_from_slice(&shared.encoded);
            recording.attribute_count = shared.values.len() as u32;
        } else {
            shared
                .values
                .iter()
                .for_each(|kv| recording.add_attribute(kv, limit));
        }
        for kv in attributes.iter().chain(&sampling.attributes) {
            recording.add_attribute(kv, limit);
        }
        for (key, value) in strings {
            recording.add_string(key, value, limit);
        }
        RequestSpan {
            context,
            recording: Some(recording),
        }
    }
}

thread_local! {
    /// Attribute buffers of spans this thread ended, for the spans it starts next: without them
    /// every span allocates one and frees it at its end.
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept per thread: a few spans are open at a time on each (a request's server and
/// producer spans), and a buffer grown past [`MAX_KEPT_BUFFER`] by a large span is not kept.
const MAX_KEPT_BUFFERS: usize = 8;
const MAX_KEPT_BUFFER: usize = 4096;

/// An empty buffer with room for `shared` bytes and a few more attributes, so it grows rarely.
fn attribute_buffer(shared: usize) -> Vec<u8> {
    let room = shared + 256;
    let mut buffer = BUFFERS
        .try_with(|b| b.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    buffer.reserve(room);
    buffer
}

/// Keeps `buffer` for this thread's next span.
fn keep_buffer(mut buffer: Vec<u8>) {
    if buffer.capacity() > MAX_KEPT_BUFFER {
        return;
    }
    buffer.clear();
    // Once the thread's locals are gone (it is exiting), the buffer is freed.
    let _ = BUFFERS.try_with(|b| {
        let mut kept = b.borrow_mut();
        if kept.len() < MAX_KEPT_BUFFERS {
            kept.push(buffer);
        }
    });
}

/// Cuts `items` to `limit`, returning how many were cut.
fn truncate<T>(items: &mut Vec<T>, limit: u32) -> u32 {
    let limit = limit as usize;
    let dropped = items.len().saturating_sub(limit);
    items.truncate(limit);
    u32::try_from(dropped).unwrap_or(u32::MAX)
}

/// A span of the per-request path (see the module documentation).
pub struct RequestSpan {
    context: SpanContext,
    /// `None` once ended, or from the start when the sampler dropped the span.
    recording: Option<Recording>,
}

struct Recording {
    recorder: &'static Recorder,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    name: Cow<'static, str>,
    kind: SpanKind,
    start: SystemTime,
    /// `Span.attributes` fields, encoded as they are recorded, so a span keeps no `KeyValue`.
    attributes: Vec<u8>,
    attribute_count: u32,
    dropped_attributes: u32,
    events: Vec<Event>,
    dropped_events: u32,
    links: Vec<Link>,
    dropped_links: u32,
    status: Status,
}

impl Recording {
    /// Records `kv` if the span has fewer than `limit` attributes, and counts it dropped if not.
    fn add_attribute(&mut self, kv: &KeyValue, limit: u32) {
        if self.attribute_count < limit {
            span_attribute(kv, &mut self.attributes);
            self.attribute_count += 1;
        } else {
            self.dropped_attributes += 1;
        }
    }

    /// [`Recording::add_attribute`] for a borrowed string value.
    fn add_string(&mut self, key: &'static str, value: &str, limit: u32) {
        if self.attribute_count < limit {
            span_string_attribute(key, value, &mut self.attributes);
            self.attribute_count += 1;
        } else {
            self.dropped_attributes += 1;
        }
    }
}

impl opentelemetry::trace::Span for RequestSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some(r) = &mut self.recording {
            let limits = r.recorder.limits;
            if r.events.len() < limits.max_events_per_span as usize {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_event);
                r.events
                    .push(Event::new(name, timestamp, attributes, dropped));
            } else {
                r.dropped_events += 1;
            }
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(r) = &mut self.recording {
            r.add_attribute(&attribute, r.recorder.limits.max_attributes_per_span);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Some(r) = &mut self.recording {
            if status > r.status {
                r.status = status;
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(r) = &mut self.recording {
            r.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        if let Some(r) = &mut self.recording {
            let limits = r.recorder.limits;
            if r.links.len() < limits.max_links_per_span as usize {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_link);
                r.links.push(Link::new(span_context, attributes, dropped));
            } else {
                r.dropped_links += 1;
            }
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        let Some(r) = self.recording.take() else {
            return;
        };
        let Some(sink) = &r.recorder.sink else {
            return;
        };
        sink.push(
            &r.recorder.scope,
            &SpanView {
                context: &self.context,
                parent_span_id: r.parent_span_id,
                parent_is_remote: r.parent_is_remote,
                name: &r.name,
                kind: &r.kind,
                start: r.start,
                end: timestamp,
                attributes: &[],
                encoded_attributes: &r.attributes,
                dropped_attributes: r.dropped_attributes,
                events: &r.events,
                dropped_events: r.dropped_events,
                links: &r.links,
                dropped_links: r.dropped_links,
                status: &r.status,
            },
        );
        keep_buffer(r.attributes);
    }
}

impl Drop for RequestSpan {
    /// As an SDK span does: one dropped without `end` ends now.
    fn drop(&mut self) {
        if self.recording.is_some() {
            opentelemetry::trace::Span::end(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span as _, TraceId, TraceState};
    use opentelemetry_proto::tonic::{common::v1 as proto_common, trace::v1 as proto};
    use opentelemetry_sdk::trace::Sampler;
    use prost::Message as _;

    use super::*;

    fn recorder(sampler: Sampler, limits: SpanLimits) -> &'static Recorder {
        Box::leak(Box::new(Recorder {
            sampler: Box::new(sampler),
            limits,
            ids: XrayIds::default(),
            scope: InstrumentationScope::builder("test").build(),
            sink: Some(SpanSink::detached()),
        }))
    }

    fn exported(recorder: &Recorder) -> Vec<proto::Span> {
        let bytes = recorder
            .sink
            .as_ref()
            .map(SpanSink::queued)
            .unwrap_or_default();
        proto::ScopeSpans::decode(bytes.as_slice()).unwrap().spans
    }

    fn remote_parent(flags: TraceFlags) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x1234),
            SpanId::from(0x99),
            flags,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_child_of_a_remote_parent_is_exported_with_what_was_recorded() {
        let r = recorder(
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SpanLimits::default(),
        );
        let parent = remote_parent(TraceFlags::SAMPLED);
        let builder = SpanBuilder::from_name("POST")
            .with_kind(SpanKind::Server)
            .with_attributes([KeyValue::new("http.request.method", "POST")]);
        let mut span = r.start(builder, &SharedAttributes::NONE, &[], &parent);
        span.set_attribute(KeyValue::new("http.response.status_code", 500));
        span.update_name("POST /api/tasks");
        span.add_event(
            "Backend unavailable.",
            vec![KeyValue::new("level", "ERROR")],
        );
        span.set_status(Status::error(""));
        span.set_status(Status::Unset);
        span.end();
        span.end();

        let spans = exported(r);
        assert_eq!(spans.len(), 1, "ended once");
        let s = &spans[0];
        assert_eq!(s.trace_id, TraceId::from(0x1234).to_bytes());
        assert_eq!(s.parent_span_id, SpanId::from(0x99).to_bytes());
        assert_eq!(s.name, "POST /api/tasks");
        assert_eq!(s.kind, proto::span::SpanKind::Server as i32);
        let keys: Vec<&str> = s.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["http.request.method", "http.response.status_code"]);
        assert_eq!(s.events[0].name, "Backend unavailable.");
        let status = s.status.as_ref().unwrap();
        assert_eq!(
            status.code,
            proto::status::StatusCode::Error as i32,
            "Unset does not undo Error"
        );
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
        // Sampled, and the parent was remote.
        assert_eq!(s.flags, 0x301);
    }

    #[test]
    fn an_owned_span_without_installed_telemetry_carries_its_parents_context() {
        // No test installs the process's recorder (`init` does).
        let parent = remote_parent(TraceFlags::SAMPLED);
        let span = start_owned(
            SpanBuilder::from_name("send").with_kind(SpanKind::Producer),
            &SharedAttributes::NONE,
            &[("task.id", "t")],
            &parent,
        );
        assert_eq!(span.span_context(), parent.span().span_context());
        assert!(!span.is_recording());
        finish_owned(span, true);
    }

    #[test]
    fn the_sampler_decides_and_a_dropped_span_records_nothing() {
        let r = recorder(
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SpanLimits::default(),
        );
        // The parent's unsampled flag wins over the root sampler.
        let mut span = r.start(
            SpanBuilder::from_name("send"),
            &SharedAttributes::NONE,
            &[],
            &remote_parent(TraceFlags::default()),
        );
        assert!(!span.is_recording());
        let sc = span.span_context().clone();
        assert!(sc.is_valid() && !sc.is_sampled(), "its own id, not sampled");
        assert_eq!(sc.trace_id(), TraceId::from(0x1234));
        span.set_attribute(KeyValue::new("ignored", 1));
        span.end();
        drop(span);
        assert!(exported(r).is_empty());
    }

    #[test]
    fn a_root_gets_a_new_trace_and_a_span_dropped_unended_ends_then() {
        let r = recorder(Sampler::AlwaysOn, SpanLimits::default());
        let cx = Context::new();
        let first = r.start(
            SpanBuilder::from_name("a"),
            &SharedAttributes::NONE,
            &[],
            &cx,
        );
        let second = r.start(
            SpanBuilder::from_name("b"),
            &SharedAttributes::NONE,
            &[],
            &cx,
        );
        assert_ne!(
            first.span_context().trace_id(),
            second.span_context().trace_id()
        );
        drop((first, second));
        let spans = exported(r);
        assert_eq!(spans.len(), 2);
        assert!(spans.iter().all(|s| s.parent_span_id.is_empty()));
    }

    #[test]
    fn limits_cut_and_count_what_is_over() {
        let limits = SpanLimits {
            max_attributes_per_span: 2,
            max_events_per_span: 1,
            max_attributes_per_event: 1,
            ..SpanLimits::default()
        };
        let r = recorder(Sampler::AlwaysOn, limits);
        let builder = SpanBuilder::from_name("x").with_attributes([
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("c", 3),
        ]);
        let mut span = r.start(builder, &SharedAttributes::NONE, &[], &Context::new());
        span.set_attribute(KeyValue::new("d", 4));
        span.add_event("one", vec![KeyValue::new("e", 5), KeyValue::new("f", 6)]);
        span.add_event("two", vec![]);
        span.end();

        let s = &exported(r)[0];
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(s.dropped_attributes_count, 2);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].dropped_attributes_count, 1);
        assert_eq!(s.dropped_events_count, 1);
    }

    fn exported_attributes(r: &Recorder) -> Vec<(String, Option<proto_common::any_value::Value>)> {
        let s = &exported(r)[0];
        s.attributes
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value)))
            .collect()
    }

    #[test]
    fn shared_builder_borrowed_then_recorded_attributes_in_order_within_the_limit() {
        use proto_common::any_value::Value as V;
        let shared = SharedAttributes::new([
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("retries", 3),
        ]);
        // A span of `limit` attributes at most: two shared, one from its builder, one borrowed
        // string and one recorded.
        let exported_under = |limit: u32| {
            let r = recorder(
                Sampler::AlwaysOn,
                SpanLimits {
                    max_attributes_per_span: limit,
                    ..SpanLimits::default()
                },
            );
            let builder =
                SpanBuilder::from_name("send").with_attributes([KeyValue::new("task.id", "t-1")]);
            let path = String::from("/api/tasks");
            let mut span = r.start(builder, &shared, &[("url.path", &path)], &Context::new());
            span.set_attribute(KeyValue::new("messaging.message.id", "m-1"));
            span.end();
            (
                exported_attributes(r),
                exported(r)[0].dropped_attributes_count,
            )
        };
        let string = |k: &str, v: &str| (k.to_owned(), Some(V::StringValue(v.into())));
        let all = vec![
            string("messaging.system", "aws_sqs"),
            ("retries".into(), Some(V::IntValue(3))),
            string("task.id", "t-1"),
            string("url.path", "/api/tasks"),
            string("messaging.message.id", "m-1"),
        ];
        assert_eq!(exported_under(5), (all.clone(), 0));
        assert_eq!(
            exported_under(3),
            (all[..3].to_vec(), 2),
            "the borrowed string and the message id are over"
        );
        // More shared attributes than the limit allows: the first ones, the rest counted.
        assert_eq!(exported_under(1), (all[..1].to_vec(), 4));
    }
}
