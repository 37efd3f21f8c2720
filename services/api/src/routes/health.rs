//! Liveness, readiness and the original clients' health check.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::{error::ApiError, startup::AppState};

/// Liveness: the process answers. Never touches a backend, so a backend outage does not get the
/// API restarted.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the queue and the task store both answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "A backend is down", body = crate::error::ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.backends.queue.stats().await?;
    state.backends.store.get(uuid::Uuid::nil()).await?;
    Ok(Json(json!({ "status": "ready" })))
}

/// The original clients' health check: `200 OK`.
#[utoipa::path(get, path = "/health-check", tag = "health", responses((status = 200, description = "OK", body = String)))]
pub async fn health_check() -> (StatusCode, &'static str) {
    (StatusCode::OK, "OK")
}
