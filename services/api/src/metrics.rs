//! Every metric the API exposes, registered once. Names follow the OpenTelemetry semantic
//! conventions as Prometheus names; `prometheus-client` adds `_total` and the unit suffix.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use task_core::{
    Intensity, Kind,
    queue::{Queue, QueueError},
};

/// The OpenTelemetry recommended buckets for HTTP server durations, in seconds.
pub const HTTP_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The label of a method outside the known set (HTTP semantic conventions).
pub const OTHER_METHOD: &str = "_OTHER";

/// HTTP methods as the semantic conventions bound them: anything else is [`OTHER_METHOD`].
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        _ => OTHER_METHOD,
    }
}

// Label values are `&'static str` taken from closed sets (the enums' `as_str`, route
// templates), so cardinality stays bounded by construction.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub http_request_method: &'static str,
    /// The route template (`/api/tasks/{id}`), never the raw path.
    pub http_route: &'static str,
    pub http_response_status_code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    http_request_method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task_kind: &'static str,
    task_intensity: &'static str,
}

/// How a message send ended; its label is `error_type`, empty on success (as the conventions
/// leave the attribute unset).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    Unavailable,
    Rejected,
}

impl SendOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SendOutcome::Sent => "",
            SendOutcome::Unavailable => "unavailable",
            SendOutcome::Rejected => "rejected",
        }
    }
}

impl From<&QueueError> for SendOutcome {
    fn from(e: &QueueError) -> Self {
        if e.is_transient() {
            SendOutcome::Unavailable
        } else {
            SendOutcome::Rejected
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SendLabels {
    messaging_system: &'static str,
    messaging_destination_name: &'static str,
    messaging_operation_name: &'static str,
    error_type: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The API's metric families.
pub struct ApiMetrics {
    http_duration: HistogramFamily<HttpLabels>,
    http_active: Family<MethodLabels, Gauge>,
    tasks_submitted: Family<TaskLabels, Counter>,
    sent: Family<SendLabels, Counter>,
    messaging_system: &'static str,
    destination: &'static str,
    pub queue: telemetry::metrics::QueueGauges,
}

impl ApiMetrics {
    /// Registers every family in `registry`, labelled with `queue`'s system and name.
    pub fn register(registry: &mut Registry, queue: &dyn Queue) -> Self {
        let (messaging_system, destination) = (queue.messaging_system(), queue.name());
        let m = Self {
            http_duration: Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS)),
            http_active: Family::default(),
            tasks_submitted: Family::default(),
            sent: Family::default(),
            messaging_system,
            // A label on every send: interned once rather than copied per request.
            destination: crate::intern(destination),
            queue: telemetry::metrics::QueueGauges::register(registry, destination),
        };
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            m.http_duration.clone(),
        );
        registry.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            m.http_active.clone(),
        );
        registry.register(
            "tasks_submitted",
            "Tasks accepted by the API",
            m.tasks_submitted.clone(),
        );
        registry.register(
            "messaging_client_sent_messages",
            "Messages the API sent to the queue, by outcome",
            m.sent.clone(),
        );
        m
    }

    pub fn observe_request(&self, labels: HttpLabels, seconds: f64) {
        self.http_duration.get_or_create(&labels).observe(seconds);
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn request_started(&self, method: &'static str) -> ActiveRequest {
        let gauge = self
            .http_active
            .get_or_create(&MethodLabels {
                http_request_method: method,
            })
            .clone();
        gauge.inc();
        ActiveRequest(gauge)
    }

    pub fn tasks_submitted(&self, kind: Kind, intensity: Intensity) {
        let labels = TaskLabels {
            task_kind: kind.as_str(),
            task_intensity: intensity.as_str(),
        };
        self.tasks_submitted.get_or_create(&labels).inc();
    }

    pub fn messages_sent(&self, outcome: SendOutcome, n: u64) {
        let labels = SendLabels {
            messaging_system: self.messaging_system,
            messaging_destination_name: self.destination,
            messaging_operation_name: "send",
            error_type: outcome.as_str(),
        };
        self.sent.get_or_create(&labels).inc_by(n);
    }
}

/// Decrements the in-flight gauge when dropped, however the request ended.
pub struct ActiveRequest(Gauge);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.dec();
    }
}
