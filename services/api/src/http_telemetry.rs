//! One server span and one duration observation per request, following the OpenTelemetry HTTP
//! semantic conventions. The route template is only known after routing, so an inner layer
//! reports it back on the response (`RouteTemplate`) to this outer one.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{ApiMetrics, HttpLabels, method_label};

/// The matched route template, carried from the router to the outer layer.
#[derive(Clone, Copy)]
struct RouteTemplate(&'static str);

/// Route label of requests no API route matched (static files, unknown paths).
const UNMATCHED: &str = "unmatched";

/// Inner layer (`route_layer`): puts the matched template on the response.
pub async fn tag_route(matched: MatchedPath, request: Request, next: Next) -> Response {
    // Route templates are few and fixed; leaking each once gives a `&'static str` label.
    let template = intern(matched.as_str());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

fn intern(route: &str) -> &'static str {
    use std::{collections::HashSet, sync::Mutex};
    static ROUTES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut routes = ROUTES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = routes.get_or_insert_with(HashSet::new);
    if let Some(known) = set.get(route) {
        return known;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Outer layer: server span (parented by an incoming `traceparent` or `X-Amzn-Trace-Id`),
/// in-flight gauge and request duration histogram.
pub async fn track(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = Empty,
        http.response.status_code = Empty,
        url.path = %request.uri().path(),
        url.scheme = "http",
        user_agent.original = request
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    // An invalid or missing header gives an empty context: the span becomes a root.
    let _ = span.set_parent(telemetry::propagation::extract_http(request.headers()));

    let label_method = method_label(&method);
    let _active = metrics.request_started(label_method);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();

    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or(UNMATCHED, |r| r.0);
    let status = response.status().as_u16();
    if route != UNMATCHED {
        span.record("http.route", route);
        // The name is only known now; renaming through the OpenTelemetry span also works once
        // the span has started (a `otel.name` record would only reach a span not yet built).
        span.context()
            .span()
            .update_name(format!("{method} {route}"));
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics.observe_request(
        HttpLabels {
            http_request_method: label_method,
            http_route: route,
            http_response_status_code: status,
        },
        elapsed,
    );
    response
}
