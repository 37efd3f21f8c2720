//! `api`: the task API server. Flags and their environment variables: `api --help`.

use anyhow::Context;
use api::{settings::Settings, startup::Application};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let telemetry = telemetry::init("api").context("installing telemetry")?;
    let result = run(settings).await;
    if let Err(e) = &result {
        tracing::error!(error.message = %e, error.cause_chain = ?e, "The API stopped with an error.");
    }
    telemetry.shutdown();
    result
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(&settings).await?;
    tracing::info!(port = app.port(), "API listening.");
    app.run_until_stopped(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM (what ECS sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
