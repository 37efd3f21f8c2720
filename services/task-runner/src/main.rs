//! `task-runner`: runs tasks from the queue. Flags and their environment variables:
//! `task-runner --help`.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use clap::Parser;
use prometheus_client::registry::Registry;
use task_core::backend::Backends;
use task_runner::{metrics::RunnerMetrics, runner::Runner, server, settings::Settings};
use tokio::sync::watch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let telemetry = telemetry::init("task-runner").context("installing telemetry")?;
    let result = run(settings).await;
    if let Err(e) = &result {
        tracing::error!(error.message = %e, error.cause_chain = ?e, "The runner stopped with an error.");
    }
    telemetry.shutdown();
    result
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let config = settings.backend.config();
    let backends = Backends::open(&config)
        .await
        .context("opening the queue and task store")?;
    let mut registry = Registry::default();
    let metrics = Arc::new(RunnerMetrics::register(
        &mut registry,
        backends.queue.as_ref(),
        settings.runner.workers(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let addr = SocketAddr::new(settings.metrics_host, settings.metrics_port);
    let (port, serve) = server::bind(addr, Arc::new(registry), stopped(stop_rx.clone()))
        .await
        .with_context(|| format!("binding the metrics server on {addr}"))?;
    tracing::info!(port, "Metrics server listening.");
    let metrics_server = tokio::spawn(serve);
    let sampler = tokio::spawn(server::sample_queue(
        backends.queue.clone(),
        metrics.clone(),
    ));

    let runner = Runner::new(backends.queue, backends.store, settings.runner, metrics);
    runner.run(task_core::cli::shutdown_signal()).await?;

    sampler.abort();
    let _ = stop_tx.send(true);
    metrics_server
        .await
        .context("metrics server task")?
        .context("metrics server")?;
    Ok(())
}
