//! `telemetry dora serve`: the webhook receiver, periodic collection from the REST API, and the
//! metrics on `/metrics` for the ADOT sidecar to scrape into Managed Prometheus.
//!
//! Metrics it emits (labels `service`, `environment`, `window` = `7d` | `30d` | `90d`):
//! `dora_deployments`, `dora_deployment_frequency_per_day`, `dora_lead_time_p50_seconds`,
//! `dora_lead_time_p75_seconds`, `dora_change_failure_ratio`, `dora_recovery_time_p50_seconds`,
//! `dora_performance_level` (+ `metric`; 4 elite, 3 high, 2 medium, 1 low), and
//! `dora_webhook_deliveries_total` (`event`, `outcome`),
//! `dora_collection_last_success_timestamp_seconds`.

use std::{
    sync::{Arc, Mutex, MutexGuard, atomic::AtomicU64},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    compute::{self, DAY, Summary, WINDOWS_DAYS},
    github::GitHub,
    model::History,
    webhook::{self, Applied, Deliveries, WebhookError},
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    service: String,
    environment: String,
    window: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    service: String,
    environment: String,
    window: String,
    metric: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// The DORA gauges, replaced as a whole on every recomputation so that a service that left the
/// window leaves the exposition too.
pub struct DoraMetrics {
    deployments: Family<Labels, Gauge>,
    frequency: Family<Labels, F64Gauge>,
    lead_p50: Family<Labels, F64Gauge>,
    lead_p75: Family<Labels, F64Gauge>,
    cfr: Family<Labels, F64Gauge>,
    recovery_p50: Family<Labels, F64Gauge>,
    level: Family<LevelLabels, Gauge>,
    deliveries: Family<DeliveryLabels, Counter>,
    last_collection: F64Gauge,
}

impl DoraMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            deployments: Family::default(),
            frequency: Family::default(),
            lead_p50: Family::default(),
            lead_p75: Family::default(),
            cfr: Family::default(),
            recovery_p50: Family::default(),
            level: Family::default(),
            deliveries: Family::default(),
            last_collection: F64Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("dora");
        r.register(
            "deployments",
            "Finished deployments created in the window",
            m.deployments.clone(),
        );
        r.register(
            "deployment_frequency_per_day",
            "Successful deployments per day over the window",
            m.frequency.clone(),
        );
        r.register(
            "lead_time_p50_seconds",
            "Median commit-to-deployment lead time for changes",
            m.lead_p50.clone(),
        );
        r.register(
            "lead_time_p75_seconds",
            "75th percentile commit-to-deployment lead time for changes",
            m.lead_p75.clone(),
        );
        r.register("change_failure_ratio", "Deployments that failed, were rolled back or caused an incident / finished deployments", m.cfr.clone());
        r.register(
            "recovery_time_p50_seconds",
            "Median failed deployment recovery time",
            m.recovery_p50.clone(),
        );
        r.register(
            "performance_level",
            "DORA 2024 performance level of the metric: 4 elite, 3 high, 2 medium, 1 low",
            m.level.clone(),
        );
        r.register(
            "webhook_deliveries",
            "GitHub webhook deliveries by event and outcome",
            m.deliveries.clone(),
        );
        r.register(
            "collection_last_success_timestamp_seconds",
            "When the REST API collection last succeeded",
            m.last_collection.clone(),
        );
        m
    }

    pub fn set(&self, summaries: &[Summary]) {
        for f in [
            &self.frequency,
            &self.lead_p50,
            &self.lead_p75,
            &self.cfr,
            &self.recovery_p50,
        ] {
            f.clear();
        }
        self.deployments.clear();
        self.level.clear();
        for s in summaries {
            let labels = Labels {
                service: s.service.clone(),
                environment: s.environment.clone(),
                window: format!("{}d", s.window_days),
            };
            self.deployments
                .get_or_create(&labels)
                .set(s.deployments as i64);
            self.frequency
                .get_or_create(&labels)
                .set(s.deployment_frequency_per_day);
            let optional = [
                (&self.lead_p50, s.lead_time_p50_seconds.map(|v| v as f64)),
                (&self.lead_p75, s.lead_time_p75_seconds.map(|v| v as f64)),
                (&self.cfr, s.change_failure_rate),
                (&self.recovery_p50, s.recovery_p50_seconds.map(|v| v as f64)),
            ];
            for (family, value) in optional {
                if let Some(v) = value {
                    family.get_or_create(&labels).set(v);
                }
            }
            let levels = [
                ("deployment_frequency", s.levels.deployment_frequency),
                ("lead_time", s.levels.lead_time),
                ("change_failure_rate", s.levels.change_failure_rate),
                ("recovery_time", s.levels.recovery_time),
            ];
            for (metric, level) in levels {
                if let Some(level) = level {
                    let l = LevelLabels {
                        service: labels.service.clone(),
                        environment: labels.environment.clone(),
                        window: labels.window.clone(),
                        metric: metric.into(),
                    };
                    self.level.get_or_create(&l).set(level as i64);
                }
            }
        }
    }

    fn delivery(&self, event: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
}

