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

/// Every value of the method label: the methods labelled by name, then [`OTHER_METHOD`] for any
/// other.
pub const METHOD_LABELS: [&str; 8] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    OTHER_METHOD,
];

/// The position of `m`'s label in [`METHOD_LABELS`]: HTTP methods as the semantic conventions
/// bound them, anything else [`OTHER_METHOD`]. Methods are case-sensitive: `get` is another
/// method.
pub fn method_index(m: &axum::http::Method) -> usize {
    let other = METHOD_LABELS.len() - 1;
    METHOD_LABELS[..other]
        .iter()
        .position(|label| *label == m.as_str())
        .unwrap_or(other)
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
    /// Every outcome, in declaration order (`as usize` indexes it).
    const ALL: [SendOutcome; 3] = [
        SendOutcome::Sent,
        SendOutcome::Unavailable,
        SendOutcome::Rejected,
    ];

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
///
/// The series of the closed label sets (method; kind and intensity; send outcome) are created
/// at start and kept: a request updates its series directly instead of hashing its labels into
/// the family's map under its lock, and every series shows 0 before its first event, so `rate()`
/// and `increase()` count that first one too.
pub struct ApiMetrics {
    http_duration: HistogramFamily<HttpLabels>,
    /// In [`METHOD_LABELS`] order.
    http_active: Vec<Gauge>,
    /// Indexed by [`Self::task_series`].
    tasks_submitted: Vec<Counter>,
    /// In [`SendOutcome::ALL`] order.
    sent: [Counter; 3],
    pub queue: telemetry::metrics::QueueGauges,
}

impl ApiMetrics {
    /// Registers every family in `registry`, labelled with `queue`'s system and name.
    pub fn register(registry: &mut Registry, queue: &dyn Queue) -> Self {
        let (messaging_system, destination) = (queue.messaging_system(), queue.name());
        let destination = crate::intern(destination);
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS));
        let http_active = Family::<MethodLabels, Gauge>::default();
        let tasks_submitted = Family::<TaskLabels, Counter>::default();
        let sent = Family::<SendLabels, Counter>::default();
        let m = Self {
            http_duration: http_duration.clone(),
            http_active: METHOD_LABELS
                .iter()
                .map(|method| {
                    http_active
                        .get_or_create(&MethodLabels {
                            http_request_method: method,
                        })
                        .clone()
                })
                .collect(),
            tasks_submitted: Kind::ALL
                .iter()
                .flat_map(|kind| Intensity::ALL.iter().map(move |i| (kind, i)))
                .map(|(kind, intensity)| {
                    tasks_submitted
                        .get_or_create(&TaskLabels {
                            task_kind: kind.as_str(),
                            task_intensity: intensity.as_str(),
                        })
                        .clone()
                })
                .collect(),
            sent: SendOutcome::ALL.map(|outcome| {
                sent.get_or_create(&SendLabels {
                    messaging_system,
                    messaging_destination_name: destination,
                    messaging_operation_name: "send",
                    error_type: outcome.as_str(),
                })
                .clone()
            }),
            queue: telemetry::metrics::QueueGauges::register(registry, destination),
        };
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            http_duration,
        );
        registry.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            http_active,
        );
        registry.register(
            "tasks_submitted",
            "Tasks accepted by the API",
            tasks_submitted,
        );
        registry.register(
            "messaging_client_sent_messages",
            "Messages the API sent to the queue, by outcome",
            sent,
        );
        m
    }

    /// The position of a kind and intensity's counter in `tasks_submitted`.
    fn task_series(kind: Kind, intensity: Intensity) -> usize {
        fn position<T: PartialEq>(all: &[T], v: &T) -> usize {
            all.iter().position(|x| x == v).unwrap_or(0)
        }
        position(Kind::ALL, &kind) * Intensity::ALL.len() + position(Intensity::ALL, &intensity)
    }

    pub fn observe_request(&self, labels: HttpLabels, seconds: f64) {
        self.http_duration.get_or_create(&labels).observe(seconds);
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn request_started(&self, method: &axum::http::Method) -> ActiveRequest {
        let gauge = self.http_active[method_index(method)].clone();
        gauge.inc();
        ActiveRequest(gauge)
    }

    pub fn tasks_submitted(&self, kind: Kind, intensity: Intensity) {
        self.tasks_submitted[Self::task_series(kind, intensity)].inc();
    }

    pub fn messages_sent(&self, outcome: SendOutcome, n: u64) {
        self.sent[outcome as usize].inc_by(n);
    }
}

/// Decrements the in-flight gauge when dropped, however the request ended.
pub struct ActiveRequest(Gauge);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn methods_outside_the_conventions_set_are_other() {
        let method_label = |m: &Method| METHOD_LABELS[method_index(m)];
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for other in ["PROPFIND", "get"] {
            let m = Method::from_bytes(other.as_bytes()).unwrap();
            assert_eq!(method_label(&m), OTHER_METHOD, "{other}");
        }
    }
}
