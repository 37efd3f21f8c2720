//! `api`: the task API server. Flags and their environment variables: `api --help`.

use anyhow::Context;
use api::{settings::Settings, startup::Application};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    app.run_until_stopped(task_core::cli::shutdown_signal())
        .await
}