pub struct Service {
    pub repo: String,
    pub environment: Option<String>,
    pub incident_label: String,
    secret: Vec<u8>,
    github: Option<GitHub>,
    history: Mutex<History>,
    deliveries: Mutex<Deliveries>,
    metrics: DoraMetrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl Service {
    pub fn new(
        repo: String,
        environment: Option<String>,
        incident_label: String,
        secret: Vec<u8>,
        github: Option<GitHub>,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Arc::new(Self {
            repo,
            environment,
            incident_label,
            secret,
            github,
            history: Mutex::default(),
            deliveries: Mutex::new(Deliveries::new(10_000)),
            metrics: DoraMetrics::register(registry),
        })
    }

    fn recompute(&self) {
        let now = now();
        let summaries = {
            let mut history = lock(&self.history);
            history.trim(now - WINDOWS_DAYS[WINDOWS_DAYS.len() - 1] * DAY);
            compute::compute(&history, now, &WINDOWS_DAYS)
        };
        self.metrics.set(&summaries);
    }

    /// One collection from the REST API; the collected history replaces the one in memory (it
    /// includes everything the webhooks reported).
    pub async fn collect(&self) -> anyhow::Result<()> {
        let Some(github) = &self.github else {
            return Ok(());
        };
        let since = now() - WINDOWS_DAYS[WINDOWS_DAYS.len() - 1] * DAY;
        let history = github
            .collect(
                &self.repo,
                self.environment.as_deref(),
                &self.incident_label,
                since,
                &|p| {
                    tracing::info!(progress = p, "Collecting deployments.");
                },
            )
            .await?;
        *lock(&self.history) = history;
        self.recompute();
        self.metrics.last_collection.set(now() as f64);
        Ok(())
    }

    /// Collects every `interval` until dropped; failures are logged and retried next time.
    pub async fn collect_every(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.collect().await {
                tracing::warn!(error.message = %format!("{e:#}"), "Collecting from GitHub failed.");
            }
        }
    }

    /// Fetches the commits a newly successful deployment brought, then recomputes.
    async fn fetch_changes(self: Arc<Self>, id: u64) {
        let Some(github) = &self.github else { return };
        let pair = {
            let h = lock(&self.history);
            let Some(d) = h.deployments.iter().find(|d| d.id == id) else {
                return;
            };
            h.deployments
                .iter()
                .filter(|p| {
                    p.github_environment == d.github_environment
                        && p.id != d.id
                        && p.succeeded_at.is_some_and(|t| Some(t) <= d.succeeded_at)
                })
                .max_by_key(|p| p.succeeded_at)
                .map(|p| (p.sha.clone(), d.sha.clone()))
        };
        let Some((base, head)) = pair else { return };
        match github.compare(&self.repo, &base, &head).await {
            Ok(commits) => {
                lock(&self.history).changes.insert(id, commits);
                self.recompute();
            }
            Err(e) => {
                tracing::warn!(error.message = %e, deployment.id = id, "Fetching the deployment's commits failed.")
            }
        }
    }
}

/// `POST /webhooks/github`, `GET /metrics`, `GET /healthz`.
pub fn router(service: Arc<Service>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/webhooks/github", post(receive))
        .route("/healthz", get(|| async { "OK" }))
        .with_state(service)
        .merge(telemetry::metrics::router(registry))
}

async fn receive(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = header("x-github-event").unwrap_or_default().to_owned();
    let answer = |status: StatusCode, outcome: &str, message: String| {
        service
            .metrics
            .delivery(if event.is_empty() { "unknown" } else { &event }, outcome);
        (
            status,
            Json(json!({ "status": outcome, "message": message })),
        )
    };
    if let Err(e) = webhook::verify(&service.secret, &body, header("x-hub-signature-256")) {
        return answer(StatusCode::UNAUTHORIZED, "rejected", e.to_string());
    }
    let Some(delivery) = header("x-github-delivery") else {
        return answer(
            StatusCode::BAD_REQUEST,
            "invalid",
            "missing X-GitHub-Delivery".into(),
        );
    };
    if event.is_empty() {
        return answer(
            StatusCode::BAD_REQUEST,
            "invalid",
            "missing X-GitHub-Event".into(),
        );
    }
    if !lock(&service.deliveries).first_time(delivery) {
        return answer(
            StatusCode::OK,
            "duplicate",
            format!("delivery {delivery} was already applied"),
        );
    }
    let applied = webhook::apply(
        &mut lock(&service.history),
        &event,
        &body,
        Some(&service.repo),
    );
    match applied {
        Ok(Applied::Deployment { id, succeeded }) => {
            service.recompute();
            if succeeded {
                tokio::spawn(service.clone().fetch_changes(id));
            }
            answer(StatusCode::OK, "applied", format!("deployment {id}"))
        }
        Ok(Applied::Ignored) => answer(StatusCode::OK, "ignored", format!("{event} is not used")),
        Err(e @ (WebhookError::Json(_) | WebhookError::Missing { .. })) => {
            answer(StatusCode::BAD_REQUEST, "invalid", e.to_string())
        }
        Err(e) => answer(StatusCode::UNAUTHORIZED, "rejected", e.to_string()),
    }
}
