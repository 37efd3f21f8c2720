//! Turning a request body into tasks, and tasks into queue messages.
//!
//! The body is one entry or an array of entries, each `{kind, intensity, fail_percent?, count?}`.
//! Every problem names its field (`kind`, or `[2].intensity` inside an array).
//!
//! Writes, in batches of ten messages: on the embedded backend each batch of tasks and their
//! messages is one transaction ([`task_core::intake`]), all or nothing. On AWS the tasks are
//! recorded (`queued`) first, then sent; a task whose message cannot be sent after retries is
//! removed from the store. Either way a task that did not reach the queue is reported to the
//! client, so a 202 means "on the queue". On AWS only, a process that dies between the two writes
//! leaves `queued` tasks without a message; they never run (see the README).

use std::time::Duration;

use opentelemetry::{
    Context, KeyValue,
    trace::{FutureExt as _, Span as _, SpanBuilder, SpanKind},
};
use serde_json::{Map, Value};
use task_core::{
    Intensity, Kind, Task, TaskSpec,
    intake::Intake,
    queue::{MAX_BATCH, MessageTrace, OutgoingMessage, Queue, QueueError},
};
use telemetry::spans::{RequestSpan, SharedAttributes};

use crate::{
    error::ApiError,
    events::{OrphanCleanupError, TaskEnqueueError, TasksSubmitted},
    startup::AppState,
};

const FIELDS: [&str; 4] = ["kind", "intensity", "fail_percent", "count"];
/// Attempts for a batch (or its failed entries) before its tasks are reported as not queued.
const SEND_ATTEMPTS: u32 = 3;

/// Parses and validates a submission, expanding `count`.
///
/// # Errors
/// [`ApiError::Invalid`] naming the first offending field.
pub fn parse(body: &Value, max_tasks: usize) -> Result<Vec<TaskSpec>, ApiError> {
    let entries: Vec<(String, &Map<String, Value>)> = match body {
        Value::Object(o) => vec![(String::new(), o)],
        Value::Array(items) if items.is_empty() => {
            return Err(ApiError::invalid(
                "empty_submission",
                "the array has no tasks",
            ));
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(o) => Ok((format!("[{i}]."), o)),
                _ => Err(ApiError::field(
                    format!("[{i}]"),
                    "each entry must be an object",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::invalid(
                "invalid_body",
                "expected a task object or an array of them",
            ));
        }
    };
    let mut specs = Vec::new();
    for (prefix, entry) in entries {
        let field = |name: &str| format!("{prefix}{name}");
        if let Some(unknown) = entry.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::field(
                field(unknown),
                format!("unknown field; expected: {}", FIELDS.join(", ")),
            ));
        }
        let kind: Kind = enum_field(entry, "kind", &field)?;
        let intensity: Intensity = enum_field(entry, "intensity", &field)?;
        let fail_percent = int_field(entry, "fail_percent", &field, 0, 100)?.unwrap_or(0);
        let count = int_field(entry, "count", &field, 1, max_tasks as u64)?.unwrap_or(1);
        let spec = TaskSpec::new(kind, intensity, fail_percent as u8)
            .map_err(|e| ApiError::field(field(&e.field), e.message))?;
        if specs.len() + count as usize > max_tasks {
            return Err(ApiError::field(
                field("count"),
                format!("a request creates at most {max_tasks} tasks in all"),
            ));
        }
        specs.extend(std::iter::repeat_n(spec, count as usize));
    }
    Ok(specs)
}

/// An entry as a valid body has it, read without building a `serde_json::Value` (a map and a
/// string per field) for the common case.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidEntry {
    kind: Kind,
    intensity: Intensity,
    #[serde(default)]
    fail_percent: Option<u64>,
    #[serde(default)]
    count: Option<u64>,
}

