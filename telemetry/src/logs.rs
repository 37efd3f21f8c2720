//! JSON log lines that lead to their trace: every line inside a span carries the OpenTelemetry
//! `trace_id` and `span_id` of that span: the `tracing` span the event is in, or else the span of
//! OpenTelemetry's current context (the API's request spans, [`crate::spans`]), which also gets
//! the line as a span event, as the `tracing` layer does for its spans.
//!
//! A layer of its own rather than `tracing_subscriber::fmt`: the fmt layer formats every span's
//! fields into a string when the span opens, for log formats that print them. These lines never
//! do (the span's fields go to the trace), so that work, on every span of every request, is
//! skipped.

use std::{fmt, io::Write as _};

use opentelemetry::{KeyValue, trace::TraceContextExt};
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
        let otel_cx = match ctx.event_span(event) {
            Some(span) => {
                fields.0.insert("span".into(), span.name().into());
                tracing::dispatcher::get_default(|d| {
                    tracing_opentelemetry::get_otel_context(&span.id(), d)
                })
            }
            None => {
                let cx = opentelemetry::Context::current();
                add_span_event(&cx, meta.level(), &fields.0);
                Some(cx)
            }
        };
        if let Some(cx) = otel_cx {
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
        let Ok(mut line) = serde_json::to_vec(&fields.0) else {
            return;
        };
        line.push(b'\n');
        // One write per line, so lines of concurrent events never interleave; a log line that
        // cannot be written has nowhere better to go.
        let _ = self.writer.make_writer_for(meta).write_all(&line);
    }
}

/// The log line as an event on the current OpenTelemetry span, named by its message, with its
/// level and fields as attributes.
fn add_span_event(
    cx: &opentelemetry::Context,
    level: &tracing::Level,
    fields: &Map<String, Value>,
) {
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    let name = match fields.get("message") {
        Some(Value::String(m)) => m.clone(),
        _ => String::from("event"),
    };
    let mut attributes = vec![KeyValue::new("level", level.as_str())];
    attributes.extend(
        fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "message" | "timestamp" | "level"))
            .map(|(k, v)| match v {
                Value::String(s) => KeyValue::new(k.clone(), s.clone()),
                other => KeyValue::new(k.clone(), other.to_string()),
            }),
    );
    span.add_event(name, attributes);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn a_line_under_an_opentelemetry_context_carries_its_trace_id() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(JsonLogs::new(lines.clone()));
        let tracer = SdkTracerProvider::builder().build().tracer("test");
        let span = tracer.start("request");
        let sc = span.span_context().clone();
        let cx = opentelemetry::Context::current_with_span(span);

        tracing::subscriber::with_default(subscriber, || {
            let _attached = cx.attach();
            tracing::error!(task.id = "t-1", "Task could not be queued.");
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(JsonLogs::new(lines.clone())),
            || tracing::warn!("Outside any span."),
        );

        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 2, "{text}");
        assert_eq!(parsed[0]["trace_id"], sc.trace_id().to_string());
        assert_eq!(parsed[0]["span_id"], sc.span_id().to_string());
        assert_eq!(parsed[0]["task.id"], "t-1");
        assert_eq!(parsed[0]["level"], "ERROR");
        assert!(parsed[1].get("trace_id").is_none(), "{text}");
    }
}
