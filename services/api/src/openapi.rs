//! The router and its OpenAPI 3 document, built from one list of handlers so they cannot drift.

use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{routes, startup::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Task platform API", description = "Submit CPU/RAM tasks and watch them run."),
    tags(
        (name = "tasks", description = "Submit, list, read and clear tasks"),
        (name = "stats", description = "Counts, queue gauges and throughput"),
        (name = "health", description = "Liveness and readiness"),
        (name = "compatibility", description = "Routes of the original clients"),
    )
)]
struct ApiDoc;

/// Every documented route, and the document describing them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            routes::tasks::submit,
            routes::tasks::list,
            routes::tasks::clear
        ))
        .routes(routes!(routes::tasks::get_one))
        .routes(routes!(routes::tasks::submit_compat))
        .routes(routes!(routes::tasks::clear_compat))
        .routes(routes!(routes::tasks::redrive))
        .routes(routes!(routes::stats::get_stats))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
        .routes(routes!(routes::health::health_check))
        .split_for_parts()
}
