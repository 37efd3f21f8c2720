//! The Prometheus endpoint: every service builds one `prometheus-client` registry at start-up and
//! serves it here.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};
use std::sync::atomic::AtomicU64;
use task_core::queue::QueueStats;

/// The OpenMetrics text format, which Prometheus and the ADOT collector ask for.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format, for clients that do not ask for OpenMetrics (curl,
/// `promtool check metrics`).
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A router serving `registry` at `GET /metrics`.
pub fn router<S>(registry: Arc<Registry>) -> Router<S> {
    Router::new()
        .route("/metrics", get(serve))
        .with_state(registry)
}

async fn serve(State(registry): State<Arc<Registry>>, headers: HeaderMap) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match encode(&mut body, &registry) {
        Ok(()) if wants_openmetrics => {
            ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
        }
        Ok(()) => (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
            to_prometheus_text(&body),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "Encoding metrics failed.");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    messaging_destination_name: String,
}

/// The queue gauges (depth, in flight, oldest age, dead letters), sampled by whoever can see the
/// queue: the API and every runner export them, so they survive either being down.
pub struct QueueGauges {
    labels: QueueLabels,
    visible: Family<QueueLabels, Gauge>,
    in_flight: Family<QueueLabels, Gauge>,
    oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    dead_letter: Family<QueueLabels, Gauge>,
}

impl QueueGauges {
    pub fn register(registry: &mut Registry, destination: &str) -> Self {
        let g = Self {
            labels: QueueLabels {
                messaging_destination_name: destination.to_owned(),
            },
            visible: Family::default(),
            in_flight: Family::default(),
            oldest_age: Family::default(),
            dead_letter: Family::default(),
        };
        registry.register(
            "queue_messages_visible",
            "Messages ready to be received (sampled)",
            g.visible.clone(),
        );
        registry.register(
            "queue_messages_in_flight",
            "Messages received and not yet deleted (sampled)",
            g.in_flight.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_message_age",
            "Age of the oldest message (sampled; embedded queue only, SQS reports it to CloudWatch)",
            Unit::Seconds,
            g.oldest_age.clone(),
        );
        registry.register(
            "queue_dead_letter_messages",
            "Messages in the dead-letter queue (sampled)",
            g.dead_letter.clone(),
        );
        g
    }

    pub fn set(&self, stats: &QueueStats) {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.visible
            .get_or_create(&self.labels)
            .set(to_i64(stats.visible));
        self.in_flight
            .get_or_create(&self.labels)
            .set(to_i64(stats.in_flight));
        self.dead_letter
            .get_or_create(&self.labels)
            .set(to_i64(stats.dead_letter));
        if let Some(age) = stats.oldest_age_seconds {
            self.oldest_age.get_or_create(&self.labels).set(age);
        }
    }
}

/// Rewrites `prometheus-client`'s OpenMetrics output as Prometheus text 0.0.4: a counter family
/// `x` is named by its sample `x_total` in HELP and TYPE, and the OpenMetrics-only `# UNIT` and
/// `# EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            pending_help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            if let Some(help) = pending_help.take() {
                let text = help.splitn(4, ' ').nth(3).unwrap_or("");
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_total_sample() {
        let om = "# HELP jobs Jobs done.\n# TYPE jobs counter\njobs_total{a=\"b\"} 3\n# HELP d Duration.\n# TYPE d histogram\n# UNIT d seconds\nd_count 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{a=\"b\"} 3\n# HELP d Duration.\n# TYPE d histogram\nd_count 1\n"
        );
    }
}
