//! `stack up`: the API (serving the page) and N task runners on the embedded backends, in one
//! process and one command. Ctrl-C stops everything: the API finishes its requests, the runners
//! finish their tasks within the grace period.
//!
//! The runners share the data folder with the API exactly as separate `api` and `task-runner`
//! processes would (each opens its own SQLite connections).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use prometheus_client::registry::Registry;
use task_core::{
    Durability,
    backend::{Backends, DEFAULT_MAX_RECEIVE_COUNT},
    cli::{BackendArgs, default_data_dir},
};
use task_runner::{metrics::RunnerMetrics, runner::Runner, server, settings::RunnerSettings};
use tokio::sync::watch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "stack", version, about = "Runs the task platform locally.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API with the page and N runners on the embedded backends; Ctrl-C stops them.
    Up(Up),
}

#[derive(clap::Args)]
struct Up {
    /// Port of the page and the API.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Task runners to start.
    #[arg(long, default_value_t = 2)]
    runners: usize,
    /// Worker slots of each runner (default: the number of CPUs).
    #[arg(long)]
    workers: Option<usize>,
    /// Data folder (default: the per-user data folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Multiplies task durations (0.01 makes a 2-5 s task take 20-50 ms).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// First metrics port; runner i listens on base + i (0 picks free ports).
    #[arg(long, default_value_t = 9100)]
    metrics_port: u16,
    /// Receives before a task is dead-lettered.
    #[arg(long, default_value_t = DEFAULT_MAX_RECEIVE_COUNT)]
    max_receive_count: u32,
    /// Seconds of the first retry backoff.
    #[arg(long, default_value_t = 2.0)]
    retry_backoff_base: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Up(up) = Cli::parse().command;
    let telemetry = telemetry::init("stack").context("installing telemetry")?;
    let result = up.run().await;
    if let Err(e) = &result {
        tracing::error!(error.message = %e, error.cause_chain = ?e, "The stack stopped with an error.");
    }
    telemetry.shutdown();
    result
}

impl Up {
    async fn run(self) -> anyhow::Result<()> {
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        let backend = BackendArgs {
            data_dir: Some(data_dir.clone()),
            queue_url: None,
            table: None,
            max_receive_count: self.max_receive_count,
            durability: Durability::Normal,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        // The api binary's defaults, with what `stack up` sets.
        let mut api_settings = api::settings::Settings::parse_from(["api"]);
        api_settings.host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        api_settings.port = self.port;
        api_settings.backend = backend.clone();
        api_settings.frontend_dir = Some(api::settings::bundled_frontend_dir());
        api_settings.stats_sample_seconds = 5;
        let app = api::startup::Application::build(&api_settings).await?;
        let api_port = app.port();
        let api = tokio::spawn(app.run_until_stopped(stopped(stop_rx.clone())));

        let mut tasks = Vec::new();
        let mut metrics_ports = Vec::new();
        for i in 0..self.runners {
            let backends = Backends::open(&backend.config())
                .await
                .context("opening the backends")?;
            // The runner binary's defaults, with what `stack up` sets.
            let mut settings: RunnerSettings =
                task_runner::settings::Settings::parse_from(["task-runner"]).runner;
            settings.workers = self.workers;
            settings.time_scale = self.time_scale;
            settings.retry_backoff_base = self.retry_backoff_base;
            settings.runner_id = Some(format!("local-runner-{}", i + 1));
            let mut registry = Registry::default();
            let metrics = Arc::new(RunnerMetrics::register(
                &mut registry,
                backends.queue.as_ref(),
                settings.workers(),
            ));
            let port = if self.metrics_port == 0 {
                0
            } else {
                self.metrics_port + i as u16
            };
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            let (port, serve) = server::bind(addr, Arc::new(registry), stopped(stop_rx.clone()))
                .await
                .with_context(|| format!("binding runner metrics on {addr}"))?;
            metrics_ports.push(port);
            let sampler = tokio::spawn(server::sample_queue(
                backends.queue.clone(),
                metrics.clone(),
            ));
            let runner = Runner::new(backends.queue, backends.store, settings, metrics);
            let runner_stop = stopped(stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                let result = runner.run(runner_stop).await;
                sampler.abort();
                result.map_err(anyhow::Error::from)
            }));
            tasks.push(tokio::spawn(async move {
                serve.await.map_err(anyhow::Error::from)
            }));
        }

        println!("Task platform is up (data in {}).", data_dir.display());
        println!("  page:     http://127.0.0.1:{api_port}/");
        println!("  API:      http://127.0.0.1:{api_port}/api/tasks  (OpenAPI: /api/openapi.json)");
        println!("  metrics:  http://127.0.0.1:{api_port}/metrics (API)");
        for (i, port) in metrics_ports.iter().enumerate() {
            println!(
                "            http://127.0.0.1:{port}/metrics (runner {})",
                i + 1
            );
        }
        println!("Press Ctrl-C to stop.");

        task_core::cli::shutdown_signal().await;
        println!("Stopping: finishing requests and running tasks ...");
        let _ = stop_tx.send(true);
        api.await.context("API task")??;
        for t in tasks {
            t.await.context("runner task")??;
        }
        println!("Stopped.");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::parse_from([
            "stack",
            "up",
            "--port",
            "0",
            "--runners",
            "3",
            "--time-scale",
            "0.01",
        ]);
        let Command::Up(up) = cli.command;
        assert_eq!((up.port, up.runners, up.time_scale), (0, 3, 0.01));
    }
}
