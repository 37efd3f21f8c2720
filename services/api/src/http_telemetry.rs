//! One server span and one duration observation per request, following the OpenTelemetry HTTP
//! semantic conventions. The route template is only known after routing, so an inner layer
//! reports it back on the response (`RouteTemplate`) to this outer one.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use opentelemetry::{
    KeyValue,
    trace::{FutureExt as _, SpanBuilder, SpanKind, TraceContextExt},
};

use crate::metrics::{ApiMetrics, HttpLabels, OTHER_METHOD, method_label};

/// The matched route template, carried from the router to the outer layer.
#[derive(Clone, Copy)]
struct RouteTemplate(&'static str);

/// Route label of requests no API route matched (static files, unknown paths).
const UNMATCHED: &str = "unmatched";

/// Inner layer (`route_layer`): puts the matched template on the response.
pub async fn tag_route(matched: MatchedPath, request: Request, next: Next) -> Response {
    // Route templates are few and fixed; leaking each once gives a `&'static str` label.
    let template = crate::intern(matched.as_str());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// Outer layer: server span (parented by an incoming `traceparent` or `X-Amzn-Trace-Id`),
/// in-flight gauge and request duration histogram.
pub async fn track(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let user_agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Room for the two attributes recorded when the response is known.
    let mut attributes = Vec::with_capacity(7);
    attributes.extend([
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.path", request.uri().path().to_owned()),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("user_agent.original", user_agent.to_owned()),
    ]);
    if method == OTHER_METHOD {
        attributes.push(KeyValue::new(
            "http.request.method_original",
            request.method().as_str().to_owned(),
        ));
    }
    // An invalid or missing header gives an empty context: the span becomes a root.
    let parent = telemetry::propagation::extract_http(request.headers());
    let cx = telemetry::spans::start(
        SpanBuilder::from_name(if method == OTHER_METHOD {
            "HTTP"
        } else {
            method
        })
        .with_kind(SpanKind::Server)
        .with_attributes(attributes),
        &parent,
    );

    let _active = metrics.request_started(method);
    let started = Instant::now();
    let response = next.run(request).with_context(cx.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();

    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or(UNMATCHED, |r| r.0);
    let status = response.status().as_u16();
    if route != UNMATCHED {
        telemetry::spans::record(&cx, KeyValue::new("http.route", route));
        // The conventions name a server span by its route template, known only now.
        cx.span().update_name(format!("{method} {route}"));
    }
    telemetry::spans::record(
        &cx,
        KeyValue::new("http.response.status_code", i64::from(status)),
    );
    telemetry::spans::finish(&cx, status >= 500);
    metrics.observe_request(
        HttpLabels {
            http_request_method: method,
            http_route: route,
            http_response_status_code: status,
        },
        elapsed,
    );
    response
}
