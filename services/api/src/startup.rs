//! Building and running the API: [`Application::build`] binds the listener (port 0 picks a free
//! one) and wires the routes; [`Application::run_until_stopped`] serves until `shutdown` resolves,
//! then lets in-flight requests finish.

use std::{any::Any, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router, ServiceExt as _,
    body::Bytes,
    extract::{DefaultBodyLimit, Request},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::registry::Registry;
use task_core::backend::Backends;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt, util::MapResponse};
use tower_http::{
    body::UnsyncBoxBody,
    catch_panic::{CatchPanic, CatchPanicLayer},
    services::ServeDir,
};

use crate::{
    error::ApiError,
    http_telemetry,
    metrics::ApiMetrics,
    openapi,
    settings::{Limits, Settings},
    stats::History,
    submit::QueueSpans,
};

/// What every handler can reach. Handlers get a clone per request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    pub backends: Backends,
    pub queue_spans: QueueSpans,
    pub metrics: Arc<ApiMetrics>,
    pub limits: Limits,
    pub history: Arc<History>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Application {
    listener: TcpListener,
    service: ApiService,
    state: AppState,
    grace: Duration,
    sample_every: Duration,
}

impl Application {
    /// Opens the configured backends, then builds the app.
    ///
    /// # Errors
    /// The backends cannot be opened, or the address cannot be bound.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let config = settings.backend.config();
        let backends = Backends::open(&config)
            .await
            .context("opening the queue and task store")?;
        Self::build_with(settings, backends).await
    }

    /// Builds the app on backends the caller opened (tests, the benchmark).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn build_with(settings: &Settings, backends: Backends) -> anyhow::Result<Self> {
        let mut registry = Registry::default();
        let metrics = Arc::new(ApiMetrics::register(&mut registry, backends.queue.as_ref()));
        let state = AppState(Arc::new(Shared {
            queue_spans: QueueSpans::new(backends.queue.as_ref()),
            backends,
            metrics: metrics.clone(),
            limits: settings.limits,
            history: Arc::new(History::default()),
        }));
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let service = build_service(state.clone(), Arc::new(registry), settings);
        Ok(Self {
            listener,
            service,
            state,
            grace: Duration::from_secs(settings.shutdown_grace_seconds),
            sample_every: Duration::from_secs(settings.stats_sample_seconds.max(1)),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits up to the grace period
    /// for in-flight requests.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sampler = tokio::spawn(sample_stats(self.state.clone(), self.sample_every));
        // Dropping the guard at the end of this function stops the sampler.
        let _sampler = AbortOnDrop(sampler);
        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(self.listener, self.service.into_make_service())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("Shutdown requested; finishing in-flight requests.");
                let _ = stopping_tx.send(true);
            });
        let grace = self.grace;
        let mut stopping = stopping_rx;
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = async move {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("Grace period over; abandoning the requests still running."),
        }
        Ok(())
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Samples task counts (throughput history, so the chart has data when nobody watches) and the
/// queue gauges (so backlog alerts work while every runner is down).
async fn sample_stats(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        // Errors are the backends' and show up in /readyz; the next tick tries again.
        if let Ok(counts) = state.backends.store.counts().await {
            state.history.record(&counts);
        }
        if let Ok(stats) = state.backends.queue.stats().await {
            state.metrics.queue.set(&stats);
        }
    }
}

fn build_service(state: AppState, registry: Arc<Registry>, settings: &Settings) -> ApiService {
    let (api, doc) = openapi::router();
    let doc = Arc::new(doc);
    let frontend = settings.frontend_dir.clone();
    let metrics = state.metrics.clone();
    let api = api
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        // Only these routes read bodies; the route template is only known inside the router.
        .route_layer((
            http_telemetry::TagRouteLayer,
            DefaultBodyLimit::max(settings.limits.max_body_bytes),
        ));
    let router = api
        .with_state(state)
        .merge(telemetry::metrics::router(registry))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(move |request: Request| fallback(frontend.clone(), request));
    // Around the whole router rather than with `Router::layer`, which wraps every route in its
    // own boxed service: one more service clone and boxed future per layer and request.
    // Panics become a 500 inside the tracking, so the span and the metrics count them.
    ServiceBuilder::new()
        .layer(http_telemetry::TrackLayer(metrics))
        // `CatchPanic` answers with a body type of its own; `axum::serve` wants axum's.
        .map_response(IntoResponse::into_response as fn(_) -> Response)
        .layer(CatchPanicLayer::custom(panicked as PanicResponse))
        .service(router)
}

/// The service `axum::serve` runs: every request tracked, panics answered with a 500.
type ApiService = http_telemetry::Track<
    MapResponse<CatchPanic<Router, PanicResponse>, fn(Response<PanicBody>) -> Response>,
>;
type PanicBody = UnsyncBoxBody<Bytes, tower_http::BoxError>;
type PanicResponse = fn(Box<dyn Any + Send + 'static>) -> Response;

fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}

/// Unknown `/api/...` paths get a JSON 404; everything else is the page's static files.
async fn fallback(frontend: Option<std::path::PathBuf>, request: Request) -> Response {
    let path = request.uri().path();
    let api_path = path.starts_with("/api/") || path == "/api";
    match frontend {
        Some(dir) if !api_path => match ServeDir::new(dir).oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(e) => ApiError::Internal(e.to_string()).into_response(),
        },
        _ => ApiError::NotFound(format!("no route {path}")).into_response(),
    }
}