/// The specs of a body [`parse`] would accept, with the same result, or `None` for anything
/// else (malformed, unknown or duplicate fields, out of range), which [`parse`] then reports with
/// the field named.
pub fn parse_valid(body: &[u8], max_tasks: usize) -> Option<Vec<TaskSpec>> {
    let entries: Vec<ValidEntry> = match body.iter().find(|b| !b.is_ascii_whitespace())? {
        b'{' => vec![serde_json::from_slice(body).ok()?],
        b'[' => serde_json::from_slice(body).ok()?,
        _ => return None,
    };
    let mut specs = Vec::new();
    for entry in &entries {
        let fail_percent = u8::try_from(entry.fail_percent.unwrap_or(0)).ok()?;
        let count = usize::try_from(entry.count.unwrap_or(1)).ok()?;
        if count == 0 || specs.len() + count > max_tasks {
            return None;
        }
        let spec = TaskSpec::new(entry.kind, entry.intensity, fail_percent).ok()?;
        specs.extend(std::iter::repeat_n(spec, count));
    }
    (!specs.is_empty()).then_some(specs)
}

fn enum_field<T: std::str::FromStr<Err = String>>(
    entry: &Map<String, Value>,
    name: &str,
    field: &impl Fn(&str) -> String,
) -> Result<T, ApiError> {
    match entry.get(name) {
        None | Some(Value::Null) => Err(ApiError::field(field(name), "is required")),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|e: String| ApiError::field(field(name), e)),
        Some(_) => Err(ApiError::field(field(name), "must be a string")),
    }
}

fn int_field(
    entry: &Map<String, Value>,
    name: &str,
    field: &impl Fn(&str) -> String,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    match entry.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::field(
                field(name),
                format!("must be a whole number from {min} to {max}, got {n}"),
            )),
        },
        Some(_) => Err(ApiError::field(
            field(name),
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

/// The spans of sending to one queue, made once: the queue of an app never changes, and a
/// request should not format their names or build their shared attributes again.
pub struct QueueSpans {
    send: QueueOperation,
    create: QueueOperation,
}

/// One messaging operation's span name ("send tasks") and the attributes all its spans share.
struct QueueOperation {
    name: &'static str,
    shared: SharedAttributes,
}

impl QueueSpans {
    pub fn new(queue: &dyn Queue) -> Self {
        let destination = queue.name();
        let operation = |operation: &'static str| QueueOperation {
            name: crate::intern(&format!("{operation} {destination}")),
            shared: SharedAttributes::new([
                KeyValue::new("messaging.system", queue.messaging_system()),
                KeyValue::new("messaging.operation.type", operation),
                KeyValue::new("messaging.operation.name", operation),
                KeyValue::new("messaging.destination.name", destination.to_owned()),
            ]),
        };
        Self {
            send: operation("send"),
            create: operation("create"),
        }
    }
}

/// A task the queue did not take.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rejected {
    pub id: uuid::Uuid,
    pub error: String,
}

/// Records the tasks and sends one message per task, in batches of ten (see the module docs).
///
/// # Errors
/// [`ApiError::Unavailable`] when the store is down, or when the queue took none of the tasks.
pub async fn enqueue(
    state: &AppState,
    specs: Vec<TaskSpec>,
) -> Result<(Vec<Task>, Vec<Rejected>), ApiError> {
    let trace_id = telemetry::propagation::task_trace_id(&Context::current());
    let tasks: Vec<Task> = specs.into_iter().map(|s| Task::new(s, trace_id)).collect();
    let intake = state.backends.intake.as_deref();
    if intake.is_none() {
        state.backends.store.create(&tasks).await?;
    }

    let mut accepted = Vec::with_capacity(tasks.len());
    let mut failed: Vec<(Task, QueueError)> = Vec::new();
    // Owned tasks, so each moves into its message's entry instead of being copied there.
    let mut tasks = tasks.into_iter();
    while tasks.len() > 0 {
        let (sent, lost) = send_batch(state, intake, &mut tasks).await;
        accepted.extend(sent);
        failed.extend(lost);
    }
    TasksSubmitted { tasks: &accepted }.emit(&state.metrics);
    if failed.is_empty() {
        return Ok((accepted, Vec::new()));
    }
    for (task, error) in &failed {
        TaskEnqueueError { task, error }.emit(&state.metrics);
    }
    // Through an intake, a task that was not sent was not recorded either.
    if intake.is_none() {
        let ids: Vec<uuid::Uuid> = failed.iter().map(|(t, _)| t.id).collect();
        if let Err(e) = state.backends.store.remove(&ids).await {
            OrphanCleanupError {
                count: ids.len(),
                error: &e,
            }
            .emit();
        }
    }
    if accepted.is_empty() {
        let (_, first) = failed.swap_remove(0);
        return Err(first.into());
    }
    let rejected = failed
        .into_iter()
        .map(|(t, e)| Rejected {
            id: t.id,
            error: e.to_string(),
        })
        .collect();
    Ok((accepted, rejected))
}

