//! The Prometheus endpoint: every service builds one `prometheus-client` registry at start-up and
//! serves it here.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{encoding::text::encode, registry::Registry};

/// The content type of the OpenMetrics text format, which Prometheus and the ADOT collector read.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A router serving `registry` at `GET /metrics`.
pub fn router<S>(registry: Arc<Registry>) -> Router<S> {
    Router::new()
        .route("/metrics", get(serve))
        .with_state(registry)
}

async fn serve(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    match encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "Encoding metrics failed.");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
