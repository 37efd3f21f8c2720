//! The runner's own HTTP server: `/healthz` and `/metrics`, plus the queue gauges sampler that
//! feeds them.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Json, Router, routing::get};
use prometheus_client::registry::Registry;
use task_core::queue::Queue;
use tokio::net::TcpListener;

use crate::{
    events::QueueOperationError,
    metrics::{Operation, RunnerMetrics},
};

/// How often the queue gauges are refreshed.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Binds the metrics server (port 0 picks a free one); returns its port and the serve future.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(
    addr: SocketAddr,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(u16, impl Future<Output = std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let port = listener.local_addr()?.port();
    let app: Router = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .merge(telemetry::metrics::router(registry));
    let serve = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    };
    Ok((port, serve))
}

/// Samples queue depth, in-flight, oldest age and dead letters into the gauges, forever.
pub async fn sample_queue(queue: Arc<dyn Queue>, metrics: Arc<RunnerMetrics>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        match queue.stats().await {
            Ok(stats) => metrics.queue_sampled(&stats),
            Err(error) => QueueOperationError {
                operation: Operation::Receive,
                error: &error,
            }
            .emit(&metrics),
        }
    }
}