/// A span of the queue operations of `send_batch`. The queue's client runs inside its span, so
/// the AWS SDK's spans become its children: that span is put in a `Context`. The embedded intake
/// runs inside no span, so there the span is only held, which saves the two allocations a
/// `Context` takes for it (`telemetry::spans::start_owned`).
#[expect(
    clippy::large_enum_variant,
    reason = "a span held on the request's stack; boxing it is the allocation this avoids"
)]
enum QueueSpan {
    InContext(Context),
    Held(RequestSpan),
}

impl QueueSpan {
    fn start(
        in_context: bool,
        builder: SpanBuilder,
        shared: &SharedAttributes,
        strings: &[(&'static str, &str)],
        parent: &Context,
    ) -> Self {
        if in_context {
            Self::InContext(telemetry::spans::start_with(
                builder, shared, strings, parent,
            ))
        } else {
            Self::Held(telemetry::spans::start_owned(
                builder, shared, strings, parent,
            ))
        }
    }

    /// The trace context of a message sent in this span.
    fn trace(&self) -> MessageTrace {
        match self {
            Self::InContext(cx) => telemetry::propagation::inject_message(cx),
            Self::Held(span) => telemetry::propagation::inject_span(span.span_context()),
        }
    }

    fn context(&self) -> Option<Context> {
        match self {
            Self::InContext(cx) => Some(cx.clone()),
            Self::Held(_) => None,
        }
    }

    fn record(&mut self, attribute: KeyValue) {
        match self {
            Self::InContext(cx) => telemetry::spans::record(cx, attribute),
            Self::Held(span) => span.set_attribute(attribute),
        }
    }

    fn finish(self, error: bool) {
        match self {
            Self::InContext(cx) => telemetry::spans::finish(&cx, error),
            Self::Held(span) => telemetry::spans::finish_owned(span, error),
        }
    }
}

/// The next batch of `tasks` (up to [`MAX_BATCH`]) with retries of what failed; returns (sent,
/// not sent). Through `intake` when there is one: the tasks are recorded with their messages.
async fn send_batch(
    state: &AppState,
    intake: Option<&dyn Intake>,
    tasks: &mut std::vec::IntoIter<Task>,
) -> (Vec<Task>, Vec<(Task, QueueError)>) {
    let size = tasks.len().min(MAX_BATCH);
    let queue = &state.backends.queue;
    let spans = &state.queue_spans;
    // The request's context (the server span), attached by the HTTP layer.
    let request_cx = Context::current();
    let start =
        |builder: SpanBuilder, shared: &SharedAttributes, strings: &[(&'static str, &str)]| {
            QueueSpan::start(intake.is_none(), builder, shared, strings, &request_cx)
        };
    // A producer span names its task; a batch's "send" span, its size.
    let producer = |operation: &QueueOperation, task: &Task| {
        let mut id = uuid::Uuid::encode_buffer();
        start(
            SpanBuilder::from_name(operation.name).with_kind(SpanKind::Producer),
            &operation.shared,
            &[("task.id", task.id.hyphenated().encode_lower(&mut id))],
        )
    };
    // The messaging conventions: a lone message is created and sent in one operation, so its
    // "send" span is the producer span whose context the message carries. In a batch of several,
    // each message gets a "create" producer span of its own and each attempt a "send" client span.
    let mut lone = match &tasks.as_slice()[..size] {
        [task] => Some(producer(&spans.send, task)),
        _ => None,
    };
    let mut pending: Vec<(Task, OutgoingMessage)> = tasks
        .take(size)
        .map(|task| {
            let trace = match &lone {
                Some(span) => span.trace(),
                None => {
                    let span = producer(&spans.create, &task);
                    let trace = span.trace();
                    span.finish(false);
                    trace
                }
            };
            let body = task.message().to_body();
            (task, OutgoingMessage { body, trace })
        })
        .collect();
    let mut sent = Vec::with_capacity(pending.len());
    let mut last_errors: Vec<QueueError> = Vec::new();
    for attempt in 0..SEND_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
        }
        let (tasks, messages): (Vec<Task>, Vec<OutgoingMessage>) = pending.into_iter().unzip();
        // Each attempt of a batch has a "send" span; a lone message's is its producer span.
        let batch_send = lone.is_none().then(|| {
            start(
                SpanBuilder::from_name(spans.send.name)
                    .with_kind(SpanKind::Client)
                    .with_attributes([KeyValue::new(
                        "messaging.batch.message_count",
                        messages.len() as i64,
                    )]),
                &spans.send.shared,
                &[],
            )
        });
        let outcome = match intake {
            // Not run inside the send span (see `QueueSpan`): the messages carry their trace
            // context explicitly, and the embedded intake makes no spans or log lines of its own.
            Some(intake) => intake
                .create_and_send(&tasks, &messages)
                .await
                .map(|ids| ids.into_iter().map(Ok).collect()),
            None => {
                let cx = batch_send
                    .as_ref()
                    .or(lone.as_ref())
                    .and_then(QueueSpan::context)
                    .unwrap_or_else(|| request_cx.clone());
                queue.send_batch(&messages).with_context(cx).await
            }
        };
        if let Some(span) = batch_send {
            span.finish(outcome.is_err());
        }
        match outcome {
            Ok(results) => {
                let mut retry = Vec::new();
                last_errors.clear();
                for ((task, message), result) in tasks.into_iter().zip(messages).zip(results) {
                    match result {
                        Ok(id) => {
                            if let Some(span) = &mut lone {
                                span.record(KeyValue::new("messaging.message.id", id));
                            }
                            sent.push(task);
                        }
                        Err(e) => {
                            last_errors.push(e);
                            retry.push((task, message));
                        }
                    }
                }
                pending = retry;
            }
            Err(e) => {
                // The whole call failed: every pending entry failed the same way. Only an
                // unavailable queue is worth another attempt.
                let transient = e.is_transient();
                let text = e.to_string();
                last_errors = tasks
                    .iter()
                    .map(|_| {
                        if transient {
                            QueueError::Unavailable(text.clone())
                        } else {
                            QueueError::Other(text.clone())
                        }
                    })
                    .collect();
                pending = tasks.into_iter().zip(messages).collect();
                if !transient {
                    break;
                }
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    if let Some(span) = lone {
        span.finish(!pending.is_empty());
    }
    let lost = pending
        .into_iter()
        .map(|(t, _)| t)
        .zip(last_errors)
        .collect();
    (sent, lost)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(body: Value) -> Option<String> {
        match parse(&body, 1000) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_offending_field() {
        let cases = [
            (json!({"kind": "gpu", "intensity": "light"}), "kind"),
            (json!({"kind": "cpu", "intensity": "extreme"}), "intensity"),
            (json!({"kind": "cpu"}), "intensity"),
            (
                json!({"kind": "cpu", "intensity": "light", "fail_percent": 101}),
                "fail_percent",
            ),
            (
                json!({"kind": "cpu", "intensity": "light", "fail_percent": -1}),
                "fail_percent",
            ),
            (
                json!({"kind": "cpu", "intensity": "light", "fail_percent": 2.5}),
                "fail_percent",
            ),
            (
                json!({"kind": "cpu", "intensity": "light", "count": 0}),
                "count",
            ),
            (
                json!({"kind": "cpu", "intensity": "light", "count": 1001}),
                "count",
            ),
            (
                json!({"kind": "cpu", "intensity": "light", "colour": "red"}),
                "colour",
            ),
            (
                json!([{"kind": "cpu", "intensity": "light"}, {"kind": "ram", "intensity": 3}]),
                "[1].intensity",
            ),
            (
                json!([{"kind": "cpu", "intensity": "light", "count": 600}, {"kind": "ram", "intensity": "light", "count": 600}]),
                "[1].count",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(field_of(body.clone()).as_deref(), Some(expected), "{body}");
        }
    }

    /// A field's value: mostly one of `valid`, sometimes absent, null or of any other sort.
    fn field_value(valid: Vec<Value>) -> impl proptest::strategy::Strategy<Value = Option<Value>> {
        use proptest::prelude::*;
        prop_oneof![
            16 => prop::sample::select(valid).prop_map(Some),
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            1 => (-2i64..1003).prop_map(|n| Some(json!(n))),
            1 => prop::sample::select(vec![json!(2.5), json!(1e30), json!("gpu"), json!(""), json!("CPU"), json!([1])])
                .prop_map(Some),
        ]
    }

    fn entry() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        (
            field_value(vec![json!("cpu"), json!("ram")]),
            field_value(vec![json!("light"), json!("average"), json!("intense")]),
            field_value((0..=100).map(|n| json!(n)).collect()),
            field_value(vec![json!(0), json!(1), json!(2), json!(400), json!(1000)]),
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(kind, intensity, fail, count, extra)| {
                let mut o = Map::new();
                for (name, v) in [
                    ("kind", kind),
                    ("intensity", intensity),
                    ("fail_percent", fail),
                    ("count", count),
                ] {
                    if let Some(v) = v {
                        o.insert(name.into(), v);
                    }
                }
                if extra {
                    o.insert("colour".into(), json!("red"));
                }
                Value::Object(o)
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]
        /// The typed parse either refuses a body or reads exactly what the general parse reads,
        /// and it takes every body the general parse accepts (so the fast path is the one used).
        #[test]
        fn the_typed_parse_agrees_with_the_general_one(
            objects in proptest::collection::vec(entry(), 0..4),
            array in proptest::bool::ANY,
        ) {
            let body = match (array, objects.first()) {
                (false, Some(first)) => first.clone(),
                _ => Value::Array(objects),
            };
            let general = parse(&body, 1000).ok();
            let typed = parse_valid(body.to_string().as_bytes(), 1000);
            proptest::prop_assert_eq!(typed, general, "{}", body);
        }
    }

    #[test]
    fn the_typed_parse_leaves_duplicate_fields_and_whitespace_to_the_general_one() {
        let duplicate = br#"{"kind": "cpu", "intensity": "light", "kind": "ram"}"#;
        assert_eq!(parse_valid(duplicate, 1000), None);
        let spaced = b" \n {\"kind\": \"ram\", \"intensity\": \"average\", \"count\": 2} ";
        let specs = parse_valid(spaced, 1000).expect("valid");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].kind, Kind::Ram);
        assert_eq!(parse_valid(b"", 1000), None);
        assert_eq!(parse_valid(b"[]", 1000), None);
    }

    #[test]
    fn counts_expand_and_fail_percent_defaults_to_zero() {
        let specs = parse(
            &json!([{"kind": "cpu", "intensity": "light", "count": 3}, {"kind": "ram", "intensity": "intense", "fail_percent": 50}]),
            1000,
        )
        .unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[0].fail_percent, 0);
        assert_eq!(specs[3].kind, Kind::Ram);
        assert_eq!(specs[3].fail_percent, 50);
    }
}
