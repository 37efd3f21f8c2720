//! One server span and one duration observation per request, following the OpenTelemetry HTTP
//! semantic conventions. The route template is only known after routing, so an inner layer
//! reports it back on the response (`RouteTemplate`) to this outer one.

use std::{
    cell::RefCell,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context as TaskContext, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use opentelemetry::{
    Context, KeyValue,
    trace::{FutureExt as _, SpanBuilder, SpanKind, TraceContextExt, WithContext},
};
use tower::{Layer, Service};

use telemetry::spans::SharedAttributes;

use crate::metrics::{
    ActiveRequest, ApiMetrics, HttpLabels, METHOD_LABELS, OTHER_METHOD, method_index,
};

/// The matched route template, carried from the router to the outer layer.
#[derive(Clone, Copy)]
struct RouteTemplate(&'static str);

/// Route label of requests no API route matched (static files, unknown paths).
const UNMATCHED: &str = "unmatched";

// Both layers are written out as tower services rather than `axum::middleware::from_fn`, which
// clones the inner service and boxes its future on every request: ~2 us of the API's CPU per
// request in flat profiles.

/// Inner layer (`route_layer`): puts the matched template on the response.
#[derive(Clone, Copy)]
pub struct TagRouteLayer;

impl<S> Layer<S> for TagRouteLayer {
    type Service = TagRoute<S>;
    fn layer(&self, inner: S) -> TagRoute<S> {
        TagRoute(inner)
    }
}

#[derive(Clone)]
pub struct TagRoute<S>(S);

impl<S> Service<Request> for TagRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Tagged<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Route templates are few and fixed; leaking each once gives a `&'static str` label.
        let template = request
            .extensions()
            .get::<MatchedPath>()
            .map(|m| RouteTemplate(crate::intern(m.as_str())));
        Tagged {
            inner: self.0.call(request),
            template,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct Tagged<F> {
        #[pin]
        inner: F,
        template: Option<RouteTemplate>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Tagged<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        if let Some(template) = this.template.take() {
            response.extensions_mut().insert(template);
        }
        Poll::Ready(Ok(response))
    }
}

/// Outer layer: server span (parented by an incoming `traceparent` or `X-Amzn-Trace-Id`),
/// in-flight gauge and request duration histogram.
#[derive(Clone)]
pub struct TrackLayer(pub Arc<ApiMetrics>);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    metrics: Arc<ApiMetrics>,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = method_index(request.method());
        let cx = start_server_span(&request, method);
        let method = METHOD_LABELS[method];
        let active = self.metrics.request_started(request.method());
        Tracked {
            inner: self.inner.call(request).with_context(cx.clone()),
            finish: Some(Finish {
                cx,
                method,
                started: Instant::now(),
                metrics: Arc::clone(&self.metrics),
                _active: active,
            }),
        }
    }
}

/// The attributes of every server span of the method at each index of [`METHOD_LABELS`].
static SHARED: LazyLock<Vec<SharedAttributes>> = LazyLock::new(|| {
    METHOD_LABELS
        .iter()
        .map(|method| {
            SharedAttributes::new([
                KeyValue::new("http.request.method", *method),
                KeyValue::new("url.scheme", "http"),
            ])
        })
        .collect()
});

/// Starts the server span of `request`, whose method has `method_index` in [`METHOD_LABELS`].
fn start_server_span(request: &Request, method_index: usize) -> Context {
    let method = METHOD_LABELS[method_index];
    let mut strings = [("url.path", request.uri().path()); 3];
    let mut count = 1;
    // Recorded only when sent: an empty value would claim a client that sent an empty header.
    if let Some(user_agent) = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        strings[count] = ("user_agent.original", user_agent);
        count += 1;
    }
    // The original method is recorded only when it is not one of the known ones.
    let name = if method == OTHER_METHOD {
        strings[count] = ("http.request.method_original", request.method().as_str());
        count += 1;
        "HTTP"
    } else {
        method
    };
    // An invalid or missing header gives an empty context: the span becomes a root.
    let parent = telemetry::propagation::extract_http(request.headers());
    telemetry::spans::start_with(
        SpanBuilder::from_name(name).with_kind(SpanKind::Server),
        &SHARED[method_index],
        &strings[..count],
        &parent,
    )
}

/// The server span's name for `method` on `route` ("POST /api/tasks"), made once per thread
/// and pair rather than formatted per request. Both are interned labels, so the pairs are few
/// (a few dozen at most), and each label is known by its address: a short scan comparing
/// addresses costs less than hashing the two strings.
fn span_name(method: &'static str, route: &'static str) -> &'static str {
    // Address and length: one literal may begin another at the same address.
    type Pair = ((*const u8, usize), (*const u8, usize));
    thread_local! {
        static NAMES: RefCell<Vec<(Pair, &'static str)>> = const { RefCell::new(Vec::new()) };
    }
    let pair = (
        (method.as_ptr(), method.len()),
        (route.as_ptr(), route.len()),
    );
    NAMES.with_borrow_mut(|names| {
        if let Some((_, name)) = names.iter().find(|(p, _)| *p == pair) {
            return *name;
        }
        let name = crate::intern(&format!("{method} {route}"));
        names.push((pair, name));
        name
    })
}

/// What the outer layer does once the response is there.
struct Finish {
    cx: Context,
    method: &'static str,
    started: Instant,
    metrics: Arc<ApiMetrics>,
    /// Counted in flight until the response is ready (or the request is dropped).
    _active: ActiveRequest,
}

impl Finish {
    fn record(self, response: &Response) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let route = response
            .extensions()
            .get::<RouteTemplate>()
            .map_or(UNMATCHED, |r| r.0);
        let status = response.status().as_u16();
        let span = self.cx.span();
        let matched = route != UNMATCHED;
        if matched {
            // The conventions name a server span by its route template, known only now.
            span.update_name(span_name(self.method, route));
        }
        // Both in one call: each call on a span takes its lock.
        span.set_attributes(
            matched
                .then(|| KeyValue::new("http.route", route))
                .into_iter()
                .chain([KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                )]),
        );
        telemetry::spans::finish(&self.cx, status >= 500);
        self.metrics.observe_request(
            HttpLabels {
                http_request_method: self.method,
                http_route: route,
                http_response_status_code: status,
            },
            elapsed,
        );
    }
}

pin_project_lite::pin_project! {
    pub struct Tracked<F> {
        #[pin]
        inner: WithContext<F>,
        finish: Option<Finish>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Tracked<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(finish) = this.finish.take() {
            finish.record(&response);
        }
        Poll::Ready(Ok(response))
    }
}
