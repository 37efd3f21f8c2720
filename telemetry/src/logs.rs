//! JSON log lines that lead to their trace: every line inside a span carries the OpenTelemetry
//! `trace_id` and `span_id` of that span.
//!
//! A layer of its own rather than `tracing_subscriber::fmt`: the fmt layer formats every span's
//! fields into a string when the span opens, for log formats that print them. These lines never
//! do (the span's fields go to the trace), so that work, on every span of every request, is
//! skipped.

use std::{fmt, io::Write as _};

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{fmt::MakeWriter, layer::Context, registry::LookupSpan};

/// A layer writing one JSON object per event:
/// `{"timestamp","level","target","message", <fields>, "span", "trace_id", "span_id"}`.
pub(crate) struct JsonLogs<W> {
    writer: W,
}

impl<W> JsonLogs<W> {
    pub(crate) fn new(writer: W) -> Self {
        Self { writer }
    }
}

struct Fields(Map<String, Value>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLogs<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields(Map::new());
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        fields.0.insert("timestamp".into(), now.into());
        fields
            .0
            .insert("level".into(), meta.level().as_str().into());
        fields.0.insert("target".into(), meta.target().into());
        event.record(&mut fields);
        if let Some(span) = ctx.event_span(event) {
            fields.0.insert("span".into(), span.name().into());
            let cx = tracing::dispatcher::get_default(|d| {
                tracing_opentelemetry::get_otel_context(&span.id(), d)
            });
            if let Some(cx) = cx {
                let sc = cx.span().span_context().clone();
                if sc.is_valid() {
                    fields
                        .0
                        .insert("trace_id".into(), sc.trace_id().to_string().into());
                    fields
                        .0
                        .insert("span_id".into(), sc.span_id().to_string().into());
                }
            }
        }
        let Ok(mut line) = serde_json::to_vec(&fields.0) else {
            return;
        };
        line.push(b'\n');
        // One write per line, so lines of concurrent events never interleave; a log line that
        // cannot be written has nowhere better to go.
        let _ = self.writer.make_writer_for(meta).write_all(&line);
    }
}
